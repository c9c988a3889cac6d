/** `slm serve`: an OpenAI-compatible HTTP API (completions, chat completions, streaming) for one model. */
import { basename } from 'node:path';
import { startOpenAIServer } from '../serve/openai.js';
import { defineCommand } from './args.js';
import { backendOption, useBackend } from './backend.js';
import { conversationIds } from './chat.js';
import { gpuWeightsOption, modelOption, openModel, openTokenizer } from './model-arg.js';

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'serve a model over an OpenAI-compatible HTTP API (/v1/completions, /v1/chat/completions)',
  usage: '[--model <dir>] [--port N] [--host ADDR] [--backend …]',
  description:
    'Endpoints: GET /v1/models, POST /v1/completions {prompt, max_tokens, temperature, top_p, top_k, seed, stop, stream} and ' +
    'POST /v1/chat/completions {messages, …} (the model’s chat template; a plain transcript for base models). "stream": true ' +
    'sends server-sent events. Requests run one at a time; bad requests get a 400 naming the field. Listens on 127.0.0.1 unless --host.',
  options: {
    ...modelOption,
    ...gpuWeightsOption,
    port: { type: 'integer', default: 8000, description: 'port (default 8000; 0 picks a free one)' },
    host: {
      type: 'string',
      default: '127.0.0.1',
      valueName: 'ADDR',
      description: 'address to listen on (default 127.0.0.1)',
    },
    ...backendOption,
  },
  examples: [
    'slm serve --port 8000',
    `curl -s localhost:8000/v1/completions -H 'content-type: application/json' -d '{"prompt": "The jury said", "max_tokens": 20}'`,
  ],
  async run({ options }, io) {
    const backend = await useBackend(options.backend, io.env);
    const { model, generationConfig, dir } = await openModel(options.model, backend, options['gpu-weights']);
    const tokenizer = await openTokenizer(options.model ?? dir);
    const server = await startOpenAIServer(
      {
        name: basename(dir),
        model,
        tokenizer,
        generationConfig,
        chatPrompt: (messages) => conversationIds(tokenizer, messages),
      },
      { port: options.port, host: options.host },
    );
    io.stdout.write(`serving ${dir} on ${backend.name} at ${server.url}/v1 (Ctrl-C stops)\n`);
    await new Promise<void>((done) => {
      process.once('SIGINT', () => done());
      server.server.once('close', () => done());
    });
    await server.close();
  },
});
