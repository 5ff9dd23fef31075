import { afterEach, beforeEach, describe, expect, it } from "bun:test";
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_TOKEN_FILE_BYTES, readTokenFile } from "../../src/auth/token-file.ts";
import { scratchDir } from "../helpers/media.ts";
import { run } from "../../support/children.ts";

let dir: { path: string; remove(): void };
beforeEach(() => {
  dir = scratchDir("auth-token-file");
});
afterEach(() => dir.remove());

function file(text: string | Uint8Array, name = "tokens.json"): string {
  const path = join(dir.path, name);
  writeFileSync(path, text);
  return path;
}

/** The message readTokenFile throws for `path`. */
function errorOf(path: string): string {
  try {
    readTokenFile(path);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`readTokenFile(${path}) did not throw`);
}

describe("readTokenFile", () => {
  it("reads an object of app/name -> token pairs", () => {
    const path = file('{\n  "live/test": "s3cret",\n  "games/room/1": "t-2"\n}\n');
    expect(readTokenFile(path)).toEqual({ "live/test": "s3cret", "games/room/1": "t-2" });
    expect(readTokenFile(file("{}", "empty.json"))).toEqual({});
  });

  it("accepts a UTF-8 byte order mark, as Windows editors write", () => {
    const path = file(new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"live/test": "s3cret"}')]));
    expect(readTokenFile(path)).toEqual({ "live/test": "s3cret" });
  });

  it("follows a symlink", () => {
    const target = file('{"live/test": "s3cret"}', "real.json");
    symlinkSync(target, join(dir.path, "link.json"));
    expect(readTokenFile(join(dir.path, "link.json"))).toEqual({ "live/test": "s3cret" });
  });

  it("names a file that does not exist", () => {
    const path = join(dir.path, "missing.json");
    expect(errorOf(path)).toBe(`${path}: no such file`);
    const underFile = join(file("{}"), "x.json");
    expect(errorOf(underFile)).toBe(`${underFile}: no such file (a part of the path is not a directory)`);
  });

  it("says a directory or a special file is not a token file", () => {
    mkdirSync(join(dir.path, "sub"));
    expect(errorOf(join(dir.path, "sub"))).toBe(`${dir.path}/sub: is a directory`);
    expect(errorOf("/dev/null")).toBe("/dev/null: not a regular file");
  });

  it("says permission denied for a file it may not read", async () => {
    const path = file('{"live/test": "s3cret"}');
    chmodSync(path, 0o000);
    if (process.getuid?.() !== 0) {
      expect(errorOf(path)).toBe(`${path}: permission denied`);
      return;
    }
    // root reads anything: ask as nobody, in a child process.
    chmodSync(dir.path, 0o755);
    const module = join(import.meta.dir, "../../src/auth/token-file.ts");
    const script = `import { readTokenFile } from ${JSON.stringify(module)};
      try { readTokenFile(${JSON.stringify(path)}); console.log("read it"); } catch (e) { console.log(e.message); }`;
    const result = await run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bun", "-e", script], {
      env: { ...process.env, HOME: dir.path, BUN_INSTALL_CACHE_DIR: dir.path, TMPDIR: dir.path },
    });
    expect({ out: result.stdout.trim(), code: result.code }).toEqual({ out: `${path}: permission denied`, code: 0 });
  });

  it("gives the line and column of a JSON syntax error, without quoting the text there", () => {
    const path = file('{\n  "live/test": "s3cret",\n  "live/cam": hunter2\n}\n');
    expect(errorOf(path)).toBe(`${path}: not JSON: line 3, column 15: expected a value`);
    expect(errorOf(path)).not.toContain("hunter2");
    const trailing = file('{"live/test": "s3cret",}', "trailing.json");
    expect(errorOf(trailing)).toBe(`${trailing}: not JSON: line 1, column 24: expected a quoted key`);
  });

  it("refuses JSON that is not an object", () => {
    for (const [text, what] of [["[]", "an array"], ["null", "null"], ['"s3cret"', "a string"], ["42", "a number"]]) {
      const path = file(text);
      expect(errorOf(path)).toBe(`${path}: expected a JSON object of "app/name": "token" pairs, got ${what}`);
    }
  });

  it("names the key whose token is not a non-empty string, without its value", () => {
    const cases: [string, string][] = [
      ['{"live/ok": "x", "live/num": 12345}', '"live/num": expected a non-empty token string, got a number'],
      ['{"live/empty": ""}', '"live/empty": expected a non-empty token string, got an empty string'],
      ['{"live/obj": {"token": "x"}}', '"live/obj": expected a non-empty token string, got an object'],
      ['{"live/null": null}', '"live/null": expected a non-empty token string, got null'],
      ['{"live/yes": true}', '"live/yes": expected a non-empty token string, got a boolean'],
    ];
    for (const [text, message] of cases) {
      const path = file(text);
      expect(errorOf(path)).toBe(`${path}: ${message}`);
      expect(errorOf(path)).not.toContain("12345");
    }
  });

  it("names a key that is not a stream key app/name", () => {
    for (const key of ["live", "live/", "/test", "live//test", "live/../x", "live/test?token=x", "live/my stream", ""]) {
      const path = file(JSON.stringify({ "live/ok": "s3cret", [key]: "s3cret" }));
      expect(errorOf(path)).toBe(`${path}: expected a stream key "app/name" like "live/test", got ${JSON.stringify(key)}`);
    }
  });

  it("refuses a file larger than MAX_TOKEN_FILE_BYTES before reading it", () => {
    const path = file(new Uint8Array(MAX_TOKEN_FILE_BYTES + 1).fill(0x20));
    const size = MAX_TOKEN_FILE_BYTES + 1;
    expect(errorOf(path)).toBe(`${path}: ${size} bytes, more than the ${MAX_TOKEN_FILE_BYTES} a token file may have`);
  });

  it("refuses bytes that are not UTF-8", () => {
    const path = file(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x22, 0x78, 0x22, 0x7d]));
    expect(errorOf(path)).toBe(`${path}: not UTF-8 text`);
  });
});
