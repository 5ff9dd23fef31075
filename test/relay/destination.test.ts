import { describe, expect, it } from "bun:test";
import { redactQuery, resolveDestination, shownTemplate } from "../../src/relay/destination.ts";

describe("resolveDestination", () => {
  const cases: [string, string, string, { host: string; port: number; app: string; name: string; tcUrl: string; shown: string }][] = [
    // A URL that is only an app gets the stream's name.
    ["rtmp://cdn.example.com/live", "live", "cam", { host: "cdn.example.com", port: 1935, app: "live", name: "cam", tcUrl: "rtmp://cdn.example.com:1935/live", shown: "rtmp://cdn.example.com/live/cam" }],
    ["rtmp://cdn.example.com/live/", "live", "a/b", { host: "cdn.example.com", port: 1935, app: "live", name: "a/b", tcUrl: "rtmp://cdn.example.com:1935/live", shown: "rtmp://cdn.example.com/live/a/b" }],
    // The query stays with the publish name (where stream keys go), and out of what is shown.
    ["rtmp://h:1936/live?key=s3cret", "live", "cam", { host: "h", port: 1936, app: "live", name: "cam?key=s3cret", tcUrl: "rtmp://h:1936/live", shown: "rtmp://h:1936/live/cam" }],
    // A URL with a full path is used as written.
    ["rtmp://a.rtmp.youtube.com/live2/xxxx-yyyy", "live", "cam", { host: "a.rtmp.youtube.com", port: 1935, app: "live2", name: "xxxx-yyyy", tcUrl: "rtmp://a.rtmp.youtube.com:1935/live2", shown: "rtmp://a.rtmp.youtube.com/live2/xxxx-yyyy" }],
    // Placeholders: raw in the path, URL-encoded in the query; no name appended.
    ["rtmp://h/{app}/{name}_hd?n={name}&k=1", "games", "a b&c", { host: "h", port: 1935, app: "games", name: "a b&c_hd?n=a%20b%26c&k=1", tcUrl: "rtmp://h:1935/games", shown: "rtmp://h/games/a b&c_hd" }],
    ["rtmp://h/out/{app}-{name}", "live", "cam", { host: "h", port: 1935, app: "out", name: "live-cam", tcUrl: "rtmp://h:1935/out", shown: "rtmp://h/out/live-cam" }],
    // RTMPS defaults to 443, as FFmpeg does; a login is never shown.
    ["rtmps://user:pw@live.example.com/app", "live", "cam", { host: "live.example.com", port: 443, app: "app", name: "cam", tcUrl: "rtmps://live.example.com:443/app", shown: "rtmps://live.example.com/app/cam" }],
    ["RTMP://[::1]:19350/live", "live", "cam", { host: "::1", port: 19350, app: "live", name: "cam", tcUrl: "rtmp://[::1]:19350/live", shown: "rtmp://[::1]:19350/live/cam" }],
  ];
  for (const [template, app, name, want] of cases) {
    it(`sends ${app}/${name} to ${template} as ${want.shown}`, () => {
      const { target, shown } = resolveDestination(template, app, name);
      expect({ ...target, shown }).toEqual({ ...want, tls: want.tcUrl.startsWith("rtmps:") });
    });
  }

  it("refuses a URL that leaves this stream without a name", () => {
    expect(() => resolveDestination("rtmp://h/{name}", "live", "cam")).toThrow("no stream name");
    expect(() => resolveDestination("rtmp://h/live?s={name}", "live", "cam")).toThrow("no stream name");
    expect(() => resolveDestination("http://h/live", "live", "cam")).toThrow("not an rtmp://");
  });

  it("redacts the query and its longer values from what a destination says", () => {
    const { target } = resolveDestination("rtmp://h/live?key=s3cret&x=1", "live", "cam");
    expect(redactQuery("cam?key=s3cret&x=1 is already publishing; key s3cret unknown", target)).toBe(
      "cam… is already publishing; key … unknown",
    );
    expect(redactQuery("x=1 stays", target)).toBe("x=1 stays");
  });

  it("shows a template without its query or login", () => {
    expect(shownTemplate("rtmps://u:p@h:443/{app}/x?key=s3cret")).toBe("rtmps://h:443/{app}/x");
    expect(shownTemplate("nonsense")).toBe("(not an rtmp:// URL)");
  });
});
