/**
 * Where a JSON text breaks the grammar (RFC 8259), for error messages. JavaScriptCore's JSON.parse says what
 * went wrong but not where, and quotes the text it choked on, which in a token file may be a token.
 */

/** Deeper nesting is reported as an error rather than recursed into. */
const MAX_DEPTH = 512;

const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;
const LITERALS = ["true", "false", "null"];

/** `line L, column C: expected ...` for the first syntax error in `text`, or null when it is valid JSON. */
export function jsonSyntaxError(text: string): string | null {
  try {
    new Scanner(text).document();
    return null;
  } catch (error) {
    if (!(error instanceof Expected)) throw error;
    const { line, column } = lineAndColumn(text, error.offset);
    return `line ${line}, column ${column}: expected ${error.what}`;
  }
}

class Expected {
  constructor(
    readonly offset: number,
    readonly what: string,
  ) {}
}

class Scanner {
  private pos = 0;

  constructor(private readonly text: string) {}

  document(): void {
    this.value(0);
    this.skipSpace();
    if (this.pos < this.text.length) this.fail("the end of the text");
  }

  private value(depth: number): void {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === "{" || c === "[") return this.container(depth + 1);
    if (c === '"') return this.string();
    if (c === "-" || (c >= "0" && c <= "9")) return this.match(NUMBER, "a number");
    const literal = LITERALS.find((word) => this.text.startsWith(word, this.pos));
    if (literal === undefined) this.fail("a value");
    this.pos += literal.length;
  }

  /** An object or an array: they differ only in their brackets and in objects' `"key":` before each value. */
  private container(depth: number): void {
    if (depth > MAX_DEPTH) this.fail(`at most ${MAX_DEPTH} levels of nesting`);
    const isObject = this.text[this.pos++] === "{";
    const close = isObject ? "}" : "]";
    this.skipSpace();
    if (this.eat(close)) return;
    for (;;) {
      if (isObject) this.member();
      this.value(depth);
      this.skipSpace();
      if (this.eat(close)) return;
      if (!this.eat(",")) this.fail(`',' or '${close}'`);
    }
  }

  private member(): void {
    this.skipSpace();
    if (this.text[this.pos] !== '"') this.fail("a quoted key");
    this.string();
    this.skipSpace();
    if (!this.eat(":")) this.fail("':'");
  }

  private string(): void {
    this.pos++;
    for (;;) {
      const code = this.text.charCodeAt(this.pos);
      if (Number.isNaN(code)) this.fail("a closing quote");
      if (code === 0x22) break;
      if (code < 0x20) this.fail("no control character inside a string (escape it)");
      if (code === 0x5c) this.match(ESCAPE, "a valid escape");
      else this.pos++;
    }
    this.pos++;
  }

  private match(pattern: RegExp, what: string): void {
    pattern.lastIndex = this.pos;
    if (!pattern.test(this.text)) this.fail(what);
    this.pos = pattern.lastIndex;
  }

  private eat(c: string): boolean {
    if (this.text[this.pos] !== c) return false;
    this.pos++;
    return true;
  }

  private skipSpace(): void {
    while (" \t\n\r".includes(this.text[this.pos] ?? "x")) this.pos++;
  }

  private fail(what: string): never {
    throw new Expected(this.pos, what);
  }
}

/** 1-based, counting UTF-16 units as editors mostly do for the characters a JSON file holds. */
function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i >= 0 && i < offset; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
