/**
 * A min-heap of items by a numeric key: the runtime's free buffers of one size class, the oldest
 * (lowest creation number) first, so that the same sequence of allocations gets the same buffers
 * whatever ran before it. O(log n) a push or pop (a prefill returns hundreds of buffers to one class).
 */
export class OldestFirst<T> {
  private readonly items: T[] = [];
  private readonly keys: number[] = [];

  get size(): number {
    return this.items.length;
  }

  /** Every item, in no particular order. */
  values(): readonly T[] {
    return this.items;
  }

  push(item: T, key: number): void {
    let i = this.items.length;
    this.items.push(item);
    this.keys.push(key);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.keys[parent]! <= key) break;
      this.move(parent, i);
      i = parent;
    }
    this.items[i] = item;
    this.keys[i] = key;
  }

  /** The item with the lowest key (undefined when empty). */
  pop(): T | undefined {
    const n = this.items.length;
    if (n === 0) return undefined;
    const top = this.items[0];
    const item = this.items.pop()!;
    const key = this.keys.pop()!;
    if (n > 1) {
      let i = 0;
      const size = n - 1;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && this.keys[child + 1]! < this.keys[child]!) child++;
        if (this.keys[child]! >= key) break;
        this.move(child, i);
        i = child;
      }
      this.items[i] = item;
      this.keys[i] = key;
    }
    return top;
  }

  private move(from: number, to: number): void {
    this.items[to] = this.items[from]!;
    this.keys[to] = this.keys[from]!;
  }
}
