/**
 * Where the time to first token goes: the planned decoder's prefill (the eager forward over the prompt
 * into the plan's KV cache, then the greedy token) at the shapes of the presets, random weights.
 *
 * For each preset it reports, median over runs: the host's time to encode and submit the prompt's
 * work (prefillSubmit returning), the time to the token (what a user waits for), the dispatches, and
 * then one prefill under the per-dispatch GPU profiler (profiler.ts): the GPU's own time per kernel
 * and matmul shape. Host time well above the GPU's sum means per-dispatch host work bounds the prefill.
 * 'bind groups reused' is the share of the timed prefills' dispatches whose bind group the runtime had
 * kept from an earlier one (the same prompt length binds the same pooled buffers).
 *
 * Usage: node dist/bench/prefill.js [--presets smollm2-135m,qwen2.5-0.5b,llama3.2-1b]
 *          [--prompt-tokens 128] [--runs 10] [--layers N] [--weights bf16|f32] [--no-profile]
 *          [--tiling routed,128]  (matmul output tiles: the router's choice, or 128x128 always)
 *          [--follow K]  (after each prefill, a prompt of the same plus K−3 … K new ids (by run), which
 *                         finds the first part in the plan's cache (reusePrefix: a chat's next turn):
 *                         its time to token)
 *          [--bind-groups kept,fresh]  (the runtime keeps eager bind groups for reuse, or makes one per
 *                                       dispatch); a list of either compares them, prefills taking turns
 */
import type { WebGPUBackend } from '../src/backend/webgpu/index.js';
import { initWebGPU } from '../src/backend/webgpu/index.js';
import { matmulTiling } from '../src/backend/webgpu/kernels/matmul.js';
import { profileDispatches } from '../src/backend/webgpu/profiler.js';
import { defineConfig } from '../src/config/model-config.js';
import { presetConfig, presets as presetTable } from '../src/config/presets.js';
import { DecodePlan } from '../src/generate/decode-plan.js';
import { countDispatches } from '../src/generate/decoder.js';
import { benchmarkModel } from '../src/model/random-weights.js';
import { printProfile } from './gpu-profile.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

const presets = flag('presets', 'smollm2-135m,qwen2.5-0.5b,llama3.2-1b').split(',');
const promptTokens = Number(flag('prompt-tokens', '128'));
const runs = Number(flag('runs', '10'));
const layers = flag('layers', '');
const weights = flag('weights', 'bf16') === 'f32' ? 'f32' : 'bf16';
const withProfile = !process.argv.includes('--no-profile');
const follow = Number(flag('follow', '0'));
const backend = await initWebGPU();
const routed = matmulTiling.smallTileBelow;
/** Variants: matmul variants ('routed' / '128'), or bind-group modes ('kept' / 'fresh'). */
const variants = flag('bind-groups', '')
  ? flag('bind-groups', '').split(',')
  : flag('tiling', 'routed').split(',');
const setVariant = (variant: string) => {
  matmulTiling.smallTileBelow = variant === '128' ? 0 : routed;
  backend.runtime.keepBindGroups = variant !== 'fresh';
};

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

const device = backend.adapterInfo.description || backend.adapterInfo.device || backend.adapterInfo.vendor;
const rows: Record<string, string | number>[] = [];
for (const name of presets) {
  const config = layers
    ? defineConfig({ ...structuredClone(presetTable[name]!.input), numLayers: Number(layers) })
    : presetConfig(name);
  const model = benchmarkModel(config, backend);
  const plan = await DecodePlan.create(model, promptTokens + Math.max(8, follow), { weights });
  const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 1) % config.vocabSize);
  try {
    for (const variant of variants) {
      setVariant(variant);
      for (let i = 0; i < 3; i++) await plan.prefill(prompt); // pipelines compiled, pool filled
    }
    // The variants take turns run by run, so that a drifting host weighs on them alike.
    const stats = backend.runtime.bindGroupStats;
    const reuse = new Map(variants.map((t) => [t, { reused: 0, dispatches: 0 }]));
    const submitMs = new Map(variants.map((t) => [t, [] as number[]]));
    const tokenMs = new Map(variants.map((t) => [t, [] as number[]]));
    const followMs = new Map(variants.map((t) => [t, [] as number[]]));
    for (let run = 0; run < runs; run++) {
      for (const variant of variants) {
        setVariant(variant);
        const before = { ...stats };
        const start = performance.now();
        const { result } = await plan.prefillSubmit(prompt);
        submitMs.get(variant)!.push(performance.now() - start);
        await result;
        tokenMs.get(variant)!.push(performance.now() - start);
        const tally = reuse.get(variant)!;
        tally.reused += stats.reused - before.reused;
        tally.dispatches += stats.dispatches - before.dispatches;
        if (follow > 0) {
          // A different length each run (a chat's messages differ), padded alike.
          const extra = Math.max(1, follow - (run % 4));
          const next = [
            ...prompt,
            ...Array.from({ length: extra }, (_, i) => (i * 31 + run) % config.vocabSize),
          ];
          const again = performance.now();
          await (await plan.prefillSubmit(next, { reusePrefix: true })).result;
          followMs.get(variant)!.push(performance.now() - again);
          if (plan.lastPrefill.computed !== extra)
            throw new Error('the follow-up did not find its prompt cached');
        }
      }
    }
    for (const variant of variants) {
      setVariant(variant);
      const dispatches = await countDispatches(model, () => plan.prefill(prompt));
      let gpuMs: number | string = '-';
      const token = median(tokenMs.get(variant)!);
      const submit = median(submitMs.get(variant)!);
      const { reused, dispatches: counted } = reuse.get(variant)!;
      if (withProfile) {
        const profile = await profileDispatches(backend as WebGPUBackend, async () => {
          await plan.prefill(prompt);
        });
        gpuMs = profile.dispatches.reduce((t, d) => t + (d.ms ?? 0), 0);
        console.log(`\n${name}, ${promptTokens}-token prefill, ${variant}, GPU time per dispatch:`);
        printProfile(profile, token);
      }
      rows.push({
        model: name,
        'prompt tokens': promptTokens,
        variant,
        dispatches: dispatches ?? '-',
        'host encode+submit ms': Number(submit.toFixed(2)),
        'to token ms': Number(token.toFixed(2)),
        'GPU Σ dispatches ms': typeof gpuMs === 'number' ? Number(gpuMs.toFixed(2)) : gpuMs,
        'host µs/dispatch': dispatches ? Number(((1000 * submit) / dispatches).toFixed(1)) : '-',
        'bind groups reused': `${((100 * reused) / Math.max(1, counted)).toFixed(0)}%`,
        'tok/s': Number(((1000 * promptTokens) / token).toFixed(0)),
        ...(follow > 0
          ? { [`+${follow} tokens, to token ms`]: Number(median(followMs.get(variant)!).toFixed(2)) }
          : {}),
      });
      console.error(`ROW ${JSON.stringify(rows.at(-1))}`);
    }
  } finally {
    matmulTiling.smallTileBelow = routed;
    plan.dispose();
    model.dispose();
    backend.runtime.trim();
  }
}
const title = `prefill (planned decoder, ${weights} matvec weights, random weights), median of ${runs} runs, on ${device}`;
console.log(`\n${title}`);
console.table(rows);
console.log(`JSON ${JSON.stringify({ title, rows })}`);
