/**
 * Enhanced RTMP Opus for tests (the FFmpeg here cannot write Opus into FLV): libopus packets of a sine tone,
 * taken out of a WebM file by mediabunny, as Enhanced RTMP audio messages after a sequence start that holds
 * the encoder's ID header (OpusHead), as FFmpeg 6.1+ publishes Opus.
 */
import { ALL_FORMATS, EncodedPacketSink, FilePathSource, Input } from "mediabunny";
import { join } from "node:path";
import { concat } from "../../support/bytes.ts";
import type { Message } from "../../support/fmp4.ts";
import { scratchDir } from "./media.ts";
import { run } from "../../support/children.ts";

const AUDIO = 8;
/** Sound format 9 (ExHeader) | packet type. */
const SEQUENCE_START = 0x90;
const CODED_FRAMES = 0x91;
const OPUS = new TextEncoder().encode("Opus");

export async function enhancedOpusStream(seconds: number): Promise<Message[]> {
  const scratch = scratchDir("opus");
  try {
    const file = join(scratch.path, "tone.webm");
    const result = await run([
      "ffmpeg", "-nostdin", "-hide_banner", "-v", "error",
      "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000", "-ac", "2", "-t", String(seconds),
      "-c:a", "libopus", "-b:a", "64k", file,
    ]);
    if (result.code !== 0) throw new Error(`encoding Opus failed:\n${result.stderr}`);
    const input = new Input({ source: new FilePathSource(file), formats: ALL_FORMATS });
    const track = await input.getPrimaryAudioTrack();
    const header = (await track?.getDecoderConfig())?.description;
    if (track === null || track === undefined || header === undefined) throw new Error("no Opus track with an ID header");
    const messages: Message[] = [
      { type: AUDIO, timestamp: 0, payload: concat(Uint8Array.of(SEQUENCE_START), OPUS, toBytes(header)) },
    ];
    let first: number | null = null;
    for await (const packet of new EncodedPacketSink(track).packets()) {
      first ??= packet.timestamp;
      const timestamp = Math.round((packet.timestamp - first) * 1000);
      messages.push({ type: AUDIO, timestamp, payload: concat(Uint8Array.of(CODED_FRAMES), OPUS, packet.data) });
    }
    return messages;
  } finally {
    scratch.remove();
  }
}

function toBytes(source: ArrayBuffer | ArrayBufferView): Uint8Array {
  if (ArrayBuffer.isView(source)) return new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
  return new Uint8Array(source);
}
