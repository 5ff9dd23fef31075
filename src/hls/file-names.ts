/**
 * The names of one muxer's files (init sections, segments, parts) under /{app}/{name}/. Each muxer has a
 * random prefix of its own, so a name is never reused for other bytes and a cache can keep a file forever.
 */

export type HlsFile = { kind: "init" | "segment" | "part"; n: number };

const FILE = /^([0-9a-z]+)-(init|seg|part)(\d{1,15})\.(mp4|m4s)$/;
const KINDS = { init: "init", seg: "segment", part: "part" } as const;

export class FileNames {
  readonly prefix: string;

  constructor(prefix = randomPrefix()) {
    this.prefix = prefix;
  }

  init(id: number): string {
    return `${this.prefix}-init${id}.mp4`;
  }

  segment(msn: number): string {
    return `${this.prefix}-seg${msn}.m4s`;
  }

  part(index: number): string {
    return `${this.prefix}-part${index}.m4s`;
  }

  /** What a file name names, or null when it is not one of this muxer's (another muxer's, or nothing). */
  parse(name: string): HlsFile | null {
    const m = FILE.exec(name);
    if (m === null || m[1] !== this.prefix || (m[2] === "init") !== (m[4] === "mp4")) return null;
    return { kind: KINDS[m[2] as keyof typeof KINDS], n: Number(m[3]) };
  }
}

/** 40 random bits in base 36: unguessable enough to never collide with an earlier muxer of the same stream. */
function randomPrefix(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(5));
  let n = 0;
  for (const b of bytes) n = n * 256 + b;
  return n.toString(36).padStart(8, "0");
}
