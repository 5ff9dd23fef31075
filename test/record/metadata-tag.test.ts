/**
 * The recording's onMetaData body: exact bytes, a size that never changes between the reservation at file
 * start and the rewrite at finalize, and which of the publisher's properties are carried over.
 */
import { describe, expect, it } from "bun:test";
import { EcmaArray, TypedObject, decodeAmf0, encodeAmf0 } from "../../src/protocol/amf0.ts";
import {
  MAX_METADATA_TEXT,
  MAX_PUBLISHER_PROPERTIES,
  PADDING_KEY,
  RecordingMetadata,
  publisherProperties,
} from "../../src/record/metadata-tag.ts";
import { hex, toHex } from "../helpers/hex.ts";

const NO_INDEX = { times: [], positions: [] };

describe("the onMetaData body of a recording", () => {
  it("encodes duration, filesize, the keyframe index, the publisher's properties, then the padding", () => {
    // Room for 2 entries and 2 used: the padding array is empty.
    const body = new RecordingMetadata({ width: 320 }, 2).body({
      durationMs: 1500,
      fileSize: 1000,
      times: [0, 1.5],
      positions: [100, 200],
    });
    const expected = hex(
      '02 000a "onMetaData" 08 00000005' +
        ' 0008 "duration" 00 3FF8000000000000' +
        ' 0008 "filesize" 00 408F400000000000' +
        ' 0009 "keyframes" 03' +
        '   0005 "times" 0a 00000002 00 0000000000000000 00 3FF8000000000000' +
        '   000d "filepositions" 0a 00000002 00 4059000000000000 00 4069000000000000' +
        "   000009" +
        ' 0005 "width" 00 4074000000000000' +
        ' 0007 "padding" 0a 00000000' +
        " 000009",
    );
    expect(toHex(body)).toBe(toHex(expected));
  });

  it("is what the generic AMF0 encoder makes of the same values, padding as nulls", () => {
    const props = { width: 640, stereo: true, encoder: "Lavf59.27.100" };
    const metadata = new RecordingMetadata(props, 16);
    const times = [0, 2.002, 4.004];
    const positions = [500, 90_000, 180_000];
    const body = metadata.body({ durationMs: 6_006, fileSize: 270_000, times, positions });
    const own = { duration: 6.006, filesize: 270_000, keyframes: { times, filepositions: positions } };
    const padding = Array<null>(18 * 13).fill(null);
    expect(toHex(body)).toBe(toHex(encodeAmf0(["onMetaData", new EcmaArray({ ...own, ...props, [PADDING_KEY]: padding })])));
  });

  it("leaves the index out below two keyframes (libavformat rejects a shorter one with a warning)", () => {
    const body = new RecordingMetadata({}, 4).body({ durationMs: 40, fileSize: 500, times: [0], positions: [60] });
    const [name, array] = decodeAmf0(body);
    expect(name).toBe("onMetaData");
    expect(Object.keys((array as EcmaArray).props)).toEqual(["duration", "filesize", PADDING_KEY]);
  });

  it("is exactly the reserved size for every index length up to the capacity, so no byte after it moves", () => {
    const props = publisherProperties(encodeAmf0(["onMetaData", new EcmaArray({ width: 1280, encoder: "Lavf59" })]));
    const metadata = new RecordingMetadata(props, 64);
    for (let n = 0; n <= metadata.capacity; n++) {
      const times = Array.from({ length: n }, (_, i) => i * 2.002);
      const positions = Array.from({ length: n }, (_, i) => 1_000_000_000 + i * 654_321);
      const body = metadata.body({ durationMs: 123_456_789, fileSize: 2 ** 40, times, positions });
      expect(body.length).toBe(metadata.size);
      const meta = (decodeAmf0(body)[1] as EcmaArray).props;
      expect(meta.duration).toBe(123_456.789);
      expect(meta.filesize).toBe(2 ** 40);
      if (n >= 2) expect(meta.keyframes).toEqual({ times, filepositions: positions });
      expect(meta.width).toBe(1280);
    }
  });

  it("refuses to write past its reservation", () => {
    const metadata = new RecordingMetadata({}, 2);
    const three = [0, 1, 2];
    expect(() => metadata.body({ durationMs: 0, fileSize: 0, times: three, positions: three })).toThrow("reserved");
    expect(metadata.body({ durationMs: 0, fileSize: 0, ...NO_INDEX }).length).toBe(metadata.size);
  });
});

describe("the publisher's properties in a recording", () => {
  it("keeps numbers, booleans and short strings, in order, without the ones the recording writes itself", () => {
    const payload = encodeAmf0([
      "onMetaData",
      new EcmaArray({
        duration: 0,
        width: 320,
        height: 240,
        stereo: true,
        encoder: "Lavf59.27.100",
        filesize: 0,
        keyframes: { times: [1], filepositions: [2] },
        [PADDING_KEY]: [null],
        trackinfo: [{ language: "eng" }],
        creationdate: new Date(0),
        nothing: null,
      }),
    ]);
    expect(publisherProperties(payload)).toEqual({ width: 320, height: 240, stereo: true, encoder: "Lavf59.27.100" });
  });

  it("keeps a key named __proto__ as an ordinary property", () => {
    const payload = hex('02 000a "onMetaData" 08 00000001 0009 "__proto__" 00 3FF0000000000000 000009');
    const props = publisherProperties(payload);
    expect(Object.keys(props)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(props)).toBe(Object.prototype);
    const body = new RecordingMetadata(props, 2).body({ durationMs: 0, fileSize: 0, times: [], positions: [] });
    expect(Object.keys((decodeAmf0(body)[1] as EcmaArray).props)).toEqual(["duration", "filesize", "__proto__", PADDING_KEY]);
  });

  it("reads an object or a typed object as well as an ECMA array", () => {
    expect(publisherProperties(encodeAmf0(["onMetaData", { fps: 30 }]))).toEqual({ fps: 30 });
    expect(publisherProperties(encodeAmf0(["onMetaData", new TypedObject("Meta", { fps: 25 })]))).toEqual({ fps: 25 });
  });

  it(`drops keys and strings over ${MAX_METADATA_TEXT} UTF-8 bytes, and stops at ${MAX_PUBLISHER_PROPERTIES} properties`, () => {
    const long = "x".repeat(MAX_METADATA_TEXT + 1);
    const wide = "\u00e9".repeat(MAX_METADATA_TEXT / 2 + 1);
    const many: Record<string, number> = {};
    for (let i = 0; i < 100; i++) many[`k${i}`] = i;
    const payload = encodeAmf0([
      "onMetaData",
      new EcmaArray({ [long]: 1, title: long, artist: wide, ok: "x".repeat(MAX_METADATA_TEXT), ...many }),
    ]);
    const props = publisherProperties(payload);
    expect(Object.keys(props)).toHaveLength(MAX_PUBLISHER_PROPERTIES);
    expect(Object.keys(props).slice(0, 2)).toEqual(["ok", "k0"]);
  });

  it("is empty for no metadata, other data messages and malformed bytes", () => {
    expect(publisherProperties(null)).toEqual({});
    expect(publisherProperties(encodeAmf0(["onCuePoint", new EcmaArray({ time: 1 })]))).toEqual({});
    expect(publisherProperties(encodeAmf0(["onMetaData", 5]))).toEqual({});
    expect(publisherProperties(hex('02 000a "onMetaData" 08 00000001 0005 "wid"'))).toEqual({});
  });
});
