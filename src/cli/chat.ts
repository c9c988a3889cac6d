/**
 * `slm chat`: an interactive, streaming conversation using the model's chat template. `/reset` clears
 * the history, `/exit` (or Ctrl-D) quits, and Ctrl-C stops the current reply without ending the session.
 */
import { createInterface } from 'node:readline';
import { generate } from '../generate/generate.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { defineCommand } from './args.js';
import { backendOption, useBackend } from './backend.js';
import { gpuWeightsOption, modelOption, openModel, openTokenizer } from './model-arg.js';
import { eosIds, resolveSampling, samplingOptions } from './sampling-options.js';

/** Prompt ids for the conversation: the chat template, or a plain transcript for base models without one. */
export function conversationIds(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
): { ids: number[]; stop: string[] } {
  if (tokenizer.chatTemplates)
    return { ids: tokenizer.applyChatTemplate(messages, { addGenerationPrompt: true }), stop: [] };
  const names: Record<string, string> = { system: 'System', user: 'User', assistant: 'Assistant' };
  const transcript = messages
    .map((m) => `${names[m.role] ?? m.role}: ${typeof m.content === 'string' ? m.content : ''}`)
    .join('\n');
  return {
    ids: tokenizer.encode(`${transcript}\nAssistant:`, { addSpecialTokens: true }),
    stop: ['\nUser:', '\nSystem:'],
  };
}

export const chatCommand = defineCommand({
  name: 'chat',
  summary: 'chat with a model interactively (streaming; /reset, /exit, Ctrl-C stops a reply)',
  usage: '[--model <dir>] [--system "…"] [--max-new-tokens N] [--temperature T] …',
  description:
    'Reads one message per line. Models with a chat template in tokenizer_config.json use it; base models without one get a ' +
    'plain "User: … / Assistant:" transcript. Commands: /reset clears the history, /exit quits.',
  options: {
    ...modelOption,
    ...gpuWeightsOption,
    system: { type: 'string', description: 'a system message that starts the conversation' },
    stats: {
      type: 'boolean',
      description:
        'after each reply, print on stderr its tokens, the time to its first token, how much of the prompt the kept decode plan already held (the conversation so far is not run again), and the decode rate',
    },
    ...samplingOptions,
    ...backendOption,
  },
  async run({ options }, io) {
    const backend = await useBackend(options.backend, io.env);
    const { model, generationConfig, dir } = await openModel(options.model, backend, options['gpu-weights']);
    const tokenizer = await openTokenizer(options.model ?? dir);
    const sampling = resolveSampling(options, generationConfig);
    const eos = eosIds(tokenizer.eosTokenIds, generationConfig.eos_token_id, model.config.eosTokenIds);
    const input = (io as { stdin?: NodeJS.ReadableStream }).stdin ?? process.stdin;
    const interactive = (input as { isTTY?: boolean }).isTTY === true;
    const rl = createInterface({
      input,
      output: interactive ? process.stdout : undefined,
      terminal: interactive,
    });
    const start = (): ChatMessage[] => (options.system ? [{ role: 'system', content: options.system }] : []);
    let messages = start();
    let current: AbortController | null = null;
    rl.on('SIGINT', () => {
      if (current) current.abort();
      else rl.close();
    });
    io.stderr.write(
      `chatting with ${dir} on ${backend.name}; /reset clears the history, /exit quits, Ctrl-C stops a reply\n`,
    );
    if (interactive) rl.setPrompt('> ');
    rl.prompt?.();
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/exit' || text === '/quit') break;
      if (text === '/reset') {
        messages = start();
        io.stderr.write('(history cleared)\n');
        rl.prompt?.();
        continue;
      }
      if (text === '') {
        rl.prompt?.();
        continue;
      }
      messages.push({ role: 'user', content: text });
      const { ids, stop } = conversationIds(tokenizer, messages);
      current = new AbortController();
      let reply = '';
      const started = performance.now();
      let firstAt = 0;
      let count = 0;
      let cached = 0;
      try {
        for await (const step of generate(model, ids, {
          ...sampling,
          seed: options.seed ?? 0,
          eosTokenIds: eos,
          stopStrings: [...stop, ...options.stop],
          tokenizer,
          signal: current.signal,
          keepPlan: true, // one plan for every turn
          planWeights: (options.weights ?? 'auto') as 'auto' | 'f32' | 'f16' | 'bf16',
        })) {
          if (count++ === 0) {
            firstAt = performance.now();
            cached = step.cachedPromptTokens ?? 0;
          }
          reply += step.text;
          io.stdout.write(step.text);
          if (step.finishReason === 'aborted') io.stderr.write(' [stopped]');
        }
      } catch (e) {
        io.stderr.write(`\nerror: ${(e as Error).message}\n`);
        messages.pop();
        current = null;
        rl.prompt?.();
        continue;
      }
      current = null;
      io.stdout.write('\n');
      if (options.stats) {
        const rate = count > 1 ? ((1000 * (count - 1)) / (performance.now() - firstAt)).toFixed(1) : '-';
        io.stderr.write(
          `(${count} tokens; first token ${(firstAt - started).toFixed(1)} ms; ${ids.length}-token prompt, ${cached} of them cached; ${rate} tokens/s after it)\n`,
        );
      }
      messages.push({ role: 'assistant', content: reply.trim() });
      rl.prompt?.();
    }
    rl.close();
  },
});
