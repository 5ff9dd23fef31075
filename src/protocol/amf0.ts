/**
 * AMF0: the value encoding inside RTMP command (type 20) and data (type 18) messages. Pure bytes ↔ values;
 * the decoder treats every length and count as hostile and throws only ProtocolError.
 */
import { ProtocolError } from "./errors.ts";

export type Amf0Value =
  | number
  | boolean
  | string
  | null
  | undefined
  | Date
  | Amf0Object
  | Amf0Value[]
  | EcmaArray
  | TypedObject;

export interface Amf0Object {
  [key: string]: Amf0Value;
}

/** An associative array (marker 0x08). onMetaData carries its properties in one. */
export class EcmaArray {
  constructor(readonly props: Amf0Object) {}
}

/** An object tagged with a class name (marker 0x10). */
export class TypedObject {
  constructor(
    readonly className: string,
    readonly props: Amf0Object,
  ) {}
}

/** AMF0 type markers. */
export const Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  EcmaArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  TypedObject: 0x10,
  AvmPlus: 0x11,
} as const;

const utf8Decoder = new TextDecoder("utf-8", { fatal: false });
const utf8Encoder = new TextEncoder();

// ---------------------------------------------------------------------------------------------------------
// Decoding

export interface Amf0DecodeOptions {
  /** How many complex values (objects, arrays) may nest inside each other. Default 64. */
  maxDepth?: number;
}

/** A cursor over AMF0 bytes. The reference table spans every value read through one reader. */
export class Amf0Reader {
  private pos = 0;
  private depth = 0;
  private readonly view: DataView;
  private readonly maxDepth: number;
  /** Complex values in the order they began, for reference markers (0x07). */
  private readonly complexValues: Amf0Value[] = [];
  /** Each complex value's encoded size with references expanded, or -1 while it is still being decoded. */
  private readonly complexSizes: number[] = [];
  /** Bytes that references have repeated so far, on top of the bytes actually read. */
  private repeated = 0;

