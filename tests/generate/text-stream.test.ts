/**
 * TextStream emits, token by token, exactly what decoding the whole generated sequence at every token
 * would (the definition of streamed text: the new part of the whole decoding, an incomplete trailing
 * character held back, the text cut where the first listed stop string begins) while decoding only a
 * short window per token. Checked on real tokenizers (byte-level BPE, SentencePiece-style) over corpus
 * text, multi-byte characters and random ids.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { defaultModelDir } from '../../src/cli/model-arg.js';
import { type TextDecoder, type TextStep, TextStream } from '../../src/generate/text-stream.js';
import { Rng } from '../../src/tensor/random.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';
import { brownTexts, FIXTURES, loadGzTokenizer } from '../tokenizer/fixtures.js';

/** The whole decoding at every token: what the stream must equal. */
function wholeDecoding(tokenizer: TextDecoder, ids: readonly number[], stops: readonly string[]): TextStep[] {
  const steps: TextStep[] = [];
  let emitted = '';
  for (let n = 1; n <= ids.length; n++) {
    const full = tokenizer.decode(ids.slice(0, n), { skipSpecialTokens: true });
    if (full.endsWith('\uFFFD')) {
      steps.push({ text: '', stopped: false });
      continue;
    }
    const stop = stops.map((s) => full.indexOf(s)).find((at) => at >= 0);
    if (stop !== undefined) {
      steps.push({ text: full.slice(emitted.length, Math.max(stop, emitted.length)), stopped: true });
      break;
    }
    steps.push({ text: full.slice(emitted.length), stopped: false });
    emitted = full;
  }
  return steps;
}

function streamed(tokenizer: TextDecoder, ids: readonly number[], stops: readonly string[]): TextStep[] {
  const stream = new TextStream(tokenizer, stops);
  const steps: TextStep[] = [];
  for (const id of ids) {
    steps.push(stream.push(id));
    if (steps.at(-1)!.stopped) break;
  }
  return steps;
}

const tokenizers: Record<string, () => Tokenizer> = {
  bundled: () =>
    Tokenizer.fromJSON({
      tokenizerJson: JSON.parse(readFileSync(`${defaultModelDir}/tokenizer.json`, 'utf8')),
      tokenizerConfig: JSON.parse(readFileSync(`${defaultModelDir}/tokenizer_config.json`, 'utf8')),
    }),
  llama3: () => loadGzTokenizer('llama3'),
  qwen3: () => loadGzTokenizer('qwen3'),
  gemma3: () => loadGzTokenizer('gemma3'),
  // Llama 2 / Mistral's decoder: as Gemma's, then the first leading space stripped, so a token decodes
  // differently at the start of a window than after its context.
  'sentencepiece with a leading-space strip': () => {
    const name = join(FIXTURES, 'gemma3');
    const json = JSON.parse(gunzipSync(readFileSync(join(name, 'tokenizer.json.gz'))).toString('utf8'));
    json.decoder.decoders.push({ type: 'Strip', content: ' ', start: 1, stop: 0 });
    const config = JSON.parse(
      gunzipSync(readFileSync(join(name, 'tokenizer_config.json.gz'))).toString('utf8'),
    );
    return Tokenizer.fromJSON({ tokenizerJson: json, tokenizerConfig: config });
  },
};

const texts = [
  brownTexts(1)[0]!.slice(0, 3000),
  'naïve café — 東京タワー 🙂🙃 👩‍👩‍👧 Ünïcödé\tand tabs,\n\nnew lines ,  spaced . punctuation !?',
  '   leading spaces, "quotes" and it\'s don\'t (brackets) [x] {y} 1,234.5 e=mc² ∑∫√',
];

for (const [name, load] of Object.entries(tokenizers))
  test(`TextStream equals the whole decoding at every token: ${name} tokenizer`, () => {
    const tokenizer = load();
    let decodedIds = 0;
    const counting: TextDecoder = {
      decode: (ids, options) => {
        decodedIds += ids.length;
        return tokenizer.decode(ids, options);
      },
    };
    const rng = new Rng(3);
    const vocab = tokenizer.vocabSize;
    const cases = [
      ...texts.map((t) => tokenizer.encode(t, { addSpecialTokens: false })),
      // Random ids: byte tokens that never complete a character, specials, anything.
      Array.from({ length: 300 }, () => Math.floor(rng.uniform() * vocab)),
    ];
    for (const [i, ids] of cases.entries()) {
      assert.deepEqual(streamed(tokenizer, ids, []), wholeDecoding(tokenizer, ids, []), `case ${i}`);
      for (const stops of [['\n\n'], ['ZZZ', ' the '], ['🙃']])
        assert.deepEqual(
          streamed(tokenizer, ids, stops),
          wholeDecoding(tokenizer, ids, stops),
          `case ${i}, stops ${JSON.stringify(stops)}`,
        );
    }
    // Constant work per token: the corpus text decodes a few ids a token, not the whole prefix.
    decodedIds = 0;
    const corpus = cases[0]!;
    streamed(counting, corpus, []);
    assert.ok(decodedIds < 12 * corpus.length, `${decodedIds} ids decoded for ${corpus.length} tokens`);
  });
