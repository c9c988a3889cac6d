/** `slm train` and `slm eval` end to end on a tiny model: train, resume to more steps, evaluate. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Command, type CommandIO, commandHelp, parseArgs } from '../../src/cli/args.js';
import { evalCommand } from '../../src/cli/eval.js';
import { trainCommand } from '../../src/cli/train.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-train-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function capture(): CommandIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: { write: (t: string) => out.push(t) },
    stderr: { write: (t: string) => err.push(t) },
    env: { SLM_BACKEND: 'cpu' },
  };
}

async function run(command: Command<any>, argv: string[]) {
  const io = capture();
  const code = (await command.run(parseArgs(argv, command), io)) ?? 0;
  return { code, stdout: io.out.join(''), stderr: io.err.join('') };
}

const tinyConfig = {
  vocabSize: 300,
  hiddenSize: 32,
  numLayers: 1,
  numAttentionHeads: 2,
  intermediateSize: 32,
  maxPositionEmbeddings: 32,
};

test('slm train trains a BPE and a model, saves an HF directory, resumes, and slm eval scores it', async () => {
  const data = join(scratch, 'data');
  mkdirSync(data);
  const sentence = 'the quick brown fox jumps over the lazy dog. ';
  for (let i = 0; i < 4; i++) writeFileSync(join(data, `doc${i}.txt`), sentence.repeat(30 + i));
  writeFileSync(join(scratch, 'config.json'), JSON.stringify(tinyConfig));
  writeFileSync(join(scratch, 'held-out.txt'), sentence.repeat(3));
  const out = join(scratch, 'run');
  const common = ['--batch-size', '2', '--seq-len', '16', '--eval-every', '2', '--eval-batches', '1'];
  const first = await run(trainCommand, [
    ...['--config', join(scratch, 'config.json'), '--data', data, '--vocab-size', '280'],
    ...['--steps', '4', '--save-every', '2', '--out', out, '--lr', '0.01', '--json', ...common],
  ]);
  assert.equal(first.code, 0, first.stderr);
  const summary = JSON.parse(first.stdout);
  assert.equal(summary.step, 4);
  assert.ok(summary.tokensPerSecond > 0);
  assert.ok(summary.validationLoss > 0);
  for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
    assert.ok(existsSync(join(out, file)), file);
  const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(config.model_type, 'llama');
  assert.equal(config.vocab_size, 280, 'the model takes the trained tokenizer’s vocabulary');
  assert.match(first.stderr, /training a byte-level BPE tokenizer of 280 tokens/);

  // The run directory may move: the resumed run writes beside the checkpoint it came from.
  const moved = join(scratch, 'moved');
  renameSync(out, moved);
  const resumed = await run(trainCommand, ['--resume', moved, '--steps', '6', '--json']);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.equal(JSON.parse(resumed.stdout).step, 6);
  assert.match(resumed.stderr, /resuming at step 4/);
  assert.ok(!existsSync(out));
  const state = JSON.parse(readFileSync(join(moved, 'checkpoint-6', 'trainer_state.json'), 'utf8'));
  assert.equal(state.lossHistory.length, 6);
  assert.equal(state.options.train.seqLen, 16, 'the saved settings are reused');

  const scored = await run(evalCommand, [
    '--model',
    moved,
    '--data',
    join(scratch, 'held-out.txt'),
    '--json',
  ]);
  assert.equal(scored.code, 0, scored.stderr);
  const result = JSON.parse(scored.stdout);
  assert.equal(result.words, 27);
  assert.ok(
    result.tokenPerplexity > 1 && result.tokenPerplexity < 280,
    `token ppl ${result.tokenPerplexity}`,
  );
  assert.ok(Math.abs(result.wordPerplexity - Math.exp(result.nll / 27)) < 1e-6 * result.wordPerplexity);

  await assert.rejects(
    run(trainCommand, ['--out', moved, '--data', data, '--steps', '1', '--seq-len', '8']),
    /already holds a run; pass --resume/,
  );
});

test('slm train --tokenizer uses the given tokenizer.json (the model takes its vocabulary)', async () => {
  const data = join(scratch, 'one.jsonl');
  writeFileSync(data, `${JSON.stringify({ text: 'hello world, hello tokenizer. '.repeat(40) })}\n`);
  const out = join(scratch, 'with-tokenizer');
  writeFileSync(join(scratch, 'config-2.json'), JSON.stringify(tinyConfig));
  const result = await run(trainCommand, [
    ...['--config', join(scratch, 'config-2.json'), '--data', data, '--holdout', '0'],
    ...['--tokenizer', 'tests/fixtures/tokenizers/trained-bpe', '--steps', '2', '--batch-size', '2'],
    ...['--seq-len', '16', '--out', out, '--json'],
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(JSON.parse(result.stdout).validationLoss, null, 'no validation data with --holdout 0');
  assert.equal(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).vocab_size, 2048);
  assert.equal(
    readFileSync(join(out, 'tokenizer.json'), 'utf8'),
    readFileSync('tests/fixtures/tokenizers/trained-bpe/tokenizer.json', 'utf8'),
  );
});

test('slm train --help explains every option', () => {
  const help = commandHelp(trainCommand);
  for (const name of [
    'config',
    'data',
    'tokenizer',
    'vocab-size',
    'steps',
    'batch-size',
    'seq-len',
    'lr',
    'warmup',
  ]) {
    assert.match(help, new RegExp(`--${name} `), name);
  }
  for (const name of [
    'schedule',
    'grad-accum',
    'clip',
    'eval-every',
    'save-every',
    'out',
    'resume',
    'seed',
    'backend',
  ])
    assert.match(help, new RegExp(`--${name}\\b`), name);
  assert.match(help, /one of cosine, wsd, constant/);
});
