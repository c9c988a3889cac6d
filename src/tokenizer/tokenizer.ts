/**
 * A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`) backed by
 * `@huggingface/tokenizers`, with the special-token bookkeeping and chat templates of transformers.
 *
 * Construct it from parsed JSON (`Tokenizer.fromJSON`, works in browsers) or from a model directory
 * (`loadTokenizer` in load.ts, Node). Ids match Python transformers 5.x (checked by
 * tests/tokenizer against tools/fixtures/tokenizer_reference.py).
 */
import { Tokenizer as HFTokenizer } from '@huggingface/tokenizers';
import {
  type ChatMessage,
  type ChatTemplateOptions,
  type ChatTemplates,
  parseChatTemplates,
  renderChatTemplate,
  selectChatTemplate,
} from './chat-template.js';

/** Bad tokenizer files: the message names the file and the problem. */
export class TokenizerError extends Error {
  override name = 'TokenizerError';
}

export interface TokenizerSources {
  /** Parsed tokenizer.json. */
  tokenizerJson: unknown;
  /** Parsed tokenizer_config.json (may be omitted: no special-token names, no chat template). */
  tokenizerConfig?: unknown;
  /** Parsed generation_config.json: its eos_token_id (number or list) joins eosTokenIds. */
  generationConfig?: unknown;
  /** Parsed config.json: its eos_token_id joins eosTokenIds too. */
  modelConfig?: unknown;
  /** Contents of chat_template.jinja; overrides tokenizer_config.json's chat_template. */
  chatTemplate?: string;
  /** How the sources are named in error messages (e.g. the directory). */
  origin?: string;
}

export interface EncodeOptions {
  /** Add what the post-processor adds (e.g. Gemma's <bos>). Default true, as in transformers. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (<bos>, <|im_end|>, …). Default false. */
  skipSpecialTokens?: boolean;
}

type JsonObject = Record<string, unknown>;

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A special token in tokenizer_config.json is a string or an AddedToken object `{content, …}`. */
function tokenContent(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.content === 'string') return value.content;
  return null;
}

function idList(value: unknown): number[] {
  if (Number.isInteger(value)) return [value as number];
  if (Array.isArray(value)) return value.filter((v): v is number => Number.isInteger(v));
  return [];
}

/** Largest id in the model vocabulary (object for BPE/WordPiece, list of [piece, score] for Unigram). */
function modelVocabEnd(model: JsonObject): number {
  const vocab = model.vocab;
  if (Array.isArray(vocab)) return vocab.length;
  if (isObject(vocab)) {
    let end = 0;
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id >= end) end = id + 1;
    return end;
  }
  return 0;
}

export class Tokenizer {
  /** One past the largest token id (model vocabulary and added tokens), what transformers' len(tokenizer) gives. */
  readonly vocabSize: number;
  readonly bosTokenId: number | null;
  /** End-of-sequence ids: the tokenizer's eos_token, then generation_config.json's and config.json's eos_token_id. */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly unkTokenId: number | null;
  /** Named special tokens from tokenizer_config.json: bos_token, eos_token, pad_token, boi_token, …. */
  readonly specialTokens: Readonly<Record<string, string>>;
  /** tokenizer_config.json's additional_special_tokens. */
  readonly additionalSpecialTokens: readonly string[];
  /** The model type of tokenizer.json: 'BPE', 'Unigram', 'WordPiece', …. */
  readonly modelType: string;
  readonly chatTemplates: ChatTemplates | null;

  private readonly inner: HFTokenizer;
  private readonly sources: TokenizerSources;
  private readonly cleanUpSpaces: boolean;
  private readonly specialIds: ReadonlySet<number>;

