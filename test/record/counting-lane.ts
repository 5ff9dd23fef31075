/** A DiskLane that counts the operations it has started: one started and not done is in flight (or stuck). */
import { DiskLane } from "../../src/record/disk-lane.ts";

export class CountingLane extends DiskLane {
  started = 0;

  override run<T>(operation: () => Promise<T>): Promise<T> {
    return super.run(() => {
      this.started++;
      return operation();
    });
  }
}
