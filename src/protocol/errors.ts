/**
 * The one error type the protocol layer throws. It names the rule the peer broke so that the session can
 * close that connection alone and log the reason once.
 */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(
    /** Short, stable rule id, e.g. "chunk.max-message-size" or "amf0.truncated". */
    readonly rule: string,
    message: string,
  ) {
    super(`${rule}: ${message}`);
  }
}
