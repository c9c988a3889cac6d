/**
 * Decoding with the KV cache gives the logits of a full forward at every step, for every attention kind,
 * also when several tokens continue a cached prefix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig, type ModelConfigInput } from '../../src/config/model-config.js';
import { Transformer } from '../../src/model/transformer.js';

import { scope } from '../../src/tensor/tensor.js';

const base: ModelConfigInput = {
  vocabSize: 37,
  hiddenSize: 24,
  numLayers: 2,
  numAttentionHeads: 6,
  numKeyValueHeads: 2,
  intermediateSize: 40,
  maxPositionEmbeddings: 64,
  initializerRange: 0.2,
};

const variants: Record<string, Partial<ModelConfigInput>> = {
  GQA: {},
  MQA: { numKeyValueHeads: 1 },
  'sliding window shorter than the sequence': { slidingWindow: 3, layerTypes: ['sliding', 'full'] },
  'shared blocks (one slot per repeat)': { layerSharing: { mode: 'immediate', repeats: 2 } },
  'learned positions': {
    positionEmbedding: 'learned',
    norm: { type: 'layernorm', bias: true },
    ffnType: 'standard',
  },
  'partial interleaved RoPE, softcaps': {
    rope: { partialRotaryFactor: 0.5, interleaved: true },
    attnLogitSoftcap: 2,
    finalLogitSoftcap: 3,
  },
  MLA: {
    numKeyValueHeads: 6,
    mla: { qLoraRank: 8, kvLoraRank: 10, qkNopeHeadDim: 4, qkRopeHeadDim: 4, vHeadDim: 5 },
  },
};

const sequence = [3, 17, 8, 30, 1, 22, 9, 14, 5, 36];

for (const [name, variant] of Object.entries(variants)) {
  test(`KV cache matches full forward: ${name}`, () => {
    const model = Transformer.init(defineConfig({ ...base, ...variant } as ModelConfigInput), { seed: 5 });
    const full = scope(() => model.forward([sequence]).dataSync());
    const vocab = model.config.vocabSize;
    const cache = model.newCache();
    // Prefill 4 tokens, continue with 3 more at once (a prompt whose start is cached), then one a step.
    let position = 0;
    const chunks = [sequence.slice(0, 4), sequence.slice(4, 7), ...sequence.slice(7).map((id) => [id])];
    let worst = 0;
    for (const chunk of chunks) {
      const logits = scope(() => model.forward([chunk], { cache }).dataSync());
      for (let t = 0; t < chunk.length; t++) {
        for (let v = 0; v < vocab; v++) {
          worst = Math.max(worst, Math.abs(logits[t * vocab + v]! - full[(position + t) * vocab + v]!));
        }
      }
      position += chunk.length;
    }
    assert.equal(cache.length, sequence.length);
    assert.ok(worst <= 1e-5, `max |cached − full| = ${worst}`);
    if (variant.slidingWindow) {
      // The sliding layer keeps a ring of `window` positions; the full layer the whole capacity.
      assert.equal(cache.slots[0]!.keys!.shape[2], variant.slidingWindow);
      assert.equal(cache.slots[1]!.keys!.shape[2], cache.capacity);
    }
    if (variant.mla) {
      // The MLA cache holds only the latent and the RoPE key per token per virtual layer.
      assert.equal(cache.floatsPerToken(), (10 + 4) * model.order.length);
    } else {
      assert.equal(cache.slots.length, model.order.length);
    }
    cache.dispose();
  });
}

test('the KV cache is preallocated to its capacity and refuses to overflow', () => {
  const model = Transformer.init(defineConfig(base), { seed: 1 });
  const cache = model.newCache(6);
  scope(() => model.forward([[1, 2, 3, 4]], { cache }));
  const keys = cache.slots[0]!.keys!;
  assert.deepEqual(keys.shape, [1, 2, 6, 4]);
  scope(() => model.forward([[5]], { cache }));
  assert.equal(cache.slots[0]!.keys, keys, 'the same buffer is written in place');
  assert.throws(() => scope(() => model.forward([[6, 7]], { cache })), /holds 6 positions; 7 are needed/);
  cache.dispose();
});

test('a prompt padded after its end: lastPosition gives its last token’s logits, and decoding continues as unpadded', () => {
  const model = Transformer.init(
    defineConfig({ ...base, rope: { scaling: { type: 'dynamic', factor: 2 } } }),
    {
      seed: 7,
    },
  );
  const prompt = sequence.slice(0, 6);
  const padded = [...prompt, 0, 0, 0, 0, 0];
  const want = model.newCache();
  const wantLogits = scope(() => model.forward([prompt], { cache: want, lastPositionOnly: true }).dataSync());
  const cache = model.newCache();
  const got = scope(() =>
    model
      .forward([padded], { cache, lastPositionOnly: true, lastPosition: prompt.length - 1, ropeLength: 6 })
      .dataSync(),
  );
  assert.deepEqual([...got], [...wantLogits]);
  // The cache holds the pads' entries past the prompt; set back, the next step overwrites the first.
  cache.length = prompt.length;
  const next = (c: typeof cache) => scope(() => model.forward([[sequence[6]!]], { cache: c }).dataSync());
  assert.deepEqual([...next(cache)], [...next(want)]);
  assert.throws(
    () => model.forward([padded], { lastPositionOnly: true, lastPosition: 11 }),
    /lastPosition 11 is outside the 11 tokens/,
  );
  want.dispose();
  cache.dispose();
});
