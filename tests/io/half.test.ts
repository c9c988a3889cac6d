import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  bf16ArrayToFloat32,
  bf16ToFloat32,
  f16ArrayToFloat32,
  f16ToFloat32,
  float32ArrayToBf16,
  float32ArrayToF16,
  float32ToBf16,
  float32ToF16,
} from '../../src/io/half.js';

const f32 = Math.fround;
const fromBits = (b: number) => new Float32Array(new Uint32Array([b]).buffer)[0]!;

test('f16 known values', () => {
  assert.equal(float32ToF16(1), 0x3c00);
  assert.equal(float32ToF16(-2.5), 0xc100);
  assert.equal(float32ToF16(65504), 0x7bff); // largest finite
  assert.equal(float32ToF16(65519), 0x7bff); // below the halfway point to 65536
  assert.equal(float32ToF16(65520), 0x7c00); // halfway, ties to even = Inf
  assert.equal(float32ToF16(1e10), 0x7c00);
  assert.equal(float32ToF16(-1e10), 0xfc00);
  assert.equal(float32ToF16(Infinity), 0x7c00);
  assert.equal(float32ToF16(-Infinity), 0xfc00);
  assert.equal(float32ToF16(0), 0x0000);
  assert.equal(float32ToF16(-0), 0x8000);
  assert.equal(float32ToF16(2 ** -14), 0x0400); // smallest normal
  assert.equal(float32ToF16(2 ** -24), 0x0001); // smallest subnormal
  assert.equal(float32ToF16(-(2 ** -24)), 0x8001);
  assert.equal(float32ToF16(1023 * 2 ** -24), 0x03ff); // largest subnormal
  assert.equal(float32ToF16(2 ** -25), 0x0000); // halfway to the smallest subnormal: ties to even (0)
  assert.equal(float32ToF16(f32(2 ** -25 * 1.0001)), 0x0001); // just above halfway
  assert.equal(float32ToF16(3 * 2 ** -25), 0x0002); // halfway between 1 and 2 subnormal steps: even
  assert.equal(float32ToF16(2 ** -30), 0x0000);
  assert.equal(float32ToF16(-(2 ** -30)), 0x8000); // underflow keeps the sign
  assert.equal(float32ToF16(2047.5 * 2 ** -24), 0x0800); // rounds up out of the subnormals
  assert.equal(float32ToF16(1023.5 * 2 ** -24), 0x0400); // subnormal rounding carries into the normals

  assert.equal(f16ToFloat32(0x3c00), 1);
  assert.equal(f16ToFloat32(0xc100), -2.5);
  assert.equal(f16ToFloat32(0x7bff), 65504);
  assert.equal(f16ToFloat32(0x7c00), Infinity);
  assert.equal(f16ToFloat32(0xfc00), -Infinity);
  assert.equal(f16ToFloat32(0x0001), 2 ** -24);
  assert.equal(f16ToFloat32(0x03ff), 1023 * 2 ** -24);
  assert.ok(Object.is(f16ToFloat32(0x8000), -0));
  assert.ok(Number.isNaN(f16ToFloat32(0x7e00)));
  assert.ok(Number.isNaN(f16ToFloat32(0x7c01)));
});

test('f16 rounds ties to even in the normal range', () => {
  assert.equal(float32ToF16(1 + 2 ** -11), 0x3c00); // halfway between 1 and 1+2^-10: even is 1
  assert.equal(float32ToF16(1 + 3 * 2 ** -11), 0x3c02); // halfway between 0x3c01 and 0x3c02: even
  assert.equal(float32ToF16(f32(1 + 2 ** -11 + 2 ** -20)), 0x3c01); // above halfway rounds up
  assert.equal(float32ToF16(2049), 0x6800); // spacing 2 at 2048: 2049 ties to 2048
  assert.equal(float32ToF16(2051), 0x6802); // 2051 ties to 2052
  assert.equal(float32ToF16(-2051), 0xe802);
});

test('f16 NaN stays NaN, including NaNs whose payload is only in low bits', () => {
  for (const bits of [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fa00000, 0xff800001]) {
    const h = float32ToF16(fromBits(bits));
    assert.equal(h & 0x7c00, 0x7c00, `exponent of ${bits.toString(16)}`);
    assert.notEqual(h & 0x3ff, 0, `0x${bits.toString(16)} became Inf (0x${h.toString(16)})`);
    assert.equal(h >>> 15, bits >>> 31, 'sign kept');
  }
  assert.ok(Number.isNaN(f16ToFloat32(float32ToF16(Number.NaN))));
});

test('every f16 bit pattern survives f16 -> f32 -> f16', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const widened = f16ArrayToFloat32(all);
  const back = float32ArrayToF16(widened);
  for (let h = 0; h < 65536; h++) {
    const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (nan) {
      assert.ok(Number.isNaN(widened[h]!), `0x${h.toString(16)} should widen to NaN`);
      assert.equal(back[h]! & 0x7c00, 0x7c00);
      assert.notEqual(back[h]! & 0x3ff, 0, `NaN 0x${h.toString(16)} came back as Inf`);
    } else {
      assert.equal(widened[h], f16ToFloat32(h));
      assert.equal(back[h], h, `0x${h.toString(16)} -> ${widened[h]} -> 0x${back[h]!.toString(16)}`);
    }
  }
});

