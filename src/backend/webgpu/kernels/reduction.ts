/**
 * WGSL building blocks for one-workgroup-per-row kernels: a 256-thread workgroup tree reduction (sum or
 * max) through workgroup memory, and the row-loop shape of softmax, norms and cross-entropy.
 */

export const rowThreads = 256;

/** `reduceSum(v, lid)` and `reduceMax(v, lid)`: every thread gets the workgroup's result. */
export const workgroupReduce = /* wgsl */ `
var<workgroup> red: array<f32, ${rowThreads}>;
fn reduceSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${rowThreads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduceMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${rowThreads / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
`;

/** Entry point of a row kernel: `row` is this workgroup's row, `lid` its thread. */
export const rowEntry = `@compute @workgroup_size(${rowThreads})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = linearGroup(wid, nwg);
  if (row >= pu(0)) { return; }`;
