/**
 * The WGSL flashAttention kernels at shapes that span several workgroups and key/query tiles (the op
 * cases in tests/helpers/op-cases.ts cover the small odd shapes): forward and gradients against the cpu
 * fused kernels and against the composite path on webgpu itself, float32.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { findBackend, hasKernel } from '../../src/backend/backend.js';
import { attentionLanes, setAttentionLanes } from '../../src/backend/webgpu/kernels/flash-attention.js';
import * as ops from '../../src/ops/index.js';
import type { Rng } from '../../src/tensor/random.js';
import { assertClose } from '../helpers/assert-close.js';
import {
  type CaseResult,
  checkForwardAgainstCpu,
  evaluateCase,
  normal,
  type OpCase,
} from '../helpers/op-cases.js';
import { requireWebGPU } from './setup.js';

interface Shape {
  batch: number;
  heads: number;
  groups: number;
  queries: number;
  keys: number;
  dk: number;
  dv: number;
}

function attentionCase(name: string, s: Shape, options: ops.AttentionOptions = {}): OpCase {
  return {
    name,
    inputs: (rng: Rng) => [
      normal(rng, [s.batch, s.heads, s.queries, s.dk]),
      normal(rng, [s.batch, s.groups, s.keys, s.dk]),
      normal(rng, [s.batch, s.groups, s.keys, s.dv]),
    ],
    run: ([q, k, v]) => ops.attention(q!, k!, v!, options),
  };
}

const cases: OpCase[] = [
  attentionCase('MHA causal D=64, T=S=150 (3 row tiles, 5 key tiles)', {
    batch: 1,
    heads: 2,
    groups: 2,
    queries: 150,
    keys: 150,
    dk: 64,
    dv: 64,
  }),
  attentionCase('GQA 3/1 causal T=50 S=90 (row tiles cross query heads), D=16', {
    batch: 2,
    heads: 3,
    groups: 1,
    queries: 50,
    keys: 90,
    dk: 16,
    dv: 16,
  }),
  attentionCase(
    'GQA 4/2 window 37 softcap 4 T=S=130, D=20 Dv=12',
    { batch: 1, heads: 4, groups: 2, queries: 130, keys: 130, dk: 20, dv: 12 },
    { window: 37, softcap: 4 },
  ),
  attentionCase(
    'MQA non-causal window 20 T=70 S=100, D=13 Dv=7',
    { batch: 1, heads: 2, groups: 1, queries: 70, keys: 100, dk: 13, dv: 7 },
    { causal: false, window: 20 },
  ),
  attentionCase('MLA shape D=192 Dv=128 causal T=S=40 (12-key tiles)', {
    batch: 1,
    heads: 2,
    groups: 2,
    queries: 40,
    keys: 40,
    dk: 192,
    dv: 128,
  }),
  attentionCase(
    'decode step T=1 S=200 GQA 8/2 window 64',
    { batch: 2, heads: 8, groups: 2, queries: 1, keys: 200, dk: 32, dv: 32 },
    { window: 64 },
  ),
];

async function evaluateWith(
  implementation: string,
  opCase: OpCase,
  backendName: string,
): Promise<CaseResult> {
  const previous = process.env.SLM_ATTENTION;
  process.env.SLM_ATTENTION = implementation;
  try {
    return await evaluateCase(opCase, findBackend(backendName)!);
  } finally {
    if (previous === undefined) delete process.env.SLM_ATTENTION;
    else process.env.SLM_ATTENTION = previous;
  }
}

const backend = await requireWebGPU();

if (backend) {
  describe('webgpu flashAttention', () => {
    test('the backend registers both fused kernels', () => {
      assert.ok(hasKernel('webgpu', 'flashAttention'));
      assert.ok(hasKernel('webgpu', 'flashAttentionBackward'));
    });

    test(`forward and gradients equal the cpu fused kernels (${cases.length} shapes, ${attentionLanes()} lanes per row)`, async () => {
      const checked = await checkForwardAgainstCpu('webgpu', cases, { atol: 2e-5, rtol: 2e-4 });
      assert.equal(checked.length, cases.length);
    });

    // Adapters without subgroups run one invocation per row.
    if (attentionLanes() !== 1) {
      test('the same with one lane per row (the layout without subgroups)', async () => {
        setAttentionLanes(1);
        try {
          const checked = await checkForwardAgainstCpu('webgpu', cases, { atol: 2e-5, rtol: 2e-4 });
          assert.equal(checked.length, cases.length);
        } finally {
          setAttentionLanes(null);
        }
      });
    }

    for (const opCase of cases) {
      test(`fused equals composite on webgpu: ${opCase.name}`, async () => {
        const fused = await evaluateWith('fused', opCase, 'webgpu');
        const composite = await evaluateWith('composite', opCase, 'webgpu');
        const tol = { atol: 2e-5, rtol: 2e-4 };
        assertClose(fused.output, composite.output, { ...tol, shape: composite.shape, message: 'forward' });
        composite.grads.forEach((g, i) => {
          assertClose(fused.grads[i]!, g!, { ...tol, message: `gradient of input ${i}` });
        });
      });
    }
  });
}