  constructor(
    private readonly bytes: Uint8Array,
    opts: Amf0DecodeOptions = {},
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.maxDepth = opts.maxDepth ?? 64;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  readValue(): Amf0Value {
    const marker = this.u8();
    switch (marker) {
      case Marker.Number:
        return this.f64();
      case Marker.Boolean:
        return this.u8() !== 0;
      case Marker.String:
        return this.utf8(this.u16());
      case Marker.LongString:
        return this.utf8(this.u32());
      case Marker.Null:
        return null;
      case Marker.Undefined:
        return undefined;
      case Marker.Date: {
        const ms = this.f64();
        this.need(2); // the timezone: always 0 in practice, and ignored everywhere
        this.pos += 2;
        return new Date(ms);
      }
      case Marker.Object:
        return this.complex({}, (obj) => this.readProperties(obj));
      case Marker.EcmaArray: {
        this.u32(); // the count is a hint that encoders get wrong; the end marker decides
        return this.complex(new EcmaArray({}), (arr) => this.readProperties(arr.props));
      }
      case Marker.TypedObject: {
        const className = this.utf8(this.u16());
        return this.complex(new TypedObject(className, {}), (obj) => this.readProperties(obj.props));
      }
      case Marker.StrictArray: {
        const count = this.u32();
        // Every element takes at least one byte, so a larger count can only be a lie.
        if (count > this.remaining) {
          throw new ProtocolError(
            "amf0.array-count",
            `strict array declares ${count} elements but only ${this.remaining} bytes remain`,
          );
        }
        return this.complex([] as Amf0Value[], (arr) => {
          for (let i = 0; i < count; i++) arr.push(this.readValue());
        });
      }
      case Marker.Reference:
        return this.reference(this.u16());
      case Marker.AvmPlus:
        throw new ProtocolError("amf0.amf3-switch", "AVM+ marker 0x11 switches to AMF3, which is not supported");
      default:
        throw new ProtocolError(
          "amf0.marker",
          `unsupported marker 0x${marker.toString(16).padStart(2, "0")} at offset ${this.pos - 1}`,
        );
    }
  }

  /** Registers a complex value before its contents (that is how reference indices count), then fills it. */
  private complex<T extends Amf0Value>(value: T, fill: (value: T) => void): T {
    if (this.depth >= this.maxDepth) {
      throw new ProtocolError("amf0.depth", `values nest deeper than ${this.maxDepth} levels`);
    }
    const index = this.complexValues.push(value) - 1;
    this.complexSizes.push(-1);
    const start = this.pos + this.repeated;
    this.depth++;
    fill(value);
    this.depth--;
    this.complexSizes[index] = this.pos + this.repeated - start;
    return value;
  }

  private reference(index: number): Amf0Value {
    if (index >= this.complexValues.length) {
      throw new ProtocolError(
        "amf0.reference",
        `reference to index ${index} but only ${this.complexValues.length} complex values precede it`,
      );
    }
    const size = this.complexSizes[index];
    if (size < 0) {
      throw new ProtocolError("amf0.reference-cycle", `reference to index ${index}, which contains it`);
    }
    // A few bytes of references can repeat a value exponentially often (each array holding two references
    // to the one before). Capping the repeated bytes at the input size keeps anything that later walks,
    // re-encodes or JSON-serialises the result linear in what the peer sent.
    this.repeated += size - 3;
    if (this.repeated > this.bytes.length) {
      throw new ProtocolError(
        "amf0.reference-expansion",
        `references repeat more bytes than the ${this.bytes.length} that were sent`,
      );
    }
    return this.complexValues[index];
  }

  /** Key/value pairs up to the empty key and 0x09 that end an object, ECMA array or typed object. */
  private readProperties(target: Amf0Object): void {
    for (;;) {
      const key = this.utf8(this.u16());
      if (key === "") {
        const end = this.u8();
        if (end !== Marker.ObjectEnd) {
          throw new ProtocolError(
            "amf0.object-end",
            `expected object end 0x09 after an empty key, got 0x${end.toString(16)}`,
          );
        }
        return;
      }
      const value = this.readValue();
      if (key === "__proto__") {
        // Plain assignment would replace the prototype instead of storing the peer's key.
        Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
      } else {
        target[key] = value;
      }
    }
  }

  private need(n: number): void {
    if (this.bytes.length - this.pos < n) {
      throw new ProtocolError(
        "amf0.truncated",
        `needed ${n} bytes at offset ${this.pos} but only ${this.bytes.length - this.pos} remain`,
      );
    }
  }

  private u8(): number {
    this.need(1);
    return this.bytes[this.pos++];
  }

  private u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  private f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  private utf8(length: number): string {
    this.need(length);
    const start = this.pos;
    this.pos += length;
    // Keys and command strings are short ASCII; building those directly skips TextDecoder's setup cost.
    if (length <= 64) {
      let s = "";
      for (let i = start; i < this.pos; i++) {
        const b = this.bytes[i];
        if (b >= 0x80) return utf8Decoder.decode(this.bytes.subarray(start, this.pos));
        s += String.fromCharCode(b);
      }
      return s;
    }
    return utf8Decoder.decode(this.bytes.subarray(start, this.pos));
  }
}

/** Decodes values back to back until the input is exhausted. */
export function decodeAmf0(bytes: Uint8Array, opts?: Amf0DecodeOptions): Amf0Value[] {
  const reader = new Amf0Reader(bytes, opts);
  const values: Amf0Value[] = [];
  while (reader.remaining > 0) values.push(reader.readValue());
  return values;
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

/** Encodes values back to back. Throws a plain Error for values AMF0 cannot carry (a programming error). */
export function encodeAmf0(values: readonly Amf0Value[]): Uint8Array {
  const w = new Writer();
  for (const v of values) w.value(v);
  return w.finish();
}

class Writer {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private pos = 0;

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }

  value(v: Amf0Value): void {
    switch (typeof v) {
      case "number":
        this.reserve(9);
        this.buf[this.pos++] = Marker.Number;
        this.view.setFloat64(this.pos, v);
        this.pos += 8;
        return;
      case "boolean":
        this.reserve(2);
        this.buf[this.pos++] = Marker.Boolean;
        this.buf[this.pos++] = v ? 1 : 0;
        return;
      case "string":
        this.string(v);
        return;
      case "undefined":
        this.byte(Marker.Undefined);
        return;
    }
    if (v === null) {
      this.byte(Marker.Null);
    } else if (Array.isArray(v)) {
      this.reserve(5);
      this.buf[this.pos++] = Marker.StrictArray;
      this.view.setUint32(this.pos, v.length);
      this.pos += 4;
      for (const item of v) this.value(item);
    } else if (v instanceof Date) {
      this.reserve(11);
      this.buf[this.pos++] = Marker.Date;
      this.view.setFloat64(this.pos, v.getTime());
      this.view.setInt16(this.pos + 8, 0);
      this.pos += 10;
    } else if (v instanceof EcmaArray) {
      this.reserve(5);
      this.buf[this.pos++] = Marker.EcmaArray;
      this.view.setUint32(this.pos, Object.keys(v.props).length);
      this.pos += 4;
      this.properties(v.props);
    } else if (v instanceof TypedObject) {
      this.byte(Marker.TypedObject);
      this.shortString(v.className);
      this.properties(v.props);
    } else if (typeof v === "object") {
      this.byte(Marker.Object);
      this.properties(v);
    } else {
      throw new Error(`AMF0 cannot encode a ${typeof v}`);
    }
  }

  private properties(obj: Amf0Object): void {
    for (const key of Object.keys(obj)) {
      // An empty key would read back as the end-of-object marker.
      if (key === "") throw new Error("AMF0 cannot encode an empty object key");
      this.shortString(key);
      this.value(obj[key]);
    }
    this.reserve(3);
    this.buf[this.pos++] = 0;
    this.buf[this.pos++] = 0;
    this.buf[this.pos++] = Marker.ObjectEnd;
  }

  /** A u16-length UTF-8 string without a marker: object keys and class names. */
  private shortString(s: string): void {
    this.reserve(2 + s.length * 3);
    const written = this.utf8(s, this.pos + 2);
    if (written > 0xffff) throw new Error(`AMF0 object key or class name of ${written} bytes exceeds 65535`);
    this.view.setUint16(this.pos, written);
    this.pos += 2 + written;
  }

  /** 0x02 with a u16 length, or 0x0C with a u32 length when the UTF-8 form exceeds 65535 bytes. */
  private string(s: string): void {
    this.reserve(5 + s.length * 3);
    // Leave room for a u32 length only when the UTF-8 form might need one (up to 3 bytes per code unit).
    const mayBeLong = s.length * 3 > 0xffff;
    const written = this.utf8(s, this.pos + (mayBeLong ? 5 : 3));
    if (written > 0xffff) {
      this.buf[this.pos] = Marker.LongString;
      this.view.setUint32(this.pos + 1, written);
      this.pos += 5 + written;
    } else {
      if (mayBeLong) this.buf.copyWithin(this.pos + 3, this.pos + 5, this.pos + 5 + written);
      this.buf[this.pos] = Marker.String;
      this.view.setUint16(this.pos + 1, written);
      this.pos += 3 + written;
    }
  }

  /** Writes s as UTF-8 at `at` (space already reserved) and returns the byte count. */
  private utf8(s: string, at: number): number {
    // Short ASCII is the common case and cheaper copied by hand than through encodeInto's subarray.
    if (s.length <= 64) {
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        this.buf[at + i] = c;
      }
      if (i === s.length) return i;
    }
    return utf8Encoder.encodeInto(s, this.buf.subarray(at)).written;
  }

  private byte(b: number): void {
    this.reserve(1);
    this.buf[this.pos++] = b;
  }

  private reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}
