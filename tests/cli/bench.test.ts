import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CommandIO } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { presetConfig } from '../../src/config/presets.js';
import { decodeStepSplit, median, settleSteps, weightBytesPerToken } from '../../src/generate/bench.js';
import { Transformer } from '../../src/model/transformer.js';

test('slm bench --json reports the contract fields for a preset with random weights', async () => {
  let stdout = '';
  const io: CommandIO = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => true },
    env: {},
  };
  const code = await main(
    [
      'bench',
      '--model',
      'tiny',
      '--prompt-tokens',
      '8',
      '--gen-tokens',
      '4',
      '--runs',
      '1',
      '--json',
      '--backend',
      'cpu',
    ],
    io,
  );
  assert.equal(code, 0);
  const report = JSON.parse(stdout);
  for (const key of [
    'decodeTokensPerSecond',
    'prefillTokensPerSecond',
    'timeToFirstTokenMs',
    'msPerToken',
    'achievedGBps',
    'copyGBps',
    'fractionOfCopyBandwidth',
  ]) {
    assert.ok(Number.isFinite(report[key]) && report[key] > 0, `${key} = ${report[key]}`);
  }
  // The step's time = streaming its weights at the copy bandwidth + the fixed overhead (≥ 0).
  assert.ok(report.overheadMsPerToken >= 0 && report.overheadMsPerToken <= report.msPerToken);
  assert.ok(
    Math.abs(report.fractionOfCopyBandwidth - report.achievedGBps / report.copyGBps) < 1e-12,
    'the fraction is achieved / copy bandwidth',
  );
  assert.equal(report.backend, 'cpu');
  assert.equal(report.promptTokens, 8);
  // Three decode steps: the first is reported alone, too few follow for a steady-state figure.
  assert.ok(report.firstDecodeStepMs > 0);
  assert.equal(report.steadyMsPerToken, null);
});

test('a run splits into its first decode step and its mean step once settled', () => {
  const steps = [5, 1, 1, 1, 1, 1, 1, 1, ...Array.from({ length: settleSteps }, (_, i) => (i % 2 ? 3 : 1))];
  assert.deepEqual(decodeStepSplit(steps), { firstMs: 5, steadyMs: 2 });
  assert.deepEqual(decodeStepSplit(steps.slice(0, 2 * settleSteps - 1)), { firstMs: 5, steadyMs: null });
});

test('weight bytes per token count every matrix, and embedding rows only when the head is untied', () => {
  const tied = Transformer.init(presetConfig('tiny'));
  assert.equal(weightBytesPerToken(tied), tied.numParameters() * 4);
  const untied = Transformer.init({ ...presetConfig('tiny'), tieWordEmbeddings: false });
  const [vocab, dim] = untied.params.get('model.embed_tokens.weight')!.shape as [number, number];
  assert.equal(weightBytesPerToken(untied), (untied.numParameters() - vocab * dim + dim) * 4);
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 2, 3]), 2.5);
});

test('bench rejects a prompt that does not fit the context', async () => {
  let stderr = '';
  const io: CommandIO = {
    stdout: { write: () => true },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
  };
  const code = await main(['bench', '--model', 'tiny', '--prompt-tokens', '600', '--backend', 'cpu'], io);
  assert.equal(code, 1);
  assert.match(stderr, /exceed the context of 512/);
});
