/** `slm template`: render a conversation with the model's chat template. */
import { readFile } from 'node:fs/promises';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import { defineCommand, UsageError } from './args.js';
import { modelOption, openTokenizer } from './model-arg.js';

export async function readMessages(path: string): Promise<ChatMessage[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path}: cannot read the messages: ${(e as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { messages?: unknown })?.messages;
  if (!Array.isArray(list))
    throw new Error(`${path}: expected a JSON list of {role, content} messages (or {"messages": [...]})`);
  list.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof (m as ChatMessage).role !== 'string') {
      throw new Error(`${path}: message ${i} has no "role"`);
    }
  });
  return list as ChatMessage[];
}

export const templateCommand = defineCommand({
  name: 'template',
  summary: 'render chat messages with the model’s chat template',
  usage: '[--model <dir>] --messages messages.json [--no-generation-prompt] [--json]',
  options: {
    ...modelOption,
    messages: {
      type: 'string',
      required: true,
      valueName: 'FILE',
      description: 'JSON list of {role, content} messages',
    },
    'no-generation-prompt': { type: 'boolean', description: 'do not append the assistant turn opener' },
    json: { type: 'boolean', description: 'print {"text": …, "ids": [...]}' },
  },
  async run({ options }, io) {
    const tokenizer = await openTokenizer(options.model);
    if (!tokenizer.chatTemplates) throw new UsageError('this model’s tokenizer has no chat template');
    const messages = await readMessages(options.messages);
    const renderOptions = { addGenerationPrompt: !options['no-generation-prompt'] };
    const text = tokenizer.renderChat(messages, renderOptions);
    if (options.json)
      io.stdout.write(
        `${JSON.stringify({ text, ids: tokenizer.encode(text, { addSpecialTokens: false }) })}\n`,
      );
    else io.stdout.write(text);
  },
});
