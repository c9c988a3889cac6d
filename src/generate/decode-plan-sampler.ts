/// <reference types="@webgpu/types" />
/**
 * The planned step's GPU sampling (DecodePlan.setSampling): building the sampler over the plan's
 * buffers, the step with the sampler's dispatches in place of the final argmax, and the draw word.
 */
import { drawWord, GpuSampler } from '../backend/webgpu/decode/sample.js';
import type { WebGPUBackend } from '../backend/webgpu/index.js';
import type { PlannedDispatch, StepRecorder } from './decode-plan-record.js';

/** The GPU sampler over the plan's logits, token and step uniform (validation errors thrown). */
export async function planSampler(
  backend: WebGPUBackend,
  recorder: StepRecorder,
  vocab: number,
): Promise<GpuSampler> {
  const device = backend.runtime.device;
  device.pushErrorScope('validation');
  const sampler = new GpuSampler(
    device,
    (code) => backend.runtime.pipeline(code),
    vocab,
    { logits: recorder.logits, tokens: recorder.tokens, step: recorder.stepUniform },
    (bytes, usage) => recorder.buffer(bytes, usage),
  );
  const error = await device.popErrorScope();
  if (error) throw new Error(`building the GPU sampler failed: ${error.message}`);
  return sampler;
}

/** The step with the sampler's dispatches replacing the final argmax combine. */
export function sampledStep(base: readonly PlannedDispatch[], sampler: GpuSampler): PlannedDispatch[] {
  if (base[base.length - 1]?.label !== 'argmax') throw new Error('the plan does not end with its argmax');
  return [...base.slice(0, -1), ...sampler.dispatches];
}

/** The step uniform's word 2 for draw u: 0 unless the active options sample; then u must be in [0, 1). */
export function stepDraw(sampler: GpuSampler | null, u: number | undefined): number {
  if (!sampler?.options?.sample) return 0;
  if (u === undefined || !(u >= 0 && u < 1))
    throw new Error(`a sampled step needs its uniform draw u in [0, 1), got ${u}`);
  return drawWord(u);
}
