/**
 * The browser entry (slmkit/browser): its static import graph reaches no Node built-in, and a model
 * loaded from bytes in memory equals the one loaded from its directory.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadHFModel, saveHFModel } from '../../src/io/hf.js';
import { loadHFModelFromFiles } from '../../src/io/hf-params.js';
import { SafetensorsBuffer } from '../../src/io/safetensors-buffer.js';
import { scope } from '../../src/tensor/tensor.js';

const distSrc = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');
const scratch = mkdtempSync(join(tmpdir(), 'slm-browser-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Specifiers of the static `import … from` / `export … from` statements of a compiled module. */
function staticImports(file: string): string[] {
  const code = readFileSync(file, 'utf8');
  return [...code.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

test('the browser entry reaches no Node built-in through static imports', () => {
  const seen = new Set<string>();
  const offenders: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) visit(resolve(dirname(file), spec));
      else if (spec.startsWith('node:') || spec === 'webgpu')
        offenders.push(`${file.slice(distSrc.length + 1)} imports ${spec}`);
    }
  };
  visit(join(distSrc, 'browser.js'));
  assert.ok(seen.size > 30, `walked ${seen.size} modules`);
  assert.deepEqual(offenders, []);
  // Nor Node-only globals, unless the module checks for them first (a browser has no setImmediate).
  const unguarded = [...seen].filter((file) => {
    const code = readFileSync(file, 'utf8');
    return ['setImmediate', 'Buffer', 'process'].some(
      (name) => new RegExp(`\\b${name}\\s*[.(]`).test(code) && !code.includes(`typeof ${name}`),
    );
  });
  assert.deepEqual(
    unguarded.map((f) => f.slice(distSrc.length + 1)),
    [],
  );
});

test('a model from fetched bytes equals the model from its directory (single file and shards)', async () => {
  const dir = 'tests/fixtures/hf/qwen2';
  const fromDir = (await loadHFModel(dir)).model;
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const single = loadHFModelFromFiles({
    config,
    weights: readFileSync(join(dir, 'model.safetensors')),
  }).model;
  const sharded = join(scratch, 'sharded');
  saveHFModel(sharded, fromDir, { maxShardBytes: 20_000 });
  const shards = readdirSync(sharded).filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f));
  assert.ok(shards.length > 1, `${shards.length} shards`);
  const fromShards = loadHFModelFromFiles({
    config,
    weights: shards.reverse().map((f) => readFileSync(join(sharded, f))),
  }).model;
  const ids = [[3, 1, 4, 1, 5, 9, 2, 6]];
  const want = scope(() => fromDir.forward(ids).dataSync());
  assert.deepEqual(
    scope(() => single.forward(ids).dataSync()),
    want,
  );
  assert.deepEqual(
    scope(() => fromShards.forward(ids).dataSync()),
    want,
  );
});

test('bytes that are not safetensors get the same clear errors as files', () => {
  assert.throws(() => new SafetensorsBuffer(new Uint8Array(4), 'tiny.bin'), /tiny\.bin/);
  const header = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}');
  const bytes = new Uint8Array(8 + header.length + 8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
  bytes.set(header, 8);
  assert.throws(() => new SafetensorsBuffer(bytes, 'cut.safetensors'), /cut\.safetensors.*truncated/);
});
