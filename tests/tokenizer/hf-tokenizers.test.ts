/**
 * Real tokenizers (Qwen3, Gemma 3, Llama 3) give the ids, decodes and special-token ids that Python
 * transformers gave for the same files (tests/fixtures/tokenizers/reference.json, made by
 * tools/fixtures/tokenizer_reference.py).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadGzTokenizer, REAL_TOKENIZERS, readReference } from './fixtures.js';

const reference = readReference();

for (const name of REAL_TOKENIZERS) {
  describe(`${name} tokenizer matches transformers ${reference.versions.transformers}`, () => {
    const tokenizer = loadGzTokenizer(name);
    const expected = reference.tokenizers[name]!;

    test('covers the whole text set', () => {
      assert.equal(expected.encodings.length, reference.texts.length);
      assert.ok(reference.texts.length >= 20);
    });

    test('special-token ids and vocabulary size', () => {
      assert.equal(tokenizer.vocabSize, expected.info.len);
      assert.equal(tokenizer.bosTokenId, expected.info.bosTokenId);
      assert.equal(tokenizer.eosTokenIds[0] ?? null, expected.info.eosTokenId);
      assert.equal(tokenizer.padTokenId, expected.info.padTokenId);
    });

    test('encode with special tokens', () => {
      for (const row of expected.encodings) {
        assert.deepEqual(
          tokenizer.encode(row.text),
          row.ids,
          `text ${JSON.stringify(row.text.slice(0, 60))}`,
        );
      }
    });

    test('encode without special tokens', () => {
      for (const row of expected.encodings) {
        assert.deepEqual(
          tokenizer.encode(row.text, { addSpecialTokens: false }),
          row.idsNoSpecial,
          `text ${JSON.stringify(row.text.slice(0, 60))}`,
        );
      }
    });

    test('decode, keeping and skipping special tokens', () => {
      for (const row of expected.encodings) {
        assert.equal(
          tokenizer.decode(row.ids),
          row.decoded,
          `ids of ${JSON.stringify(row.text.slice(0, 60))}`,
        );
        assert.equal(tokenizer.decode(row.ids, { skipSpecialTokens: true }), row.decodedSkipSpecial);
      }
    });

    test('decode(encode(text)) round-trips text without special-token strings', () => {
      for (const text of reference.texts) {
        const ids = tokenizer.encode(text, { addSpecialTokens: false });
        if (ids.some((id) => tokenizer.isSpecialId(id))) continue;
        // Qwen3 normalizes to NFC, so compare normalized forms there.
        const want = name === 'qwen3' ? text.normalize('NFC') : text;
        assert.equal(tokenizer.decode(ids), want);
      }
    });

    test('tokenToId and idToToken are inverse', () => {
      for (const id of expected.encodings[1]!.idsNoSpecial) {
        const token = tokenizer.idToToken(id);
        assert.equal(typeof token, 'string');
        assert.equal(tokenizer.tokenToId(token!), id);
      }
      assert.equal(tokenizer.tokenToId('definitely-not-a-token-§§§'), undefined);
    });

    test('decode rejects ids outside the vocabulary', () => {
      assert.throws(() => tokenizer.decode([tokenizer.vocabSize]), /outside the vocabulary/);
      assert.throws(() => tokenizer.decode([-1]), /outside the vocabulary/);
      assert.equal(tokenizer.decode([]), '');
    });
  });
}
