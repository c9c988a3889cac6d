/// <reference types="@webgpu/types" />
/** A recorded dispatch of the planned decode step, and the loop that replays a list of them. */

/** A buffer, or a range of one (the plan's arenas). */
export type BufferRange = GPUBuffer | GPUBufferBinding;

export interface PlannedDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  /** Group 1 (shared bindings: the layer's buffers, decode-plan-share.ts). */
  bindGroup1?: GPUBindGroup;
  /** Groups 2 and 3 (shared bindings: the activation arenas, one read-only and the other read_write). */
  bindGroup2?: GPUBindGroup;
  bindGroup3?: GPUBindGroup;
  groups: [number, number];
  /** Entries of its bind group (what Dawn tracks for it on the host at every replay). */
  bindings: number;
}

/**
 * Encodes a step's dispatches into `pass` (a pipeline or bind group is set only when it changes);
 * returns their count.
 */
export function encodeDispatches(
  pass: GPUComputePassEncoder,
  dispatches: readonly PlannedDispatch[],
): number {
  let current: GPUComputePipeline | null = null;
  let group0: GPUBindGroup | null = null;
  let group1: GPUBindGroup | null = null;
  let group2: GPUBindGroup | null = null;
  let group3: GPUBindGroup | null = null;
  for (const d of dispatches) {
    if (d.pipeline !== current) {
      current = d.pipeline;
      pass.setPipeline(current);
    }
    if (d.bindGroup !== group0) {
      group0 = d.bindGroup;
      pass.setBindGroup(0, group0);
    }
    if (d.bindGroup1 && d.bindGroup1 !== group1) {
      group1 = d.bindGroup1;
      pass.setBindGroup(1, group1);
    }
    if (d.bindGroup2 && d.bindGroup2 !== group2) {
      group2 = d.bindGroup2;
      pass.setBindGroup(2, group2);
    }
    if (d.bindGroup3 && d.bindGroup3 !== group3) {
      group3 = d.bindGroup3;
      pass.setBindGroup(3, group3);
    }
    // One argument fewer when the grid is 1-D: each argument costs a conversion in the binding.
    if (d.groups[1] === 1) pass.dispatchWorkgroups(d.groups[0]);
    else pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
  }
  return dispatches.length;
}
