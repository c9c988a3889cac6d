/** `slm forward` on a transformers fixture: the saved logits equal transformers' within 1e-4. */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandIO } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { openSafetensors } from '../../src/io/index.js';
import { FIXTURES, maxAbsDiff, scratchDir } from './helpers.js';

async function run(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const io: CommandIO = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

test('slm forward writes float32 logits [T, vocab] matching the reference', async () => {
  const dir = join(FIXTURES, 'gemma2');
  const ref = openSafetensors(join(dir, 'reference.safetensors'));
  const ids = Array.from(ref.readInt32('input_ids'));
  const want = ref.readFloat32('logits');
  ref.close();
  const out = join(scratchDir(), 'logits.safetensors');
  const result = await run([
    'forward',
    '--model',
    dir,
    '--ids',
    ids.join(','),
    '--out',
    out,
    '--backend',
    'cpu',
  ]);
  assert.equal(result.code, 0, result.stderr);
  const file = openSafetensors(out);
  assert.deepEqual(file.names(), ['logits']);
  assert.equal(file.info('logits').dtype, 'F32');
  assert.deepEqual(file.info('logits').shape, [ids.length, 112]);
  assert.ok(maxAbsDiff(file.readFloat32('logits'), want) <= 1e-4);
  file.close();
});

test('slm forward: bad ids and a directory without config.json are clear errors', async () => {
  const out = join(scratchDir(), 'logits.safetensors');
  const bad = await run([
    'forward',
    '--model',
    join(FIXTURES, 'llama'),
    '--ids',
    '1,500',
    '--out',
    out,
    '--backend',
    'cpu',
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /token id 500 is outside the vocabulary \(0\.\.127\)/);
  const noConfig = await run([
    'forward',
    '--model',
    scratchDir(),
    '--ids',
    '1',
    '--out',
    out,
    '--backend',
    'cpu',
  ]);
  assert.equal(noConfig.code, 1);
  assert.match(noConfig.stderr, /has no config\.json/);
});
