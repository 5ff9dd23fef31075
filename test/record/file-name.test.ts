/**
 * Recording file names: the contract's `{app}_{name}_{YYYYMMDD_HHMMSS}.flv` in UTC, sanitized so that no key
 * reaches outside recording.dir, capped in length, and never overwriting a file (`_1`, `_2`, ...).
 */
import { afterAll, describe, expect, it } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import {
  MAX_NAME_ATTEMPTS,
  MAX_STEM_LENGTH,
  createRecordingFile,
  recordingStem,
  sanitize,
  utcStamp,
} from "../../src/record/file-name.ts";
import { scratchDir } from "../helpers/media.ts";

const scratch = scratchDir("record-names");
afterAll(() => scratch.remove());

/** 2026-03-04 05:06:07 UTC: 2026-03-04 00:06:07 in New York, and 2026-03-04 18:06:07 in Auckland. */
const WHEN = new Date(Date.UTC(2026, 2, 4, 5, 6, 7));

describe("recording file names", () => {
  it("are {app}_{name}_{YYYYMMDD_HHMMSS} in UTC, whatever the local time zone", () => {
    const zone = process.env.TZ;
    try {
      for (const tz of ["UTC", "America/New_York", "Pacific/Auckland"]) {
        process.env.TZ = tz;
        expect(utcStamp(WHEN)).toBe("20260304_050607");
        expect(recordingStem("live", "test", WHEN)).toBe("live_test_20260304_050607");
      }
      process.env.TZ = "Pacific/Auckland";
      expect(WHEN.getHours()).toBe(18);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it("replace every character outside [A-Za-z0-9._-] with _, one per code point", () => {
    expect(sanitize("Az09._-")).toBe("Az09._-");
    expect(sanitize("a/b\\c d?e=f&g%h")).toBe("a_b_c_d_e_f_g_h");
    expect(sanitize("caf\u00e9 \u{1F600}")).toBe("caf___");
    expect(sanitize("nul\u0000line\nfeed")).toBe("nul_line_feed");
    expect(recordingStem("live", "../../etc/passwd", WHEN)).toBe("live_.._.._etc_passwd_20260304_050607");
  });

  it("cap the {app}_{name} part at MAX_STEM_LENGTH, ending it with a hash of the whole key", () => {
    const a = recordingStem("live", "x".repeat(1000) + "a", WHEN);
    const b = recordingStem("live", "x".repeat(1000) + "b", WHEN);
    expect(a.length).toBe(MAX_STEM_LENGTH + "_20260304_050607".length);
    expect(a.startsWith(`live_${"x".repeat(100)}`)).toBe(true);
    expect(a).toMatch(/_[0-9a-f]{8}_20260304_050607$/);
    expect(a).not.toBe(b);
    // Short names are never hashed.
    expect(recordingStem("live", "x".repeat(MAX_STEM_LENGTH - 5), WHEN)).toBe(`live_${"x".repeat(MAX_STEM_LENGTH - 5)}_20260304_050607`);
  });

  it("create the file inside the directory for hostile keys: traversal, slashes, NUL, absolute paths, 4 KiB", async () => {
    const dir = join(scratch.path, "hostile");
    const keys: Array<[string, string]> = [
      ["..", "../../etc/passwd"],
      ["live", "/etc/shadow"],
      ["live", "a\u0000b/../../c"],
      [".", ".."],
      ["live", "x".repeat(4096)],
      ["\u{1F600}", "\u0301\u202e/..\\..\\win"],
    ];
    for (const [app, name] of keys) {
      const { path, handle } = await createRecordingFile(dir, recordingStem(app, name, WHEN), "flv");
      await handle.close();
      expect(dirname(resolve(path))).toBe(resolve(dir));
      const file = path.slice(dir.length + 1);
      expect(file).toMatch(/^[A-Za-z0-9._-]+\.flv$/);
      expect(Buffer.byteLength(file)).toBeLessThanOrEqual(255);
    }
    expect(readdirSync(dir)).toHaveLength(keys.length);
  });

  it("create missing directories, and never overwrite: a taken name gets _1, _2, ...", async () => {
    const dir = join(scratch.path, "nested", "deeper");
    const stem = recordingStem("live", "same", WHEN);
    const first = await createRecordingFile(dir, stem, "flv");
    await first.handle.writeFile("first");
    await first.handle.close();
    const second = await createRecordingFile(dir, stem, "flv");
    await second.handle.close();
    const third = await createRecordingFile(dir, stem, "flv");
    await third.handle.close();
    expect([first.path, second.path, third.path].map((p) => p.slice(dir.length + 1))).toEqual([
      `${stem}.flv`,
      `${stem}_1.flv`,
      `${stem}_2.flv`,
    ]);
    expect(readFileSync(first.path, "utf8")).toBe("first");
    // The extension is the format's: an MP4 of the same stem is a name of its own.
    const mp4 = await createRecordingFile(dir, stem, "mp4");
    await mp4.handle.close();
    expect(mp4.path.slice(dir.length + 1)).toBe(`${stem}.mp4`);
  });

  it("give up with an error once every numbered variant is taken", async () => {
    const dir = join(scratch.path, "full");
    const stem = "busy";
    await createRecordingFile(dir, stem, "flv").then((f) => f.handle.close());
    for (let i = 1; i < MAX_NAME_ATTEMPTS; i++) writeFileSync(join(dir, `${stem}_${i}.flv`), "");
    await expect(createRecordingFile(dir, stem, "flv")).rejects.toThrow("numbered variants all exist");
  });

  it("report why the directory cannot be made", async () => {
    const blocker = join(scratch.path, "a-file");
    writeFileSync(blocker, "not a directory");
    await expect(createRecordingFile(join(blocker, "recordings"), "x", "flv")).rejects.toThrow(/ENOTDIR|EEXIST/);
  });
});
