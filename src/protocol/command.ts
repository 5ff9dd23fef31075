/**
 * Command messages (type 20: name, transaction id, command object, args) and data messages (type 18: name,
 * args) as AMF0 values, plus helpers that read typed fields out of a peer's command object.
 */
import { Amf0Reader, EcmaArray, TypedObject, decodeAmf0, encodeAmf0 } from "./amf0.ts";
import type { Amf0Object, Amf0Value } from "./amf0.ts";
import { ProtocolError } from "./errors.ts";

export interface Command {
  name: string;
  transactionId: number;
  commandObject: Amf0Value;
  args: Amf0Value[];
}

export function decodeCommand(payload: Uint8Array): Command {
  const values = decodeAmf0(payload);
  const [name, transactionId = 0] = values;
  if (typeof name !== "string") throw new ProtocolError("command.name", "a command must start with a string name");
  if (typeof transactionId !== "number") {
    throw new ProtocolError("command.transaction-id", `command "${name}" has a non-number transaction id`);
  }
  return {
    name,
    transactionId,
    commandObject: values.length > 2 ? values[2] : null,
    args: values.slice(3),
  };
}

export function encodeCommand(
  name: string,
  transactionId: number,
  commandObject: Amf0Value,
  ...args: Amf0Value[]
): Uint8Array {
  return encodeAmf0([name, transactionId, commandObject, ...args]);
}

export interface DataMessage {
  name: string;
  args: Amf0Value[];
  /** Byte offset in the payload where the values after the name start. */
  argsOffset: number;
}

export function decodeData(payload: Uint8Array): DataMessage {
  const reader = new Amf0Reader(payload);
  const name = reader.readValue();
  if (typeof name !== "string") throw new ProtocolError("data.name", "a data message must start with a string name");
  const argsOffset = reader.offset;
  const args: Amf0Value[] = [];
  while (reader.remaining > 0) args.push(reader.readValue());
  return { name, args, argsOffset };
}

/**
 * Where the values after a data message's leading name start, without decoding them: enough to turn
 * `@setDataFrame("onMetaData", {...})` into `onMetaData` + the original bytes of `{...}`.
 */
export function dataArgsOffset(payload: Uint8Array): number {
  if (payload[0] !== 0x02 && payload[0] !== 0x0c) {
    throw new ProtocolError("data.name", "a data message must start with a string name");
  }
  const reader = new Amf0Reader(payload);
  reader.readValue();
  return reader.offset;
}

export function encodeData(name: string, ...args: Amf0Value[]): Uint8Array {
  return encodeAmf0([name, ...args]);
}

/** The info object of an onStatus or _result, keys in the order level, code, description, then extra's. */
export function statusInfo(
  level: "status" | "error" | "warning",
  code: string,
  description: string,
  extra?: Amf0Object,
): Amf0Object {
  return { level, code, description, ...extra };
}

/** A property of an object, ECMA array or typed object; undefined for anything else or a missing key. */
export function objectField(obj: Amf0Value, key: string): Amf0Value {
  const props = obj instanceof EcmaArray || obj instanceof TypedObject ? obj.props : obj;
  if (typeof props !== "object" || props === null || Array.isArray(props) || props instanceof Date) return undefined;
  // Own properties only: "constructor" or "toString" must not reach Object.prototype.
  return Object.hasOwn(props, key) ? props[key] : undefined;
}

export function stringField(obj: Amf0Value, key: string): string | undefined {
  const v = objectField(obj, key);
  return typeof v === "string" ? v : undefined;
}

export function numberField(obj: Amf0Value, key: string): number | undefined {
  const v = objectField(obj, key);
  return typeof v === "number" ? v : undefined;
}
