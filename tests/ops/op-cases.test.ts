/**
 * The shared op-case table on the cpu backend: every differentiable case against finite differences in
 * float64, and the cross-backend runner itself (it must pass cpu against cpu, catch a wrong forward or
 * gradient kernel and a missing kernel, and exercise every kernel of the backend contract).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Backend,
  findBackend,
  getKernel,
  type Kernel,
  registerBackend,
  registerKernel,
} from '../../src/backend/backend.js';
import { coreKernelNames, cpuBackend } from '../../src/backend/cpu/index.js';
import type { FloatArray } from '../../src/tensor/dtype.js';
import { assertClose } from '../helpers/assert-close.js';
import {
  checkForwardAgainstCpu,
  evaluateCase,
  gradcheckCase,
  isDifferentiable,
  opCases,
} from '../helpers/op-cases.js';

/** Registers a backend sharing cpu storage whose kernels are the cpu ones, except `overrides`. */
function cpuVariant(
  name: string,
  overrides: Record<string, Kernel | null>,
  onCall?: (op: string) => void,
): Backend {
  const backend: Backend = { ...cpuBackend, name };
  registerBackend(backend);
  for (const op of coreKernelNames) {
    if (overrides[op] === null) continue;
    const kernel = overrides[op] ?? getKernel('cpu', op);
    registerKernel(name, op, (inputs, attrs, outputs) => {
      onCall?.(op);
      return kernel(inputs, attrs, outputs);
    });
  }
  return backend;
}

/** Wraps a cpu kernel and adds `delta` to every element of its first output. */
function shifted(op: string, delta: number): Kernel {
  return (inputs, attrs, outputs) => {
    const results = getKernel('cpu', op)(inputs, attrs, outputs);
    const first = results[0] as FloatArray;
    for (let i = 0; i < first.length; i++) first[i]! += delta;
    return results;
  };
}

describe('op cases: gradients against finite differences (float64)', () => {
  for (const opCase of opCases.filter(isDifferentiable)) {
    test(opCase.name, () => gradcheckCase(opCase));
  }
});

describe('checkForwardAgainstCpu', () => {
  test('passes the cpu backend against itself and covers every kernel of the contract', async () => {
    const used = new Set<string>();
    cpuVariant('cpu-counting', {}, (op) => used.add(op));
    const checked = await checkForwardAgainstCpu('cpu-counting');
    assert.equal(checked.length, opCases.length);
    const unused = coreKernelNames.filter((op) => !used.has(op));
    assert.deepEqual(unused, [], `kernels no op case reaches: ${unused.join(', ')}`);
  });

  test('reports a wrong forward kernel by case name and worst element', async () => {
    cpuVariant('cpu-bad-softmax', { softmax: shifted('softmax', 1e-3) });
    await assert.rejects(checkForwardAgainstCpu('cpu-bad-softmax'), (error: Error) => {
      assert.match(error.message, /^\s+softmax: forward: 15 of 15 elements outside/m);
      // Attention uses softmax too; unrelated ops pass.
      assert.match(error.message, /attention MHA causal: forward/);
      assert.doesNotMatch(error.message, /unary exp|matmul 2d/);
      return true;
    });
  });

  test('reports a wrong gradient kernel while forwards agree', async () => {
    cpuVariant('cpu-bad-ce-grad', { crossEntropyBackward: shifted('crossEntropyBackward', 1e-2) });
    await assert.rejects(checkForwardAgainstCpu('cpu-bad-ce-grad'), (error: Error) => {
      assert.match(error.message, /crossEntropy mean: gradient of input 0/);
      assert.doesNotMatch(error.message, /forward/);
      return true;
    });
  });

  test('reports a missing kernel', async () => {
    cpuVariant('cpu-no-rope', { rope: null });
    await assert.rejects(
      checkForwardAgainstCpu('cpu-no-rope'),
      /4 of \d+ op cases differ[\s\S]*rope rotate-half: op 'rope' has no kernel on backend 'cpu-no-rope'/,
    );
  });

  test('rejects an unknown backend', async () => {
    await assert.rejects(
      checkForwardAgainstCpu('no-such-backend'),
      /backend 'no-such-backend' is not registered/,
    );
  });
});

describe('op cases: float32 against float64 on cpu', () => {
  const cpu = findBackend('cpu')!;
  for (const opCase of opCases) {
    test(opCase.name, async () => {
      const single = await evaluateCase(opCase, cpu, 'float32');
      const double = await evaluateCase(opCase, cpu, 'float64');
      const isInt = single.output instanceof Int32Array;
      assert.equal(isInt, double.output instanceof Int32Array);
      if (!isInt) assert.ok(single.output instanceof Float32Array, 'float32 inputs give a float32 output');
      assertClose(single.output, double.output, {
        atol: 1e-4,
        rtol: 1e-4,
        shape: double.shape,
        message: 'forward',
      });
      double.grads.forEach((g, i) => {
        if (g)
          assertClose(single.grads[i]!, g, { atol: 1e-4, rtol: 1e-4, message: `gradient of input ${i}` });
      });
    });
  }
});
