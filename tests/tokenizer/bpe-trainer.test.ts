/**
 * Our byte-level BPE trainer: its tokenizer.json gives the ids Python `tokenizers`/`transformers` give
 * (reference.json), its incremental pair counts agree with recounting from scratch, and it is
 * deterministic.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  BYTE_TO_UNICODE,
  bpeTokenizerFiles,
  countWords,
  fromByteLevel,
  Tokenizer,
  toByteLevel,
  trainBpe,
} from '../../src/tokenizer/index.js';
import { brownTexts, FIXTURES, readReference } from './fixtures.js';

const fixtureDir = join(FIXTURES, 'trained-bpe');
const readFixture = (file: string) => JSON.parse(readFileSync(join(fixtureDir, file), 'utf8'));
// The settings tools/fixtures/train-bpe-fixture.ts used for the committed fixture.
const FIXTURE_SPECIALS = ['<|endoftext|>', '<|pad|>'];
const FIXTURE_VOCAB = 2048;

/** Textbook BPE: recount every pair before each merge; same tie-break (count, then smallest ids). */
function naiveMerges(texts: string[], vocabSize: number, specials: string[]): Array<[string, string]> {
  const tokens = [...specials, ...BYTE_TO_UNICODE];
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const utf8 = new TextEncoder();
  const words = [...countWords(texts, specials)].map(([w, n]) => ({
    symbols: Array.from(utf8.encode(w), (b) => specials.length + b),
    n,
  }));
  const merges: Array<[string, string]> = [];
  while (tokens.length < vocabSize) {
    const counts = new Map<string, number>();
    for (const { symbols, n } of words) {
      for (let i = 0; i + 1 < symbols.length; i++) {
        const key = `${symbols[i]},${symbols[i + 1]}`;
        counts.set(key, (counts.get(key) ?? 0) + n);
      }
    }
    let best: [number, number] | null = null;
    let bestCount = 0;
    for (const [key, count] of counts) {
      const [a, b] = key.split(',').map(Number) as [number, number];
      if (
        count > bestCount ||
        (count === bestCount && best && (a < best[0] || (a === best[0] && b < best[1])))
      ) {
        best = [a, b];
        bestCount = count;
      }
    }
    if (!best || bestCount < 2) break;
    const [a, b] = best;
    const text = tokens[a]! + tokens[b]!;
    let merged = ids.get(text);
    if (merged === undefined) {
      merged = tokens.length;
      tokens.push(text);
      ids.set(text, merged);
    }
    merges.push([tokens[a]!, tokens[b]!]);
    for (const word of words) {
      const next: number[] = [];
      for (let i = 0; i < word.symbols.length; i++) {
        if (word.symbols[i] === a && word.symbols[i + 1] === b) {
          next.push(merged);
          i++;
        } else next.push(word.symbols[i]!);
      }
      word.symbols = next;
    }
  }
  return merges;
}

describe('trained byte-level BPE matches Python tokenizers', () => {
  const reference = readReference();
  const expected = reference.tokenizers['trained-bpe']!;
  const tokenizer = Tokenizer.fromJSON({
    tokenizerJson: readFixture('tokenizer.json'),
    tokenizerConfig: readFixture('tokenizer_config.json'),
  });

  test('special-token ids and vocabulary size', () => {
    assert.equal(tokenizer.vocabSize, expected.info.len);
    assert.equal(tokenizer.vocabSize, FIXTURE_VOCAB);
    assert.equal(tokenizer.bosTokenId, expected.info.bosTokenId);
    assert.deepEqual(tokenizer.eosTokenIds, [expected.info.eosTokenId]);
    assert.equal(tokenizer.padTokenId, expected.info.padTokenId);
  });

  test('ids with and without special tokens equal transformers and tokenizers ids', () => {
    assert.equal(expected.encodings.length, reference.texts.length);
    for (const row of expected.encodings) {
      const label = JSON.stringify(row.text.slice(0, 60));
      assert.deepEqual(row.rawIds, row.ids, `Python tokenizers and transformers disagree on ${label}`);
      assert.deepEqual(tokenizer.encode(row.text), row.ids, label);
      assert.deepEqual(tokenizer.encode(row.text, { addSpecialTokens: false }), row.idsNoSpecial, label);
      assert.equal(tokenizer.decode(row.ids), row.decoded, label);
      assert.equal(tokenizer.decode(row.ids, { skipSpecialTokens: true }), row.decodedSkipSpecial, label);
    }
  });

  test('byte-level coverage: any text round-trips, special tokens stay whole', () => {
    for (const text of [...reference.texts, '\u0000\u0001\u007f', 'ÿ\uFFFD𝔘𝔫𝔦']) {
      assert.equal(tokenizer.decode(tokenizer.encode(text)), text);
    }
    assert.deepEqual(tokenizer.encode('<|endoftext|>'), [0]);
    assert.deepEqual(tokenizer.encode('a<|pad|>'), [tokenizer.tokenToId('a'), 1]);
  });
});

