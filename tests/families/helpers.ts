/** Shared bits of the family tests: fixture discovery, scratch directories, max-abs differences. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export const FIXTURES = 'tests/fixtures/hf';

export interface FixtureEntry {
  name: string;
  model_type: string;
  about: string;
  num_layers: number;
}

/** The fixtures listed in tests/fixtures/hf/manifest.json. */
export function fixtureEntries(): FixtureEntry[] {
  const manifest = JSON.parse(readFileSync(join(FIXTURES, 'manifest.json'), 'utf8')) as {
    fixtures: FixtureEntry[];
  };
  return manifest.fixtures;
}

export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'slmkit-families-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function maxAbsDiff(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  offsetA = 0,
  offsetB = 0,
  n = a.length,
): number {
  let m = 0;
  for (let i = 0; i < n; i++) m = Math.max(m, Math.abs(a[offsetA + i]! - b[offsetB + i]!));
  return m;
}

export function argmaxRow(values: ArrayLike<number>, row: number, width: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (values[row * width + j]! > values[row * width + best]!) best = j;
  return best;
}
