/** The `slm` entry point: dispatch, help, exit codes and `slm analyze`, in process and as the real bin. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CommandIO } from '../../src/cli/args.js';
import { commands, main } from '../../src/cli/main.js';
import { loadModelConfig, modelConfigFromJSON } from '../../src/config/load.js';
import { presetConfig } from '../../src/config/presets.js';
import { ConfigError } from '../../src/config/validate.js';
import { saveHFModel } from '../../src/io/hf.js';
import { Transformer } from '../../src/model/transformer.js';

/** dist/tests/cli -> dist/src/cli/main.js (the package's "bin"). */
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');
const scratch = mkdtempSync(join(tmpdir(), 'slm-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const io: CommandIO = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

function writeJSON(name: string, value: unknown): string {
  const path = join(scratch, name);
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value));
  return path;
}

test('the bin runs: slm analyze smollm2-135m --json prints one object with params.total', () => {
  assert.ok(existsSync(bin), bin);
  const result = spawnSync(process.execPath, [bin, 'analyze', 'smollm2-135m', '--json'], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, result.stderr);
  const out = JSON.parse(result.stdout);
  assert.equal(out.params.total, 134_515_008);
  assert.equal(out.kvCacheBytesPerToken.bf16, 23_040);
  assert.ok(out.flopsPerToken.forward > 2 * out.params.nonEmbedding);
  assert.equal(out.weightBytes.bf16, 2 * 134_515_008);
});

test('the bin: usage errors exit 2 on stderr, without a stack trace', () => {
  const result = spawnSync(process.execPath, [bin, 'analyze', 'tiny', '--jsno'], { encoding: 'utf8' });
  assert.equal(result.status, 2);
  assert.equal(result.stdout, '');
  assert.match(result.stderr, /^slm analyze: unknown option --jsno \(did you mean --json\?\)\n/);
  assert.doesNotMatch(result.stderr, /\n\s+at /);
});

