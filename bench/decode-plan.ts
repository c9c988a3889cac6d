/**
 * Batch-1 greedy decode on WebGPU, planned step against the eager op-by-op path, for real SLM shapes
 * with random float32 weights (nothing downloaded). Per path: ms/token (median step, host read-back of
 * the token included), tokens/s, GPU dispatches per token, and the weight bytes streamed per token as
 * GB/s against the H200's 3.7 TB/s copy bandwidth. At ~3 µs per dependent dispatch, dispatches·3 µs is
 * the floor the eager path cannot go under; the planned path's floor is its bytes / 3.7 TB/s.
 *
 * Usage: node dist/bench/decode-plan.js [--presets smollm2-135m,qwen2.5-0.5b,llama3.2-1b]
 *          [--prompt-tokens 128] [--gen-tokens 64] [--runs 3] [--paths planned,eager]
 *          [--weights f32,f16,bf16]   (planned path: matvec weight storage; 16-bit halves the bytes)
 *          [--splits N]   (attention splits of the planned step; 1 drops the combine dispatch)
 *          [--ahead 2,5]   (planned steps kept submitted ahead of the read-back; a list compares them)
 *          [--layers N]   (keep the first N layers of each preset: per-layer costs of shapes too big to hold
 *                          whole, e.g. deepseek-v2-lite-like's MLA and MoE layers)
 *          [--tune JSON]  (planned path: matvec layouts by dispatch kind, DecodePlanOptions.matvecTuning,
 *                          e.g. '{"norm·lm-head·argmax":{"lanes":8}}'; an array compares several)
 *          [--gpu-weights bf16]  (round the random matrices to bf16 and keep them packed on the GPU, as
 *                          loadHFModel's gpuWeights 'bf16' keeps a bf16 checkpoint's: prefill and decode
 *                          read the packed copies, and the float32 ones are freed)
 *          [--shared on|off|off,on]  (planned path: bind groups shared by a layer's dispatches,
 *                          DecodePlanOptions.sharedBindings, default off; a list compares them)
 *          [--steps-per-submit 1|2|1,2]  (planned path: steps to a command buffer,
 *                          DecodePlanOptions.stepsPerSubmit, default 2; a list compares them)
 *          [--rounds N]  (repeat the variants N times in turn: paired figures on a drifting host)
 *          [--ticks]     (count the event loop's immediates and their time per token: Dawn's Node
 *                         binding ticks the device in one on every turn while a map is pending)
 *          [--profile]   (planned path: host ms per step, back-to-back period, GPU ms per step and per
 *                         dispatch label from timestamp queries)
 */

import type { WeightFormat } from '../src/backend/webgpu/decode/half.js';
import { initWebGPU } from '../src/backend/webgpu/index.js';
import { defineConfig } from '../src/config/model-config.js';
import { presetConfig, presets as presetTable } from '../src/config/presets.js';
import { benchmarkDecode } from '../src/generate/bench.js';
import { DecodePlan, type DecodePlanOptions } from '../src/generate/decode-plan.js';

type MatvecTuningMap = NonNullable<DecodePlanOptions['matvecTuning']>;

import { packBf16OnDevice } from '../src/backend/webgpu/decode/pack.js';
import type { WebGPUBackend } from '../src/backend/webgpu/index.js';
import { isPackableWeight, isPackedTensor } from '../src/backend/webgpu/packed.js';
import type { GpuStorage } from '../src/backend/webgpu/runtime.js';
import { benchmarkModel } from '../src/model/random-weights.js';
import type { Transformer } from '../src/model/transformer.js';
import { Tensor } from '../src/tensor/tensor.js';

const bandwidthGBps = 3700;

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const presets = flag('presets', 'smollm2-135m,qwen2.5-0.5b,llama3.2-1b').split(',');
const paths = flag('paths', 'planned,eager').split(',') as ('planned' | 'eager')[];
const formats = flag('weights', 'f32,f16').split(',') as WeightFormat[];
const promptTokens = Number(flag('prompt-tokens', '128'));
const genTokens = Number(flag('gen-tokens', '64'));
const runs = Number(flag('runs', '3'));
const splits = flag('splits', '');
const profile = process.argv.includes('--profile');
const aheads = flag('ahead', '5').split(',').map(Number);
const layers = flag('layers', '');
const gpuWeights = flag('gpu-weights', 'f32');
const shareds = flag('shared', 'off')
  .split(',')
  .map((v) => v === 'on');
