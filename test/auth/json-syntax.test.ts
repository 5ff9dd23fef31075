import { describe, expect, it } from "bun:test";
import { jsonSyntaxError } from "../../src/auth/json-syntax.ts";
import { mulberry32 } from "../helpers/prng.ts";

describe("jsonSyntaxError", () => {
  it("finds nothing wrong with valid JSON", () => {
    const valid = [
      "{}",
      "[]",
      "0",
      '"x"',
      ' \r\n\t{"a": [1, -2.5e+3, 0.5E-2, true, false, null, {"b": "\\u00e9\\n\\"\\\\\\/"}], "": {}}\n',
    ];
    for (const text of valid) expect(jsonSyntaxError(text)).toBeNull();
  });

  it("says where the first error is and what was expected there", () => {
    const cases: [string, string][] = [
      ["", "line 1, column 1: expected a value"],
      ['{"a": 1,}', "line 1, column 9: expected a quoted key"],
      ['{\n  "a": "b"\n  "c": 1}', "line 3, column 3: expected ',' or '}'"],
      ['{\r\n  "a": "b",\r\n  "c" 1}', "line 3, column 7: expected ':'"],
      ['{"a":"b"} x', "line 1, column 11: expected the end of the text"],
      ["[1,", "line 1, column 4: expected a value"],
      ["[1 2]", "line 1, column 4: expected ',' or ']'"],
      ['{"live/a": secret}', "line 1, column 12: expected a value"],
      ["{'a': 1}", "line 1, column 2: expected a quoted key"],
      ['"abc', "line 1, column 5: expected a closing quote"],
      ['"a\\x"', "line 1, column 3: expected a valid escape"],
      ['"a\\u12g4"', "line 1, column 3: expected a valid escape"],
      ['"tab\there"', "line 1, column 5: expected no control character inside a string (escape it)"],
      ["01", "line 1, column 2: expected the end of the text"],
      ["-", "line 1, column 1: expected a number"],
      ["1.", "line 1, column 2: expected the end of the text"],
      ["tru", "line 1, column 1: expected a value"],
      ["[".repeat(600), "line 1, column 513: expected at most 512 levels of nesting"],
    ];
    for (const [text, message] of cases) expect({ text, message: jsonSyntaxError(text) }).toEqual({ text, message });
  });

  it("agrees with JSON.parse on 5000 seeded mutations of a valid document", () => {
    const base = '{"live/a": "tok-1", "live/b": ["x", 1.5e3, -0, true, null], "c": {"d": "\\u0041\\n"}}';
    const alphabet = '{}[]:,"\\ \n-+.0123456789eEtrufalsn/ux';
    const random = mulberry32(0xa17f);
    const pick = (n: number) => Math.floor(random() * n);
    for (let i = 0; i < 5000; i++) {
      let text = base;
      for (let edits = 1 + pick(3); edits > 0; edits--) {
        const at = pick(text.length + 1);
        const c = alphabet[pick(alphabet.length)];
        const kind = pick(3);
        text = text.slice(0, at) + (kind === 2 ? "" : c) + text.slice(kind === 0 ? at : at + 1);
      }
      let parses = true;
      try {
        JSON.parse(text);
      } catch {
        parses = false;
      }
      expect({ text, valid: jsonSyntaxError(text) === null }).toEqual({ text, valid: parses });
    }
  });
});
