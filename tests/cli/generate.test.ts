/** slm generate / tokenize / template / chat on tiny models: parity with transformers' greedy ids, streaming, bad input. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import type { CommandIO } from '../../src/cli/args.js';
import { main } from '../../src/cli/main.js';
import { defineConfig } from '../../src/config/model-config.js';
import { saveHFModel } from '../../src/io/hf.js';
import { openSafetensors } from '../../src/io/index.js';
import { Transformer } from '../../src/model/transformer.js';

const scratch = mkdtempSync(join(tmpdir(), 'slm-generate-'));
const withTokenizer = join(scratch, 'tiny-bpe');
after(() => rmSync(scratch, { recursive: true, force: true }));

before(() => {
  // A tiny random model over the 2,048-token BPE fixture, saved as a Hugging Face directory with its tokenizer.
  const config = defineConfig({
    vocabSize: 2048,
    hiddenSize: 32,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 64,
    maxPositionEmbeddings: 24,
  });
  mkdirSync(withTokenizer, { recursive: true });
  saveHFModel(withTokenizer, Transformer.init(config, { seed: 3 }));
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    copyFileSync(join('tests/fixtures/tokenizers/trained-bpe', file), join(withTokenizer, file));
  }
});

async function run(argv: string[], stdin?: string) {
  let stdout = '';
  let stderr = '';
  const io: CommandIO & { stdin?: NodeJS.ReadableStream } = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
  };
  if (stdin !== undefined) io.stdin = Readable.from([stdin]);
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

test('greedy slm generate --ids equals transformers generate on the llama fixture', async () => {
  const ref = openSafetensors('tests/fixtures/hf/llama/reference.safetensors');
  const expected = Array.from(ref.readInt32('generated_ids'));
  ref.close();
  const prompt = expected.slice(0, 5).join(',');
  const { code, stdout, stderr } = await run([
    'generate',
    '--model',
    'tests/fixtures/hf/llama',
    '--ids',
    prompt,
    '--max-new-tokens',
    '12',
    '--temperature',
    '0',
    '--json',
    '--backend',
    'cpu',
  ]);
  assert.equal(code, 0, stderr);
  assert.deepEqual(JSON.parse(stdout).ids, expected);
});

test('generate --prompt streams decoded text; --json text equals the decoded ids; sampling is seeded', async () => {
  const args = [
    'generate',
    '--model',
    withTokenizer,
    '--prompt',
    'The jury said',
    '--max-new-tokens',
    '6',
    '--backend',
    'cpu',
  ];
  const json = await run([...args, '--json', '--temperature', '0']);
  assert.equal(json.code, 0, json.stderr);
  const { ids, text } = JSON.parse(json.stdout);
  assert.equal(ids.length > 6, true);
  const streamed = await run([...args, '--temperature', '0']);
  assert.equal(streamed.stdout, `${text}\n`);
  const a = await run([...args, '--json', '--temperature', '1.5', '--seed', '4']);
  const b = await run([...args, '--json', '--temperature', '1.5', '--seed', '4']);
  assert.equal(a.stdout, b.stdout);
});

test('generate --stats reports the first token time and the decode rate, on stderr and in the JSON', async () => {
  const args = ['generate', '--model', withTokenizer, '--prompt', 'The jury said', '--max-new-tokens', '6'];
  const { code, stdout, stderr } = await run([
    ...args,
    '--temperature',
    '0',
    '--backend',
    'cpu',
    '--stats',
    '--json',
  ]);
  assert.equal(code, 0, stderr);
  const { ids, stats } = JSON.parse(stdout);
  assert.equal(stats.generatedTokens, 6);
  assert.equal(stats.promptTokens + stats.generatedTokens, ids.length);
  assert.ok(stats.timeToFirstTokenMs > 0 && stats.decodeTokensPerSecond > 0, JSON.stringify(stats));
  assert.match(stderr, /^6 tokens; first token [\d.]+ ms \(\d+-token prompt\); [\d.]+ tokens\/s after it\n$/);
  // Without --stats the JSON has no stats and stderr stays quiet.
  const plain = await run([...args, '--temperature', '0', '--backend', 'cpu', '--json']);
  assert.equal(JSON.parse(plain.stdout).stats, undefined);
  assert.equal(plain.stderr, '');
});

test('tokenize prints ids; --json adds tokens', async () => {
  const plain = await run(['tokenize', '--model', withTokenizer, '--text', 'The jury said']);
  assert.equal(plain.code, 0, plain.stderr);
  const ids = plain.stdout.trim().split(' ').map(Number);
  assert.ok(ids.length >= 3 && ids.every((id) => Number.isInteger(id) && id >= 0 && id < 2048));
  const json = JSON.parse(
    (await run(['tokenize', '--model', withTokenizer, '--text', 'The jury said', '--json'])).stdout,
  );
  assert.deepEqual(json.ids, ids);
  assert.equal(json.tokens.length, ids.length);
});

test('chat answers each line, /reset clears history, and ends at end of input', async () => {
  const { code, stdout, stderr } = await run(
    ['chat', '--model', withTokenizer, '--max-new-tokens', '3', '--temperature', '0', '--backend', 'cpu'],
    'hello there\n/reset\nagain\n',
  );
  assert.equal(code, 0, stderr);
  assert.match(stderr, /history cleared/);
  assert.equal(stdout.split('\n').filter((l) => l.length > 0).length >= 1, true);
  assert.equal(stdout.split('\n').length, 3, `two replies expected, got ${JSON.stringify(stdout)}`);
});

test('chat --stats reports each reply: tokens, first token, prompt (cached part) and rate', async () => {
  const { code, stderr } = await run(
    [
      'chat',
      '--model',
      withTokenizer,
      '--max-new-tokens',
      '3',
      '--temperature',
      '0',
      '--backend',
      'cpu',
      '--stats',
    ],
    'hi\n',
  );
  assert.equal(code, 0, stderr);
  // The cpu decodes eagerly: nothing is cached between turns there.
  assert.match(
    stderr,
    /\(3 tokens; first token [\d.]+ ms; \d+-token prompt, 0 of them cached; [\d.]+ tokens\/s after it\)/,
  );
});

test('bad input: prompt longer than the context, empty prompt, unknown model dir, missing tokenizer, both prompt forms', async () => {
  const long = await run([
    'generate',
    '--model',
    withTokenizer,
    '--prompt',
    'word '.repeat(60),
    '--backend',
    'cpu',
  ]);
  assert.equal(long.code, 1);
  assert.match(long.stderr, /context is 24/);
  const truncated = await run([
    'generate',
    '--model',
    withTokenizer,
    '--prompt',
    'word '.repeat(60),
    '--truncate',
    '--max-new-tokens',
    '2',
    '--json',
    '--backend',
    'cpu',
  ]);
  assert.equal(truncated.code, 0, truncated.stderr);
  const empty = await run(['generate', '--model', withTokenizer, '--prompt', '', '--backend', 'cpu']);
  assert.equal(empty.code, 2);
  assert.match(empty.stderr, /prompt is empty/);
  const missing = await run(['generate', '--model', join(scratch, 'nope'), '--ids', '1', '--backend', 'cpu']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not exist/);
  const noTokenizer = await run([
    'generate',
    '--model',
    'tests/fixtures/hf/llama',
    '--prompt',
    'hi',
    '--backend',
    'cpu',
  ]);
  assert.equal(noTokenizer.code, 1);
  assert.match(noTokenizer.stderr, /tokenizer\.json/);
  const both = await run(['generate', '--model', withTokenizer, '--prompt', 'a', '--ids', '1']);
  assert.equal(both.code, 2);
  const badId = await run(['generate', '--model', withTokenizer, '--ids', '5000', '--backend', 'cpu']);
  assert.equal(badId.code, 1);
  assert.match(badId.stderr, /outside the vocabulary/);
});

test('template renders messages with the chat template and rejects a model without one', async () => {
  const dir = join(scratch, 'qwen3-tok');
  mkdirSync(dir, { recursive: true });
  const { gunzipSync } = await import('node:zlib');
  const { readFileSync } = await import('node:fs');
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    writeFileSync(join(dir, file), gunzipSync(readFileSync(`tests/fixtures/tokenizers/qwen3/${file}.gz`)));
  }
  writeFileSync(join(dir, 'config.json'), '{}');
  const messages = join(scratch, 'messages.json');
  writeFileSync(messages, JSON.stringify([{ role: 'user', content: 'Hi!' }]));
  const rendered = await run(['template', '--model', dir, '--messages', messages]);
  assert.equal(rendered.code, 0, rendered.stderr);
  assert.equal(rendered.stdout, '<|im_start|>user\nHi!<|im_end|>\n<|im_start|>assistant\n');
  const bare = await run(['template', '--model', dir, '--messages', messages, '--no-generation-prompt']);
  assert.equal(bare.stdout, '<|im_start|>user\nHi!<|im_end|>\n');
  const none = await run(['template', '--model', withTokenizer, '--messages', messages]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /no chat template/);
});
