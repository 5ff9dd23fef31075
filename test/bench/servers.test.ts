import { describe, expect, it } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, rtmpServerTarget, serverCommand, withVariants } from "../../bench/servers.ts";

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
