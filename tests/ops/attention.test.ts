/** Scaled dot-product attention against a naive per-query loop: MHA/GQA/MQA, masks, soft-cap, offsets. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ops from '../../src/ops/index.js';
import { Rng } from '../../src/tensor/random.js';
import { assertClose, gradcheck } from '../helpers/gradcheck.js';
import { f64, flatIndex, normals, values } from '../helpers/tensors.js';

interface Config {
  batch: number;
  heads: number;
  kvHeads: number;
  queries: number;
  keys: number;
  dk: number;
  dv: number;
  options: ops.AttentionOptions;
}

/**
 * For each query i of head h (KV head ⌊h / (H/G)⌋) at key position i + S − T: the softmax over visible
 * keys of cap·tanh(scale·q·k / cap), applied to v.
 */
function naiveAttention(q: number[], k: number[], v: number[], c: Config): number[] {
  const { batch, heads, kvHeads, queries, keys, dk, dv, options } = c;
  const scale = options.scale ?? 1 / Math.sqrt(dk);
  const causal = options.causal ?? true;
  const window = options.window ?? null;
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const g = Math.floor(h / (heads / kvHeads));
      for (let i = 0; i < queries; i++) {
        const pos = i + keys - queries;
        const scores: number[] = [];
        for (let j = 0; j < keys; j++) {
          let s = 0;
          for (let d = 0; d < dk; d++) {
            s +=
              q[flatIndex([b, h, i, d], [batch, heads, queries, dk])]! *
              k[flatIndex([b, g, j, d], [batch, kvHeads, keys, dk])]!;
          }
          s *= scale;
          if (options.softcap) s = options.softcap * Math.tanh(s / options.softcap);
          const visible = (!causal || j <= pos) && (window === null || pos - j < window);
          scores.push(visible ? s : Number.NEGATIVE_INFINITY);
        }
        const max = Math.max(...scores);
        const weights = scores.map((s) => Math.exp(s - max));
        const total = weights.reduce((a, w) => a + w, 0);
        for (let d = 0; d < dv; d++) {
          let o = 0;
          for (let j = 0; j < keys; j++)
            o += (weights[j]! / total) * v[flatIndex([b, g, j, d], [batch, kvHeads, keys, dv])]!;
          out.push(o);
        }
      }
    }
  }
  return out;
}

function inputs(c: Config, seed: number) {
  const rng = new Rng(seed);
  const q = normals(rng, c.batch * c.heads * c.queries * c.dk);
  const k = normals(rng, c.batch * c.kvHeads * c.keys * c.dk);
  const v = normals(rng, c.batch * c.kvHeads * c.keys * c.dv);
  const tensors = [
    f64(q, [c.batch, c.heads, c.queries, c.dk]),
    f64(k, [c.batch, c.kvHeads, c.keys, c.dk]),
    f64(v, [c.batch, c.kvHeads, c.keys, c.dv]),
  ] as const;
  return { q, k, v, tensors };
}

const configs: [string, Config][] = [
  ['MHA causal', { batch: 2, heads: 2, kvHeads: 2, queries: 4, keys: 4, dk: 3, dv: 3, options: {} }],
  [
    'MHA non-causal',
    { batch: 1, heads: 2, kvHeads: 2, queries: 3, keys: 5, dk: 4, dv: 2, options: { causal: false } },
  ],
  [
    'GQA 4 heads / 2 KV heads causal',
    { batch: 1, heads: 4, kvHeads: 2, queries: 3, keys: 3, dk: 4, dv: 4, options: {} },
  ],
  [
    'MQA 3 heads / 1 KV head causal',
    { batch: 2, heads: 3, kvHeads: 1, queries: 3, keys: 3, dk: 2, dv: 3, options: {} },
  ],
  [
    'GQA sliding window 2',
    { batch: 1, heads: 4, kvHeads: 2, queries: 5, keys: 5, dk: 3, dv: 3, options: { window: 2 } },
  ],
  [
    'GQA queries offset into longer keys (KV cache), window 3',
    { batch: 1, heads: 4, kvHeads: 2, queries: 2, keys: 6, dk: 3, dv: 2, options: { window: 3 } },
  ],
  [
    'MQA offset queries with soft-cap 2 and custom scale',
    {
      batch: 2,
      heads: 2,
      kvHeads: 1,
      queries: 3,
      keys: 5,
      dk: 4,
      dv: 3,
      options: { softcap: 2, scale: 0.9 },
    },
  ],
  [
    'single decode query with soft-cap and window',
    { batch: 1, heads: 2, kvHeads: 1, queries: 1, keys: 6, dk: 4, dv: 4, options: { softcap: 3, window: 4 } },
  ],
];

