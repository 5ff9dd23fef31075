/**
 * deploy/rtmp-server.service as systemd itself reads it (systemd-analyze verify and security), and kept in
 * step with the server: the stop timeout, the descriptor limit and the one writable directory.
 */
import { afterAll, beforeAll, describe, expect, it } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { DEFAULT_CONFIG } from "../../src/config/config.ts";
import { parseConfigText } from "../../src/config/load.ts";
import { parseDuration } from "../../src/config/parse.ts";
import { scratchDir } from "../helpers/media.ts";
import { run } from "../../support/children.ts";

const DEPLOY = resolve(import.meta.dir, "../../deploy");
const UNIT_TEXT = readFileSync(join(DEPLOY, "rtmp-server.service"), "utf8");
const UNIT = unitSettings(UNIT_TEXT);
/** systemd's "OK" band; the unit scores 1.1 with systemd 252. Losing a major protection crosses it. */
const MAX_EXPOSURE = 2.0;

/** `Key=value` lines by key; a key set twice (SystemCallFilter=) keeps every value in order. */
function unitSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (match !== null) settings.set(match[1], [...(settings.get(match[1]) ?? []), match[2]]);
  }
  return settings;
}

function setting(key: string): string {
  const values = UNIT.get(key) ?? [];
  expect(values, `${key}= in the unit`).toHaveLength(1);
  return values[0];
}

let analyzeAvailable: boolean | undefined;

/**
 * Whether systemd-analyze is on PATH (Debian package "systemd"). Missing, it fails the run under CI=true, as
 * a missing ffmpeg does; elsewhere these tests are skipped with a note.
 */
function requireSystemdAnalyze(): boolean {
  if (analyzeAvailable !== undefined) return analyzeAvailable;
  analyzeAvailable = Bun.which("systemd-analyze") !== null;
  if (!analyzeAvailable && process.env.CI === "true") {
    throw new Error("the unit-file tests need systemd-analyze on PATH, and CI=true forbids skipping them");
  }
  if (!analyzeAvailable) console.warn("NOTE: systemd-analyze not found on PATH: skipping the unit-file checks");
  return analyzeAvailable;
}

describe.skipIf(!requireSystemdAnalyze())("systemd-analyze on deploy/rtmp-server.service", () => {
  // Made in beforeAll, not here: a skipped describe still runs its body, but never its afterAll.
  let scratch: { path: string; remove(): void };
  beforeAll(() => (scratch = scratchDir("systemd")));
  afterAll(() => scratch.remove());

  /** The unit with ExecStart pointing at an executable that exists here, as verify requires. */
  function unitCopy(): string {
    const binary = join(scratch.path, "rtmp-server");
    writeFileSync(binary, "#!/bin/sh\nexit 0\n");
    chmodSync(binary, 0o755);
    const path = join(scratch.path, "rtmp-server.service");
    writeFileSync(path, UNIT_TEXT.replaceAll("/usr/local/bin/rtmp-server", binary));
    return path;
  }

  it("passes systemd-analyze verify without a word about the unit", async () => {
    const path = unitCopy();
    const { code, stdout, stderr } = await run(["systemd-analyze", "verify", "--man=no", path]);
    const aboutUnit = `${stdout}${stderr}`.split("\n").filter((line) => line.includes("rtmp-server"));
    expect(aboutUnit).toEqual([]);
    expect(code, stderr).toBe(0);
  });

  it(`has an exposure of at most ${MAX_EXPOSURE} in systemd-analyze security`, async () => {
    const path = unitCopy();
    const { stdout, stderr } = await run(["systemd-analyze", "security", "--offline=true", path]);
    const score = /Overall exposure level for rtmp-server\.service: (\d+\.\d+)/.exec(stdout);
    expect(score, `${stdout}${stderr}`).not.toBeNull();
    expect(Number(score![1])).toBeLessThanOrEqual(MAX_EXPOSURE);
  });
});

describe("deploy/rtmp-server.service agrees with the server", () => {
  it("runs the installed binary on /etc/rtmp-server/config.yaml, and reloads with SIGHUP", () => {
    expect(setting("ExecStart")).toBe("/usr/local/bin/rtmp-server --config /etc/rtmp-server/config.yaml");
    expect(setting("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
  });

  it("lets the graceful shutdown finish before systemd kills", () => {
    // cli.ts gives up at timeouts.shutdown + 1 s; systemd must not SIGKILL before that.
    expect(setting("KillSignal")).toBe("SIGTERM");
    expect(parseDuration(setting("TimeoutStopSec"))).toBeGreaterThan(DEFAULT_CONFIG.timeouts.shutdownMs + 1_000);
  });

  it("allows a descriptor per connection with room to spare", () => {
    expect(Number(setting("LimitNOFILE"))).toBeGreaterThanOrEqual(1.5 * DEFAULT_CONFIG.maxConnections);
  });

  it("restarts on failure, but not on a bad config", () => {
    expect(setting("Restart")).toBe("on-failure");
    expect(setting("RestartPreventExitStatus")).toBe("2");
  });

  it("makes only the recording directory writable, the one deploy/config.yaml records to", () => {
    const scratch = scratchDir("deploy-config");
    try {
      const tokens = join(scratch.path, "tokens.json");
      writeFileSync(tokens, '{ "live/main": "0123456789abcdef" }\n');
      const text = readFileSync(join(DEPLOY, "config.yaml"), "utf8").replace("/etc/rtmp-server/tokens.json", tokens);
      const config = parseConfigText(text, "deploy/config.yaml");
      expect(setting("ReadWritePaths")).toBe(config.recording.dir);
      expect(`/var/lib/${setting("StateDirectory")}`).toBe(config.recording.dir);
      expect(setting("ProtectSystem")).toBe("strict");
      // The API and metrics stay private unless the operator opens them on purpose.
      expect(config.http.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    } finally {
      scratch.remove();
    }
  });

  it("denies what the server never needs", () => {
    expect(setting("CapabilityBoundingSet")).toBe("");
    expect(setting("NoNewPrivileges")).toBe("yes");
    expect(UNIT.get("SystemCallFilter")).toEqual(["@system-service", "~@privileged @resources"]);
    expect(setting("RestrictAddressFamilies")).toBe("AF_INET AF_INET6 AF_UNIX");
  });
});
