import { describe, expect, it } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireNginx } from "../relay/nginx-destination.ts";
import {
  ROOT,
  type RtmpServerTarget,
  listensOnHttp,
  nginxHlsTarget,
  playsOver,
  rtmpServerTarget,
  serverCommand,
  withVariants,
} from "../../bench/servers.ts";

describe("withVariants", () => {
  const target = rtmpServerTarget(ROOT);

  it("leaves a plain run alone: no HTTP listener, RTMP players, no outputs", () => {
    expect(withVariants(target, [])).toEqual([{ ...target, http: false, outputs: [], protocol: "rtmp" }]);
  });

  it("adds a labelled target per variant after the plain one, every one of them on HTTP", () => {
    const targets = withVariants(target, [
      { outputs: ["recording", "relay"], protocol: "rtmp" },
      { outputs: [], protocol: "http-flv" },
      { outputs: ["hooks"], protocol: "ws-flv" },
    ]);
    expect(targets.map((t) => [t.label.slice(target.label.length), t.http])).toEqual([
      ["", true],
      [" +rec+relay", true],
      [" (http-flv)", true],
      [" +hooks (ws-flv)", true],
    ]);
  });
});

describe("serverCommand", () => {
  it("writes rtmp-server's configuration with the run's extra keys", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-servers-"));
    try {
      const { cmd, cwd } = serverCommand(rtmpServerTarget(ROOT), dir, 1935, ["http:", '  listen: "127.0.0.1:8080"']);
      expect(cmd.slice(1)).toEqual(["src/cli.ts", "--config", join(dir, "server.yaml")]);
      expect(cwd).toBe(ROOT);
      expect(readFileSync(join(dir, "server.yaml"), "utf8")).toBe(
        'listen: "127.0.0.1:1935"\nlog:\n  level: warn\nhttp:\n  listen: "127.0.0.1:8080"\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("HLS in the benchmark's servers", () => {
  it("turns rtmp-server's HLS on for HLS players, low-latency or plain, on top of the run's extra keys", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-servers-"));
    try {
      const [, llHls, hls] = withVariants(rtmpServerTarget(ROOT), [
        { outputs: [], protocol: "ll-hls" },
        { outputs: [], protocol: "hls" },
      ]);
      expect([llHls.label, hls.label].map((l) => l.slice(rtmpServerTarget(ROOT).label.length))).toEqual([" (ll-hls)", " (hls)"]);
      const yaml = (target: RtmpServerTarget) => {
        serverCommand(target, dir, 1935, ["http:", '  listen: "127.0.0.1:8080"']);
        return readFileSync(join(dir, "server.yaml"), "utf8");
      };
      const hlsKeys = (lowLatency: boolean) =>
        `hls:\n  enabled: true\n  low_latency: ${lowLatency}\n  segment: 1000ms\n  part: 200ms\n  window: 7\n`;
      const base = 'listen: "127.0.0.1:1935"\nlog:\n  level: warn\nhttp:\n  listen: "127.0.0.1:8080"\n';
      expect(yaml(llHls)).toBe(base + hlsKeys(true));
      expect(yaml(hls)).toBe(base + hlsKeys(false));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!requireNginx())("gives nginx-rtmp its HLS and an http block serving it, in a configuration nginx accepts", () => {
    const dir = mkdtempSync(join(tmpdir(), "bench-servers-"));
    try {
      const target = nginxHlsTarget();
      expect([target.label, playsOver(target), listensOnHttp(target)]).toEqual(["nginx-rtmp (hls)", "hls", true]);
      const { cmd } = serverCommand(target, dir, 1935, [], 8080);
      const conf = readFileSync(join(dir, "nginx.conf"), "utf8");
      expect(conf).toContain(`hls on; hls_path ${join(dir, "hls")}; hls_nested on; hls_fragment 1000ms; hls_playlist_length 7000ms;`);
      expect(conf).toContain(`listen 127.0.0.1:8080; location /live/ { alias ${join(dir, "hls")}/;`);
      const check = Bun.spawnSync([...cmd.slice(0, 5), "-t"], { stderr: "pipe" });
      expect(check.stderr.toString()).toContain("test is successful");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
