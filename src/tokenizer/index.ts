/** Tokenizers: Hugging Face tokenizer.json loading, chat templates, and our byte-level BPE trainer. */

export type { BpeFileOptions, TokenizerFiles } from './bpe-files.js';
export { bpeTokenizerFiles, saveTokenizerFiles } from './bpe-files.js';
export type { BpeTrainerOptions, TrainedBpe } from './bpe-trainer.js';
export { countWords, trainBpe } from './bpe-trainer.js';
export { BYTE_TO_UNICODE, fromByteLevel, GPT2_PRETOKENIZE_PATTERN, toByteLevel } from './byte-level.js';
export type { ChatMessage, ChatTemplateOptions, ChatTemplates } from './chat-template.js';
export { ChatTemplateError, renderChatTemplate, strftime } from './chat-template.js';
export { loadTokenizer } from './load.js';
export { StreamDecoder } from './stream.js';
export type { DecodeOptions, EncodeOptions, TokenizerSources } from './tokenizer.js';
export { Tokenizer, TokenizerError } from './tokenizer.js';
