/** Corpora (files, folders, JSONL), the EOS-joined id stream, seeded batching, and the Brown split. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { brownDocuments, brownSplitFiles, stripBrownTags } from '../../src/train/brown.js';
import { Batcher, evalBatches, readDocuments, tokenizeDocuments } from '../../src/train/data.js';

const scratch = mkdtempSync(join(tmpdir(), 'slmkit-data-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** One id per character (its code), enough to check the stream layout. */
const charTokenizer = { encode: (text: string) => Array.from(text, (ch) => ch.charCodeAt(0)) };

test('documents from a file, a folder (recursive *.txt/*.md, sorted) and JSONL', () => {
  mkdirSync(join(scratch, 'docs/sub'), { recursive: true });
  writeFileSync(join(scratch, 'docs/b.txt'), 'bee');
  writeFileSync(join(scratch, 'docs/a.md'), 'ay');
  writeFileSync(join(scratch, 'docs/sub/c.txt'), 'sea');
  writeFileSync(join(scratch, 'docs/skip.json'), '{}');
  writeFileSync(join(scratch, 'one.txt'), 'solo');
  writeFileSync(join(scratch, 'set.jsonl'), '{"text": "x1"}\n\n{"text": "x2", "id": 3}\n');
  const docs = readDocuments([join(scratch, 'one.txt'), join(scratch, 'docs'), join(scratch, 'set.jsonl')]);
  assert.deepEqual(docs, ['solo', 'ay', 'bee', 'sea', 'x1', 'x2']);
  writeFileSync(join(scratch, 'bad.jsonl'), '{"text": "ok"}\n{"body": "no text"}\n');
  assert.throws(
    () => readDocuments([join(scratch, 'bad.jsonl')]),
    /bad\.jsonl:2: expected an object with a string "text"/,
  );
  assert.throws(() => readDocuments([join(scratch, 'missing')]), /'.*missing' does not exist/);
});

test('the id stream puts EOS after every document', () => {
  const ids = tokenizeDocuments(['ab', 'c'], charTokenizer, 0);
  assert.deepEqual(Array.from(ids), [97, 98, 0, 99, 0]);
});

test('batches are [B, T+1] windows shifted by one, each window once per epoch, order seeded', () => {
  const ids = Int32Array.from({ length: 41 }, (_, i) => i); // 10 windows of T = 4
  const batcher = new Batcher(ids, 3, 4, 7);
  assert.equal(batcher.windows, 10);
  const seen: number[] = [];
  for (let i = 0; i < 3; i++) {
    const b = batcher.next();
    for (let row = 0; row < 3; row++) {
      const input = Array.from(b.inputs.subarray(row * 4, row * 4 + 4));
      const target = Array.from(b.targets.subarray(row * 4, row * 4 + 4));
      assert.equal(input[0]! % 4, 0);
      assert.deepEqual(
        target,
        input.map((x) => x + 1),
      );
      seen.push(input[0]! / 4);
    }
  }
  assert.equal(new Set(seen).size, 9, 'no window repeats within an epoch');
  assert.notDeepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8], 'the order is shuffled');
  const again = new Batcher(ids, 3, 4, 7);
  assert.deepEqual(Array.from(again.next().inputs), Array.from(new Batcher(ids, 3, 4, 7).next().inputs));
  assert.notDeepEqual(batcher.epochOrder(0), batcher.epochOrder(1));
});

test('a batcher restored from its position continues with the same batches', () => {
  const ids = Int32Array.from({ length: 81 }, (_, i) => i * 3);
  const a = new Batcher(ids, 3, 8, 1);
  for (let i = 0; i < 4; i++) a.next(); // crosses into epoch 1 (10 windows)
  const position = a.state;
  assert.equal(position.epoch, 1);
  const b = new Batcher(ids, 3, 8, 1);
  b.setState(position);
  for (let i = 0; i < 5; i++) assert.deepEqual(Array.from(b.next().inputs), Array.from(a.next().inputs));
  assert.throws(() => b.setState({ epoch: 0, cursor: 11 }), /cursor 11 is outside \[0, 10\]/);
  assert.throws(() => new Batcher(new Int32Array(4), 1, 8, 0), /4 tokens, too few for one window of 9/);
});

test('evaluation batches cover consecutive windows from the start', () => {
  const ids = Int32Array.from({ length: 21 }, (_, i) => i);
  const batches = evalBatches(ids, 2, 4, 10);
  assert.deepEqual(
    batches.map((b) => b.batchSize),
    [2, 2, 1],
  );
  assert.deepEqual(Array.from(batches[2]!.inputs), [16, 17, 18, 19]);
});

test('Brown tags are stripped at the last slash, sentences and paragraphs kept', () => {
  const tagged =
    '\n\n\tThe/at Fulton/np-tl said/vbd ``/`` 1/2/cd ./.\n\tNext/ap ./.\n\n\n\tNew/jj para/nn ./.\n';
  assert.equal(stripBrownTags(tagged), 'The Fulton said `` 1/2 .\nNext .\n\nNew para .');
});

test('the Brown split follows Bengio et al. 2003: ~800k/~200k/rest words, disjoint, in file order', () => {
  const train = brownSplitFiles('train');
  const validation = brownSplitFiles('validation');
  const testFiles = brownSplitFiles('test');
  assert.deepEqual([train[0], train.at(-1)], ['ca01', 'cj54']);
  assert.deepEqual([validation[0], validation.at(-1)], ['cj55', 'cm06']);
  assert.deepEqual([testFiles[0], testFiles.at(-1)], ['cn01', 'cr09']);
  assert.equal(train.length + validation.length + testFiles.length, 500);
  const words = (docs: string[]) => docs.reduce((n, d) => n + d.split(/\s+/).filter(Boolean).length, 0);
  const trainDocs = brownDocuments('train');
  const testDocs = brownDocuments('test');
  const [nTrain, nVal, nTest] = [words(trainDocs), words(brownDocuments('validation')), words(testDocs)];
  assert.ok(Math.abs(nTrain - 800_000) < 5_000, `train has ${nTrain} words`);
  assert.ok(Math.abs(nVal - 200_000) < 5_000, `validation has ${nVal} words`);
  assert.ok(nTest > 150_000 && nTest < 200_000, `test has ${nTest} words`);
  assert.ok(!trainDocs.some((d) => d.includes('/at ')), 'tags are gone');
  // The test text never reaches training: a distinctive sentence of cn01 is not in the training text.
  const probe = testDocs[0]!.split('\n').find((line) => line.split(' ').length > 12)!;
  const trainText = trainDocs.join('\n');
  assert.ok(!trainText.includes(probe), `test sentence found in training text: ${probe}`);
  assert.ok(trainText.includes('The Fulton County Grand Jury said Friday'));
});
