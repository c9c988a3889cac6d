/** Fine-tuning data (loss on responses only), the SFT loop, and slm finetune → slm export --merge-lora. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { type Command, type CommandIO, parseArgs } from '../../src/cli/args.js';
import { exportCommand } from '../../src/cli/export.js';
import { finetuneCommand } from '../../src/cli/finetune.js';
import { defineConfig } from '../../src/config/model-config.js';
import { loadHFModel } from '../../src/io/hf.js';
import { LoraModel } from '../../src/model/lora.js';
import { Transformer } from '../../src/model/transformer.js';
import { bpeTokenizerFiles, Tokenizer, trainBpe } from '../../src/tokenizer/index.js';
import { finetune, sftLoss } from '../../src/train/finetune.js';
import { writeModelDir } from '../../src/train/model-files.js';
import { collate, IGNORE_INDEX, sftExample, sftExamples } from '../../src/train/sft.js';
import { assertClose } from '../helpers/assert-close.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-finetune-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const files = bpeTokenizerFiles(
  trainBpe(['what is the capital of france? paris. user assistant hello there'], { vocabSize: 300 }),
);
const tokenizer = Tokenizer.fromJSON({
  tokenizerJson: files.tokenizerJson,
  tokenizerConfig: files.tokenizerConfig,
});
const eos = tokenizer.eosTokenIds[0]!;
const config = defineConfig({
  vocabSize: tokenizer.vocabSize,
  hiddenSize: 32,
  numLayers: 1,
  numAttentionHeads: 4,
  intermediateSize: 32,
  maxPositionEmbeddings: 64,
  eosTokenIds: [eos],
  // Large initial weights stand in for a pretrained base: with frozen 0.02-scale embeddings the tied
  // head cannot produce confident logits whatever the adapters do.
  initializerRange: 0.3,
});

test('prompt/response: labels only on the response and EOS', () => {
  const e = sftExample(tokenizer, { prompt: 'what is', response: ' paris' }, 'x:1');
  const promptLength = tokenizer.encode('what is', { addSpecialTokens: false }).length;
  const response = tokenizer.encode(' paris', { addSpecialTokens: false });
  assert.deepEqual(e.ids, [...tokenizer.encode('what is', { addSpecialTokens: false }), ...response, eos]);
  assert.deepEqual(e.labels, [...new Array(promptLength).fill(IGNORE_INDEX), ...response, eos]);
  const batch = collate([e, sftExample(tokenizer, { prompt: 'a', completion: 'b' }, 'x:2')], eos);
  assert.equal(batch.seqLen, e.ids.length - 1);
  assert.deepEqual(Array.from(batch.targets.subarray(0, batch.seqLen)), e.labels.slice(1));
  assert.throws(() => sftExample(tokenizer, { question: 'q' }, 'f.jsonl:3'), /f\.jsonl:3: expected/);
});

test('chat: loss on each assistant message as the template renders it (ChatML fallback)', () => {
  const messages = [
    { role: 'user', content: 'hello' },
    { role: 'assistant', content: 'hello there' },
    { role: 'user', content: 'capital of france?' },
    { role: 'assistant', content: 'paris' },
  ];
  const e = sftExample(tokenizer, { messages }, 'c:1');
  const learned = tokenizer.decode(e.ids.filter((_, i) => e.labels[i] !== IGNORE_INDEX));
  assert.equal(learned, 'hello there<|im_end|>\nparis<|im_end|>\n');
  const all = tokenizer.decode(e.ids);
  assert.ok(all.startsWith('<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\nhello there'));
  assert.throws(() => sftExample(tokenizer, { messages: [messages[0]] }, 'c:2'), /no assistant message/);
});

test('LoRA fine-tuning lowers the response loss and leaves the base weights alone', async () => {
  const jsonl = [
    { prompt: 'what is the capital of france?', response: ' paris.' },
    { prompt: 'hello', response: ' there' },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n');
  const examples = sftExamples(tokenizer, jsonl, 64);
  const base = Transformer.init(config, { seed: 1 });
  const frozen = Array.from(base.params.get('model.layers.0.self_attn.q_proj.weight')!.dataSync());
  const lora = LoraModel.create(base, {
    rank: 4,
    alpha: 8,
    targetModules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'],
  });
  const before = await sftLoss(lora, examples, 2, eos);
  const result = await finetune({
    target: lora,
    train: examples,
    validation: examples,
    padId: eos,
    options: { steps: 25, batchSize: 2, lr: 2e-2, warmup: 2 },
  });
  assert.equal(result.losses.length, 25);
  assert.ok(result.validationLoss! < 0.3 * before, `response loss ${before} -> ${result.validationLoss}`);
  assert.deepEqual(Array.from(base.params.get('model.layers.0.self_attn.q_proj.weight')!.dataSync()), frozen);
});

test('an interrupted LoRA fine-tune resumes from its checkpoint with the same losses', async () => {
  const jsonl = ['what is', 'hello', 'the capital', 'of france', 'paris is']
    .map((prompt, i) => JSON.stringify({ prompt, response: ` answer ${i}.` }))
    .join('\n');
  const examples = sftExamples(tokenizer, jsonl, 64);
  const loraConfig = { rank: 2, alpha: 4, targetModules: ['q_proj', 'v_proj'] };
  const options = { steps: 6, batchSize: 2, gradAccum: 2, lr: 1e-2, warmup: 1, schedule: 'wsd' as const };
  const straight = await finetune({
    target: LoraModel.create(Transformer.init(config, { seed: 5 }), loraConfig, 1),
    train: examples,
    padId: eos,
    options,
  });
  const outDir = join(scratch, 'ft-resume');
  const controller = new AbortController();
  const first = await finetune({
    target: LoraModel.create(Transformer.init(config, { seed: 5 }), loraConfig, 1),
    train: examples,
    padId: eos,
    options: { ...options, outDir },
    signal: controller.signal,
    progress: { step: (r) => r.step === 2 && controller.abort(), log() {}, finish() {} },
  });
  assert.equal(first.interrupted, true);
  assert.equal(first.lastCheckpoint, join(outDir, 'checkpoint-2'));
  const resumedLora = LoraModel.load(first.lastCheckpoint!, Transformer.init(config, { seed: 5 }));
  const rest = await finetune({
    target: resumedLora,
    train: examples,
    padId: eos,
    options,
    resumeFrom: outDir,
  });
  assert.equal(rest.step, 6);
  assert.deepEqual(rest.losses, straight.losses);
});

function capture(): CommandIO & { err: string[] } {
  const err: string[] = [];
  return {
    err,
    stdout: { write: () => true },
    stderr: { write: (t: string) => err.push(t) },
    env: { SLM_BACKEND: 'cpu' },
  };
}

async function run(command: Command<any>, argv: string[]): Promise<number> {
  const io = capture();
  const code = (await command.run(parseArgs(argv, command), io)) ?? 0;
  assert.equal(code, 0, io.err.join(''));
  return code;
}

test('slm finetune --lora-rank writes a PEFT adapter; slm export --merge-lora folds it into an HF model', async () => {
  const modelDir = join(scratch, 'base');
  const base = Transformer.init(config, { seed: 2 });
  await writeModelDir(modelDir, base, { tokenizer: files });
  const data = join(scratch, 'chat.jsonl');
  const record = {
    messages: [
      { role: 'user', content: 'hello' },
      { role: 'assistant', content: 'paris' },
    ],
  };
  writeFileSync(
    data,
    `${JSON.stringify(record)}\n${JSON.stringify({ prompt: 'hello', response: ' there' })}\n`,
  );
  const adapter = join(scratch, 'adapter');
  await run(finetuneCommand, [
    ...['--model', modelDir, '--data', data, '--lora-rank', '2', '--lora-targets', 'q_proj,o_proj'],
    ...['--steps', '2', '--save-every', '2', '--batch-size', '2', '--lr', '0.01', '--out', adapter],
  ]);
  for (const file of ['adapter_config.json', 'adapter_model.safetensors', 'tokenizer.json'])
    assert.ok(existsSync(join(adapter, file)), file);
  assert.ok(existsSync(join(adapter, 'checkpoint-2', 'optimizer.safetensors')));
  // --resume repeats the saved plan (model, data, LoRA settings) and continues to more steps.
  await run(finetuneCommand, ['--resume', adapter, '--steps', '4']);
  const state = JSON.parse(readFileSync(join(adapter, 'checkpoint-4', 'trainer_state.json'), 'utf8'));
  assert.equal(state.losses.length, 4);
  assert.equal(state.options.plan.lora.rank, 2);
  assert.deepEqual(JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')).target_modules, [
    'q_proj',
    'o_proj',
  ]);

  const merged = join(scratch, 'merged');
  await run(exportCommand, ['--model', modelDir, '--lora', adapter, '--merge-lora', '--out', merged]);
  const loaded = await loadHFModel(merged);
  assert.equal(loaded.family.modelType, 'llama');
  const lora = LoraModel.load(adapter, Transformer.init(config, { seed: 2 }));
  const ids = [[3, 4, 5, 6]];
  assertClose(loaded.model.forward(ids).dataSync(), lora.forward(ids).dataSync(), {
    atol: 1e-5,
    message: 'merged export',
  });
  assert.ok(existsSync(join(merged, 'tokenizer.json')));
  await assert.rejects(
    exportCommand.run(
      parseArgs(['--model', modelDir, '--lora', adapter, '--out', merged], exportCommand),
      capture(),
    ) as Promise<unknown>,
    /--lora needs --merge-lora/,
  );
});
