/**
 * AMF0 encode/decode on the two payloads every publish carries: FFmpeg's connect command and its
 * @setDataFrame onMetaData. Registered by bench/run.ts, which runs all benches.
 */
import { bench, do_not_optimize, group } from "mitata";
import { EcmaArray, decodeAmf0 } from "../src/protocol/amf0.ts";
import { decodeCommand, encodeCommand, encodeData } from "../src/protocol/command.ts";

const connectObject = {
  app: "live",
  type: "nonprivate",
  flashVer: "FMLE/3.0 (compatible; FMSc/1.0)",
  tcUrl: "rtmp://127.0.0.1:1935/live",
};

const metadata = new EcmaArray({
  duration: 0,
  width: 1920,
  height: 1080,
  videodatarate: 2500,
  framerate: 30,
  videocodecid: 7,
  audiodatarate: 128,
  audiosamplerate: 44100,
  audiosamplesize: 16,
  stereo: true,
  audiocodecid: 10,
  major_brand: "isom",
  minor_version: "512",
  encoder: "Lavf59.27.100",
  filesize: 0,
});

export function registerAmf0Benches(): void {
  const connectBytes = encodeCommand("connect", 1, connectObject);
  const metadataBytes = encodeData("@setDataFrame", "onMetaData", metadata);

  group("amf0 connect command", () => {
    bench("encode", () => do_not_optimize(encodeCommand("connect", 1, connectObject)));
    bench("decode", () => do_not_optimize(decodeCommand(connectBytes)));
  });

  group("amf0 @setDataFrame onMetaData", () => {
    bench("encode", () => do_not_optimize(encodeData("@setDataFrame", "onMetaData", metadata)));
    bench("decode", () => do_not_optimize(decodeAmf0(metadataBytes)));
  });
}
