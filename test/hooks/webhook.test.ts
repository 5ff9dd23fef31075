import { afterEach, describe, expect, it } from "bun:test";
import { createHmac, timingSafeEqual } from "node:crypto";
import { waitFor } from "../../support/wait.ts";
import { type Harness, Receiver, finished, startHooks } from "./harness.ts";

let receiver: Receiver;
let hooks: Harness | undefined;

afterEach(async () => {
  await hooks?.runner.stop(performance.now());
  hooks = undefined;
  receiver?.stop();
});

function start(settings: Parameters<typeof startHooks>[0]): Harness {
  hooks = startHooks(settings);
  return hooks;
}

async function delivered(h: Harness, count: number): Promise<void> {
  await waitFor(() => finished(h.runner.stats().webhook) >= count, 5_000, `${count} webhook deliveries`, () => h.logs.tail());
}

describe("webhooks", () => {
  it("POSTs the event object as JSON, signed with HMAC-SHA256 of the exact body bytes", async () => {
    receiver = new Receiver();
    const secret = "s3cret-key";
    const h = start({ secret, webhooks: [{ event: "publish_start", url: receiver.url("/hook") }] });
    h.channel.emit("publish_start", { connId: "c000001", streamKey: "live/tëst" }, { app: "live", name: "tëst" });
    await delivered(h, 1);

    const [request] = receiver.received;
    expect(request.headers.get("content-type")).toBe("application/json");
    expect(Object.keys(request.event)).toEqual(["id", "type", "timestamp", "conn_id", "stream_key", "data"]);
    expect(request.event).toMatchObject({
      type: "publish_start",
      conn_id: "c000001",
      stream_key: "live/tëst",
      data: { app: "live", name: "tëst" },
    });
    expect(request.event.timestamp).toBe(Math.floor(request.event.timestamp));

    const header = request.headers.get("x-rtmp-signature") ?? "";
    expect(header).toMatch(/^sha256=[0-9a-f]{64}$/);
    const expected = createHmac("sha256", secret).update(request.body).digest();
    expect(timingSafeEqual(Buffer.from(header.slice("sha256=".length), "hex"), expected)).toBe(true);
    expect(h.runner.stats().webhook).toEqual({ ok: 1, failed: 0, timeout: 0, dropped: 0 });
  });

  it("sends no signature without a secret, and only the events a hook subscribed to ('*' = all)", async () => {
    receiver = new Receiver();
    const h = start({
      webhooks: [
        { event: "publish_stop", url: receiver.url("/stop") },
        { event: "*", url: receiver.url("/all") },
      ],
    });
    h.channel.emit("publish_start", { streamKey: "live/a" });
    h.channel.emit("publish_stop", { streamKey: "live/a" });
    await delivered(h, 3);
    expect(receiver.events("/stop").map((e) => e.type)).toEqual(["publish_stop"]);
    expect(receiver.events("/all").map((e) => e.type)).toEqual(["publish_start", "publish_stop"]);
    expect(receiver.received.every((r) => r.headers.get("x-rtmp-signature") === null)).toBe(true);
  });

  it("counts a non-2xx answer as failed and logs its status, with the URL but never its query", async () => {
    receiver = new Receiver();
    receiver.answer = () => new Response("no", { status: 503 });
    const h = start({ webhooks: [{ event: "*", url: `${receiver.url("/hook")}?token=hunter2` }] });
    h.channel.emit("play_start", { connId: "c000002", streamKey: "live/x" });
    await delivered(h, 1);
    expect(h.runner.stats().webhook).toEqual({ ok: 0, failed: 1, timeout: 0, dropped: 0 });
    const record = h.logs.records().find((r) => r.msg === "webhook refused");
    expect(record).toMatchObject({ level: "warn", status: 503, url: receiver.url("/hook"), event: "play_start" });
    expect(h.logs.lines.join("\n")).not.toContain("hunter2");
  });

  it("counts a refused connection as failed, logged with the reason", async () => {
    receiver = new Receiver();
    const closed = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const port = closed.port;
    closed.stop(true);
    const h = start({ webhooks: [{ event: "*", url: `http://127.0.0.1:${port}/hook?sig=abc` }] });
    h.channel.emit("connection_accept", { connId: "c000003" }, { remote_addr: "127.0.0.1:5000" });
    await delivered(h, 1);
    expect(h.runner.stats().webhook.failed).toBe(1);
    const record = h.logs.records().find((r) => r.msg === "webhook failed");
    expect(record?.error).toContain("ECONNREFUSED");
    expect(h.logs.lines.join("\n")).not.toContain("sig=abc");
  });

  it("aborts a request at the timeout and counts it as a timeout", async () => {
    receiver = new Receiver();
    receiver.answer = async () => {
      await receiver.hold();
      return new Response("late");
    };
    const h = start({ timeoutMs: 300, webhooks: [{ event: "*", url: receiver.url("/slow") }] });
    h.channel.emit("publish_start", { streamKey: "live/slow" });
    await delivered(h, 1);
    expect(h.runner.stats().webhook).toEqual({ ok: 0, failed: 0, timeout: 1, dropped: 0 });
    expect(h.logs.records().find((r) => r.msg === "webhook timed out")).toMatchObject({ level: "warn", timeout_ms: 300 });
  });
});
