/**
 * A real redis-server for the cluster tests: on a free loopback port, nothing saved to disk, one for each test
 * (tests run at the same time: see at-once.ts), killed after it. It can be stopped and started again on the
 * same port (Redis going away and coming back), and read directly with a plain client to see what the nodes
 * wrote.
 */
import { RedisClient } from "bun";
import { type Child, Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { waitFor } from "../../support/wait.ts";
import { Scope, type TestsAtOnce, testsAtOnce } from "../helpers/at-once.ts";

export class TestRedis {
  readonly port = freePort();
  readonly url = `redis://127.0.0.1:${this.port}/0`;
  private readonly children = new Children();
  private process: Child | null = null;
  private reader: RedisClient | null = null;

  /** Starts redis-server and resolves once it answers. */
  async start(): Promise<void> {
    this.process = this.children.spawn("redis-server", [
      "redis-server", "--port", String(this.port), "--bind", "127.0.0.1",
      "--save", "", "--appendonly", "no",
    ]);
    await waitFor(async () => (await this.ping()) || !this.process!.running, 10_000, "redis-server to answer", () => this.process!.describe());
    if (!this.process.running) throw new Error(`redis-server exited\n${this.process.describe()}`);
  }

  /** Kills redis-server (its data goes with it: nothing is saved) and waits for it to exit. */
  async stop(): Promise<void> {
    this.reader?.close();
    this.reader = null;
    this.process?.kill("SIGKILL");
    await this.process?.waitExit(5_000);
    this.process = null;
  }

  async dispose(): Promise<void> {
    this.reader?.close();
    await this.children.killAll();
  }

  /** One command on a client of the test's own. */
  async send(command: string, args: string[]): Promise<unknown> {
    if (this.reader === null || !this.reader.connected) {
      this.reader?.close();
      this.reader = new RedisClient(this.url, { autoReconnect: false, enableOfflineQueue: false, connectionTimeout: 2_000 });
      await this.reader.connect();
    }
    return this.reader.send(command, args);
  }

  get(key: string): Promise<string | null> {
    return this.send("GET", [key]) as Promise<string | null>;
  }

  /** Every key, sorted. */
  async keys(): Promise<string[]> {
    return ((await this.send("KEYS", ["*"])) as string[]).sort();
  }

  /** Waits until `key`'s TTL has gone back up `count` times: each is a refresh by the node that holds it. */
  async refreshes(key: string, count: number): Promise<void> {
    let last = Infinity;
    let seen = 0;
    const refreshed = async () => {
      const ttl = (await this.send("PTTL", [key])) as number;
      if (ttl > last) seen++;
      last = ttl;
      return seen >= count;
    };
    await waitFor(refreshed, 10_000, `${count} refreshes of ${key}`);
  }

  private async ping(): Promise<boolean> {
    try {
      return (await this.send("PING", [])) === "PONG";
    } catch {
      this.reader?.close();
      this.reader = null;
      return false;
    }
  }
}

/** A test's own redis-server, and whatever else the test must undo. */
export class RedisScope extends Scope {
  readonly redis = new TestRedis();

  constructor() {
    super();
    this.defer(() => this.redis.dispose());
  }
}

/** Tests that run at the same time, each with a scope from `make` whose Redis answers before the test starts. */
export function redisTests<S extends RedisScope>(make: () => S): TestsAtOnce<S> {
  return testsAtOnce(make, (scope) => scope.redis.start());
}
