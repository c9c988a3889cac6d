/** Ctrl-C during `slm train` (a real SIGINT to a child process) saves a checkpoint that resumes. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { listCheckpoints, loadCheckpoint } from '../../src/train/checkpoint.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-interrupt-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

test('SIGINT stops slm train after the current step, saves a checkpoint and exits 130', async () => {
  const data = join(scratch, 'text.txt');
  writeFileSync(data, 'a small text to train on, again and again. '.repeat(60));
  const config = join(scratch, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      vocabSize: 300,
      hiddenSize: 16,
      numLayers: 1,
      numAttentionHeads: 2,
      intermediateSize: 16,
    }),
  );
  const out = join(scratch, 'run');
  const child = spawn(
    process.execPath,
    [
      'dist/src/cli/main.js',
      'train',
      ...['--config', config, '--data', data, '--vocab-size', '270', '--steps', '100000', '--seq-len', '8'],
      ...['--batch-size', '2', '--eval-every', '0', '--save-every', '0', '--out', out],
    ],
    { env: { ...process.env, SLM_BACKEND: 'cpu' }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  let signalled = false;
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    // Not a TTY: a plain line at step 1 and every 10 steps; interrupt once training is under way.
    if (!signalled && /step +10\//.test(stderr)) {
      signalled = true;
      child.kill('SIGINT');
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 130, stderr);
  assert.match(stderr, /stopping after this step and saving a checkpoint/);
  const checkpoints = listCheckpoints(out);
  assert.equal(checkpoints.length, 1, stderr);
  const [step, dir] = checkpoints[0]!;
  assert.ok(step >= 10 && step < 100000);
  assert.match(stderr, new RegExp(`interrupted at step ${step}`));
  const saved = loadCheckpoint(dir);
  assert.equal(saved.state.step, step);
  assert.equal(saved.state.lossHistory.length, step);
});
