/**
 * Getting the webgpu backend for a test file. Without an adapter the suite says so: one test reports the
 * reason and is skipped, unless CI is set (CI installs lavapipe, so a missing adapter there is a failure).
 */
import { test } from 'node:test';
import { findBackend } from '../../src/backend/backend.js';
import { initWebGPU, type WebGPUBackend, webgpuAvailable } from '../../src/backend/webgpu/index.js';
import * as ops from '../../src/ops/index.js';
import type { Tensor } from '../../src/tensor/tensor.js';

export async function webgpuOrReason(): Promise<WebGPUBackend | string> {
  if (!(await webgpuAvailable())) {
    return 'no WebGPU adapter was found (install a driver, or lavapipe: mesa-vulkan-drivers from bookworm-backports)';
  }
  return initWebGPU({ makeDefault: false });
}

/** Returns the backend, or registers the one test that reports why the webgpu tests cannot run. */
export async function requireWebGPU(): Promise<WebGPUBackend | null> {
  const result = await webgpuOrReason();
  if (typeof result !== 'string') return result;
  if (process.env.CI) {
    test('WebGPU adapter', () => {
      throw new Error(`CI must run the webgpu tests, but ${result}`);
    });
  } else {
    test('WebGPU adapter', (t) => t.skip(`webgpu tests not run: ${result}`));
  }
  return null;
}

export const cpu = () => findBackend('cpu')!;

/** A float32 tensor from host values on a backend. */
export function f32(values: ArrayLike<number>, shape: readonly number[], backend = cpu()): Tensor {
  return ops.tensor(Float32Array.from(values), shape, { backend });
}

export function int32(values: ArrayLike<number>, shape: readonly number[], backend = cpu()): Tensor {
  return ops.tensor(Int32Array.from(values), shape, { backend });
}

/** Deterministic pseudo-random values in [-scale, scale) (a small LCG; no Rng needed for bulk data). */
export function noise(size: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(size);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = ((state / 2 ** 32) * 2 - 1) * scale;
  }
  return out;
}