const rounds = Number(flag('rounds', '1'));
const perSubmits = flag('steps-per-submit', '2')
  .split(',')
  .map((v) => (v === '2' ? 2 : 1) as 1 | 2);

/** Replaces the model's packable matrices by bf16-packed copies made on the device (rounded to nearest even). */
async function packForBench(model: Transformer): Promise<number> {
  const runtime = (model.backend as WebGPUBackend).runtime;
  const paths = [...model.params.keys()].filter((p) => isPackableWeight(p, model.params.get(p)!.shape));
  const sources = paths.map((p) => {
    const t = model.params.get(p)!;
    return { binding: { buffer: (t.storage as GpuStorage).buffer, size: t.size * 4 }, elements: t.size };
  });
  const storages = sources.map((s) => runtime.alloc(Math.ceil(s.elements / 2) * 4));
  let next = 0;
  packBf16OnDevice(runtime, sources, (bytes) => ({
    buffer: storages[next++]!.buffer,
    offset: 0,
    size: bytes,
  }));
  await runtime.sync();
  paths.forEach((p, i) => {
    const old = model.params.get(p)!;
    const t = new Tensor({ ...storages[i]!, format: 'bf16' }, old.shape, 'float32', old.backend).keep();
    t.name = p;
    model.params.set(p, t);
    old.dispose();
  });
  runtime.trim();
  return paths.length;
}

/** Immediates run and their time (--ticks): setImmediate wrapped before Dawn's binding is loaded. */
const immediates = { count: 0, ms: 0 };
if (process.argv.includes('--ticks')) {
  const original = globalThis.setImmediate;
  globalThis.setImmediate = ((fn: (...a: unknown[]) => void, ...args: unknown[]) =>
    original(
      (...a: unknown[]) => {
        const t = performance.now();
        try {
          fn(...a);
        } finally {
          immediates.count++;
          immediates.ms += performance.now() - t;
        }
      },
      ...args,
    )) as typeof setImmediate;
}

const tuneFlag = JSON.parse(flag('tune', '{}')) as MatvecTuningMap | MatvecTuningMap[];
const tunings = Array.isArray(tuneFlag) ? tuneFlag : [tuneFlag];