test('slm --help lists every registered command; --version prints the version; no command is a usage error', async () => {
  const help = await run(['--help']);
  assert.equal(help.code, 0);
  for (const c of commands)
    assert.match(help.stdout, new RegExp(`\\n  ${c.name} +${c.summary.slice(0, 20)}`));
  assert.match(help.stdout, /Usage: slm <command>/);
  const version = await run(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  const none = await run([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /Usage: slm <command>/);
  const topic = await run(['help', 'analyze']);
  assert.equal(topic.code, 0);
  assert.match(topic.stdout, /^slm analyze — /);
});

test('command names are unique and every command has a summary and usage', () => {
  const names = commands.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  for (const c of commands) {
    assert.ok(c.summary.length > 0 && c.usage.length > 0, c.name);
    assert.match(c.name, /^[a-z][a-z-]*$/);
  }
});

test('unknown command: exit 2 with a suggestion', async () => {
  const r = await run(['analyse', 'tiny']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^slm: unknown command 'analyse' \(did you mean 'analyze'\?\)/);
  const flag = await run(['--verbose']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown option --verbose/);
});

test('slm analyze --help documents the command and exits 0', async () => {
  const r = await run(['analyze', '--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /Usage: slm analyze <preset \| hf-dir \| config.json> \[--json\]/);
  assert.match(r.stdout, /--context N/);
  assert.match(r.stdout, /Presets: tiny, smollm2-135m/);
  assert.equal(r.stderr, '');
});

test('slm analyze usage errors: missing argument, extra argument, bad --context', async () => {
  const missing = await run(['analyze']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^slm analyze: missing argument <model>\nUsage: slm analyze /);
  assert.match(missing.stderr, /Run 'slm analyze --help' for details/);
  const extra = await run(['analyze', 'tiny', 'smollm2-135m']);
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /unexpected argument 'smollm2-135m'/);
  const context = await run(['analyze', 'tiny', '--context', 'long']);
  assert.equal(context.code, 2);
  assert.match(context.stderr, /--context needs an integer, got 'long'/);
  const zero = await run(['analyze', 'tiny', '--context', '0']);
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /--context must be a positive integer/);
});

test('slm analyze prints a readable table by default', async () => {
  const r = await run(['analyze', 'smollm2-135m', '--context', '4096']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^smollm2-135m {2}\(preset smollm2-135m\)\nGQA, 30 layers, hidden 576/);
  assert.match(r.stdout, /Parameters +134,515,008 +134\.5M/);
  assert.match(r.stdout, /FLOPs per token \(matmuls; 4,096 keys\)/);
  assert.match(r.stdout, /KV cache \(K and V, 30 layers\) per token +45\.00 KiB +22\.50 KiB/);
  assert.doesNotMatch(r.stdout, /^Layer /m, 'uniform layers need no per-layer table');
  assert.match(r.stdout, /lm head \(tied to embedding\) +0 +0\n/);
  const layers = await run(['analyze', 'deepseek-v2-lite-like', '--layers']);
  assert.match(layers.stdout, /^0 +16 +16 +10944 /m, 'layer 0 of DeepSeek-V2-Lite is dense');
  assert.match(layers.stdout, /^26 +16 +16 +MoE /m);
  const openelm = await run(['analyze', 'openelm-270m']);
  assert.match(
    openelm.stdout,
    /^Layer +heads +kv +ffn width/m,
    'per-layer widths are shown when layers differ',
  );
  assert.match(openelm.stdout, /^15 +20 +5 +5120 /m);
  const mla = await run(['analyze', 'deepseek-v2-lite-like']);
  assert.match(mla.stdout, /MLA \+ MoE, 27 layers/);
  assert.match(mla.stdout, /KV cache \(MLA latent \+ rope key\) per token +60\.75 KiB +30\.38 KiB/);
});

test('slm analyze reads a JSON file of ModelConfig fields', async () => {
  const path = writeJSON('mine.json', {
    vocabSize: 1000,
    hiddenSize: 64,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 1,
    intermediateSize: 128,
  });
  const r = await run(['analyze', path, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  // embedding 64k + 2 x (attention q,o 2·64·64 + k,v 2·64·16 + ffn 3·64·128 + 2 norms) + final norm
  assert.equal(out.params.total, 64_000 + 2 * (2 * 64 * 64 + 2 * 64 * 16 + 3 * 64 * 128 + 128) + 64);
  assert.equal(out.kvCacheBytesPerToken.bf16, 2 * 2 * 1 * 16 * 2);
  assert.equal(out.architecture.attention, 'MQA');
  assert.equal(out.source, `model config ${path}`);
});

test('bad config files: errors name the field and the file, exit 1', async () => {
  const cases: [unknown, RegExp][] = [
    [
      { hiddenSize: 64, numLayers: 2, numAttentionHeads: 4 },
      /mine-\d\.json: invalid model config: vocabSize: is required/,
    ],
    [
      { vocabSize: 10, hiddenSize: 64, numLayers: -2, numAttentionHeads: 4 },
      /numLayers: must be a positive integer, got -2/,
    ],
    [
      { vocabSize: 10, hiddenSize: 64, numLayers: 2, numAttentionHeads: 4, numKeyValueHeads: 3 },
      /numKeyValueHeads: numAttentionHeads \(4\) must be a multiple of numKeyValueHeads \(3\)/,
    ],
    [
      { vocabSize: 10, hiddenSize: 64, numLayers: 2, numAttentionHeads: 4, intermediatSize: 3 },
      /intermediatSize: unknown field \(did you mean 'intermediateSize'\?\)/,
    ],
    [
      { vocabSize: 10, hiddenSize: 64, numLayers: 2, numAttentionHeads: 4, hiddenAct: 'swish' },
      /hiddenAct: must be one of .*got "swish"/,
    ],
    [[1, 2], /a model config must be a JSON object, got an array/],
    ['{"vocabSize": 10,', /is not valid JSON/],
  ];
  for (const [i, [content, message]] of cases.entries()) {
    const path = writeJSON(`mine-${i}.json`, content);
    const r = await run(['analyze', path]);
    assert.equal(r.code, 1, `${path}: ${r.stdout}`);
    assert.match(r.stderr, /^slm analyze: /);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without SLM_DEBUG');
  }
});

test('SLM_DEBUG=1 adds the stack trace to an error', async () => {
  const path = writeJSON('debug.json', { vocabSize: 0, hiddenSize: 4, numLayers: 1, numAttentionHeads: 1 });
  const plain = await run(['analyze', path]);
  assert.equal(plain.code, 1);
  assert.doesNotMatch(plain.stderr, /\n\s+at /);
  const debug = await run(['analyze', path], { SLM_DEBUG: '1' });
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /\n\s+at /);
});

test('library: modelConfigFromJSON throws ConfigError with the field; unknown names are helpful', async () => {
  assert.throws(
    () =>
      modelConfigFromJSON({ vocabSize: 10, hiddenSize: 8, numLayers: 1, numAttentionHeads: 2, headDim: 0 }),
    (e: unknown) => e instanceof ConfigError && e.field === 'headDim',
  );
  assert.throws(
    () =>
      modelConfigFromJSON({ vocabSize: 10, hiddenSize: 8, numLayers: 1, numAttentionHeads: 2, numlayers: 1 }),
    (e: unknown) =>
      e instanceof ConfigError && e.field === 'numlayers' && /did you mean 'numLayers'/.test(e.message),
  );
  await assert.rejects(
    loadModelConfig('smollm2-13m'),
    /'smollm2-13m' is neither a preset nor an existing file.*did you mean 'smollm2-135m'/,
  );
  const emptyDir = join(scratch, 'empty-model');
  mkdirSync(emptyDir);
  await assert.rejects(loadModelConfig(emptyDir), /is a directory without config\.json/);
});

/** SmolLM2-135M's config.json as published on the Hugging Face hub. */
const smolLM2 = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: 'silu',
  hidden_size: 576,
  initializer_range: 0.041666666666666664,
  intermediate_size: 1536,
  max_position_embeddings: 8192,
  model_type: 'llama',
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 100000,
  tie_word_embeddings: true,
  vocab_size: 49152,
};

test('a Hugging Face model directory goes through the family adapter of its model_type', async () => {
  const dir = join(scratch, 'SmolLM2-135M');
  mkdirSync(dir);
  writeJSON('SmolLM2-135M/config.json', smolLM2);
  const r = await run(['analyze', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.params.total, 134_515_008);
  assert.equal(out.kvCacheBytesPerToken.bf16, 23_040);
  assert.equal(out.source, `Hugging Face llama config ${join(dir, 'config.json')}`);
  assert.equal(out.checkpoint, undefined, 'no safetensors in this directory');
  // The HF config and the preset describe the same model.
  const preset = JSON.parse((await run(['analyze', 'smollm2-135m', '--json'])).stdout);
  assert.deepEqual({ ...out, model: null, source: null }, { ...preset, model: null, source: null });
});

test('a saved model directory: the checkpoint headers are summed and compared with the config', async () => {
  const dir = join(scratch, 'tiny-saved');
  const model = Transformer.init(presetConfig('tiny'), { seed: 3 });
  saveHFModel(dir, model, { dtype: 'bfloat16' });
  const total = model.numParameters();
  model.dispose();
  const r = await run(['analyze', dir, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.params.total, total);
  assert.deepEqual(out.checkpoint.dtypes, { BF16: total });
  assert.equal(out.checkpoint.elements, total);
  assert.equal(out.checkpoint.bytes, 2 * total);
  const table = await run(['analyze', dir]);
  assert.match(
    table.stdout,
    /checkpoint on disk \(BF16\): \d+ tensors, [\d,]+ elements, .*; equal to the config's count/,
  );
});

test('a Hugging Face config of an unsupported model_type: exit 1 naming the file and the type', async () => {
  const path = writeJSON('bert.json', { model_type: 'bert', hidden_size: 768 });
  const r = await run(['analyze', path]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`^slm analyze: ${path.replace(/[.]/g, '\\.')}.*model_type 'bert'`));
});
