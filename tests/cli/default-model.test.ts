/** The bundled default model: small enough to ship, loads, and `slm generate` uses it without --model. */
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { CommandIO } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { defaultModelDir } from '../../src/cli/model-arg.js';
import { openSafetensors } from '../../src/io/index.js';

test('the bundled model is bf16, at most 30 MB, with its tokenizer', () => {
  const weights = join(defaultModelDir, 'model.safetensors');
  assert.ok(statSync(weights).size <= 30 * 1024 * 1024);
  const file = openSafetensors(weights);
  assert.ok(file.names().length > 0 && file.names().every((n) => file.info(n).dtype === 'BF16'));
  file.close();
  for (const name of [
    'config.json',
    'tokenizer.json',
    'tokenizer_config.json',
    'generation_config.json',
    'README.md',
  ]) {
    assert.ok(statSync(join(defaultModelDir, name)).isFile(), `${name} is shipped`);
  }
});

test('slm generate without --model continues a prompt with the bundled model, reproducibly', async () => {
  const run = async (seed: string) => {
    let stdout = '';
    let stderr = '';
    const io: CommandIO = {
      stdout: { write: (s: string) => (stdout += s) },
      stderr: { write: (s: string) => (stderr += s) },
      env: {},
    };
    const code = await main(
      [
        'generate',
        '--prompt',
        'The jury said',
        '--max-new-tokens',
        '12',
        '--seed',
        seed,
        '--json',
        '--backend',
        'cpu',
      ],
      io,
    );
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout) as { ids: number[]; text: string };
  };
  const a = await run('1');
  const b = await run('1');
  assert.deepEqual(a, b);
  assert.ok(a.ids.length >= 14, 'prompt ids plus generated ids');
  assert.match(a.text, /[a-z]/, 'some text came out');
});
