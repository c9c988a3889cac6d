import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../src/io/atomic.js';
import { openSafetensors } from '../../src/io/safetensors.js';
import { writeSafetensors } from '../../src/io/safetensors-write.js';
import { scratchDir, tempFilesIn } from './scratch-dir.js';

const dir = scratchDir();
const original = new Uint8Array([1, 2, 3, 4, 5]);

function existingTarget(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, original);
  return path;
}

test('data of the wrong length throws; the existing file is intact and no temp file remains', () => {
  const path = existingTarget('wrong-length.safetensors');
  assert.throws(
    () =>
      writeSafetensors(path, {
        a: { dtype: 'F32', shape: [2], data: new Float32Array(2) },
        b: { dtype: 'F32', shape: [2, 3], data: new Float32Array(5) },
      }),
    new RegExp(`${path}: tensor 'b' has shape \\[2, 3\\] \\(6 elements\\) but its data has 5 elements`),
  );
  assert.deepEqual(new Uint8Array(readFileSync(path)), original);
  assert.deepEqual(tempFilesIn(dir), []);
});

test('a failure midway through streaming leaves the existing file intact and no temp file', () => {
  const path = existingTarget('midway.safetensors');
  let produced = 0;
  const produce = (n: number) => {
    produced++;
    return new Float32Array(n);
  };
  assert.throws(
    () =>
      writeSafetensors(path, {
        a: { dtype: 'F32', shape: [1000], data: () => produce(1000) },
        b: { dtype: 'F32', shape: [1000], data: () => produce(999) },
      }),
    /tensor 'b' has shape \[1000\] \(1000 elements\) but its data has 999 elements/,
  );
  assert.equal(produced, 2, 'the first tensor was written before the failure');
  assert.deepEqual(new Uint8Array(readFileSync(path)), original);
  assert.deepEqual(tempFilesIn(dir), []);

  assert.throws(
    () =>
      writeSafetensors(path, {
        a: { dtype: 'F32', shape: [1], data: new Float32Array(1) },
        b: {
          dtype: 'F32',
          shape: [1],
          data: () => {
            throw new Error('GPU read-back failed');
          },
        },
      }),
    /GPU read-back failed/,
  );
  assert.deepEqual(new Uint8Array(readFileSync(path)), original);
  assert.deepEqual(tempFilesIn(dir), []);
});

test('mismatched dtype and array type are refused before anything is written', () => {
  const path = existingTarget('mismatch.safetensors');
  assert.throws(
    () => writeSafetensors(path, { ids: { dtype: 'BF16', shape: [2], data: new Int32Array(2) } }),
    /tensor 'ids' has dtype BF16 but its data is a Int32Array/,
  );
  assert.throws(
    () => writeSafetensors(path, { w: { dtype: 'F16', shape: [2], data: new Uint8Array(3) } }),
    /so 4 bytes, but its data has 3 bytes/,
  );
  assert.throws(
    () => writeSafetensors(path, { w: { dtype: 'F33' as 'F32', shape: [1], data: new Float32Array(1) } }),
    /unknown dtype "F33"/,
  );
  assert.throws(
    () => writeSafetensors(path, { __metadata__: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }),
    /'__metadata__' is reserved/,
  );
  assert.deepEqual(new Uint8Array(readFileSync(path)), original);
  assert.deepEqual(tempFilesIn(dir), []);
});

test('a successful write replaces the existing file and leaves no temp file', () => {
  const path = existingTarget('replaced.safetensors');
  writeSafetensors(path, { w: { dtype: 'F32', shape: [2], data: () => new Float32Array([3, 4]) } });
  const file = openSafetensors(path);
  assert.deepEqual([...file.readFloat32('w')], [3, 4]);
  file.close();
  assert.deepEqual(tempFilesIn(dir), []);
});

test('writeFileAtomic writes through a temp file next to the target', () => {
  const path = join(dir, 'plain.txt');
  let seenTemp: string[] = [];
  writeFileAtomic(path, (fd) => {
    writeFileSync(fd, 'hello');
    seenTemp = tempFilesIn(dir);
  });
  assert.equal(seenTemp.length, 1);
  assert.match(seenTemp[0]!, new RegExp(`^plain\\.txt\\.tmp-${process.pid}-[0-9a-f]+$`));
  assert.equal(readFileSync(path, 'utf8'), 'hello');
  assert.deepEqual(tempFilesIn(dir), []);
});
