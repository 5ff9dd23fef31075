import { describe, expect, it } from "bun:test";
import { cleanApp, MAX_KEY_LENGTH, parseStreamName } from "../../src/shared/stream-name.ts";

describe("stream names from what OBS and FFmpeg send", () => {
  const cases: [string, string, string, string, string][] = [
    // [connect app, publish/play name, key, app, name]
    ["live", "test", "live/test", "live", "test"],
    ["live/", "test", "live/test", "live", "test"],
    ["live", "/test/", "live/test", "live", "test"],
    // FFmpeg splits rtmp://h/live/inst/name into app "live/inst" and name "name".
    ["live/inst", "name", "live/inst/name", "live", "inst/name"],
    // The key pasted into the server field: rtmp://h/live/test with an empty key field.
    ["live/test", "", "live/test", "live", "test"],
    // No app at all: rtmp://h/test.
    ["", "test", "test", "", "test"],
    ["live//", "//a//b", "live/a/b", "live", "a/b"],
  ];
  for (const [app, name, key, keyApp, keyName] of cases) {
    it(`app ${JSON.stringify(app)} + name ${JSON.stringify(name)} -> ${key}`, () => {
      expect(parseStreamName(app, name)).toMatchObject({ key, app: keyApp, name: keyName });
    });
  }

  it("keeps the query out of the key, from the name and from the app", () => {
    expect(parseStreamName("live", "test?token=secret&x=1")).toEqual({
      app: "live",
      name: "test",
      key: "live/test",
      query: { token: "secret", x: "1" },
    });
    expect(parseStreamName("live?token=a", "test")?.query).toEqual({ token: "a" });
    // The name's query wins over the app's.
    expect(parseStreamName("live?token=a", "test?token=b")?.query).toEqual({ token: "b" });
  });

  it("never lets dot segments or control characters into a key", () => {
    expect(parseStreamName("live", "../../etc/passwd")?.key).toBe("live/etc/passwd");
    expect(parseStreamName("live", "a\u0000b")).toBeNull();
    expect(parseStreamName("live", "a\nb")).toBeNull();
  });

  it("refuses empty and over-long names", () => {
    expect(parseStreamName("", "")).toBeNull();
    expect(parseStreamName("/", "?token=x")).toBeNull();
    expect(parseStreamName("live", "x".repeat(MAX_KEY_LENGTH))).toBeNull();
  });

  it("cleans connect's app for logs", () => {
    expect(cleanApp("live/?token=secret")).toBe("live");
  });
});
