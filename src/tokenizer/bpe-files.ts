/**
 * Writes a trained byte-level BPE as Hugging Face tokenizer files: `tokenizer.json` (BPE model with
 * vocab and merges, GPT-2 ByteLevel pre-tokenizer/post-processor/decoder, special tokens as
 * added_tokens) and `tokenizer_config.json`. Both Python `tokenizers`/`transformers` and
 * `@huggingface/tokenizers` load them and give the same ids.
 */
import type { TrainedBpe } from './bpe-trainer.js';

export interface BpeFileOptions {
  /** Defaults to the first special token (GPT-2 style: '<|endoftext|>' is bos, eos and pad). */
  bosToken?: string | null;
  eosToken?: string | null;
  padToken?: string | null;
  /** A Jinja chat template stored in tokenizer_config.json. */
  chatTemplate?: string;
  modelMaxLength?: number;
}

export interface TokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
}

const byteLevel = (addPrefixSpace: boolean, trimOffsets: boolean) => ({
  type: 'ByteLevel',
  add_prefix_space: addPrefixSpace,
  trim_offsets: trimOffsets,
  use_regex: true,
});

/** The JSON objects of `tokenizer.json` and `tokenizer_config.json` for a trained BPE. */
export function bpeTokenizerFiles(trained: TrainedBpe, options: BpeFileOptions = {}): TokenizerFiles {
  const firstSpecial = trained.specialTokens[0]?.content ?? null;
  const pick = (value: string | null | undefined) => (value === undefined ? firstSpecial : value);
  const specialIds = new Map(trained.specialTokens.map((t) => [t.content, t.id]));
  for (const [name, token] of [
    ['bosToken', options.bosToken],
    ['eosToken', options.eosToken],
    ['padToken', options.padToken],
  ] as const) {
    if (token != null && !specialIds.has(token)) {
      throw new Error(`bpeTokenizerFiles: ${name} '${token}' is not one of the trained special tokens`);
    }
  }

  const addedTokens = trained.specialTokens.map(({ content, id }) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const vocab: Record<string, number> = {};
  for (const [token, id] of [...trained.vocab].sort((a, b) => a[1] - b[1])) vocab[token] = id;

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: byteLevel(false, true),
    post_processor: byteLevel(true, false),
    decoder: byteLevel(true, true),
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: trained.merges.map(([a, b]) => [a, b]),
    },
  };

  const addedTokensDecoder: Record<string, unknown> = {};
  for (const { id, ...rest } of addedTokens) addedTokensDecoder[String(id)] = rest;
  const tokenizerConfig: Record<string, unknown> = {
    add_prefix_space: false,
    added_tokens_decoder: addedTokensDecoder,
    bos_token: pick(options.bosToken),
    eos_token: pick(options.eosToken),
    pad_token: pick(options.padToken),
    unk_token: null,
    clean_up_tokenization_spaces: false,
    model_max_length: options.modelMaxLength ?? 1_000_000_000,
    tokenizer_class: 'PreTrainedTokenizerFast',
  };
  if (options.chatTemplate !== undefined) tokenizerConfig.chat_template = options.chatTemplate;
  return { tokenizerJson, tokenizerConfig };
}

/** Writes `tokenizer.json` and `tokenizer_config.json` into `dir` (created if needed). Node only. */
export async function saveTokenizerFiles(dir: string, files: TokenizerFiles): Promise<void> {
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizerJson, null, 2) + '\n');
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig, null, 2) + '\n');
}
