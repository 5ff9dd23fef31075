/**
 * The onMetaData script tag that opens a recording, at a size fixed when the file is created: duration,
 * filesize and the keyframe index are only known at the end, so the tag is reserved at its largest (a full
 * index) and rewritten in place at finalize, padded with a null array to the same size so that no byte
 * after it moves. Our fields come first: libavformat stops reading metadata at the first value it cannot
 * parse, and the publisher's values come after ours.
 */
import { EcmaArray, Marker, TypedObject, type Amf0Object, type Amf0Value, decodeAmf0, encodeAmf0 } from "../protocol/amf0.ts";

/** The null array that pads the tag; libavformat skips arrays in metadata, so players never show it. */
export const PADDING_KEY = "padding";
/** Publisher properties copied into a recording, at most. */
export const MAX_PUBLISHER_PROPERTIES = 64;
/**
 * Longest key or string value copied, in UTF-8 bytes. libavformat reads them into fixed buffers (1024 bytes
 * in FFmpeg 5, 256 before) and abandons the rest of the metadata, with an error, at a longer one.
 */
export const MAX_METADATA_TEXT = 255;

const OWN_KEYS = new Set(["duration", "filesize", "keyframes", PADDING_KEY]);
const utf8 = new TextEncoder();

/** What the finished file's metadata reports besides the publisher's properties. */
export interface RecordingFacts {
  durationMs: number;
  fileSize: number;
  /** The keyframe index; left out below 2 entries (libavformat refuses a shorter one with a warning). */
  times: readonly number[];
  positions: readonly number[];
}

/**
 * The scalar properties (numbers, booleans, short strings) of a publisher's onMetaData payload
 * ("onMetaData", {...}), without the ones a recording writes itself; {} when the payload is not metadata.
 */
export function publisherProperties(payload: Uint8Array | null): Amf0Object {
  if (payload === null) return {};
  let values: Amf0Value[];
  try {
    values = decodeAmf0(payload);
  } catch {
    return {};
  }
  const [name, value] = values;
  if (name !== "onMetaData") return {};
  const source = value instanceof EcmaArray || value instanceof TypedObject ? value.props : value;
  if (typeof source !== "object" || source === null || Array.isArray(source) || source instanceof Date) return {};
  const kept: Array<[string, Amf0Value]> = [];
  for (const key of Object.keys(source)) {
    if (kept.length === MAX_PUBLISHER_PROPERTIES) break;
    const v = source[key];
    if (!OWN_KEYS.has(key) && shortText(key) && scalar(v)) kept.push([key, v]);
  }
  // fromEntries defines properties, so even a key like "__proto__" stays an ordinary one.
  return Object.fromEntries(kept);
}

function shortText(text: string): boolean {
  return text.length <= MAX_METADATA_TEXT && utf8.encode(text).length <= MAX_METADATA_TEXT;
}

function scalar(v: Amf0Value): boolean {
  return typeof v === "number" || typeof v === "boolean" || (typeof v === "string" && shortText(v));
}

/** Sizes of the fixed layout below: an object's end (empty key, end marker), a number (marker, float64). */
const OBJECT_END = [0x00, 0x00, Marker.ObjectEnd];
const NUMBER_SIZE = 9;

/**
 * The onMetaData body of one file, laid out by hand: a file's index holds thousands of numbers, and the
 * generic AMF0 encoder takes milliseconds for those, on the event loop, at every file start and finish. The
 * publisher's properties are encoded once, with the generic encoder, when the file opens.
 */
export class RecordingMetadata {
  /** The publisher's properties as AMF0 key/value pairs, without the ECMA array around them. */
  private readonly pairs: Uint8Array;
  private readonly pairCount: number;
  /** Bytes of the body: the size with a full index, which every later body is padded to. */
  readonly size: number;

  constructor(
    props: Amf0Object,
    readonly capacity: number,
  ) {
    const array = encodeAmf0([new EcmaArray(props)]);
    // ECMA array: marker, u32 count, the pairs, object end.
    this.pairs = array.subarray(5, array.length - OBJECT_END.length);
    this.pairCount = Object.keys(props).length;
    this.size = this.unpaddedSize(capacity);
  }

  /** The body reporting `facts`, padded to exactly `size` bytes. */
  body(facts: RecordingFacts): Uint8Array {
    const entries = facts.times.length >= 2 ? facts.times.length : 0;
    if (entries > this.capacity) throw new Error(`${entries} index entries but room for ${this.capacity} is reserved`);
    const out = new Uint8Array(this.size);
    const view = new DataView(out.buffer);
    let at = 0;
    const byte = (b: number) => (out[at++] = b);
    const key = (text: string) => {
      view.setUint16(at, text.length);
      for (let i = 0; i < text.length; i++) out[at + 2 + i] = text.charCodeAt(i);
      at += 2 + text.length;
    };
    const number = (n: number) => {
      byte(Marker.Number);
      view.setFloat64(at, n);
      at += 8;
    };
    const numbers = (name: string, values: readonly number[]) => {
      key(name);
      byte(Marker.StrictArray);
      view.setUint32(at, values.length);
      at += 4;
      for (const v of values) number(v);
    };

    byte(Marker.String);
    key("onMetaData");
    byte(Marker.EcmaArray);
    view.setUint32(at, 3 + this.pairCount + (entries > 0 ? 1 : 0));
    at += 4;
    key("duration");
    number(facts.durationMs / 1000);
    key("filesize");
    number(facts.fileSize);
    if (entries > 0) {
      key("keyframes");
      byte(Marker.Object);
      numbers("times", facts.times);
      numbers("filepositions", facts.positions);
      for (const b of OBJECT_END) byte(b);
    }
    out.set(this.pairs, at);
    at += this.pairs.length;
    // Each null of the padding array is one byte, so any gap is filled exactly.
    const padding = this.size - this.unpaddedSize(entries);
    key(PADDING_KEY);
    byte(Marker.StrictArray);
    view.setUint32(at, padding);
    at += 4;
    out.fill(Marker.Null, at, at + padding);
    at += padding;
    for (const b of OBJECT_END) byte(b);
    return out;
  }

  /** Body size with `entries` index entries (0, or at least 2) and an empty padding array. */
  private unpaddedSize(entries: number): number {
    const entry = (name: string) => 2 + name.length;
    const head = 1 + entry("onMetaData") + 1 + 4;
    const own = entry("duration") + NUMBER_SIZE + entry("filesize") + NUMBER_SIZE;
    const array = (name: string, n: number) => entry(name) + 1 + 4 + n * NUMBER_SIZE;
    const index =
      entries > 0 ? entry("keyframes") + 1 + array("times", entries) + array("filepositions", entries) + OBJECT_END.length : 0;
    return head + own + index + this.pairs.length + array(PADDING_KEY, 0) + OBJECT_END.length;
  }
}
