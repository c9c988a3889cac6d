/** Placement of the planned decode's constant buffers in arenas (decode-plan-arena.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArenaPool, arenaLayout } from '../../src/generate/decode-plan-arena.js';

test('arena ranges start aligned, fill a chunk up to the cap, and a range over the cap gets its own', () => {
  const { chunks, places } = arenaLayout([100, 300, 200, 1000, 50], 700, 256);
  assert.deepEqual(places, [
    { chunk: 0, offset: 0 },
    { chunk: 0, offset: 256 },
    { chunk: 1, offset: 0 }, // 512 + 200 > 700
    { chunk: 2, offset: 0 }, // larger than the cap: alone
    { chunk: 3, offset: 0 },
  ]);
  assert.deepEqual(chunks, [556, 200, 1000, 50]);
  // Every range lies inside its chunk, and ranges of one chunk do not overlap.
  const sizes = [100, 300, 200, 1000, 50];
  places.forEach(({ chunk, offset }, i) => {
    assert.ok(offset % 256 === 0 && offset + sizes[i]! <= chunks[chunk]!);
  });
  assert.deepEqual(arenaLayout([], 700, 256), { chunks: [], places: [] });
  assert.throws(() => arenaLayout([1.5], 700, 256), /byte counts/);
});

test('the constants pool hands out aligned ranges and opens a chunk when one is full', () => {
  const made: number[] = [];
  const pool = new ArenaPool(
    (bytes) => {
      made.push(bytes);
      return { label: `chunk ${made.length}` } as unknown as GPUBuffer;
    },
    1024,
    256,
  );
  const a = pool.take(100);
  const b = pool.take(600);
  const c = pool.take(400); // 768 + 400 > 1024: a new chunk
  const d = pool.take(4000); // over a chunk: a buffer of its own
  const e = pool.take(8);
  assert.deepEqual(
    [a, b, c, d, e].map((r) => [(r.buffer as unknown as { label: string }).label, r.offset, r.size]),
    [
      ['chunk 1', 0, 100],
      ['chunk 1', 256, 600],
      ['chunk 2', 0, 400],
      ['chunk 3', 0, 4000],
      ['chunk 2', 512, 8],
    ],
  );
  assert.deepEqual(made, [1024, 1024, 4000]);
});