describe('attention', () => {
  for (const [label, c] of configs) {
    test(`${label}: forward matches the naive loop`, () => {
      const { q, k, v, tensors } = inputs(c, c.heads * 7 + c.keys);
      const y = ops.attention(...tensors, c.options);
      assert.deepEqual(y.shape, [c.batch, c.heads, c.queries, c.dv]);
      assertClose(values(y), naiveAttention(q, k, v, c), { atol: 1e-13, rtol: 1e-12, shape: y.shape });
    });
  }

  for (const [label, c] of configs.filter(([, c]) => c.heads !== c.kvHeads || c.options.softcap)) {
    test(`${label}: gradients of q, k and v`, () => {
      const { tensors } = inputs(c, c.heads * 7 + c.keys);
      gradcheck((q, k, v) => ops.attention(q, k, v, c.options), [...tensors]);
    });
  }

  test('a window as long as the sequence changes nothing; a window of 1 attends only to itself', () => {
    const c: Config = { batch: 1, heads: 2, kvHeads: 1, queries: 4, keys: 4, dk: 3, dv: 3, options: {} };
    const { v, tensors } = inputs(c, 3);
    assertClose(values(ops.attention(...tensors, { window: 4 })), values(ops.attention(...tensors)), {
      atol: 0,
    });
    const own = values(ops.attention(...tensors, { window: 1 }));
    // Each query returns its own position's value row.
    assertClose(own, [...v, ...v], { atol: 1e-15 });
  });

  test('decoding the last query alone equals the last row of the full computation', () => {
    const c: Config = {
      batch: 1,
      heads: 4,
      kvHeads: 2,
      queries: 5,
      keys: 5,
      dk: 3,
      dv: 3,
      options: { window: 3 },
    };
    const { tensors } = inputs(c, 4);
    const [q, k, v] = tensors;
    const full = ops.attention(q, k, v, c.options);
    const last = ops.attention(ops.slice(q, 2, 4, 5), k, v, c.options);
    assertClose(values(last), values(ops.slice(full, 2, 4, 5)), { atol: 1e-15 });
  });

  test('GQA equals MHA with each KV head repeated for its query heads', () => {
    const c: Config = { batch: 1, heads: 6, kvHeads: 2, queries: 3, keys: 3, dk: 2, dv: 2, options: {} };
    const { tensors } = inputs(c, 5);
    const [q, k, v] = tensors;
    // [B, G, S, D] -> [B, G, rep, S, D] -> [B, H, S, D]: head h uses KV head ⌊h / 3⌋.
    const repeat = (t: typeof k) =>
      ops.reshape(ops.broadcastTo(ops.reshape(t, [1, 2, 1, 3, 2]), [1, 2, 3, 3, 2]), [1, 6, 3, 2]);
    assertClose(values(ops.attention(q, k, v)), values(ops.attention(q, repeat(k), repeat(v))), {
      atol: 1e-15,
    });
  });

  test('attentionMask: queries sit at the end of the keys; window counts the query itself', () => {
    const like = f64([0]);
    const I = Number.NEGATIVE_INFINITY;
    // 2 queries at key positions 2 and 3 of 4; window 2 sees positions (pos − 2, pos].
    assert.deepEqual(values(ops.attentionMask(2, 4, true, 2, like)), [I, 0, 0, I, I, I, 0, 0]);
    assert.deepEqual(values(ops.attentionMask(2, 4, true, null, like)), [0, 0, 0, I, 0, 0, 0, 0]);
    assert.deepEqual(values(ops.attentionMask(2, 2, false, null, like)), [0, 0, 0, 0]);
    assert.equal(ops.attentionMask(1, 1, true, null, like).dtype, 'float64');
    assert.equal(ops.attentionMask(1, 1, true, null, ops.tensor([0])).dtype, 'float32');
  });

  test('shape errors', () => {
    const c: Config = { batch: 1, heads: 3, kvHeads: 2, queries: 2, keys: 2, dk: 2, dv: 2, options: {} };
    const { tensors } = inputs(c, 6);
    const [q, k, v] = tensors;
    assert.throws(() => ops.attention(q, k, v), /3 query heads are not a multiple of 2 KV heads/);
    const q4 = f64(normals(new Rng(1), 8), [1, 2, 2, 2]);
    assert.throws(
      () => ops.attention(q4, ops.slice(k, 3, 0, 1), v),
      /attention shapes do not fit: q \[1, 2, 2, 2\], k \[1, 2, 2, 1\], v \[1, 2, 2, 2\]/,
    );
    assert.throws(() => ops.attention(q4, k, ops.slice(v, 2, 0, 1)), /attention shapes do not fit/);
    assert.throws(() => ops.attention(ops.reshape(q4, [2, 2, 2]), k, v), /attention shapes do not fit/);
  });
});

test('attention masks: skipped when they hide nothing, cached per shape otherwise', () => {
  assert.equal(ops.masksAnything(1, 9, true, null), false, 'one causal query sees every key');
  assert.equal(ops.masksAnything(1, 9, true, 9), false, 'a window as long as the keys hides nothing');
  assert.equal(ops.masksAnything(1, 9, true, 8), true);
  assert.equal(ops.masksAnything(2, 9, true, null), true);
  assert.equal(ops.masksAnything(3, 3, false, null), false);
  const like = ops.zeros([1]);
  const mask = ops.attentionMask(3, 5, true, 2, like);
  assert.equal(ops.attentionMask(3, 5, true, 2, like), mask, 'the same shape reuses the cached mask');
  assert.notEqual(ops.attentionMask(3, 5, true, null, like), mask);
  // Query q sits at key position q + 2 and sees keys j with q < j ≤ q + 2 (window 2).
  const expected = Array.from({ length: 15 }, (_, i) => {
    const [q, j] = [Math.floor(i / 5), i % 5];
    return j > q && j <= q + 2 ? 0 : -Infinity;
  });
  assert.deepEqual(Array.from(mask.dataSync()), expected);
});
