/**
 * Where a stream comes from when nothing publishes it here. The streams layer declares it and asks it; the
 * cluster layer (src/cluster/) implements it by pulling the stream from the node that has it.
 */

export interface StreamSource {
  /**
   * A player, HTTP-FLV, WS-FLV or HLS viewer asked for `key` and nothing publishes it here. Start a pull if
   * one can be found; the pulled stream then publishes locally through the registry like any publisher, so
   * whoever waits for it gets it. Never throws, returns at once, and may be asked again and again.
   */
  demand(key: string): void;
}
