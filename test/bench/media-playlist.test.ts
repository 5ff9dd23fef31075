import { describe, expect, it } from "bun:test";
import { parseMediaPlaylist } from "../../bench/media-playlist.ts";

/** rtmp-server's LL-HLS playlist: one segment whose parts are still listed, the open one's parts, the hint. */
const LOW_LATENCY = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:4
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-MAP:URI="k2-init0.mp4?token=t"
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T06:28:19.000Z
#EXTINF:2.000,
k2-seg4.m4s?token=t
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T06:28:21.000Z
#EXT-X-PART:DURATION=0.200,URI="k2-part30.m4s?token=t",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="k2-part31.m4s?token=t"
#EXTINF:0.400,
k2-seg5.m4s?token=t
#EXT-X-PROGRAM-DATE-TIME:2026-12-07T06:28:21.400Z
#EXT-X-PART:DURATION=0.200,URI="k2-part32.m4s?token=t",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="k2-part33.m4s?token=t"
`;

/** nginx-rtmp's HLS playlist, as it wrote it (hls_nested, 1 s fragments). */
const NGINX = `#EXTM3U
#EXT-X-VERSION:3
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-TARGETDURATION:1
#EXT-X-DISCONTINUITY
#EXTINF:1.000,
0.ts
#EXTINF:0.642,
1.ts
`;

describe("parseMediaPlaylist", () => {
  it("reads a low-latency playlist: segments numbered from the media sequence, parts by segment, the hint", () => {
    expect(parseMediaPlaylist(LOW_LATENCY)).toEqual({
      targetDurationS: 2,
      partTargetMs: 200,
      segments: [
        { msn: 4, uri: "k2-seg4.m4s?token=t", map: "k2-init0.mp4?token=t" },
        { msn: 5, uri: "k2-seg5.m4s?token=t", map: "k2-init0.mp4?token=t" },
      ],
      parts: [
        { msn: 5, part: 0, uri: "k2-part30.m4s?token=t", map: "k2-init0.mp4?token=t", independent: true },
        { msn: 5, part: 1, uri: "k2-part31.m4s?token=t", map: "k2-init0.mp4?token=t", independent: false },
        { msn: 6, part: 0, uri: "k2-part32.m4s?token=t", map: "k2-init0.mp4?token=t", independent: true },
      ],
      preloadHint: "k2-part33.m4s?token=t",
    });
  });

  it("reads nginx-rtmp's MPEG-TS playlist: no init section, no parts", () => {
    expect(parseMediaPlaylist(NGINX)).toEqual({
      targetDurationS: 1,
      partTargetMs: null,
      segments: [
        { msn: 0, uri: "0.ts", map: null },
        { msn: 1, uri: "1.ts", map: null },
      ],
      parts: [],
      preloadHint: null,
    });
  });

  it("refuses what is not a media playlist", () => {
    expect(() => parseMediaPlaylist("<html>")).toThrow("not a playlist");
    expect(() => parseMediaPlaylist("#EXTM3U\n#EXTINF:1,\n0.ts\n")).toThrow("without #EXT-X-TARGETDURATION");
    expect(() => parseMediaPlaylist("#EXTM3U\n#EXT-X-TARGETDURATION:1\n0.ts\n")).toThrow("a URI without #EXTINF");
    expect(() => parseMediaPlaylist("#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXT-X-PART:DURATION=0.2\n")).toThrow("a part without a URI");
  });
});
