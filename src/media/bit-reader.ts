/**
 * An MSB-first bit reader for codec headers (H.264/H.265 SPS, AV1 sequence headers, AAC configs). It never
 * throws: reading past the end yields zeros and sets `failed`, and so does an Exp-Golomb code longer than 32
 * bits, so a parser reads straight through and checks `failed` once before trusting what it read.
 */
export class BitReader {
  private at = 0;
  /** Set once a read ran past the end or met an impossible code; the values read since are zeros. */
  failed = false;

  constructor(private readonly bytes: Uint8Array) {}

  /** Bits not read yet. */
  get left(): number {
    return this.bytes.length * 8 - this.at;
  }

  bit(): number {
    if (this.at >= this.bytes.length * 8) {
      this.failed = true;
      return 0;
    }
    const value = (this.bytes[this.at >> 3] >> (7 - (this.at & 7))) & 1;
    this.at += 1;
    return value;
  }

  /** An unsigned field of up to 32 bits (arithmetic, not bit operators, so 32-bit values stay positive). */
  bits(count: number): number {
    let value = 0;
    for (let i = 0; i < count; i++) value = value * 2 + this.bit();
    return value;
  }

  skip(count: number): void {
    this.at += count;
    if (this.at > this.bytes.length * 8) {
      this.at = this.bytes.length * 8;
      this.failed = true;
    }
  }

  /** To the next byte boundary (counted from the start of the bytes). */
  alignToByte(): void {
    this.skip((8 - (this.at & 7)) & 7);
  }

  /** ue(v): unsigned Exp-Golomb. More than 31 leading zeros cannot be a valid header value. */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (this.failed || ++zeros > 31) {
        this.failed = true;
        return 0;
      }
    }
    return 2 ** zeros - 1 + this.bits(zeros);
  }

  /** se(v): signed Exp-Golomb. */
  se(): number {
    const code = this.ue();
    if (code === 0) return 0;
    return code % 2 === 1 ? (code + 1) / 2 : -(code / 2);
  }

  /** AV1 uvlc(). */
  uvlc(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (this.failed) return 0;
      zeros += 1;
    }
    if (zeros >= 32) return 2 ** 32 - 1;
    return this.bits(zeros) + 2 ** zeros - 1;
  }
}
