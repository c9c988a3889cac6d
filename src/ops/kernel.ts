/** How an op reaches its backend: the kernel registered under its name on the inputs' backend. */
import { type Backend, getBackend, getKernel, type OutputSpec } from '../backend/backend.js';
import { Tensor } from '../tensor/tensor.js';

export function runKernel<A>(
  op: string,
  inputs: readonly Tensor[],
  attrs: A,
  outputs: readonly OutputSpec[],
): Tensor[] {
  const backend: Backend = inputs[0]?.backend ?? getBackend();
  for (const t of inputs) {
    if (t.backend !== backend) {
      throw new Error(
        `op '${op}' got tensors on different backends ('${backend.name}' and '${t.backend.name}')`,
      );
    }
  }
  const storages = getKernel(backend.name, op)(
    inputs.map((t) => t.info()),
    attrs,
    outputs,
  );
  return storages.map((s, i) => new Tensor(s, outputs[i]!.shape, outputs[i]!.dtype, backend));
}

/** Throws unless every tensor is floating point of one dtype; returns it. */
export function floatDType(op: string, ...tensors: Tensor[]): Tensor['dtype'] {
  const dtype = tensors[0]!.dtype;
  for (const t of tensors) {
    if (t.dtype === 'int32') throw new Error(`op '${op}' needs floating-point tensors, got ${t.describe()}`);
    if (t.dtype !== dtype) throw new Error(`op '${op}' got mixed dtypes ${dtype} and ${t.dtype}`);
  }
  return dtype;
}
