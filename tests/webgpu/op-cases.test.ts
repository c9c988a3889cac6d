/**
 * The shared op-case table (tests/helpers/op-cases.ts) on webgpu against the cpu oracle: forward and the
 * gradients of a random projection, float32 on both sides. Tolerances per op family (|diff| ≤ atol +
 * rtol·|cpu|): elementwise and data movement 1e-5 relative; matmul (K ≤ 512), reductions, norms,
 * softmax, cross-entropy and attention 1e-4, since their sums run in another order than the cpu's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasKernel } from '../../src/backend/backend.js';
import { coreKernelNames } from '../../src/backend/cpu/index.js';
import { checkForwardAgainstCpu, type OpCase, opCases } from '../helpers/op-cases.js';
import { requireWebGPU } from './setup.js';

const families: [string, RegExp, { atol: number; rtol: number }][] = [
  ['unary', /^unary /, { atol: 1e-6, rtol: 1e-5 }],
  ['binary and affine', /^(add|sub|mul|div|affine|softcap)\b/, { atol: 1e-6, rtol: 1e-5 }],
  ['layout', /^(reshape|permute|transpose|slice|concat|split)\b/, { atol: 0, rtol: 0 }],
  ['matmul and linear', /^(matmul|linear)\b/, { atol: 1e-5, rtol: 1e-4 }],
  ['reductions', /^(sum|sumSquares|mean|sumTo|broadcastTo)\b/, { atol: 1e-5, rtol: 1e-4 }],
  [
    'softmax, argmax, cross-entropy, embedding',
    /^(softmax|argmax|crossEntropy|embedding)\b/,
    { atol: 1e-5, rtol: 1e-4 },
  ],
  ['norms and rope', /^(rmsNorm|layerNorm|rope)\b/, { atol: 1e-5, rtol: 1e-4 }],
  ['attention', /^attention\b/, { atol: 1e-5, rtol: 1e-4 }],
  ['adamw', /^adamw\b/, { atol: 1e-6, rtol: 1e-5 }],
  ['in-place writes', /^writeSlice\b/, { atol: 0, rtol: 0 }],
  ['expert routing', /^routeTopK\b/, { atol: 0, rtol: 0 }],
  ['dropout', /^dropout\b/, { atol: 0, rtol: 0 }],
];

const backend = await requireWebGPU();

if (backend) {
  describe(`webgpu op cases against cpu (${backend.adapterInfo.description || backend.adapterInfo.device})`, () => {
    test('every kernel of the backend contract is registered', () => {
      const missing = coreKernelNames.filter((op) => !hasKernel('webgpu', op));
      assert.deepEqual(missing, []);
      assert.equal(backend.supportsDType('float64'), false);
      assert.equal(backend.supportsDType('float32') && backend.supportsDType('int32'), true);
    });

    test('every op case belongs to a family with a stated tolerance', () => {
      const orphans = opCases.filter((c) => !families.some(([, pattern]) => pattern.test(c.name)));
      assert.deepEqual(
        orphans.map((c) => c.name),
        [],
      );
    });

    for (const [family, pattern, tolerance] of families) {
      const cases: OpCase[] = opCases.filter((c) => pattern.test(c.name));
      test(`${family} (${cases.length} cases, atol ${tolerance.atol}, rtol ${tolerance.rtol})`, async () => {
        assert.ok(cases.length > 0, `no op case matches ${pattern}`);
        const checked = await checkForwardAgainstCpu('webgpu', cases, tolerance);
        assert.equal(checked.length, cases.length);
      });
    }
  });
}
