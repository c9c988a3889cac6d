/**
 * Supervised fine-tuning data: JSONL records of either
 *
 *   {"prompt": "…", "response": "…"}        (or "completion" for "response")
 *   {"messages": [{"role": "user", "content": "…"}, {"role": "assistant", "content": "…"}, …]}
 *
 * become token ids with labels, where the loss covers only the response (resp. every assistant
 * message, its end-of-turn marker included) and every other position is −100 (ignored).
 *
 * Chat records are rendered with the tokenizer's chat template (a ChatML template when it has none).
 * The assistant spans are found by rendering the conversation up to each assistant message with and
 * without it: the text between the two renderings is the message as the template writes it.
 */

import { Rng } from '../tensor/random.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export const IGNORE_INDEX = -100;

/** Used for tokenizers without a chat template (e.g. the BPE that `slm train` trains). */
export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

export interface SftExample {
  ids: number[];
  /** Same length as ids: the id where the loss applies, −100 elsewhere. */
  labels: number[];
}

type SftTokenizer = Pick<Tokenizer, 'encode' | 'renderChat' | 'chatTemplates' | 'eosTokenIds'>;

function encode(tokenizer: SftTokenizer, text: string): number[] {
  return text === '' ? [] : tokenizer.encode(text, { addSpecialTokens: false });
}

function promptResponse(tokenizer: SftTokenizer, prompt: string, response: string): SftExample {
  const eos = tokenizer.eosTokenIds[0];
  const promptIds = encode(tokenizer, prompt);
  const responseIds = [...encode(tokenizer, response), ...(eos === undefined ? [] : [eos])];
  return {
    ids: [...promptIds, ...responseIds],
    labels: [...promptIds.map(() => IGNORE_INDEX), ...responseIds],
  };
}

function chat(tokenizer: SftTokenizer, messages: ChatMessage[], where: string): SftExample {
  const template = tokenizer.chatTemplates ? undefined : CHATML_TEMPLATE;
  const render = (upTo: number, addGenerationPrompt: boolean) =>
    tokenizer.renderChat(messages.slice(0, upTo), { addGenerationPrompt, template });
  const all = render(messages.length, false);
  const spans: [number, number][] = [];
  messages.forEach((m, k) => {
    if (m.role !== 'assistant') return;
    const before = render(k, true);
    const through = render(k + 1, false);
    if (!through.startsWith(before) || !all.startsWith(through)) {
      throw new Error(`${where}: the chat template does not render conversations prefix by prefix`);
    }
    spans.push([before.length, through.length]);
  });
  if (spans.length === 0) throw new Error(`${where}: the conversation has no assistant message to learn`);
  const example: SftExample = { ids: [], labels: [] };
  let cursor = 0;
  const push = (text: string, learn: boolean) => {
    const ids = encode(tokenizer, text);
    example.ids.push(...ids);
    example.labels.push(...(learn ? ids : ids.map(() => IGNORE_INDEX)));
  };
  for (const [start, end] of spans) {
    push(all.slice(cursor, start), false);
    push(all.slice(start, end), true);
    cursor = end;
  }
  push(all.slice(cursor), false);
  return example;
}

/** An example from one parsed record; `where` names it in errors (file:line). */
export function sftExample(tokenizer: SftTokenizer, record: unknown, where: string): SftExample {
  const r = record as Record<string, unknown> | null;
  if (r && Array.isArray(r.messages)) return chat(tokenizer, r.messages as ChatMessage[], where);
  const response = r?.response ?? r?.completion;
  if (r && typeof r.prompt === 'string' && typeof response === 'string') {
    return promptResponse(tokenizer, r.prompt, response);
  }
  throw new Error(
    `${where}: expected {"prompt", "response"} (or "completion") strings, or a "messages" list`,
  );
}

/** Examples of a JSONL file's text (blank lines skipped), truncated to maxLength tokens. */
export function sftExamples(
  tokenizer: SftTokenizer,
  jsonl: string,
  maxLength: number,
  origin = 'data',
): SftExample[] {
  const examples: SftExample[] = [];
  jsonl.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${origin}:${i + 1}`;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
    const example = sftExample(tokenizer, record, where);
    example.ids = example.ids.slice(0, maxLength);
    example.labels = example.labels.slice(0, maxLength);
    if (example.labels.slice(1).some((l) => l !== IGNORE_INDEX)) examples.push(example);
  });
  if (examples.length === 0) throw new Error(`${origin}: no examples with a response to learn`);
  return examples;
}

export interface SftBatch {
  /** [B, T] inputs and next-token targets (−100 where no loss applies, including padding). */
  inputs: Int32Array;
  targets: Int32Array;
  batchSize: number;
  seqLen: number;
}

/** Pads examples (with `padId`) to the longest and shifts labels by one into targets. */
export function collate(examples: readonly SftExample[], padId: number): SftBatch {
  const seqLen = Math.max(...examples.map((e) => e.ids.length)) - 1;
  const inputs = new Int32Array(examples.length * seqLen).fill(padId);
  const targets = new Int32Array(examples.length * seqLen).fill(IGNORE_INDEX);
  examples.forEach((e, row) => {
    for (let t = 0; t < e.ids.length - 1; t++) {
      inputs[row * seqLen + t] = e.ids[t]!;
      targets[row * seqLen + t] = e.labels[t + 1]!;
    }
  });
  return { inputs, targets, batchSize: examples.length, seqLen };
}

/** Seeded batches of examples, every example once per epoch. */
export class SftBatcher {
  private epoch = 0;
  private cursor = 0;
  private order: number[];

  constructor(
    readonly examples: readonly SftExample[],
    readonly batchSize: number,
    readonly seed: number,
    readonly padId: number,
  ) {
    this.order = this.shuffled();
  }

  private shuffled(): number[] {
    const rng = new Rng((this.seed * 1_000_003 + this.epoch * 7919) >>> 0);
    return rng.shuffle(Array.from({ length: this.examples.length }, (_, i) => i));
  }

  /** Where the batcher is: the epoch and the examples of it already handed out. */
  get state(): { epoch: number; cursor: number } {
    return { epoch: this.epoch, cursor: this.cursor };
  }

  setState({ epoch, cursor }: { epoch: number; cursor: number }): void {
    if (
      !(
        Number.isInteger(epoch) &&
        epoch >= 0 &&
        Number.isInteger(cursor) &&
        cursor >= 0 &&
        cursor <= this.examples.length
      )
    )
      throw new Error(
        `example position (epoch ${epoch}, cursor ${cursor}) does not fit ${this.examples.length} examples`,
      );
    this.epoch = epoch;
    this.cursor = cursor;
    this.order = this.shuffled();
  }

  next(): SftBatch {
    const chosen: SftExample[] = [];
    while (chosen.length < this.batchSize) {
      if (this.cursor === this.order.length) {
        this.epoch++;
        this.cursor = 0;
        this.order = this.shuffled();
      }
      chosen.push(this.examples[this.order[this.cursor++]!]!);
    }
    return collate(chosen, this.padId);
  }
}
