/**
 * What each end of an RTMP connection owes its peer whatever its role: an Acknowledgement for every window
 * of bytes received (the window the peer asked for with Window Acknowledgement Size) and a Ping Response to
 * every Ping Request. Shared by the server's sessions and the outbound client; it returns the replies to send.
 */
import { acknowledgement, decodeControl, pingResponse, UserControlEventType } from "./control.ts";
import { MessageType, type RtmpMessage } from "./message.ts";

export class PeerControl {
  /** Every byte read from the peer, handshake included. */
  bytesReceived = 0;
  private window = 0;
  private acked = 0;

  /** Count a read as it arrives. */
  received(n: number): void {
    this.bytesReceived += n;
  }

  /** After a read has been parsed: the Acknowledgement now due, or null. */
  ackDue(): RtmpMessage | null {
    if (this.window === 0 || this.bytesReceived - this.acked < this.window) return null;
    this.acked = this.bytesReceived;
    return acknowledgement(this.bytesReceived >>> 0);
  }

  /** A protocol control message from the peer: the reply it needs, or null. */
  onControl(m: RtmpMessage): RtmpMessage | null {
    const c = decodeControl(m.type, m.payload);
    if (c.type === MessageType.WindowAckSize) this.window = c.windowSize;
    else if ("event" in c && c.event.eventType === UserControlEventType.PingRequest) return pingResponse(c.event.timestamp);
    return null;
  }
}
