/**
 * The sample entry of a track's stsd: a VisualSampleEntry with the codec's configuration box (avcC, hvcC,
 * av1C, vpcC), or an AudioSampleEntry with esds (AAC, ISO/IEC 14496-1 descriptors) or dOps (Opus).
 */
import type { BoxWriter } from "./box-writer.ts";
import type { TrackConfig } from "./track.ts";

const DATA_REFERENCE_INDEX = 1;
/** 72 dpi in 16.16. */
const RESOLUTION_72_DPI = 0x00480000;
const DEPTH_COLOUR_NO_ALPHA = 0x0018;
const COMPRESSOR_NAME = 32;
const SAMPLE_SIZE_16 = 16;
/** AudioSampleEntry's samplerate is 16.16; a rate that does not fit is left 0 (the decoder config has it). */
const MAX_SAMPLE_ENTRY_RATE = 0xffff;

/** Sample entry type → configuration box type. */
const VIDEO_CONFIG_BOX: Record<string, string> = { avc1: "avcC", hvc1: "hvcC", av01: "av1C", vp09: "vpcC" };

/** ISO/IEC 14496-1 descriptor tags, and the esds values for AAC. */
const ES_DESCRIPTOR = 0x03;
const DECODER_CONFIG_DESCRIPTOR = 0x04;
const DECODER_SPECIFIC_INFO = 0x05;
const SL_CONFIG_DESCRIPTOR = 0x06;
const OBJECT_TYPE_AAC = 0x40;
/** streamType 5 (audio) << 2 | upStream 0 | reserved 1. */
const STREAM_TYPE_AUDIO = 0x15;
/** SLConfigDescriptor predefined 2: reserved for MP4 files. */
const SL_PREDEFINED_MP4 = 0x02;

export function writeSampleEntry(w: BoxWriter, track: TrackConfig): void {
  if (track.kind === "video") writeVisualSampleEntry(w, track);
  else writeAudioSampleEntry(w, track);
}

function writeVisualSampleEntry(w: BoxWriter, track: TrackConfig): void {
  const entry = w.open(track.codec);
  w.zeros(6); // reserved
  w.u16(DATA_REFERENCE_INDEX);
  w.zeros(16); // pre_defined, reserved, pre_defined[3]
  w.u16(track.width);
  w.u16(track.height);
  w.u32(RESOLUTION_72_DPI);
  w.u32(RESOLUTION_72_DPI);
  w.u32(0); // reserved
  w.u16(1); // frame_count
  w.zeros(COMPRESSOR_NAME);
  w.u16(DEPTH_COLOUR_NO_ALPHA);
  w.u16(0xffff); // pre_defined = -1
  const config = track.codec === "vp09" ? w.openFull("vpcC", 1, 0) : w.open(VIDEO_CONFIG_BOX[track.codec]);
  w.bytes(track.config);
  w.close(config);
  w.close(entry);
}

function writeAudioSampleEntry(w: BoxWriter, track: TrackConfig): void {
  const entry = w.open(track.codec);
  w.zeros(6); // reserved
  w.u16(DATA_REFERENCE_INDEX);
  w.zeros(8); // reserved
  w.u16(track.channels);
  w.u16(SAMPLE_SIZE_16);
  w.u32(0); // pre_defined, reserved
  w.u32(track.sampleRate <= MAX_SAMPLE_ENTRY_RATE ? track.sampleRate * 0x10000 : 0);
  if (track.codec === "Opus") {
    const dops = w.open("dOps");
    w.bytes(track.config);
    w.close(dops);
  } else {
    writeEsds(w, track);
  }
  w.close(entry);
}

/** esds: an ES_Descriptor holding the DecoderConfigDescriptor (AAC, with the AudioSpecificConfig) and SLConfig. */
function writeEsds(w: BoxWriter, track: TrackConfig): void {
  const asc = track.config;
  const decoderSpecific = descriptorSize(asc.length);
  const decoderConfig = descriptorSize(13 + decoderSpecific);
  const slConfig = descriptorSize(1);
  const esds = w.openFull("esds", 0, 0);
  writeDescriptorHeader(w, ES_DESCRIPTOR, 3 + decoderConfig + slConfig);
  w.u16(track.id); // ES_ID
  w.u8(0); // no stream dependence, URL or OCR stream
  writeDescriptorHeader(w, DECODER_CONFIG_DESCRIPTOR, 13 + decoderSpecific);
  w.u8(OBJECT_TYPE_AAC);
  w.u8(STREAM_TYPE_AUDIO);
  w.u24(0); // bufferSizeDB
  w.u32(0); // maxBitrate
  w.u32(0); // avgBitrate: variable, unknown
  writeDescriptorHeader(w, DECODER_SPECIFIC_INFO, asc.length);
  w.bytes(asc);
  writeDescriptorHeader(w, SL_CONFIG_DESCRIPTOR, 1);
  w.u8(SL_PREDEFINED_MP4);
  w.close(esds);
}

/** A descriptor's whole size: tag, expandable size field (7 bits a byte), body. */
function descriptorSize(body: number): number {
  return 1 + sizeFieldLength(body) + body;
}

function sizeFieldLength(size: number): number {
  let bytes = 1;
  while (size >= 2 ** (7 * bytes)) bytes++;
  return bytes;
}

function writeDescriptorHeader(w: BoxWriter, tag: number, size: number): void {
  w.u8(tag);
  for (let i = sizeFieldLength(size) - 1; i >= 0; i--) {
    const more = i > 0 ? 0x80 : 0;
    w.u8(more | (Math.floor(size / 2 ** (7 * i)) & 0x7f));
  }
}
