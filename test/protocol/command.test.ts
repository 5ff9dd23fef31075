import { describe, expect, it } from "bun:test";
import { EcmaArray, TypedObject, encodeAmf0 } from "../../src/protocol/amf0.ts";
import {
  dataArgsOffset,
  decodeCommand,
  decodeData,
  encodeCommand,
  encodeData,
  numberField,
  objectField,
  statusInfo,
  stringField,
} from "../../src/protocol/command.ts";
import { ProtocolError } from "../../src/protocol/errors.ts";
import { hex, toHex } from "../helpers/hex.ts";

function ruleOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err.rule;
    throw err;
  }
  throw new Error("expected a ProtocolError, but nothing was thrown");
}

describe("command messages (type 20)", () => {
  // Reference §6.2, observed on the wire. Keys are in the reference's sorted order, built that way here.
  const connectResult = hex(
    '02 0007"_result" 00 3FF0000000000000 ' +
      '03 000C"capabilities" 00 403F000000000000 0006"fmsVer" 02 000D"FMS/3,0,1,123" ' +
      '0004"mode" 00 3FF0000000000000 000009 ' +
      '03 0004"code" 02 001D"NetConnection.Connect.Success" 0004"data" 03 0007"version" 02 0009"3,0,1,123" 000009 ' +
      '000B"description" 02 0015"Connection succeeded." 0005"level" 02 0006"status" 000009',
  );
  const properties = { capabilities: 31, fmsVer: "FMS/3,0,1,123", mode: 1 };
  const information = {
    code: "NetConnection.Connect.Success",
    data: { version: "3,0,1,123" },
    description: "Connection succeeded.",
    level: "status",
  };

  it("encodes the reference's 211-byte connect _result byte for byte", () => {
    expect(connectResult.length).toBe(211);
    expect(toHex(encodeCommand("_result", 1, properties, information))).toBe(toHex(connectResult));
  });

  it("decodes the reference's connect _result back into its parts", () => {
    expect(decodeCommand(connectResult)).toStrictEqual({
      name: "_result",
      transactionId: 1,
      commandObject: properties,
      args: [information],
    });
  });

  it("encodes the reference's 139-byte onStatus for a publish of live/mystream", () => {
    const expected = hex(
      '02 0008"onStatus" 00 0000000000000000 05 03 0004"code" 02 0017"NetStream.Publish.Start" ' +
        '000B"description" 02 0019"Publishing live/mystream." 0007"details" 02 000D"live/mystream" ' +
        '0005"level" 02 0006"status" 000009',
    );
    expect(expected.length).toBe(139);
    const info = {
      code: "NetStream.Publish.Start",
      description: "Publishing live/mystream.",
      details: "live/mystream",
      level: "status",
    };
    expect(toHex(encodeCommand("onStatus", 0, null, info))).toBe(toHex(expected));
    expect(decodeCommand(expected)).toStrictEqual({
      name: "onStatus",
      transactionId: 0,
      commandObject: null,
      args: [info],
    });
  });

  it("encodes a 29-byte createStream _result", () => {
    expect(encodeCommand("_result", 4, null, 1).length).toBe(29);
  });

  it("decodes FFmpeg's connect with its command object and no args", () => {
    const connect = {
      app: "live",
      type: "nonprivate",
      flashVer: "FMLE/3.0 (compatible; FMSc/1.0)",
      tcUrl: "rtmp://127.0.0.1:1935/live",
    };
    const cmd = decodeCommand(encodeAmf0(["connect", 1, connect]));
    expect(cmd).toStrictEqual({ name: "connect", transactionId: 1, commandObject: connect, args: [] });
  });

  it("passes args after the command object through in order", () => {
    const cmd = decodeCommand(encodeCommand("publish", 5, null, "mystream", "live"));
    expect(cmd.args).toEqual(["mystream", "live"]);
  });

  it("defaults a missing transaction id to 0 and a missing command object to null", () => {
    expect(decodeCommand(encodeAmf0(["FCPublish"]))).toStrictEqual({
      name: "FCPublish",
      transactionId: 0,
      commandObject: null,
      args: [],
    });
    expect(decodeCommand(encodeAmf0(["deleteStream", 7])).commandObject).toBeNull();
  });

  it("keeps an explicit undefined command object as sent", () => {
    expect(decodeCommand(encodeAmf0(["play", 0, undefined, "s"])).commandObject).toBeUndefined();
  });

  it("rejects a payload that does not start with a string name", () => {
    expect(ruleOf(() => decodeCommand(new Uint8Array(0)))).toBe("command.name");
    expect(ruleOf(() => decodeCommand(encodeAmf0([1, "connect"])))).toBe("command.name");
  });

  it("rejects a transaction id that is not a number", () => {
    expect(ruleOf(() => decodeCommand(encodeAmf0(["connect", "1", {}])))).toBe("command.transaction-id");
  });

  it("passes AMF0 errors through, such as the reference's strict-array OOM payload", () => {
    expect(ruleOf(() => decodeCommand(hex('02 0003 "foo" 0A FFFFFFF0')))).toBe("amf0.array-count");
  });
});

