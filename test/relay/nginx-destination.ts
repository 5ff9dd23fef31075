/**
 * nginx-rtmp as a relay destination: started by the test on 127.0.0.1 with its own prefix directory, killed
 * and restarted at will (a destination that goes down). Its on_publish / on_play notifications go to a
 * Bun.serve in the test, which records each publish (name and query arguments) and can hold a publish back
 * until nginx's statistics page lists a player of it, so that the player sees the publish from its first
 * message.
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { type Child, Children } from "../../support/children.ts";
import { freePort } from "../../support/free-port.ts";
import { waitFor } from "../../support/wait.ts";

const RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so";

let availability: boolean | undefined;

/** Like requireFfmpeg(): nginx with nginx-rtmp, or a skip with a note; under CI=true a missing one fails. */
export function requireNginx(): boolean {
  if (availability !== undefined) return availability;
  availability = Bun.which("nginx") !== null && existsSync(RTMP_MODULE);
  if (!availability && process.env.CI === "true") {
    throw new Error(`relay tests need nginx and ${RTMP_MODULE} (apt-get install nginx libnginx-mod-rtmp), and CI=true forbids skipping them`);
  }
  if (!availability) console.warn("NOTE: nginx or nginx-rtmp not found: skipping the relay tests against nginx");
  return availability;
}

export interface Notified {
  /** "publish" or "play". */
  call: string;
  name: string;
  /** The query arguments the client gave with the name. */
  args: Record<string, string>;
}

/** nginx's own notification fields; everything else in the body came from the client's query. */
const NGINX_FIELDS = new Set(["app", "flashver", "swfurl", "tcurl", "pageurl", "addr", "clientid", "call", "name", "type"]);

export class NginxDestination {
  readonly notified: Notified[] = [];
  /** When set, a publish is answered only after a player of the same name is attached (at most 5 s). */
  holdPublishForPlayer = false;
  private readonly children = new Children();
  private process: Child | null = null;
  private readonly notify: Server<undefined>;
  private readonly config: string;
  /** nginx-rtmp's statistics (rtmp_stat): the clients of each stream, players included. */
  private readonly statPort = freePort();

  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.notify = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request) => this.onNotify(request) });
    mkdirSync(join(dir, "logs"), { recursive: true });
    this.config = join(dir, "nginx.conf");
    const hook = `http://127.0.0.1:${this.notify.port}`;
    writeFileSync(
      this.config,
      [
        `load_module ${RTMP_MODULE};`,
        `error_log ${join(dir, "logs", "error.log")} info;`,
        `pid ${join(dir, "nginx.pid")};`,
        "events { worker_connections 256; }",
        `rtmp { server { listen 127.0.0.1:${port}; chunk_size 4096;`,
        `  application live { live on; on_publish ${hook}/publish; on_play ${hook}/play; } } }`,
        `http { access_log off; server { listen 127.0.0.1:${this.statPort}; location /stat { rtmp_stat all; } } }`,
        "",
      ].join("\n"),
    );
  }

  /** rtmp://127.0.0.1:PORT/live/NAME */
  url(name: string): string {
    return `rtmp://127.0.0.1:${this.port}/live/${name}`;
  }

  publishes(name?: string): Notified[] {
    return this.notified.filter((n) => n.call === "publish" && (name === undefined || n.name === name));
  }

  /** Start nginx and wait until it accepts connections. */
  async start(): Promise<void> {
    this.process = this.children.spawn("nginx", ["nginx", "-p", this.dir, "-c", this.config, "-g", "daemon off; master_process off;"]);
    const process = this.process;
    await waitFor(async () => process.running && (await this.accepts()), 5_000, "nginx to listen", () => process.describe());
  }

  /** SIGKILL: every connection drops at once, as with a crash. */
  async kill(): Promise<void> {
    await this.children.killAll();
    this.process = null;
  }

  async stop(): Promise<void> {
    await this.kill();
    this.notify.stop(true);
  }

  /** Whether nginx lists a client of live/NAME that is not publishing: a player it has attached. */
  private async hasPlayer(name: string): Promise<boolean> {
    const xml = await fetch(`http://127.0.0.1:${this.statPort}/stat`).then((r) => r.text(), () => "");
    const stream = [...xml.matchAll(/<stream>([\s\S]*?)<\/stream>/g)].find((m) => m[1].includes(`<name>${name}</name>`));
    return [...(stream?.[1] ?? "").matchAll(/<client>([\s\S]*?)<\/client>/g)].some((c) => !c[1].includes("<publishing/>"));
  }

  private async accepts(): Promise<boolean> {
    try {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port: this.port, socket: { data() {} } });
      socket.end();
      return true;
    } catch {
      return false;
    }
  }

  private async onNotify(request: Request): Promise<Response> {
    const form = new URLSearchParams(await request.text());
    const args: Record<string, string> = {};
    for (const [key, value] of form) if (!NGINX_FIELDS.has(key)) args[key] = value;
    const entry = { call: form.get("call") ?? "", name: form.get("name") ?? "", args };
    if (entry.call === "publish" && this.holdPublishForPlayer) {
      await waitFor(() => this.hasPlayer(entry.name), 5_000, `a player of ${entry.name}`).catch(() => {});
    }
    this.notified.push(entry);
    return new Response("ok");
  }
}
