/**
 * Per-dispatch parameters: up to 64 32-bit words (u32, i32 or f32) in one uniform block at binding 0.
 * Every dispatch of a submit gets its own aligned slot of one uniform buffer, written once at submit.
 * Shaders read word i with `pu(i)` (u32), `pi(i)` (i32) or `pf(i)` (f32) from the shared prelude.
 */

export const paramWords = 64;
export const paramBytes = paramWords * 4;

/** WGSL declarations every kernel starts with: the parameter block and its accessors. */
export const paramPrelude = /* wgsl */ `
struct Params { w: array<vec4<u32>, ${paramWords / 4}> }
@group(0) @binding(0) var<uniform> P: Params;
fn pu(i: u32) -> u32 { return P.w[i / 4u][i % 4u]; }
fn pi(i: u32) -> i32 { return bitcast<i32>(pu(i)); }
fn pf(i: u32) -> f32 { return bitcast<f32>(pu(i)); }
`;

/** Words of a parameter block, built in order: `new Words().u(n).f(scale).words`. */
export class Words {
  private readonly view = new DataView(new ArrayBuffer(paramBytes));
  private count = 0;

  u(value: number): this {
    this.view.setUint32(this.next(), value >>> 0, true);
    return this;
  }

  i(value: number): this {
    this.view.setInt32(this.next(), value | 0, true);
    return this;
  }

  f(value: number): this {
    this.view.setFloat32(this.next(), value, true);
    return this;
  }

  /** Several u32 values, padded with `fill` to `length` words. */
  us(values: readonly number[], length = values.length, fill = 0): this {
    for (let k = 0; k < length; k++) this.u(values[k] ?? fill);
    return this;
  }

  private next(): number {
    if (this.count >= paramWords)
      throw new Error(`a kernel's parameter block holds at most ${paramWords} words`);
    return 4 * this.count++;
  }

  get bytes(): Uint8Array {
    return new Uint8Array(this.view.buffer, 0, 4 * this.count);
  }
}

/** The host-side copy of one submit's parameter slots. */
export class ParamWriter {
  readonly bytes: ArrayBuffer;
  private readonly u8: Uint8Array;
  private used = 0;

  constructor(
    private readonly slots: number,
    private readonly align: number,
  ) {
    this.bytes = new ArrayBuffer(slots * align);
    this.u8 = new Uint8Array(this.bytes);
  }

  get capacityBytes(): number {
    return this.slots * this.align;
  }

  get usedBytes(): number {
    return this.used === 0 ? 0 : (this.used - 1) * this.align + paramBytes;
  }

  get full(): boolean {
    return this.used >= this.slots;
  }

  /** Stores one block; returns its byte offset in the uniform buffer. */
  push(words: Words | ArrayLike<number>): number {
    const offset = this.used * this.align;
    if (words instanceof Words) {
      this.u8.set(words.bytes, offset);
    } else {
      const view = new DataView(this.bytes, offset, paramBytes);
      for (let k = 0; k < words.length; k++) view.setUint32(4 * k, words[k]! >>> 0, true);
    }
    this.used++;
    return offset;
  }

  reset(): void {
    this.used = 0;
  }
}
