/**
 * The cpu flashAttention kernels against the composite attention path (matmul, scale, soft-cap, mask,
 * softmax, matmul) in float64: outputs and the gradients of a random projection, for every attention op
 * case. Finite differences of the fused path are checked with the other op cases (op-cases.test.ts).
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
import * as ops from '../../src/ops/index.js';
import type { FloatArray } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose } from '../helpers/assert-close.js';
import {
  type CaseResult,
  checkForwardAgainstCpu,
  evaluateCase,
  type OpCase,
  opCases,
} from '../helpers/op-cases.js';

const cpu = findBackend('cpu')!;
const attentionCases = opCases.filter((c) => /^attention\b/.test(c.name));

/** Runs a case with SLM_ATTENTION set (the op reads it at call time). */
async function withImplementation(value: string, opCase: OpCase): Promise<CaseResult> {
  const previous = process.env.SLM_ATTENTION;
  process.env.SLM_ATTENTION = value;
  try {
    return await evaluateCase(opCase, cpu, 'float64');
  } finally {
    if (previous === undefined) delete process.env.SLM_ATTENTION;
    else process.env.SLM_ATTENTION = previous;
  }
}

describe('fused attention equals the composite path (cpu, float64)', () => {
  test('there are attention cases with T<S, windows, soft-cap, GQA and D≠Dv', () => {
    assert.ok(attentionCases.length >= 8, `only ${attentionCases.length} attention cases`);
  });

  for (const opCase of attentionCases) {
    test(opCase.name, async () => {
      const fused = await withImplementation('fused', opCase);
      const composite = await withImplementation('composite', opCase);
      assert.deepEqual(fused.shape, composite.shape);
      const tol = { atol: 1e-12, rtol: 1e-10 };
      assertClose(fused.output, composite.output, { ...tol, shape: composite.shape, message: 'forward' });
      composite.grads.forEach((g, i) => {
        assert.ok(g, `input ${i} has a gradient`);
        assertClose(fused.grads[i]!, g, { ...tol, message: `gradient of input ${i}` });
      });
    });
  }
});

describe('choosing the attention implementation', () => {
  const rng = new Rng(7);
  const values = (n: number) => Float64Array.from({ length: n }, () => rng.normal());
  const q = ops.tensor(values(2 * 3 * 4), [1, 2, 3, 4], { dtype: 'float64' });
  const k = ops.tensor(values(2 * 5 * 4), [1, 2, 5, 4], { dtype: 'float64' });
  const v = ops.tensor(values(2 * 5 * 4), [1, 2, 5, 4], { dtype: 'float64' });

  test('the fused path records one attention node; the composite path a chain of ops', () => {
    const leaves = [q, k, v].map((t) => {
      const leaf = ops.tensor(t.dataSync(), t.shape, { dtype: 'float64' });
      leaf.requiresGrad = true;
      return leaf;
    });
    const fused = ops.attention(leaves[0]!, leaves[1]!, leaves[2]!, { implementation: 'fused' });
    const composite = ops.attention(leaves[0]!, leaves[1]!, leaves[2]!, { implementation: 'composite' });
    assert.equal(fused.gradFn?.op, 'attention');
    assert.equal(composite.gradFn?.op, 'reshape');
    assertClose(fused.dataSync(), composite.dataSync(), { atol: 1e-12, rtol: 1e-10 });
  });

  test('SLM_ATTENTION=composite forces the composite path; a bad value is an error', () => {
    const previous = process.env.SLM_ATTENTION;
    try {
      process.env.SLM_ATTENTION = 'composite';
      const leaf = ops.tensor(q.dataSync(), q.shape, { dtype: 'float64' });
      leaf.requiresGrad = true;
      assert.equal(ops.attention(leaf, k, v).gradFn?.op, 'reshape');
      process.env.SLM_ATTENTION = 'flash';
      assert.throws(
        () => ops.attention(q, k, v),
        /SLM_ATTENTION must be 'fused' or 'composite', got 'flash'/,
      );
    } finally {
      if (previous === undefined) delete process.env.SLM_ATTENTION;
      else process.env.SLM_ATTENTION = previous;
    }
  });
});

describe('the fused kernels are checked, not trusted', () => {
  /** A cpu-storage backend with the cpu kernels, whose flashAttentionBackward is off by `delta` in dk. */
  function backendWithBadBackward(name: string, delta: number): Backend {
    const backend: Backend = { ...cpuBackend, name };
    registerBackend(backend);
    for (const op of [...coreKernelNames, 'flashAttention']) registerKernel(name, op, getKernel('cpu', op));
    const bad: Kernel = (inputs, attrs, outputs) => {
      const results = getKernel('cpu', 'flashAttentionBackward')(inputs, attrs, outputs);
      const dk = results[1] as FloatArray;
      for (let i = 0; i < dk.length; i++) dk[i]! += delta;
      return results;
    };
    registerKernel(name, 'flashAttentionBackward', bad);
    return backend;
  }

  test('a wrong dk from flashAttentionBackward fails every attention case on gradient 1 only', async () => {
    backendWithBadBackward('cpu-bad-flash-backward', 1e-3);
    await assert.rejects(checkForwardAgainstCpu('cpu-bad-flash-backward', attentionCases), (error: Error) => {
      assert.match(
        error.message,
        new RegExp(`^${attentionCases.length} of ${attentionCases.length} op cases`),
      );
      assert.match(error.message, /attention MHA causal: gradient of input 1/);
      assert.doesNotMatch(error.message, /forward|gradient of input [02]/);
      return true;
    });
  });
});
