import { describe, expect, it } from "bun:test";
import { MAX_KEY_LENGTH } from "../../src/shared/stream-name.ts";
import { keyMatcher, validKeyPattern } from "../../src/streams/key-pattern.ts";
import { mulberry32 } from "../helpers/prng.ts";

describe("keyMatcher", () => {
  it("selects every key when the list is empty", () => {
    const all = keyMatcher([]);
    expect(["live/test", "a/b/c", "name-only", ""].every(all)).toBe(true);
  });

  it("matches a written-out key exactly and case-sensitively", () => {
    const match = keyMatcher(["live/main"]);
    expect(match("live/main")).toBe(true);
    for (const key of ["live/Main", "Live/main", "live/main2", "live/mai", "xlive/main", "live/main/x"]) {
      expect(match(key)).toBe(false);
    }
  });

  it("lets * stand for any run of characters, slashes included, or none", () => {
    const match = keyMatcher(["live/*"]);
    for (const key of ["live/a", "live/a/b/c", "live/"]) expect(match(key)).toBe(true);
    for (const key of ["live", "games/live/a", "LIVE/a"]) expect(match(key)).toBe(false);
    expect(keyMatcher(["*"])("anything/at/all")).toBe(true);
    expect(keyMatcher(["*-hd"])("live/cam-hd")).toBe(true);
    expect(keyMatcher(["*-hd"])("live/cam-hd2")).toBe(false);
  });

  it("places several stars in order, without letting parts overlap", () => {
    const match = keyMatcher(["a*b*c"]);
    for (const key of ["abc", "a/b/c", "axxbyyc", "abbc", "abcbc"]) expect(match(key)).toBe(true);
    for (const key of ["acb", "ab", "bc", "abca"]) expect(match(key)).toBe(false);
    // "ab*ba" needs both parts: the prefix and suffix of "aba" overlap, which does not count.
    expect(keyMatcher(["ab*ba"])("aba")).toBe(false);
    expect(keyMatcher(["ab*ba"])("abba")).toBe(true);
  });

  it("treats every other character literally", () => {
    const match = keyMatcher(["live/[a].b+c"]);
    expect(match("live/[a].b+c")).toBe(true);
    expect(match("live/a.b+c")).toBe(false);
    expect(match("live/[a]xbbc")).toBe(false);
  });

  it("selects a key when any pattern matches", () => {
    const match = keyMatcher(["live/main", "games/*"]);
    expect(["live/main", "games/chess", "games/a/b"].every(match)).toBe(true);
    expect(["live/other", "game/x"].some(match)).toBe(false);
  });

  it("agrees with a regular-expression reference on 20,000 seeded random cases", () => {
    const random = mulberry32(0x6b6579);
    const pick = (alphabet: string, max: number) =>
      Array.from({ length: Math.floor(random() * (max + 1)) }, () => alphabet[Math.floor(random() * alphabet.length)]).join("");
    for (let i = 0; i < 20_000; i++) {
      const pattern = pick("ab/*", 7);
      const key = pick("ab/", 9);
      const reference = new RegExp(`^${pattern.split("*").map((p) => p.replace(/[/]/g, "\\/")).join(".*")}$`);
      expect([pattern, key, keyMatcher([pattern])(key)]).toEqual([pattern, key, reference.test(key)]);
    }
  });

  it("stays linear on a pattern that makes a backtracking regex crawl", () => {
    const pattern = `${"*a".repeat(20)}*b`;
    const key = "a".repeat(MAX_KEY_LENGTH);
    // A backtracking matcher needs on the order of 512^20 steps here; this one finishes in one pass per part.
    expect(keyMatcher([pattern])(key)).toBe(false);
    expect(keyMatcher([pattern])(`${key}b`)).toBe(true);
  });
});

describe("validKeyPattern", () => {
  it.each(["live/main", "live/*", "*", "*-hd", "games/*/main", "name-only", "a/b/c", "live/[x]"])("accepts %p", (p) => {
    expect(validKeyPattern(p)).toBe(true);
  });

  it.each([
    ["an empty pattern", ""],
    ["a ? (not a wildcard here)", "live/?"],
    ["a query", "live/main?token=x"],
    ["a space", "live/ main"],
    ["a tab", "live/\tmain"],
    ["a control character", "live/ma\u0000in"],
    ["a leading slash", "/live/*"],
    ["a trailing slash", "live/"],
    ["an empty segment", "live//main"],
    ["a .. segment", "live/../main"],
    ["a . segment", "./live"],
    ["more than a key's length", "a".repeat(MAX_KEY_LENGTH + 1)],
  ])("refuses %s", (_why, pattern) => {
    expect(validKeyPattern(pattern)).toBe(false);
  });

  it("accepts a pattern exactly as long as the longest key", () => {
    expect(validKeyPattern("a".repeat(MAX_KEY_LENGTH))).toBe(true);
  });
});
