/**
 * deploy/certbot-deploy-hook.sh, run for real on files on disk: it copies certbot's certificate and key where
 * the service may read them, in a form the config accepts, and reloads the server only when it runs.
 */
import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseConfigText } from "../../src/config/load.ts";
import { scratchDir } from "../helpers/media.ts";
import { run } from "../../support/children.ts";

const HOOK = resolve(import.meta.dir, "../../deploy/certbot-deploy-hook.sh");
const FIXTURES = resolve(import.meta.dir, "../config/fixtures");

describe("deploy/certbot-deploy-hook.sh", () => {
  let scratch: { path: string; remove(): void };
  let lineage: string;
  let tlsDir: string;
  let systemctlLog: string;

  beforeEach(() => {
    scratch = scratchDir("certbot-hook");
    lineage = join(scratch.path, "live", "stream.example.com");
    tlsDir = join(scratch.path, "tls");
    systemctlLog = join(scratch.path, "systemctl.log");
    mkdirSync(lineage, { recursive: true });
    copyFileSync(join(FIXTURES, "fullchain.pem"), join(lineage, "fullchain.pem"));
    copyFileSync(join(FIXTURES, "key.pem"), join(lineage, "privkey.pem"));
  });

  afterEach(() => scratch.remove());

  /** Runs the hook with a stand-in `systemctl` on PATH that logs its arguments and says whether the service is active. */
  async function runHook(serviceActive: boolean): Promise<{ code: number; stderr: string }> {
    const bin = join(scratch.path, "bin");
    mkdirSync(bin, { recursive: true });
    const activeExit = serviceActive ? 0 : 3;
    writeFileSync(
      join(bin, "systemctl"),
      `#!/bin/sh\necho "$*" >> "${systemctlLog}"\n[ "$1" = is-active ] && exit ${activeExit}\nexit 0\n`,
    );
    chmodSync(join(bin, "systemctl"), 0o755);
    const group = (await run(["id", "-gn"])).stdout.trim();
    return run(["sh", HOOK], {
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        RENEWED_LINEAGE: lineage,
        RTMP_SERVER_TLS_DIR: tlsDir,
        RTMP_SERVER_GROUP: group,
      },
    });
  }

  function systemctlCalls(): string[] {
    return readFileSync(systemctlLog, "utf8").trim().split("\n");
  }

  it("copies chain and key, readable by the group only, and reloads the running server", async () => {
    const { code, stderr } = await runHook(true);
    expect(code, stderr).toBe(0);
    for (const [copy, original] of [
      ["fullchain.pem", "fullchain.pem"],
      ["privkey.pem", "privkey.pem"],
    ]) {
      expect(readFileSync(join(tlsDir, copy), "utf8")).toBe(readFileSync(join(lineage, original), "utf8"));
      expect(statSync(join(tlsDir, copy)).mode & 0o777).toBe(0o640);
    }
    expect(statSync(tlsDir).mode & 0o777).toBe(0o750);
    expect(systemctlCalls()).toEqual(["is-active --quiet rtmp-server", "reload rtmp-server"]);
  });

  it("leaves pairs the config accepts for RTMPS, and no temporary files", async () => {
    expect((await runHook(true)).code).toBe(0);
    const cert = join(tlsDir, "fullchain.pem");
    const key = join(tlsDir, "privkey.pem");
    const tls = parseConfigText(`tls:\n  listen: 127.0.0.1:1936\n  cert: ${cert}\n  key: ${key}\n`, "c.yaml").tls;
    expect([tls.cert, tls.key]).toEqual([cert, key]);
    const listing = await run(["ls", "-A", tlsDir]);
    expect(listing.stdout.split("\n").filter(Boolean).sort()).toEqual(["fullchain.pem", "privkey.pem"]);
  });

  it("replaces the previous pair on renewal", async () => {
    expect((await runHook(true)).code).toBe(0);
    copyFileSync(join(FIXTURES, "other-key.pem"), join(lineage, "privkey.pem"));
    expect((await runHook(true)).code).toBe(0);
    expect(readFileSync(join(tlsDir, "privkey.pem"), "utf8")).toBe(readFileSync(join(FIXTURES, "other-key.pem"), "utf8"));
  });

  it("does not start a server that is not running", async () => {
    const { code, stderr } = await runHook(false);
    expect(code, stderr).toBe(0);
    expect(systemctlCalls()).toEqual(["is-active --quiet rtmp-server"]);
  });

  it("fails, copying nothing, when certbot's files are missing", async () => {
    const { code } = await runHook(true);
    expect(code).toBe(0);
    const before = readFileSync(join(tlsDir, "privkey.pem"), "utf8");
    lineage = join(scratch.path, "live", "missing.example.com");
    const failed = await runHook(true);
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain("missing.example.com/fullchain.pem");
    expect(readFileSync(join(tlsDir, "privkey.pem"), "utf8")).toBe(before);
    expect(systemctlCalls()).toEqual(["is-active --quiet rtmp-server", "reload rtmp-server"]);
  });
});
