/**
 * Everything a training run needs before the loop, from what a user names: the texts (their files, or
 * the Brown corpus), a tokenizer (theirs, or a byte-level BPE trained on the training text), the id
 * streams, and a ModelConfig whose vocabulary and special tokens match the tokenizer. `slm train` is
 * a thin layer over these.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelConfig } from '../config/model-config.js';
import { defineConfig } from '../config/model-config.js';
import { bpeTokenizerFiles } from '../tokenizer/bpe-files.js';
import { trainBpe } from '../tokenizer/bpe-trainer.js';
import { loadTokenizer } from '../tokenizer/load.js';
import { Tokenizer } from '../tokenizer/tokenizer.js';
import { type BrownSplit, brownDocuments } from './brown.js';
import { readDocuments, tokenizeDocuments } from './data.js';

/** Where the texts come from: files/folders/JSONL, or the Brown corpus ('brown' = its train split). */
export interface DataSpec {
  /** Paths; empty: the Brown train split. */
  train: string[];
  /** Paths; empty: the Brown validation split when training on Brown, else a held-out tail of the data. */
  validation: string[];
  /** Fraction of the training ids held out for validation when no validation data is named. */
  holdout: number;
}

export interface TrainingTexts {
  train: string[];
  /** null: hold out the tail of the training stream instead. */
  validation: string[] | null;
  description: string;
}

/** `brown`, `brown:train`, `brown:validation` or `brown:test` name a Brown split; anything else is a path. */
export function brownSplitOf(path: string): BrownSplit | null {
  const match = /^brown(?::(train|validation|test))?$/.exec(path);
  if (!match || existsSync(path)) return null;
  return (match[1] ?? 'train') as BrownSplit;
}

/** Documents of paths, where a path may also name a Brown split. */
export function documentsOf(paths: readonly string[]): string[] {
  const docs: string[] = [];
  for (const path of paths) {
    const split = brownSplitOf(path);
    docs.push(...(split ? brownDocuments(split) : readDocuments([path])));
  }
  return docs;
}

export function loadTrainingTexts(spec: DataSpec): TrainingTexts {
  const onBrown = spec.train.length === 0;
  const train = onBrown ? brownDocuments('train') : documentsOf(spec.train);
  if (train.length === 0) throw new Error('the training data is empty');
  let validation: string[] | null = null;
  if (spec.validation.length > 0) validation = documentsOf(spec.validation);
  else if (onBrown) validation = brownDocuments('validation');
  const description = onBrown
    ? 'the Brown corpus (train ca01–cj54, validation cj55–cm06)'
    : `${train.length} documents from ${spec.train.join(', ')}`;
  return { train, validation, description };
}

export interface TokenizerChoice {
  /** A directory with tokenizer.json; null: train a byte-level BPE on the training documents. */
  dir: string | null;
  vocabSize: number;
}

/** The tokenizer named, or a byte-level BPE (special token <|endoftext|> = id 0) trained on `docs`. */
export async function prepareTokenizer(choice: TokenizerChoice, docs: readonly string[]): Promise<Tokenizer> {
  if (choice.dir !== null) {
    if (!existsSync(join(choice.dir, 'tokenizer.json')))
      throw new Error(`--tokenizer ${choice.dir}: no tokenizer.json in that directory`);
    return loadTokenizer(choice.dir);
  }
  const trained = trainBpe(docs, { vocabSize: choice.vocabSize, specialTokens: ['<|endoftext|>'] });
  const files = bpeTokenizerFiles(trained, { modelMaxLength: 1_000_000_000 });
  return Tokenizer.fromJSON({ tokenizerJson: files.tokenizerJson, tokenizerConfig: files.tokenizerConfig });
}

/** The document separator of a tokenizer: its EOS, else its BOS. */
export function separatorId(tokenizer: Tokenizer): number {
  const id = tokenizer.eosTokenIds[0] ?? tokenizer.bosTokenId;
  if (id === null || id === undefined) {
    throw new Error('the tokenizer has no eos_token (or bos_token) to separate documents with');
  }
  return id;
}

/** `config` with the tokenizer's vocabulary size and special tokens, and a context of at least seqLen. */
export function fitConfigToTokenizer(config: ModelConfig, tokenizer: Tokenizer, seqLen: number): ModelConfig {
  return defineConfig({
    ...config,
    vocabSize: tokenizer.vocabSize,
    maxPositionEmbeddings: Math.max(config.maxPositionEmbeddings, seqLen),
    bosTokenId: tokenizer.bosTokenId,
    eosTokenIds: [...tokenizer.eosTokenIds],
    padTokenId: tokenizer.padTokenId,
  });
}

export interface TokenStreams {
  train: Int32Array;
  validation: Int32Array | null;
}

/** Tokenises the texts; with no validation texts, the last `holdout` of the train stream is held out. */
export function tokenStreams(texts: TrainingTexts, tokenizer: Tokenizer, holdout: number): TokenStreams {
  const eos = separatorId(tokenizer);
  const train = tokenizeDocuments(texts.train, tokenizer, eos);
  if (texts.validation !== null) {
    return { train, validation: tokenizeDocuments(texts.validation, tokenizer, eos) };
  }
  if (holdout <= 0) return { train, validation: null };
  const cut = Math.floor(train.length * (1 - holdout));
  return { train: train.subarray(0, cut), validation: train.subarray(cut) };
}
