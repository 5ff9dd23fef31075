import { describe, expect, it } from "bun:test";
import type { ServerEvent } from "../../src/events/events.ts";
import { envBlock, eventVariables } from "../../src/hooks/event-variables.ts";

const PUBLISH_STOP: ServerEvent = {
  id: "r1-7",
  type: "publish_stop",
  timestamp: 1764000000,
  conn_id: "c000001",
  stream_key: "live/test",
  data: { video_codec: "H264", duration_sec: 6.25, audio_packets: 312, ok: true, reason: null, "odd-key.x": "v" },
};

describe("eventVariables", () => {
  it("lists the fixed variables first, then one RTMP_<DATA_KEY> per field in sorted key order", () => {
    expect(eventVariables(PUBLISH_STOP)).toEqual([
      ["RTMP_EVENT_TYPE", "publish_stop"],
      ["RTMP_STREAM_KEY", "live/test"],
      ["RTMP_CONN_ID", "c000001"],
      ["RTMP_TIMESTAMP", "1764000000"],
      ["RTMP_EVENT_ID", "r1-7"],
      ["RTMP_AUDIO_PACKETS", "312"],
      ["RTMP_DURATION_SEC", "6.25"],
      ["RTMP_ODD_KEY_X", "v"],
      ["RTMP_OK", "true"],
      ["RTMP_REASON", ""],
      ["RTMP_VIDEO_CODEC", "H264"],
    ]);
  });

  it("keeps absent conn_id and stream_key as empty variables", () => {
    const event: ServerEvent = { id: "r1-1", type: "relay_start", timestamp: 5, data: {} };
    expect(eventVariables(event)).toEqual([
      ["RTMP_EVENT_TYPE", "relay_start"],
      ["RTMP_STREAM_KEY", ""],
      ["RTMP_CONN_ID", ""],
      ["RTMP_TIMESTAMP", "5"],
      ["RTMP_EVENT_ID", "r1-1"],
    ]);
  });

  it("never lets a data field replace a fixed variable, and turns NUL (which an environment cannot hold) into U+FFFD", () => {
    const event: ServerEvent = {
      id: "r1-2",
      type: "auth_failed",
      timestamp: 9,
      stream_key: "live/a\0b",
      data: { event_type: "publish_start", error: "bad\0token" },
    };
    const vars = eventVariables(event);
    expect(vars.filter(([name]) => name === "RTMP_EVENT_TYPE")).toEqual([["RTMP_EVENT_TYPE", "auth_failed"]]);
    expect(vars).toContainEqual(["RTMP_STREAM_KEY", "live/a\uFFFDb"]);
    expect(vars).toContainEqual(["RTMP_ERROR", "bad\uFFFDtoken"]);
  });
});

describe("envBlock", () => {
  it("writes KEY=value lines in the fixed order, then a blank line", () => {
    expect(envBlock(PUBLISH_STOP)).toBe(
      [
        "RTMP_EVENT_TYPE=publish_stop",
        "RTMP_STREAM_KEY=live/test",
        "RTMP_CONN_ID=c000001",
        "RTMP_TIMESTAMP=1764000000",
        "RTMP_EVENT_ID=r1-7",
        "RTMP_AUDIO_PACKETS=312",
        "RTMP_DURATION_SEC=6.25",
        "RTMP_ODD_KEY_X=v",
        "RTMP_OK=true",
        "RTMP_REASON=",
        "RTMP_VIDEO_CODEC=H264",
        "",
        "",
      ].join("\n"),
    );
  });

  it("writes a value with a newline, a quote or a backslash as a JSON string, so each line stays one variable", () => {
    const event: ServerEvent = {
      id: "r1-3",
      type: "publish_start",
      timestamp: 1,
      stream_key: "live/two\nlines",
      data: { quote: 'say "hi"', path: "C:\\x", plain: "a b=c", tab: "a\tb" },
    };
    const block = envBlock(event);
    expect(block.split("\n")).toEqual([
      "RTMP_EVENT_TYPE=publish_start",
      'RTMP_STREAM_KEY="live/two\\nlines"',
      "RTMP_CONN_ID=",
      "RTMP_TIMESTAMP=1",
      "RTMP_EVENT_ID=r1-3",
      'RTMP_PATH="C:\\\\x"',
      "RTMP_PLAIN=a b=c",
      'RTMP_QUOTE="say \\"hi\\""',
      'RTMP_TAB="a\\tb"',
      "",
      "",
    ]);
    expect(JSON.parse(block.split("\n")[1].slice("RTMP_STREAM_KEY=".length))).toBe("live/two\nlines");
  });
});
