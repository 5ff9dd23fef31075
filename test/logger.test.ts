import { describe, expect, it, spyOn } from "bun:test";
import { createLogger, type LogFormat, type LogLevel } from "../src/logger.ts";

const TIME = "2026-11-25T00:00:00.000Z";

function capture(level: LogLevel, format: LogFormat) {
  const lines: string[] = [];
  const logger = createLogger({ level, format, write: (line) => lines.push(line), now: () => new Date(TIME) });
  return { logger, lines };
}

describe("JSON format", () => {
  it("writes one object per line with time, level, msg, then the fields", () => {
    const { logger, lines } = capture("info", "json");
    logger.info("publish started", { stream_key: "live/test", bytes: 42, ok: true });
    expect(lines).toEqual([
      `{"time":"${TIME}","level":"info","msg":"publish started","stream_key":"live/test","bytes":42,"ok":true}`,
    ]);
    expect(JSON.parse(lines[0])).toEqual({
      time: TIME,
      level: "info",
      msg: "publish started",
      stream_key: "live/test",
      bytes: 42,
      ok: true,
    });
  });

  it("adds a child's fields to every record, call fields overriding them", () => {
    const { logger, lines } = capture("debug", "json");
    const conn = logger.child({ conn_id: "c000001" });
    const stream = conn.child({ stream_key: "live/test" });
    stream.debug("frame", { stream_key: "live/other", n: 1 });
    conn.warn("slow");
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      { time: TIME, level: "debug", msg: "frame", conn_id: "c000001", stream_key: "live/other", n: 1 },
      { time: TIME, level: "warn", msg: "slow", conn_id: "c000001" },
    ]);
  });

  it("writes Errors as their message, BigInt as a string, and omits undefined", () => {
    const { logger, lines } = capture("info", "json");
    logger.error("failed", { err: new Error("port in use"), big: 2n ** 70n, gone: undefined, nested: { e: new Error("x") } });
    expect(JSON.parse(lines[0])).toEqual({
      time: TIME,
      level: "error",
      msg: "failed",
      err: "port in use",
      big: "1180591620717411303424",
      nested: { e: "x" },
    });
  });

  it("survives circular fields, and keeps repeated (non-circular) references", () => {
    const { logger, lines } = capture("info", "json");
    const loop: Record<string, unknown> = { name: "a" };
    loop.self = loop;
    const shared = { v: 1 };
    logger.info("odd fields", { loop, pair: [shared, shared] });
    expect(JSON.parse(lines[0])).toMatchObject({ loop: { name: "a", self: "[Circular]" }, pair: [{ v: 1 }, { v: 1 }] });
  });

  it("survives fields whose serialization throws", () => {
    const { logger, lines } = capture("info", "json");
    const hostile = {
      toJSON() {
        throw new Error("no");
      },
    };
    expect(() => logger.info("hostile", { hostile, fine: 1 })).not.toThrow();
    expect(JSON.parse(lines[0])).toMatchObject({ hostile: "[unserializable]", fine: 1 });
  });

  it("never lets a field replace time, level or msg", () => {
    const { logger, lines } = capture("info", "json");
    logger.info("real", { msg: "fake", level: "error" });
    expect(JSON.parse(lines[0])).toMatchObject({ msg: "real", level: "info", _msg: "fake", _level: "error" });
  });
});

describe("text format", () => {
  it("writes time, LEVEL, msg and key=value pairs", () => {
    const { logger, lines } = capture("info", "text");
    logger.child({ conn_id: "c000001" }).info("client connected", { ip: "10.0.0.1", port: 50000 });
    expect(lines).toEqual([`${TIME} INFO client connected conn_id=c000001 ip=10.0.0.1 port=50000`]);
  });

  it("quotes values with spaces, quotes or =, and writes objects as JSON", () => {
    const { logger, lines } = capture("info", "text");
    logger.warn("odd", { reason: "peer went away", eq: "a=b", empty: "", obj: { a: 1 }, err: new Error("bad thing"), n: null });
    expect(lines[0]).toBe(
      `${TIME} WARN odd reason="peer went away" eq="a=b" empty="" obj={"a":1} err="bad thing" n=null`,
    );
  });

  it("keeps a record on one line even when the message has a newline", () => {
    const { logger, lines } = capture("info", "text");
    logger.error("line one\nline two", { detail: "x\ny" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toBe(`${TIME} ERROR "line one\\nline two" detail="x\\ny"`);
  });
});

describe("levels", () => {
  it("writes only records at or above the configured level", () => {
    const { logger, lines } = capture("warn", "json");
    logger.debug("d");
    logger.info("i");
    logger.warn("w");
    logger.error("e");
    expect(lines.map((line) => JSON.parse(line).msg)).toEqual(["w", "e"]);
  });

  it("reports which levels are enabled", () => {
    const { logger } = capture("info", "text");
    expect([logger.enabled("debug"), logger.enabled("info"), logger.enabled("error")]).toEqual([false, true, true]);
  });

  it("does not touch the fields of a disabled record", () => {
    const { logger, lines } = capture("error", "json");
    let read = false;
    const fields = {
      get costly() {
        read = true;
        return 1;
      },
    };
    logger.info("skipped", fields);
    logger.child({ conn_id: "c1" }).debug("skipped too", fields);
    expect(read).toBe(false);
    expect(lines).toEqual([]);
  });
});

describe("robustness", () => {
  it("never throws when the sink fails", () => {
    const logger = createLogger({
      level: "info",
      format: "json",
      write: () => {
        throw new Error("EPIPE");
      },
    });
    expect(() => logger.info("into the void")).not.toThrow();
  });

  it("writes newline-terminated lines to stdout by default, stamped with the current time", () => {
    const write = spyOn(process.stdout, "write").mockImplementation(() => true);
    let calls: unknown[][];
    try {
      createLogger({ level: "info", format: "json" }).info("hello");
    } finally {
      // Copied first: restoring the spy forgets its calls.
      calls = [...write.mock.calls];
      write.mockRestore();
    }
    expect(calls).toHaveLength(1);
    const written = String(calls[0][0]);
    expect(written.endsWith("}\n")).toBe(true);
    const record = JSON.parse(written);
    expect(record.msg).toBe("hello");
    expect(Math.abs(Date.parse(record.time) - Date.now())).toBeLessThan(10_000);
  });
});
