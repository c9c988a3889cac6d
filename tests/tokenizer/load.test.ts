/** Loading a tokenizer from a model directory, and the errors for missing or broken files. */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  bpeTokenizerFiles,
  ChatTemplateError,
  loadTokenizer,
  saveTokenizerFiles,
  Tokenizer,
  TokenizerError,
  trainBpe,
} from '../../src/tokenizer/index.js';
import { FIXTURES } from './fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-tokenizer-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

function copyFixture(dir: string, files: string[]): void {
  for (const file of files) copyFileSync(join(FIXTURES, 'trained-bpe', file), join(dir, file));
}

describe('loadTokenizer', () => {
  test('loads a directory; generation_config.json and config.json eos ids join eosTokenIds', async () => {
    const dir = mkdtempSync(join(scratch, 'full-'));
    copyFixture(dir, ['tokenizer.json', 'tokenizer_config.json']);
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [1, 0] }));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ eos_token_id: 5 }));
    const tokenizer = await loadTokenizer(dir);
    assert.deepEqual(tokenizer.eosTokenIds, [0, 1, 5]);
    assert.equal(tokenizer.bosTokenId, 0);
    assert.equal(tokenizer.specialTokens.pad_token, '<|pad|>');
    assert.equal(tokenizer.decode(tokenizer.encode('Hello there.')), 'Hello there.');
  });

  test('chat_template.jinja overrides the config and is kept by files()', async () => {
    const dir = mkdtempSync(join(scratch, 'jinja-'));
    copyFixture(dir, ['tokenizer.json', 'tokenizer_config.json']);
    writeFileSync(
      join(dir, 'chat_template.jinja'),
      '{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}',
    );
    const tokenizer = await loadTokenizer(dir);
    assert.equal(tokenizer.renderChat([{ role: 'user', content: 'hi' }]), '[user]hi');
    const copy = Tokenizer.fromJSON(tokenizer.files());
    assert.equal(copy.renderChat([{ role: 'user', content: 'hi' }]), '[user]hi');
  });

  test('tokenizer_config.json is optional', async () => {
    const dir = mkdtempSync(join(scratch, 'bare-'));
    copyFixture(dir, ['tokenizer.json']);
    const tokenizer = await loadTokenizer(dir);
    assert.equal(tokenizer.bosTokenId, null);
    assert.deepEqual(tokenizer.eosTokenIds, []);
    assert.deepEqual(tokenizer.encode('<|endoftext|>'), [0]);
    assert.throws(() => tokenizer.renderChat([{ role: 'user', content: 'x' }]), ChatTemplateError);
  });

  test('a missing directory is named', async () => {
    const dir = join(scratch, 'does-not-exist');
    await assert.rejects(loadTokenizer(dir), (e: unknown) => {
      return e instanceof TokenizerError && e.message.includes(dir) && /does not exist/.test(e.message);
    });
  });

  test('a directory without tokenizer.json: names it and says what is expected', async () => {
    const dir = mkdtempSync(join(scratch, 'empty-'));
    await assert.rejects(loadTokenizer(dir), (e: unknown) => {
      return (
        e instanceof TokenizerError &&
        e.message.startsWith(`no tokenizer.json in ${dir}`) &&
        /expected/.test(e.message)
      );
    });
  });

  test('malformed JSON names the file', async () => {
    for (const file of ['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      const dir = mkdtempSync(join(scratch, 'bad-'));
      copyFixture(dir, ['tokenizer.json', 'tokenizer_config.json']);
      writeFileSync(join(dir, file), '{"model": {"type": "BPE", ');
      await assert.rejects(loadTokenizer(dir), (e: unknown) => {
        return e instanceof TokenizerError && e.message.startsWith(`${join(dir, file)}: malformed JSON`);
      });
    }
  });

  test('valid JSON that is not a tokenizer is rejected with the file named', async () => {
    const dir = mkdtempSync(join(scratch, 'wrong-'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0' }));
    await assert.rejects(loadTokenizer(dir), /tokenizer\.json: not a Hugging Face tokenizer/);
    assert.throws(() => Tokenizer.fromJSON({ tokenizerJson: [] }), TokenizerError);
  });

  test('saveTokenizerFiles writes files loadTokenizer reads back', async () => {
    const dir = join(scratch, 'saved');
    const trained = trainBpe(['one two three two three three '.repeat(20)], { vocabSize: 270 });
    await saveTokenizerFiles(dir, bpeTokenizerFiles(trained, { chatTemplate: '{{ messages[0].content }}!' }));
    const tokenizer = await loadTokenizer(dir);
    assert.equal(tokenizer.vocabSize, trained.vocab.size);
    assert.equal(tokenizer.renderChat([{ role: 'user', content: 'x' }]), 'x!');
    assert.deepEqual(tokenizer.encode(' three'), [trained.vocab.get('Ġthree')]);
  });
});