/** Index of the nearest f16 to x (x finite, |x| < 65520) by search over all finite f16 values. */
function nearestF16(x: number, positives: Float64Array): number {
  const a = Math.abs(x);
  let lo = 0;
  let hi = positives.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (positives[mid]! <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - positives[lo]!;
  const dHi = positives[hi]! - a;
  const pick = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
  return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | pick;
}

test('f32 -> f16 matches a brute-force nearest-even search on random values', () => {
  const positives = new Float64Array(0x7c00).map((_, h) => f16ToFloat32(h));
  const n = 20000;
  const xs = new Float32Array(n);
  let seed = 12345;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  for (let i = 0; i < n; i++) {
    // Log-uniform magnitudes across the subnormal and normal f16 range, both signs.
    xs[i] = (rand() < 0.5 ? -1 : 1) * 2 ** (-27 + 43 * rand());
  }
  xs[0] = 3 * 2 ** -25; // exact ties among the random values
  xs[1] = 1 + 2 ** -11;
  const bulk = float32ArrayToF16(xs);
  for (let i = 0; i < n; i++) {
    const want = Math.abs(xs[i]!) >= 65520 ? (xs[i]! < 0 ? 0xfc00 : 0x7c00) : nearestF16(xs[i]!, positives);
    assert.equal(bulk[i], want, `${xs[i]} -> 0x${bulk[i]!.toString(16)}, want 0x${want.toString(16)}`);
    assert.equal(float32ToF16(xs[i]!), want);
  }
});

test('bf16 known values, rounding, overflow, NaN and -0', () => {
  assert.equal(float32ToBf16(1), 0x3f80);
  assert.equal(float32ToBf16(-2.5), 0xc020);
  assert.equal(float32ToBf16(1 + 2 ** -8), 0x3f80); // tie: even
  assert.equal(float32ToBf16(1 + 3 * 2 ** -8), 0x3f82); // tie: even
  assert.equal(float32ToBf16(f32(1 + 2 ** -8 + 2 ** -20)), 0x3f81);
  assert.equal(float32ToBf16(fromBits(0x7f7fffff)), 0x7f80); // f32 max rounds past bf16 max: Inf
  assert.equal(float32ToBf16(fromBits(0x7f7f0000)), 0x7f7f); // bf16 max
  assert.equal(float32ToBf16(Infinity), 0x7f80);
  assert.equal(float32ToBf16(-Infinity), 0xff80);
  assert.equal(float32ToBf16(-0), 0x8000);
  assert.equal(float32ToBf16(2 ** -133), 0x0001); // smallest bf16 subnormal
  assert.equal(float32ToBf16(2 ** -149), 0x0000); // f32's smallest subnormal rounds to 0
  assert.equal(float32ToBf16(fromBits(0x00008000)), 0x0000); // subnormal tie: even
  assert.equal(float32ToBf16(fromBits(0x00018000)), 0x0002);
  for (const bits of [0x7fc00000, 0xffc00000, 0x7f800001, 0x7fffffff, 0xffffffff]) {
    const b = float32ToBf16(fromBits(bits));
    assert.ok(Number.isNaN(bf16ToFloat32(b)), `0x${bits.toString(16)} -> 0x${b.toString(16)} is not NaN`);
    assert.equal(b >>> 15, bits >>> 31);
  }
  assert.equal(bf16ToFloat32(0x3f80), 1);
  assert.equal(bf16ToFloat32(0xc020), -2.5);
  assert.equal(bf16ToFloat32(0x0001), 2 ** -133);
  assert.ok(Object.is(bf16ToFloat32(0x8000), -0));
});

test('every bf16 bit pattern survives bf16 -> f32 -> bf16; bulk matches scalar', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const widened = bf16ArrayToFloat32(all);
  const back = float32ArrayToBf16(widened);
  // Compare bit patterns through a view: reading a NaN into a JS number may quiet it.
  const widenedBits = new Uint32Array(widened.buffer);
  for (let b = 0; b < 65536; b++) {
    assert.equal(widenedBits[b], (b << 16) >>> 0);
    const nan = (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0;
    if (nan) assert.ok(Number.isNaN(bf16ToFloat32(back[b]!)));
    else assert.equal(back[b], b);
  }
  const xs = new Float32Array([0.1, -0.3, 1e-40, 2.71, 1e38, -7e-20]);
  assert.deepEqual([...float32ArrayToBf16(xs)], [...xs].map(float32ToBf16));
  assert.deepEqual([...float32ArrayToF16(xs)], [...xs].map(float32ToF16));
});

test('bulk conversions check lengths and accept subarray views', () => {
  assert.throws(() => float32ArrayToF16(new Float32Array(3), new Uint16Array(2)), /3 elements.*2/);
  const base = new Float32Array([9, 1, -2.5, 9]);
  assert.deepEqual([...float32ArrayToF16(base.subarray(1, 3))], [0x3c00, 0xc100]);
  const halves = new Uint16Array([0, 0x3c00, 0xc100]);
  assert.deepEqual([...f16ArrayToFloat32(halves.subarray(1))], [1, -2.5]);
});