describe('BPE trainer', () => {
  test('retraining with the fixture settings reproduces the committed tokenizer.json', () => {
    const trained = trainBpe(brownTexts(60), { vocabSize: FIXTURE_VOCAB, specialTokens: FIXTURE_SPECIALS });
    const committed = readFixture('tokenizer.json');
    const files = bpeTokenizerFiles(trained, { padToken: '<|pad|>' });
    assert.deepEqual(JSON.parse(JSON.stringify(files.tokenizerJson)), committed);
    assert.deepEqual(JSON.parse(JSON.stringify(files.tokenizerConfig)), readFixture('tokenizer_config.json'));
  });

  test('incremental pair counts give the same merges as recounting every step', () => {
    const texts = brownTexts(3);
    const fast = trainBpe(texts, { vocabSize: 700 });
    const slow = naiveMerges(texts, 700, ['<|endoftext|>']);
    assert.ok(slow.length > 400);
    assert.deepEqual(fast.merges, slow);
  });

  test('deterministic: same result twice and for any document order', () => {
    const texts = brownTexts(5);
    const a = trainBpe(texts, { vocabSize: 1000 });
    const b = trainBpe(texts, { vocabSize: 1000 });
    const reversed = trainBpe([...texts].reverse(), { vocabSize: 1000 });
    assert.deepEqual(a.merges, b.merges);
    assert.deepEqual([...a.vocab], [...b.vocab]);
    assert.deepEqual(a.merges, reversed.merges);
  });

  test('vocabulary layout: special tokens, then the 256 bytes, then merges', () => {
    const trained = trainBpe(['low lower lowest newer newest wider widest'.repeat(3)], {
      vocabSize: 300,
      specialTokens: ['<s>', '</s>'],
    });
    assert.equal(trained.vocab.get('<s>'), 0);
    assert.equal(trained.vocab.get('</s>'), 1);
    for (const [b, ch] of BYTE_TO_UNICODE.entries()) assert.equal(trained.vocab.get(ch), 2 + b);
    for (const [l, r] of trained.merges) assert.ok(trained.vocab.has(l + r));
    // minFrequency 2 ends training before vocabSize on a tiny corpus.
    assert.ok(trained.vocab.size < 300 && trained.vocab.size > 258);
    // 'we' occurs in lower, lowest, newer and newest: 12 times, more than any other pair.
    assert.deepEqual(trained.merges[0], ['w', 'e']);
  });

  test('ties go to the pair with the smallest ids', () => {
    // 'ab', 'Ġc' and 'cd' each occur 10 times; 'Ġ' (byte 0x20) has a smaller id than 'a' (0x61).
    const trained = trainBpe(['ab cd'.repeat(10)], { vocabSize: 400, specialTokens: [] });
    assert.deepEqual(trained.merges.slice(0, 3), [
      ['Ġ', 'c'],
      ['a', 'b'],
      ['Ġc', 'd'],
    ]);
  });

  test('special tokens in the corpus are never learned as merges', () => {
    const text = 'a<|endoftext|>b '.repeat(50);
    const trained = trainBpe([text], { vocabSize: 400 });
    for (const [l, r] of trained.merges) assert.ok(!(l + r).includes('|'), `merged ${l}+${r}`);
  });

  test('rejects bad options', () => {
    assert.throws(() => trainBpe(['x'], { vocabSize: 100 }), /vocabSize must be an integer ≥ 257/);
    assert.throws(() => trainBpe(['x'], { vocabSize: 300, specialTokens: ['a', 'a'] }), /duplicates/);
    const trained = trainBpe(['x'], { vocabSize: 300 });
    assert.throws(
      () => bpeTokenizerFiles(trained, { eosToken: '<eos>' }),
      /not one of the trained special tokens/,
    );
  });

  test('byte-level mapping is GPT-2 bytes_to_unicode', () => {
    assert.equal(BYTE_TO_UNICODE[0x20], 'Ġ');
    assert.equal(BYTE_TO_UNICODE[0x0a], 'Ċ');
    assert.equal(BYTE_TO_UNICODE[0x41], 'A');
    assert.equal(new Set(BYTE_TO_UNICODE).size, 256);
    assert.equal(toByteLevel(' héllo'), 'ĠhÃ©llo');
    assert.equal(fromByteLevel(toByteLevel('日本 🎉')), '日本 🎉');
  });
});