  private constructor(sources: TokenizerSources) {
    const origin = sources.origin ? `${sources.origin}/` : '';
    const json = sources.tokenizerJson;
    if (!isObject(json) || !isObject(json.model) || typeof json.model.type !== 'string') {
      throw new TokenizerError(
        `${origin}tokenizer.json: not a Hugging Face tokenizer (no "model" object with a "type")`,
      );
    }
    const config = sources.tokenizerConfig ?? {};
    if (!isObject(config)) throw new TokenizerError(`${origin}tokenizer_config.json: expected a JSON object`);
    this.modelType = json.model.type;
    this.sources = sources;
    // transformers 5 skips clean_up_tokenization_spaces for BPE tokenizers (it strips spaces before
    // punctuation, which corrupts byte-level text); it still applies to WordPiece.
    this.cleanUpSpaces = config.clean_up_tokenization_spaces === true && this.modelType !== 'BPE';
    try {
      this.inner = new HFTokenizer(json, { ...config, clean_up_tokenization_spaces: this.cleanUpSpaces });
    } catch (e) {
      throw new TokenizerError(
        `${origin}tokenizer.json: cannot build the tokenizer: ${(e as Error).message}`,
      );
    }

    const addedTokens = Array.isArray(json.added_tokens) ? json.added_tokens.filter(isObject) : [];
    let end = modelVocabEnd(json.model);
    const specialIds = new Set<number>();
    for (const token of addedTokens) {
      if (typeof token.id !== 'number') continue;
      end = Math.max(end, token.id + 1);
      if (token.special === true) specialIds.add(token.id);
    }
    this.vocabSize = end;

    const specialTokens: Record<string, string> = {};
    for (const [key, value] of Object.entries(config)) {
      const content = key.endsWith('_token') ? tokenContent(value) : null;
      if (content !== null) specialTokens[key] = content;
    }
    if (isObject(config.extra_special_tokens)) {
      for (const [key, value] of Object.entries(config.extra_special_tokens)) {
        const content = tokenContent(value);
        if (content !== null) specialTokens[key] = content;
      }
    }
    this.specialTokens = specialTokens;
    this.additionalSpecialTokens = Array.isArray(config.additional_special_tokens)
      ? config.additional_special_tokens.map(tokenContent).filter((t): t is string => t !== null)
      : [];
    for (const token of [...Object.values(specialTokens), ...this.additionalSpecialTokens]) {
      const id = this.tokenToId(token);
      if (id !== undefined) specialIds.add(id);
    }
    this.specialIds = specialIds;

    const idOf = (name: string) => {
      const token = specialTokens[name];
      return token === undefined ? null : (this.tokenToId(token) ?? null);
    };
    this.bosTokenId = idOf('bos_token');
    this.padTokenId = idOf('pad_token');
    this.unkTokenId = idOf('unk_token');
    const eos = idOf('eos_token');
    const eosIds = [
      ...(eos === null ? [] : [eos]),
      ...idList(isObject(sources.generationConfig) ? sources.generationConfig.eos_token_id : undefined),
      ...idList(isObject(sources.modelConfig) ? sources.modelConfig.eos_token_id : undefined),
    ];
    this.eosTokenIds = [...new Set(eosIds)];

    this.chatTemplates =
      sources.chatTemplate !== undefined
        ? sources.chatTemplate
        : parseChatTemplates(config.chat_template, `${origin}tokenizer_config.json`);
  }

  /** Builds a tokenizer from parsed files (no file system: works in browsers). */
  static fromJSON(sources: TokenizerSources): Tokenizer {
    return new Tokenizer(sources);
  }

  /**
   * The parsed tokenizer.json and tokenizer_config.json this tokenizer was built from (a
   * chat_template.jinja folded into the config), e.g. to save them next to a checkpoint.
   */
  files(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
    const tokenizerConfig = { ...((this.sources.tokenizerConfig ?? {}) as JsonObject) };
    if (this.sources.chatTemplate !== undefined) tokenizerConfig.chat_template = this.sources.chatTemplate;
    return { tokenizerJson: this.sources.tokenizerJson as JsonObject, tokenizerConfig };
  }

  /** Token ids of `text`. */
  encode(text: string, options: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw new TypeError('Tokenizer.encode: text must be a string');
    return this.inner.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /** The text of `ids`; ids outside the vocabulary are an error. */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(`Tokenizer.decode: id ${id} is outside the vocabulary [0, ${this.vocabSize})`);
      }
    }
    const kept = options.skipSpecialTokens ? ids.filter((id) => !this.specialIds.has(id)) : ids;
    if (kept.length === 0) return '';
    return this.inner.decode([...kept], { clean_up_tokenization_spaces: this.cleanUpSpaces });
  }

  /** The id of a token string (as stored in the vocabulary, e.g. 'Ġthe'), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }

  /** The token string of an id, or undefined. */
  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id);
  }

  /** Whether `id` is a special token (skipped by decode with skipSpecialTokens). */
  isSpecialId(id: number): boolean {
    return this.specialIds.has(id);
  }

  /** The variables a chat template sees for special tokens: bos_token, eos_token, …, additional_special_tokens. */
  templateVariables(): Record<string, unknown> {
    return { ...this.specialTokens, additional_special_tokens: [...this.additionalSpecialTokens] };
  }

  /** The chat prompt as text, rendered like transformers' apply_chat_template(tokenize=False). */
  renderChat(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    const template = selectChatTemplate(this.chatTemplates, options);
    return renderChatTemplate(template, messages, this.templateVariables(), options);
  }

  /**
   * The chat prompt's ids, like transformers' apply_chat_template(tokenize=True): the rendered text is
   * encoded without adding special tokens, since templates write <bos> themselves.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): number[] {
    return this.encode(this.renderChat(messages, options), { addSpecialTokens: false });
  }
}
