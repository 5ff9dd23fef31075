/**
 * The webhook receiver of `--with hooks`: its own process on the clients' core (`bun bench/hook-receiver.ts
 * PORT`) that answers every POST with 200 once it has read the body, and says how many it got at GET /count.
 * HookReceiver starts one for a run and asks it.
 */
import type { Subprocess } from "bun";
import type { HelperStarter } from "./outputs.ts";

export class HookReceiver {
  private constructor(
    private readonly proc: Subprocess,
    private readonly port: number,
  ) {}

  static async start(port: number, startHelper: HelperStarter): Promise<HookReceiver> {
    const proc = await startHelper([process.execPath, "bench/hook-receiver.ts", String(port)], port);
    return new HookReceiver(proc, port);
  }

  get pid(): number {
    return this.proc.pid;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Webhook POSTs answered so far. */
  async received(): Promise<number> {
    const reply = await fetch(`http://127.0.0.1:${this.port}/count`, { signal: AbortSignal.timeout(5_000) });
    return ((await reply.json()) as { received: number }).received;
  }

  async stop(): Promise<void> {
    this.proc.kill("SIGKILL");
    await this.proc.exited;
  }
}

if (import.meta.main) {
  let received = 0;
  Bun.serve({
    hostname: "127.0.0.1",
    port: Number(process.argv[2]),
    async fetch(request) {
      if (request.method === "POST") {
        await request.arrayBuffer();
        received++;
        return new Response(null, { status: 200 });
      }
      if (new URL(request.url).pathname === "/count") return Response.json({ received });
      return new Response("not found", { status: 404 });
    },
  });
}
