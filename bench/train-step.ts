/**
 * One full training step (forward, backward, AdamW update) of a GPT-2-small-shaped model (the `gpt2-124m`
 * preset) on random tokens, on WebGPU: median wall-clock time per step after warm-up steps, measured from
 * the first op of the step to the loss read back (which waits for the update too).
 * FLOPs/step = batch·seq·training FLOPs/token of `analyzeConfig` at context `seq`: 6 × (projection, FFN and
 * lm-head MACs + attention-score MACs against all `seq` keys), the nanoGPT/PaLM convention (6N + 12·L·H·D·T
 * per token; causal masking's saving is not subtracted). Ceiling: 67 TFLOP/s (H200 f32 datasheet).
 * PyTorch anchor: `python3 bench/torch_train_step.py > torch.json`, then `--torch torch.json` prints its
 * rows in the same table.
 *
 * `--profile` runs one more step with every dispatch recorded and timed (bench/gpu-profile.ts,
 * src/backend/webgpu/profiler.ts) and prints time per kernel and per matmul shape.
 *
 * Usage: node dist/bench/train-step.js [--layers 12] [--batch 8] [--seq 1024] [--vocab 50257]
 *   [--steps 10] [--warmup 3] [--attention fused|composite] [--backend webgpu|cpu] [--torch file.json]
 *   [--profile]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { type Backend, findBackend } from '../src/backend/backend.js';
import { initWebGPU, type WebGPUBackend } from '../src/backend/webgpu/index.js';
import { profileDispatches } from '../src/backend/webgpu/profiler.js';
import { analyzeConfig } from '../src/config/analyze.js';
import { defineConfig } from '../src/config/model-config.js';
import { presets } from '../src/config/presets.js';
import { Transformer } from '../src/model/transformer.js';
import * as ops from '../src/ops/index.js';
import { scope } from '../src/tensor/tensor.js';
import { AdamW, decayGroups } from '../src/train/optimizer.js';
import { printProfile } from './gpu-profile.js';

const { values: args } = parseArgs({
  options: {
    layers: { type: 'string', default: '12' },
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '1024' },
    vocab: { type: 'string' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    attention: { type: 'string', default: 'fused' },
    backend: { type: 'string', default: 'webgpu' },
    torch: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});
const layers = Number(args.layers);
const batch = Number(args.batch);
const seq = Number(args.seq);
const steps = Number(args.steps);
const warmup = Number(args.warmup);
if (args.attention !== 'fused' && args.attention !== 'composite') {
  throw new Error(`--attention must be fused or composite, got '${args.attention}'`);
}
process.env.SLM_ATTENTION = args.attention;
const ceilingTflops = 67;

const gpt2 = presets['gpt2-124m']!.input;
const vocabSize = args.vocab ? Number(args.vocab) : gpt2.vocabSize;
// A smaller --vocab (software adapters bind at most 128 MiB; GPT-2's embedding is 154 MB) drops the
// special-token ids outside it.
const config = defineConfig({
  ...gpt2,
  numLayers: layers,
  vocabSize,
  bosTokenId: vocabSize === gpt2.vocabSize ? gpt2.bosTokenId : null,
  eosTokenIds: vocabSize === gpt2.vocabSize ? gpt2.eosTokenIds : [],
  maxPositionEmbeddings: Math.max(gpt2.maxPositionEmbeddings ?? 1024, seq),
});
const backend: Backend = args.backend === 'cpu' ? findBackend('cpu')! : await initWebGPU();
const device =
  'adapterInfo' in backend
    ? (backend as Awaited<ReturnType<typeof initWebGPU>>).adapterInfo.description || 'webgpu'
    : backend.name;
const analysis = analyzeConfig(config, { contextLength: seq });
const flopsPerStep = analysis.flopsPerToken.training * batch * seq;

const model = Transformer.init(config, { seed: 0, backend }).requireGrad();
const optimizer = new AdamW(decayGroups(model.specs, model.params), { weightDecay: 0.1 });

/** Random token ids [batch, seq + 1] (seeded LCG): inputs are the first seq, targets the last seq. */
function randomBatch(seed: number): { inputs: Int32Array; targets: Int32Array } {
  const inputs = new Int32Array(batch * seq);
  const targets = new Int32Array(batch * seq);
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state % config.vocabSize;
  };
  for (let b = 0; b < batch; b++) {
    let previous = next();
    for (let t = 0; t < seq; t++) {
      const token = next();
      inputs[b * seq + t] = previous;
      targets[b * seq + t] = token;
      previous = token;
    }
  }
  return { inputs, targets };
}

