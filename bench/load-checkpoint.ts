/**
 * Time and host memory to load a Hugging Face checkpoint directory onto a backend: what `slm generate`
 * pays before its first token. `--gpu-weights bf16` keeps a bf16 checkpoint's matrices packed on the GPU
 * (the CLI's default on webgpu); `--widened` takes the earlier route for comparison, every tensor read as
 * float32 on the host first (importParameters, then modelFromValues packs). Run one load per process, so
 * that the peak resident set is the load's own.
 *
 * Usage: node dist/bench/load-checkpoint.js --model DIR [--backend webgpu|cpu] [--gpu-weights f32|bf16]
 *        [--widened]
 * A random bf16 checkpoint of a config: python3 bench/random_checkpoint.py CONFIG_DIR OUT_DIR.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuBackend } from '../src/backend/cpu/index.js';
import { initWebGPU } from '../src/backend/webgpu/index.js';
import { isPackedTensor } from '../src/backend/webgpu/packed.js';
import { loadHFModel } from '../src/io/hf.js';
import { familyOfConfig, importParameters, modelFromValues } from '../src/io/hf-params.js';
import { openCheckpoint } from '../src/io/sharded.js';

function flag(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}
const dir = flag('model', '');
if (!dir) throw new Error('--model DIR is required (a Hugging Face checkpoint directory)');
const gpuWeights = flag('gpu-weights', 'f32') as 'f32' | 'bf16';
const widened = process.argv.includes('--widened');
const backend = flag('backend', 'webgpu') === 'cpu' ? cpuBackend : await initWebGPU();

const rssBefore = process.resourceUsage().maxRSS;
const start = performance.now();
let model: Awaited<ReturnType<typeof loadHFModel>>['model'];
if (widened) {
  const { family, config } = familyOfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const reader = openCheckpoint(dir);
  try {
    model = modelFromValues(config, importParameters(reader, config, family), { backend, gpuWeights });
  } finally {
    reader.close();
  }
} else model = (await loadHFModel(dir, { backend, gpuWeights })).model;
// The uploads are queued: wait for the device before stopping the clock.
await model.params.values().next().value!.data();
const ms = performance.now() - start;
const params = [...model.params.values()];
const row = {
  model: dir,
  backend: backend.name,
  'gpu weights': gpuWeights,
  route: widened ? 'widened to f32' : 'direct',
  'load s': Number((ms / 1000).toFixed(2)),
  'peak RSS MB': Math.round(process.resourceUsage().maxRSS / 1024),
  'RSS before MB': Math.round(rssBefore / 1024),
  'params MB': Math.round(params.reduce((n, t) => n + t.size * (isPackedTensor(t) ? 2 : 4), 0) / 1e6),
};
console.log(JSON.stringify(row));
process.exit(0);