const started = performance.now();
const log = (message: string) =>
  console.error(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${message}`);

const backend = await initWebGPU();
const device = backend.adapterInfo.description || backend.adapterInfo.device || backend.adapterInfo.vendor;
const rows: Record<string, string | number>[] = [];
for (const name of presets) {
  const config = presetConfig(name); // an unknown name throws here, listing the presets
  const kept = layers
    ? defineConfig({ ...structuredClone(presetTable[name]!.input), numLayers: Number(layers) })
    : config;
  const model = benchmarkModel(kept, backend);
  if (gpuWeights === 'bf16') log(`${name}: ${await packForBench(model)} matrices packed to bf16`);
  await backend.sync();
  log(`${name}: ${(model.numParameters() / 1e6).toFixed(0)}M parameters on the GPU`);
  type Variant = {
    path: 'planned' | 'eager';
    weights: WeightFormat;
    ahead: number;
    tune: number;
    shared: boolean;
    perSubmit: 1 | 2;
  };
  const once = paths.flatMap((path): Variant[] =>
    path === 'planned'
      ? tunings.flatMap((_, tune) =>
          formats.flatMap((weights) =>
            aheads.flatMap((ahead) =>
              shareds.flatMap((shared) =>
                perSubmits.map((perSubmit) => ({ path, weights, ahead, tune, shared, perSubmit })),
              ),
            ),
          ),
        )
      : [{ path, weights: 'f32', ahead: 1, tune: 0, shared: false, perSubmit: 1 }],
  );
  // Rounds take the variants in turn, so that a drifting host weighs on all of them alike.
  const variants = Array.from({ length: rounds }, () => once).flat();
  for (const { path, weights, ahead, tune, shared, perSubmit } of variants) {
    const tuning = path === 'planned' && Object.keys(tunings[tune]!).length ? tunings[tune] : undefined;
    try {
      log(
        `${name} ${path} ${weights}${path === 'planned' ? `, ${ahead} ahead` : ''}${tuning ? `, tune ${tune} ${JSON.stringify(tuning)}` : ''}: start`,
      );
      immediates.count = 0;
      immediates.ms = 0;
      const r = await benchmarkDecode(model, {
        promptTokens,
        genTokens,
        runs,
        path,
        planWeights: weights,
        planAhead: ahead,
        ...(splits ? { planSplits: Number(splits) } : {}),
        ...(tuning ? { planTuning: tuning } : {}),
        planSharedBindings: shared,
        planStepsPerSubmit: perSubmit,
        onRun: (run, result) => {
          // The first steps (the decoder fills its steps ahead) apart from the rest.
          const steps = result.decodeStepsMs;
          const rest = steps.slice(8);
          const mean = rest.reduce((a, b) => a + b, 0) / Math.max(1, rest.length);
          log(
            `  run ${run}: TTFT ${result.timeToFirstTokenMs.toFixed(1)} ms; first steps ${steps
              .slice(0, 8)
              .map((s) => s.toFixed(2))
              .join(' ')} ms, then ${mean.toFixed(3)} ms a step`,
          );
        },
      });
      rows.push({
        model: name,
        path: r.path,
        weights: r.planWeights,
        ahead,
        ...(tunings.length > 1 ? { tune } : {}),
        shared: shared ? 'on' : 'off',
        'steps/submit': perSubmit,
        'ms/token': Number(r.msPerToken.toFixed(3)),
        'tok/s': Number(r.decodeTokensPerSecond.toFixed(1)),
        'first step ms': Number(r.firstDecodeStepMs.toFixed(2)),
        'steady ms/token': r.steadyMsPerToken === null ? '-' : Number(r.steadyMsPerToken.toFixed(3)),
        'dispatches/token': r.dispatchesPerToken ?? '-',
        'dispatch floor ms': r.dispatchesPerToken
          ? Number(((r.dispatchesPerToken * 3) / 1000).toFixed(3))
          : '-',
        'weights MB/token': Number((r.weightBytesPerToken / 1e6).toFixed(1)),
        'params MB on GPU': Number(
          (
            [...model.params.values()].reduce((n, t) => n + (isPackedTensor(t) ? 2 : 4) * t.size, 0) / 1e6
          ).toFixed(1),
        ),
        'GB/s': Number(r.achievedGBps.toFixed(1)),
        'of 3.7 TB/s': `${((100 * r.achievedGBps) / bandwidthGBps).toFixed(1)}%`,
        'TTFT ms': Number(r.timeToFirstTokenMs.toFixed(1)),
        'prefill tok/s': Number(r.prefillTokensPerSecond.toFixed(0)),
        // Per decoded token (warm-up and prefill included: a few percent).
        ...(process.argv.includes('--ticks')
          ? {
              'immediates/token': Number((immediates.count / (runs * genTokens)).toFixed(2)),
              'µs/immediate': Number(((1000 * immediates.ms) / Math.max(1, immediates.count)).toFixed(1)),
            }
          : {}),
      });
      log(`ROW ${JSON.stringify(rows.at(-1))}`);
      if (profile && path === 'planned') {
        const plan = await DecodePlan.create(model, promptTokens + genTokens, {
          weights,
          ...(splits ? { splits: Number(splits) } : {}),
          ...(tuning ? { matvecTuning: tuning } : {}),
          sharedBindings: shared,
        });
        try {
          const prompt = Array.from(
            { length: promptTokens },
            (_, i) => (i * 7919 + 1) % model.config.vocabSize,
          );
          await plan.prefill(prompt);
          await plan.step(1);
          log(
            `PROFILE ${name} ${weights}${shared ? '+shared' : ''} tune ${tune} ${JSON.stringify(await plan.profile())}`,
          );
        } finally {
          plan.dispose();
        }
      }
    } catch (error) {
      console.error(`FAILED ${name} ${path}: ${(error as Error).message}`);
    }
  }
  model.dispose();
  backend.runtime.trim();
}
const title = `batch-1 greedy decode (random weights, f32 unless 16-bit on the planned path), ${promptTokens}-token prompt, ${genTokens} tokens, median of ${runs} runs, on ${device}`;
console.log(`\n${title}`);
console.table(rows);
console.log(`JSON ${JSON.stringify({ title, rows })}`);
process.exit(0);
