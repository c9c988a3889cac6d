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

/** Float32 bits by way of one shared scratch word. */
const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * Words of a parameter block, built in order: `new Words().u(n).f(scale).words`. The 32-bit patterns
 * live in a plain array (no ArrayBuffer a dispatch: an eager prefill makes hundreds).
 */
export class Words {
  /** The words as u32 bit patterns. */
  readonly words: number[] = [];

  u(value: number): this {
    this.push(value >>> 0);
    return this;
  }

  i(value: number): this {
    this.push((value | 0) >>> 0);
    return this;
  }

  f(value: number): this {
    f32Scratch[0] = value;
    this.push(u32Scratch[0]!);
    return this;
  }

  /** Several u32 values, padded with `fill` to `length` words. */
  us(values: readonly number[], length = values.length, fill = 0): this {
    for (let k = 0; k < length; k++) this.u(values[k] ?? fill);
    return this;
  }

  private push(bits: number): void {
    if (this.words.length >= paramWords)
      throw new Error(`a kernel's parameter block holds at most ${paramWords} words`);
    this.words.push(bits);
  }

  get bytes(): Uint8Array {
    return new Uint8Array(Uint32Array.from(this.words).buffer);
  }
}

/** The host-side copy of one submit's parameter slots. */
export class ParamWriter {
  readonly bytes: ArrayBuffer;
  private readonly u32: Uint32Array;
  private used = 0;

  constructor(
    private readonly slots: number,
    private readonly align: number,
  ) {
    this.bytes = new ArrayBuffer(slots * align);
    this.u32 = new Uint32Array(this.bytes);
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
    const values = words instanceof Words ? words.words : words;
    // align is a multiple of 4; a Uint32Array writes the host's byte order, little-endian wherever
    // WebGPU runs (packed.ts relies on that too).
    const at = offset / 4;
    for (let k = 0; k < values.length; k++) this.u32[at + k] = values[k]! >>> 0;
    this.used++;
    return offset;
  }

  reset(): void {
    this.used = 0;
  }
}
