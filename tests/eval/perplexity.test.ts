/** Token- and word-level perplexity: a hand-computed uniform case and the sliding-window bookkeeping. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defineConfig } from '../../src/config/model-config.js';
import { countWords, perplexity, planWindows, slidingWindowNll } from '../../src/eval/perplexity.js';
import { Transformer } from '../../src/model/transformer.js';
import { zeros } from '../../src/ops/index.js';

const config = defineConfig({
  vocabSize: 257,
  hiddenSize: 16,
  numLayers: 1,
  numAttentionHeads: 2,
  intermediateSize: 16,
  maxPositionEmbeddings: 8,
});

/** Bytes shifted by one; id 0 is EOS. */
const byteTokenizer = {
  bosTokenId: null,
  eosTokenIds: [0],
  encode: (text: string) => Array.from(new TextEncoder().encode(text), (b) => b + 1),
};

test('a uniform model on a hand-made text: token ppl = V, word ppl = V^(tokens/words)', async () => {
  // All-zero weights give zero logits: every token costs ln 257 nats.
  const params = new Map(Transformer.init(config).specs.map((s) => [s.path, zeros(s.shape).keep()]));
  const model = new Transformer(config, params);
  const text = 'the cat sat\non  the mat'; // 23 bytes, 6 words
  const result = await perplexity(model, byteTokenizer, text, { contextLength: 8, stride: 3 });
  assert.equal(result.words, 6);
  assert.equal(result.tokens, 23, 'every byte is scored once (EOS is the start context)');
  assert.ok(Math.abs(result.nll - 23 * Math.log(257)) < 1e-3);
  assert.ok(Math.abs(result.tokenPerplexity - 257) < 1e-3);
  const expectedWord = 257 ** (23 / 6);
  assert.ok(
    Math.abs(result.wordPerplexity / expectedWord - 1) < 1e-5,
    `${result.wordPerplexity} vs ${expectedWord}`,
  );
  // 24 ids, windows [0,8) [3,11) … each adding 3 new targets after the first's 7: 1 + ceil(16/3) = 7.
  assert.equal(result.windows, 7);
});

test('sliding windows count each token once and agree with one window when the context covers the text', async () => {
  const model = Transformer.init({ ...config, maxPositionEmbeddings: 32 }, { seed: 5 });
  const ids = Array.from({ length: 20 }, (_, i) => (i * 37) % 257);
  const whole = await slidingWindowNll(model, ids, 32, 32);
  assert.equal(whole.windows, 1);
  assert.equal(whole.tokens, 19);
  // Context 8, stride 1: after the first window, each window scores one token given the 7 before it.
  const stepwise = await slidingWindowNll(model, ids, 8, 1);
  assert.equal(stepwise.tokens, 19);
  assert.equal(stepwise.windows, 13);
  let expected = 0;
  for (let j = 1; j < ids.length; j++) {
    const history = ids.slice(Math.max(0, j - 7), j);
    const logits = model.forward([history]).dataSync() as Float32Array; // [1, len, 257]
    const row = logits.subarray((history.length - 1) * 257, history.length * 257);
    const max = Math.max(...row);
    const logSum = Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) + max;
    expected += logSum - row[ids[j]!]!;
  }
  assert.ok(Math.abs(stepwise.nll - expected) < 1e-3, `${stepwise.nll} vs ${expected}`);
  // A short context loses history, so the NLL changes, but the token count does not.
  const short = await slidingWindowNll(model, ids, 4, 2);
  assert.equal(short.tokens, 19);
  assert.notEqual(short.nll, whole.nll);
});

test('windows cover every target once; batching windows does not change the NLL', async () => {
  for (const [n, context, stride] of [
    [50, 8, 3],
    [9, 8, 8],
    [100, 16, 16],
    [7, 4, 1],
  ] as const) {
    const counts = new Array<number>(n).fill(0);
    for (const w of planWindows(n, context, stride)) {
      assert.ok(w.end - w.begin <= context && w.scoredFrom > w.begin);
      for (let t = w.scoredFrom; t < w.end; t++) counts[t]!++;
    }
    assert.deepEqual(
      counts,
      [0, ...new Array(n - 1).fill(1)],
      `n ${n}, context ${context}, stride ${stride}`,
    );
  }
  const model = Transformer.init({ ...config, maxPositionEmbeddings: 16 }, { seed: 6 });
  const ids = Array.from({ length: 61 }, (_, i) => (i * 53 + 7) % 257);
  const one = await slidingWindowNll(model, ids, 12, 5, 1);
  const batched = await slidingWindowNll(model, ids, 12, 5, 8);
  assert.equal(batched.windows, one.windows);
  assert.ok(Math.abs(batched.nll - one.nll) < 1e-3, `${batched.nll} vs ${one.nll}`);
});

test('word counting and errors', async () => {
  assert.equal(countWords('  a\tb\n\nc  '), 3);
  const model = Transformer.init(config);
  await assert.rejects(perplexity(model, byteTokenizer, '   '), /empty/);
  await assert.rejects(
    slidingWindowNll(model, [1, 2, 3], 4, 5),
    /stride must be an integer in \[1, context = 4\]/,
  );
});
