/// <reference types="@webgpu/types" />
/** A recorded dispatch of the planned decode step, and the loop that replays a list of them. */

export interface PlannedDispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  groups: [number, number];
  /** Entries of its bind group (what Dawn tracks for it on the host at every replay). */
  bindings: number;
}

/** Encodes a step's dispatches into `pass` (a pipeline is set only when it changes); returns their count. */
export function encodeDispatches(
  pass: GPUComputePassEncoder,
  dispatches: readonly PlannedDispatch[],
): number {
  let current: GPUComputePipeline | null = null;
  for (const d of dispatches) {
    if (d.pipeline !== current) {
      current = d.pipeline;
      pass.setPipeline(current);
    }
    pass.setBindGroup(0, d.bindGroup);
    // One argument fewer when the grid is 1-D: each argument costs a conversion in the binding.
    if (d.groups[1] === 1) pass.dispatchWorkgroups(d.groups[0]);
    else pass.dispatchWorkgroups(d.groups[0], d.groups[1]);
  }
  return dispatches.length;
}
