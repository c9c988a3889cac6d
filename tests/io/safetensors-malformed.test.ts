import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSafetensors } from '../../src/io/safetensors.js';
import { safetensorsBytes, scratchDir } from './scratch-dir.js';

const dir = scratchDir();
let counter = 0;

/** Writes `bytes` to a new file and returns the error opening it throws. */
function openError(bytes: Uint8Array): { path: string; message: string } {
  const path = join(dir, `bad-${counter++}.safetensors`);
  writeFileSync(path, bytes);
  try {
    openSafetensors(path).close();
  } catch (err) {
    assert.ok(err instanceof Error);
    assert.ok(err.message.startsWith(`${path}: `), `message should name the file: ${err.message}`);
    return { path, message: err.message };
  }
  assert.fail(`opening ${path} should have thrown`);
}

const f32 = (shape: number[], begin: number, end: number) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

test('a valid file opens (the baseline the malformed cases break)', () => {
  const path = join(dir, 'good.safetensors');
  writeFileSync(path, safetensorsBytes({ w: f32([2], 0, 8) }, new Uint8Array(8)));
  const file = openSafetensors(path);
  assert.deepEqual(file.names(), ['w']);
  file.close();
});

test('file shorter than 8 bytes', () => {
  const { message } = openError(new Uint8Array([1, 0, 0, 0, 0]));
  assert.match(message, /file is 5 bytes, shorter than the 8-byte header length/);
});

test('absurd header length', () => {
  const { message } = openError(safetensorsBytes({}, new Uint8Array(0), 2n ** 40n));
  assert.match(message, /header length 1099511627776 is absurd/);
});

test('header length larger than the file', () => {
  const { message } = openError(safetensorsBytes('{}', new Uint8Array(0), 100n));
  assert.match(message, /header length 100 runs past the end of the 10-byte file/);
});

test('header is not valid UTF-8', () => {
  const bytes = safetensorsBytes('{"ab":1}');
  bytes[10] = 0xff; // the 'a': 0xff never occurs in UTF-8
  const { message } = openError(bytes);
  assert.match(message, /header is not valid UTF-8/);
});

test('header is not JSON', () => {
  const { message } = openError(safetensorsBytes('{"w": {"dtype": "F32",'));
  assert.match(message, /header is not valid JSON/);
});

test('header is JSON but not an object', () => {
  const { message } = openError(safetensorsBytes('[1, 2]'));
  assert.match(message, /header must be a JSON object, got \[1,2\]/);
});

test('__metadata__ that is not a string map', () => {
  const { message } = openError(safetensorsBytes({ __metadata__: { format: 'pt', step: 3 } }));
  assert.match(message, /__metadata__ value 'step' must be a string, got 3/);
});

test('tensor entry that is not an object', () => {
  const { message } = openError(safetensorsBytes({ w: [0, 4] }));
  assert.match(message, /tensor 'w': header entry must be an object/);
});

test('unknown dtype', () => {
  const { message } = openError(
    safetensorsBytes({ w: { dtype: 'F7', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)),
  );
  assert.match(message, /tensor 'w' has unknown dtype "F7" \(known: F64, F32, F16, BF16/);
});

test('shape not a list of non-negative integers', () => {
  for (const shape of [[2, -1], [1.5], '4', [null], undefined]) {
    const { message } = openError(
      safetensorsBytes({ w: { dtype: 'U8', shape, data_offsets: [0, 2] } }, new Uint8Array(2)),
    );
    assert.match(message, /tensor 'w': shape must be a list of non-negative integers, got/, String(shape));
  }
});

test('data_offsets not [begin, end] with begin <= end', () => {
  for (const offsets of [[8, 4], [0], [0, 4, 8], [-4, 0], ['0', '4'], undefined]) {
    const { message } = openError(
      safetensorsBytes({ w: { dtype: 'U8', shape: [4], data_offsets: offsets } }, new Uint8Array(8)),
    );
    assert.match(
      message,
      /tensor 'w': data_offsets must be \[begin, end\] with 0 <= begin <= end/,
      String(offsets),
    );
  }
});

test('tensor data beyond the data section (truncated file)', () => {
  const header = { 'model.embed': f32([100], 0, 400), 'lm_head.weight': f32([200], 400, 1200) };
  const { path, message } = openError(safetensorsBytes(header, new Uint8Array(800)));
  assert.equal(
    message,
    `${path}: tensor 'lm_head.weight' data ends at byte 1200 but the file's data section has 800 bytes (truncated file?)`,
  );
});

test('byte length not equal to product(shape) x dtype size', () => {
  const { message } = openError(safetensorsBytes({ w: f32([2, 3], 0, 20) }, new Uint8Array(24)));
  assert.match(
    message,
    /tensor 'w' has shape \[2, 3\] and dtype F32, so 24 bytes, but data_offsets \[0, 20\] hold 20 bytes/,
  );
});

test('overlapping tensors', () => {
  const header = { a: f32([4], 0, 16), b: f32([4], 8, 24) };
  const { message } = openError(safetensorsBytes(header, new Uint8Array(24)));
  assert.match(
    message,
    /tensors 'a' \(bytes 0\.\.16\) and 'b' \(bytes 8\.\.24\) overlap in the data section/,
  );
});

test('empty tensors may share an offset with others; a missing file names its path', () => {
  const path = join(dir, 'empty-ok.safetensors');
  const header = { a: f32([2], 0, 8), e: f32([0], 4, 4), z: f32([0, 3], 8, 8) };
  writeFileSync(path, safetensorsBytes(header, new Uint8Array(8)));
  const file = openSafetensors(path);
  assert.equal(file.readFloat32('e').length, 0);
  file.close();
  assert.throws(() => openSafetensors(join(dir, 'missing.safetensors')), /missing\.safetensors/);
});