async function trainStep(seed: number): Promise<{ seconds: number; loss: number }> {
  const { inputs, targets } = randomBatch(seed);
  const start = performance.now();
  const loss = scope(() => {
    const ids = ops.tensor(inputs, [batch, seq], { backend });
    const labels = ops.tensor(targets, [batch, seq], { backend });
    const value = model.loss(ids, labels);
    ops.backward(value);
    return value;
  });
  await optimizer.step({ lr: 6e-4 });
  optimizer.zeroGrad();
  const value = await loss.item();
  loss.dispose();
  return { seconds: (performance.now() - start) / 1000, loss: value };
}

console.log(
  `train step: gpt2-124m shape, ${layers} layers, batch ${batch} x seq ${seq}, vocab ${config.vocabSize}, ` +
    `${(analysis.params.total / 1e6).toFixed(1)}M parameters, attention ${args.attention}, on ${device}`,
);
const losses: number[] = [];
const times: number[] = [];
for (let s = 0; s < warmup + steps; s++) {
  const { seconds, loss } = await trainStep(s + 1);
  losses.push(loss);
  if (s >= warmup) times.push(seconds);
  console.log(
    `  step ${s + 1}${s < warmup ? ' (warm-up)' : ''}: ${(seconds * 1000).toFixed(1)} ms, loss ${loss.toFixed(4)}`,
  );
}
if (args.profile) {
  if (backend.name !== 'webgpu') throw new Error('--profile needs --backend webgpu');
  const profile = await profileDispatches(backend as WebGPUBackend, async () => {
    await trainStep(warmup + steps + 1);
  });
  const sortedMs = [...times].sort((a, b) => a - b);
  printProfile(profile, sortedMs.length > 0 ? 1000 * sortedMs[sortedMs.length >> 1]! : undefined);
}
if (!losses.every(Number.isFinite)) throw new Error(`a loss is not finite: ${losses.join(', ')}`);
const sorted = [...times].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
const tflops = flopsPerStep / median / 1e12;
const rows: Record<string, string | number>[] = [
  {
    run: `slmkit ${backend.name} f32, attention ${args.attention}`,
    'tokens/s': Math.round((batch * seq) / median),
    'ms/step': Number((median * 1000).toFixed(1)),
    'GFLOP/step': Number((flopsPerStep / 1e9).toFixed(1)),
    'TFLOP/s': Number(tflops.toPrecision(3)),
    [`of ${ceilingTflops}`]: `${((100 * tflops) / ceilingTflops).toFixed(1)}%`,
  },
];
if (args.torch) {
  // Lines `JSON {...}` from bench/torch_train_step.py, one per PyTorch configuration.
  for (const line of readFileSync(args.torch, 'utf8').split('\n')) {
    if (!line.startsWith('JSON ')) continue;
    const r = JSON.parse(line.slice(5)) as { run: string; tokensPerSecond: number; msPerStep: number };
    const t = flopsPerStep / (r.msPerStep / 1000) / 1e12;
    rows.push({
      run: `PyTorch ${r.run}`,
      'tokens/s': Math.round(r.tokensPerSecond),
      'ms/step': r.msPerStep,
      'GFLOP/step': Number((flopsPerStep / 1e9).toFixed(1)),
      'TFLOP/s': Number(t.toPrecision(3)),
      [`of ${ceilingTflops}`]: `${((100 * t) / ceilingTflops).toFixed(1)}%`,
    });
  }
}
console.log(
  `\ntraining step (median of ${steps} after ${warmup} warm-up), FLOPs per step ${flopsPerStep.toExponential(3)}`,
);
console.table(rows);
console.log(`JSON ${JSON.stringify({ layers, batch, seq, vocab: config.vocabSize, losses, rows })}`);
process.exit(0);