describe("data messages (type 18)", () => {
  const metadata = new EcmaArray({ duration: 0, width: 1280, height: 720, encoder: "Lavf59.27.100" });

  it("decodes @setDataFrame with its args and where they start", () => {
    const payload = encodeData("@setDataFrame", "onMetaData", metadata);
    expect(decodeData(payload)).toStrictEqual({
      name: "@setDataFrame",
      args: ["onMetaData", metadata],
      argsOffset: 16,
    });
  });

  it("finds the args offset without decoding them, so onMetaData can be forwarded by slicing", () => {
    const setDataFrame = encodeData("@setDataFrame", "onMetaData", metadata);
    const offset = dataArgsOffset(setDataFrame);
    expect(offset).toBe(16);
    expect(toHex(setDataFrame.subarray(offset))).toBe(toHex(encodeData("onMetaData", metadata)));
  });

  it("skips a leading long string too", () => {
    const payload = hex('0C 00000003 "abc" 05');
    expect(dataArgsOffset(payload)).toBe(8);
  });

  it("rejects a data message that does not start with a string, or whose name is cut short", () => {
    expect(ruleOf(() => decodeData(encodeAmf0([null, "x"])))).toBe("data.name");
    expect(ruleOf(() => decodeData(new Uint8Array(0)))).toBe("amf0.truncated");
    expect(ruleOf(() => dataArgsOffset(encodeAmf0([{}])))).toBe("data.name");
    expect(ruleOf(() => dataArgsOffset(new Uint8Array(0)))).toBe("data.name");
    expect(ruleOf(() => dataArgsOffset(hex('02 0009 "onMeta"')))).toBe("amf0.truncated");
    expect(ruleOf(() => dataArgsOffset(hex("0C 0000")))).toBe("amf0.truncated");
  });
});

describe("statusInfo", () => {
  it("builds level, code and description in that order, then the extra keys", () => {
    const info = statusInfo("error", "NetStream.Publish.BadName", "Stream live/a is already publishing.", {
      details: "live/a",
    });
    expect(Object.keys(info)).toEqual(["level", "code", "description", "details"]);
    expect(info).toEqual({
      level: "error",
      code: "NetStream.Publish.BadName",
      description: "Stream live/a is already publishing.",
      details: "live/a",
    });
  });
});

describe("command object field helpers", () => {
  const obj = { app: "live", objectEncoding: 0, nested: { a: 1 } };

  it("read typed fields from an object, an ECMA array or a typed object", () => {
    expect(stringField(obj, "app")).toBe("live");
    expect(numberField(obj, "objectEncoding")).toBe(0);
    expect(objectField(obj, "nested")).toEqual({ a: 1 });
    expect(stringField(new EcmaArray({ app: "live" }), "app")).toBe("live");
    expect(numberField(new TypedObject("T", { n: 2 }), "n")).toBe(2);
  });

  it("return undefined for a missing key or the wrong type", () => {
    expect(stringField(obj, "tcUrl")).toBeUndefined();
    expect(stringField(obj, "objectEncoding")).toBeUndefined();
    expect(numberField(obj, "app")).toBeUndefined();
  });

  it("return undefined when the command object is not an object at all", () => {
    for (const notObject of [null, undefined, 1, "app", true, ["live"], new Date(0)]) {
      expect(objectField(notObject, "app")).toBeUndefined();
      expect(objectField(notObject, "length")).toBeUndefined();
    }
  });

  it("never reach inherited properties such as constructor or toString", () => {
    expect(objectField({}, "constructor")).toBeUndefined();
    expect(objectField({}, "toString")).toBeUndefined();
    expect(objectField(new EcmaArray({}), "hasOwnProperty")).toBeUndefined();
  });
});
