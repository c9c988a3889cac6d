/** StreamDecoder: token-by-token text equals decoding all ids at once, without partial characters. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { StreamDecoder } from '../../src/tokenizer/index.js';
import { loadGzTokenizer, REAL_TOKENIZERS, readReference } from './fixtures.js';

const reference = readReference();

for (const name of REAL_TOKENIZERS) {
  describe(`${name} streaming decode`, () => {
    const tokenizer = loadGzTokenizer(name);

    test('chunks concatenate to decode(ids) and never hold a half character', () => {
      let multiTokenCharacters = 0;
      for (const row of reference.tokenizers[name]!.encodings) {
        for (const skipSpecialTokens of [false, true]) {
          const stream = new StreamDecoder(tokenizer, { skipSpecialTokens });
          const chunks = row.ids.map((id) => stream.push(id));
          chunks.push(stream.flush());
          const label = JSON.stringify(row.text.slice(0, 40));
          assert.equal(chunks.join(''), tokenizer.decode(row.ids, { skipSpecialTokens }), label);
          for (const chunk of chunks)
            assert.ok(!chunk.includes('\uFFFD'), `${label}: ${JSON.stringify(chunks)}`);
          multiTokenCharacters += chunks.filter((c) => c === '').length;
        }
      }
      // The text set has emoji and CJK split over several byte-level tokens: some pushes must wait.
      if (name !== 'gemma3') assert.ok(multiTokenCharacters > 0);
    });

    test('an unfinished character is flushed as U+FFFD, like decode', () => {
      const ids = tokenizer.encode('🎉', { addSpecialTokens: false });
      const stream = new StreamDecoder(tokenizer);
      const first = stream.push(...ids.slice(0, -1));
      if (ids.length > 1) assert.equal(first, '');
      const rest = stream.flush();
      assert.equal(first + rest, tokenizer.decode(ids.slice(0, -1)));
    });
  });
}
