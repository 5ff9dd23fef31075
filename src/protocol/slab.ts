/**
 * Bump allocation of message buffers out of shared slabs. Reassembled messages are handed to other layers
 * (fan-out queues, caches) and never come back, so there is no free: a slab is reclaimed by the GC once no
 * view into it remains. What this saves is one ArrayBuffer allocation (and zero-fill) per message.
 */
export class SlabAllocator {
  private slab: Uint8Array | null = null;
  private used = 0;

  constructor(
    private readonly slabSize = 256 * 1024,
    /** Larger requests get a buffer of their own, so one big message cannot waste most of a slab. */
    private readonly maxPooled = slabSize >>> 2,
  ) {}

  alloc(size: number): Uint8Array {
    if (size > this.maxPooled) return new Uint8Array(size);
    if (this.slab === null || this.used + size > this.slabSize) {
      this.slab = new Uint8Array(this.slabSize);
      this.used = 0;
    }
    const view = this.slab.subarray(this.used, this.used + size);
    // 8-byte alignment keeps DataView reads over a view aligned.
    this.used += (size + 7) & ~7;
    return view;
  }
}
