import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { float32ArrayToBf16, float32ArrayToF16 } from '../../src/io/half.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { type TensorToWrite, writeSafetensors } from '../../src/io/safetensors-write.js';
import { safetensorsBytes, scratchDir } from './scratch-dir.js';

const dir = scratchDir();

/** Deterministic pseudo-random bytes, so every bit pattern (NaNs included) appears. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    out[i] = seed >>> 24;
  }
  return out;
}

test('every dtype round-trips bit-exactly, from its own typed array and from raw bytes', () => {
  const shape = [3, 5];
  const bytes = (size: number, seed: number) => randomBytes(15 * size, seed);
  const b = (size: number, seed: number) => bytes(size, seed).buffer;
  const tensors: Record<string, TensorToWrite> = {
    f64: { dtype: 'F64', shape, data: new Float64Array(b(8, 1)) },
    f32: { dtype: 'F32', shape, data: new Float32Array(b(4, 2)) },
    f16: { dtype: 'F16', shape, data: new Uint16Array(b(2, 3)) },
    bf16: { dtype: 'BF16', shape, data: new Uint16Array(b(2, 4)) },
    i64: { dtype: 'I64', shape, data: new BigInt64Array(b(8, 5)) },
    u64: { dtype: 'U64', shape, data: new BigUint64Array(b(8, 6)) },
    i32: { dtype: 'I32', shape, data: new Int32Array(b(4, 7)) },
    u32: { dtype: 'U32', shape, data: new Uint32Array(b(4, 8)) },
    i16: { dtype: 'I16', shape, data: new Int16Array(b(2, 9)) },
    u16: { dtype: 'U16', shape, data: new Uint16Array(b(2, 10)) },
    i8: { dtype: 'I8', shape, data: new Int8Array(b(1, 11)) },
    u8: { dtype: 'U8', shape, data: bytes(1, 12) },
    bool: { dtype: 'BOOL', shape, data: bytes(1, 13).map((x) => x & 1) },
    f8e4m3: { dtype: 'F8_E4M3', shape, data: bytes(1, 14) },
    raw_f32: { dtype: 'F32', shape, data: bytes(4, 15) },
    raw_i64: { dtype: 'I64', shape: [15], data: bytes(8, 16) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    scalar: { dtype: 'F64', shape: [], data: new Float64Array([Math.PI]) },
  };
  const path = join(dir, 'all.safetensors');
  writeSafetensors(path, tensors, { format: 'pt', note: 'round trip ✓' });
  const file = openSafetensors(path);
  assert.deepEqual(file.metadata, { format: 'pt', note: 'round trip ✓' });
  assert.deepEqual(file.names().sort(), Object.keys(tensors).sort());
  for (const [name, t] of Object.entries(tensors)) {
    const data = t.data as ArrayBufferView;
    const raw = file.readRaw(name);
    assert.equal(raw.dtype, t.dtype, name);
    assert.deepEqual(raw.shape, t.shape, name);
    assert.deepEqual(file.info(name), { dtype: t.dtype, shape: t.shape, byteLength: data.byteLength });
    assert.deepEqual(raw.bytes, new Uint8Array(data.buffer, data.byteOffset, data.byteLength), name);
    assert.equal(raw.bytes.byteOffset, 0);
  }
  file.close();
});

test('stored data is aligned to element size and the header is space-padded to 8 bytes', () => {
  const path = join(dir, 'layout.safetensors');
  writeSafetensors(path, {
    c: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
    b: { dtype: 'F16', shape: [3], data: new Uint16Array(3) },
    a: { dtype: 'F32', shape: [1], data: new Float32Array(1) },
    d: { dtype: 'F64', shape: [1], data: new Float64Array(1) },
  });
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.equal(headerLength % 8, 0);
  const text = bytes.subarray(8, 8 + headerLength).toString('utf8');
  assert.match(text, /^\{.*\} *$/);
  const header = JSON.parse(text);
  assert.deepEqual(header.d.data_offsets, [0, 8]);
  assert.deepEqual(header.a.data_offsets, [8, 12]);
  assert.deepEqual(header.b.data_offsets, [12, 18]);
  assert.deepEqual(header.c.data_offsets, [18, 21]);
  assert.equal(bytes.length, 8 + headerLength + 21);
  assert.equal(header.__metadata__, undefined);
});

test('header bytes match what the safetensors library writes for the same tensor', () => {
  // safetensors.torch.save_file({"a": torch.tensor([1.0, 2.0])}, f, metadata={"format": "pt"})
  const path = join(dir, 'reference.safetensors');
  writeSafetensors(
    path,
    { a: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } },
    { format: 'pt' },
  );
  const json = '{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const padded = json.padEnd(Math.ceil(json.length / 8) * 8, ' ');
  const want = safetensorsBytes(padded, new Uint8Array(new Float32Array([1, 2]).buffer));
  assert.deepEqual(new Uint8Array(readFileSync(path)), want);
});

test('reads a hand-built file: float and int conversions of every dtype', () => {
  const f16 = new Uint16Array([0x3c00, 0xc100, 0x7bff, 0x0001]); // 1, -2.5, 65504, 2^-24
  const bf16 = new Uint16Array([0x3f80, 0xc020]); // 1, -2.5
  const f64 = new Float64Array([0.1, -1e300]);
  const i64 = new BigInt64Array([-5n, 2n ** 40n]);
  const i16 = new Int16Array([-300, 7]);
  const e4m3 = new Uint8Array([0x38, 0xb8, 0x7e, 0x01, 0x7f]); // 1, -1, 448, 2^-9, NaN
  const parts = [f16, bf16, f64, i64, i16, e4m3].map((a) => new Uint8Array(a.buffer));
  const data = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  const offsets: number[][] = [];
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    offsets.push([at, at + p.length]);
    at += p.length;
  }
  const header = {
    h: { dtype: 'F16', shape: [2, 2], data_offsets: offsets[0] },
    bh: { dtype: 'BF16', shape: [2], data_offsets: offsets[1] },
    d: { dtype: 'F64', shape: [2], data_offsets: offsets[2] },
    l: { dtype: 'I64', shape: [2], data_offsets: offsets[3] },
    s: { dtype: 'I16', shape: [2], data_offsets: offsets[4] },
    e: { dtype: 'F8_E4M3', shape: [5], data_offsets: offsets[5] },
  };
  const path = join(dir, 'handmade.safetensors');
  writeFileSync(path, safetensorsBytes(header, data));
  const file = openSafetensors(path);
  assert.deepEqual(file.names(), ['h', 'bh', 'd', 'l', 's', 'e']); // storage order
  assert.deepEqual([...file.readFloat32('h')], [1, -2.5, 65504, 2 ** -24]);
  assert.deepEqual([...file.readFloat32('bh')], [1, -2.5]);
  assert.deepEqual([...file.readFloat32('d')], [Math.fround(0.1), -Infinity]);
  assert.deepEqual([...file.readFloat32('l')], [-5, 2 ** 40]);
  assert.deepEqual([...file.readFloat32('s')], [-300, 7]);
  const e = file.readFloat32('e');
  assert.deepEqual([...e.subarray(0, 4)], [1, -1, 448, 2 ** -9]);
  assert.ok(Number.isNaN(e[4]!));
  assert.deepEqual([...file.readInt32('s')], [-300, 7]);
  assert.throws(
    () => file.readInt32('l'),
    new RegExp(`${path}: tensor 'l': element 1 is 1099511627776, outside`),
  );
  assert.throws(() => file.readInt32('h'), /tensor 'h'.*F16 is a float type/);
  assert.throws(() => file.readRaw('nope'), new RegExp(`${path}: no tensor named 'nope'`));
  file.close();
  assert.throws(() => file.readFloat32('h'), /cannot read tensor 'h', file is closed/);
});

test('readInt32 converts I64 token ids in range, including negatives', () => {
  const path = join(dir, 'ids.safetensors');
  const ids = new Int32Array([0, 1, -1, 2147483647, -2147483648]);
  writeSafetensors(path, { ids: { dtype: 'I64', shape: [5], data: ids } });
  const file = openSafetensors(path);
  assert.deepEqual(file.readRaw('ids').bytes, new Uint8Array(BigInt64Array.from(ids, BigInt).buffer));
  assert.deepEqual(file.readInt32('ids'), ids);
  assert.deepEqual([...file.readFloat32('ids')], [...ids].map(Math.fround)); // 2^31 - 1 rounds to 2^31
  file.close();
});

test('float32 data converts to F16, BF16 and F64 on write, across chunk boundaries', () => {
  const n = 300_001; // more than one conversion chunk
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = Math.sin(i) * 10 ** ((i % 11) - 5);
  values[7] = Number.NaN;
  const path = join(dir, 'convert.safetensors');
  writeSafetensors(path, {
    h: { dtype: 'F16', shape: [n], data: values },
    b: { dtype: 'BF16', shape: [n], data: values },
    d: { dtype: 'F64', shape: [n], data: values },
    fromDouble: { dtype: 'F32', shape: [2], data: new Float64Array([0.1, 1e300]) },
  });
  const file = openSafetensors(path);
  const raw = (name: string) => file.readRaw(name).bytes;
  assert.deepEqual(raw('h'), new Uint8Array(float32ArrayToF16(values).buffer));
  assert.deepEqual(raw('b'), new Uint8Array(float32ArrayToBf16(values).buffer));
  assert.deepEqual(file.readFloat32('d'), values);
  assert.deepEqual([...file.readFloat32('fromDouble')], [Math.fround(0.1), Infinity]);
  // Widening on read agrees with the converters (the in-place upper-half trick included).
  const widenedH = file.readFloat32('h');
  assert.equal(widenedH.length, n);
  assert.ok(Number.isNaN(widenedH[7]!));
  assert.equal(widenedH[n - 1], Math.fround(widenedH[n - 1]!));
  assert.deepEqual(
    file.readFloat32('b').subarray(0, 7),
    new Float32Array(values.buffer, 0, 7).map((x) => {
      const bits = float32ArrayToBf16(new Float32Array([x]))[0]!;
      return new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
    }),
  );
  file.close();
});

test('tensor names that look like integers keep their place in the header', () => {
  const path = join(dir, 'numeric-names.safetensors');
  writeSafetensors(path, {
    b: { dtype: 'F32', shape: [1], data: new Float32Array([2]) },
    '10': { dtype: 'F32', shape: [1], data: new Float32Array([10]) },
    '9': { dtype: 'F32', shape: [1], data: new Float32Array([9]) },
  });
  const file = openSafetensors(path);
  assert.deepEqual(file.names(), ['10', '9', 'b']); // code-unit order, as stored
  assert.deepEqual([...file.readFloat32('9')], [9]);
  file.close();
});
