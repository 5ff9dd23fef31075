import { describe, expect, it } from "bun:test";
import { ConfigError, DEFAULT_CONFIG } from "../../src/config/config.ts";
import { formatConfig, parseConfigText } from "../../src/config/load.ts";

function problems(text: string): string[] {
  try {
    parseConfigText(text, "config.yaml");
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split("\n");
    throw e;
  }
  return [];
}

describe("hls config", () => {
  it("has the contract's defaults, and --check-config prints them", () => {
    expect(DEFAULT_CONFIG.hls).toEqual({ enabled: false, lowLatency: true, segmentMs: 1_000, partMs: 200, window: 7, streams: [] });
    expect(formatConfig(DEFAULT_CONFIG)).toContain(
      "hls:\n  enabled: false\n  low_latency: true\n  segment: 1s\n  part: 200ms\n  window: 7\n  streams: []\n",
    );
  });

  it("reads every hls key", () => {
    const text = ["hls:", "  enabled: true", "  low_latency: false", "  segment: 2s", "  part: 0.5", "  window: 3", '  streams: ["live/*"]', ""].join("\n");
    expect(parseConfigText(text, "config.yaml").hls).toEqual({
      enabled: true,
      lowLatency: false,
      segmentMs: 2_000,
      partMs: 500,
      window: 3,
      streams: ["live/*"],
    });
  });

  it("refuses bad values with file:line: key: message", () => {
    expect(problems(["hls:", "  enabled: sure", "  segment: soon", "  window: 2", ""].join("\n"))).toEqual([
      'config.yaml:2: hls.enabled: expected true or false, got "sure"',
      'config.yaml:3: hls.segment: expected a duration like "90s", got "soon"',
      "config.yaml:4: hls.window: expected an integer from 3 to 1000, got 2",
    ]);
    expect(problems(["hls:", "  segment: 1s", "  part: 2s", "  window: 5", ""].join("\n"))).toEqual([
      "config.yaml:3: hls.part: expected at most hls.segment (1s), got 2s",
      "config.yaml:4: hls.window: expected at least 7 with hls.low_latency, got 5",
    ]);
    expect(problems(["hls:", "  part: 5ms", "  streams: [live/a?b]", "  latency: low", ""].join("\n"))).toEqual([
      'config.yaml:2: hls.part: expected a duration from 20ms to 1m, got "5ms"',
      expect.stringMatching(/^config\.yaml:3: hls\.streams\[0\]: /),
      expect.stringMatching(/^config\.yaml:4: hls\.latency: unknown key/),
    ]);
  });
});
