/**
 * An OpenAI-compatible HTTP server over one loaded model: GET /v1/models, POST /v1/completions and
 * POST /v1/chat/completions (JSON, or server-sent events with "stream": true). Requests are checked
 * field by field (400 with an OpenAI-style error naming the field), run one at a time, and a client
 * that disconnects stops its generation.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generate, PromptError } from '../generate/generate.js';
import type { SamplingOptions } from '../generate/sampling.js';
import type { Transformer } from '../model/transformer.js';
import type { ChatMessage } from '../tokenizer/chat-template.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

export interface ServedModel {
  /** The id clients pass as "model" (any value is accepted; this one is reported). */
  name: string;
  model: Transformer;
  tokenizer: Tokenizer;
  /** Defaults for fields a request leaves out (generation_config.json). */
  generationConfig?: Record<string, unknown>;
  /** Prompt ids of a conversation (the chat template, or a plain transcript for base models). */
  chatPrompt(messages: readonly ChatMessage[]): { ids: number[]; stop: string[] };
}

export interface OpenAIServer {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const maxBodyBytes = 1 << 20;

class RequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

function readBody(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        reject(new RequestError(413, `request body over ${maxBodyBytes} bytes`));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (e) {
        reject(new RequestError(400, `request body is not valid JSON: ${(e as Error).message}`));
      }
    });
    request.on('error', reject);
  });
}

type Body = Record<string, unknown>;

function field<T>(
  body: Body,
  name: string,
  kind: 'number' | 'integer' | 'boolean' | 'string',
  check?: (v: T) => boolean,
  rule?: string,
): T | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  const ok =
    kind === 'integer'
      ? Number.isInteger(value)
      : kind === 'number'
        ? typeof value === 'number' && Number.isFinite(value)
        : typeof value === kind;
  if (!ok || (check && !check(value as T))) {
    throw new RequestError(
      400,
      `'${name}' must be ${rule ?? `a ${kind}`}, got ${JSON.stringify(value)}`,
      name,
    );
  }
  return value as T;
}

/** Sampling settings of a request, over the model's defaults. */
function sampling(
  body: Body,
  defaults: Record<string, unknown>,
): SamplingOptions & { maxNewTokens: number; seed: number; stop: string[] } {
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  const temperature =
    field<number>(body, 'temperature', 'number', (v) => v >= 0 && v <= 2, 'a number in [0, 2]') ??
    num(defaults.temperature) ??
    1;
  const maxTokens =
    field<number>(body, 'max_tokens', 'integer', (v) => v >= 1, 'a positive integer') ??
    field<number>(body, 'max_completion_tokens', 'integer', (v) => v >= 1, 'a positive integer') ??
    16;
  const stopValue = body.stop;
  let stop: string[] = [];
  if (typeof stopValue === 'string') stop = [stopValue];
  else if (Array.isArray(stopValue) && stopValue.every((s) => typeof s === 'string') && stopValue.length <= 4)
    stop = stopValue;
  else if (stopValue !== undefined && stopValue !== null)
    throw new RequestError(400, "'stop' must be a string or a list of up to 4 strings", 'stop');
  return {
    doSample: temperature > 0,
    temperature: temperature > 0 ? temperature : 1,
    topP:
      field<number>(body, 'top_p', 'number', (v) => v > 0 && v <= 1, 'a number in (0, 1]') ??
      num(defaults.top_p) ??
      1,
    topK:
      field<number>(body, 'top_k', 'integer', (v) => v >= 0, 'a non-negative integer') ??
      num(defaults.top_k) ??
      0,
    minP: field<number>(body, 'min_p', 'number', (v) => v >= 0 && v <= 1, 'a number in [0, 1]') ?? 0,
    repetitionPenalty:
      field<number>(body, 'repetition_penalty', 'number', (v) => v > 0, 'a positive number') ??
      num(defaults.repetition_penalty) ??
      1,
    maxNewTokens: maxTokens,
    seed: field<number>(body, 'seed', 'integer') ?? 0,
    stop,
  };
}

function chatMessages(body: Body): ChatMessage[] {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    throw new RequestError(400, "'messages' must be a non-empty list of {role, content}", 'messages');
  }
  return messages.map((m, i) => {
    const message = m as { role?: unknown; content?: unknown };
    if (
      typeof message?.role !== 'string' ||
      !['system', 'user', 'assistant', 'tool'].includes(message.role)
    ) {
      throw new RequestError(
        400,
        `'messages[${i}].role' must be system, user, assistant or tool`,
        `messages[${i}].role`,
      );
    }
    if (typeof message.content !== 'string') {
      throw new RequestError(400, `'messages[${i}].content' must be a string`, `messages[${i}].content`);
    }
    return { role: message.role, content: message.content };
  });
}

export function startOpenAIServer(
  served: ServedModel,
  { port = 8000, host = '127.0.0.1' } = {},
): Promise<OpenAIServer> {
  let queue: Promise<unknown> = Promise.resolve();
  const defaults = served.generationConfig ?? {};
  const eos = [...new Set([...served.tokenizer.eosTokenIds, ...served.model.config.eosTokenIds])];

  const send = (response: ServerResponse, status: number, payload: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(payload));
  };
  const sendError = (response: ServerResponse, error: unknown) => {
    const status = error instanceof RequestError ? error.status : error instanceof PromptError ? 400 : 500;
    const message = error instanceof Error ? error.message : String(error);
    const param = error instanceof RequestError ? error.param : null;
    if (!response.headersSent)
      send(response, status, {
        error: { message, type: status < 500 ? 'invalid_request_error' : 'server_error', param, code: null },
      });
    else response.end();
  };

  async function complete(request: IncomingMessage, response: ServerResponse, chat: boolean): Promise<void> {
    const body = (await readBody(request)) as Body;
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new RequestError(400, 'request body must be a JSON object');
    const options = sampling(body, defaults);
    const stream = field<boolean>(body, 'stream', 'boolean') ?? false;
    let ids: number[];
    let stop = options.stop;
    if (chat) {
      const prompt = served.chatPrompt(chatMessages(body));
      ids = prompt.ids;
      stop = [...stop, ...prompt.stop];
    } else {
      const prompt = body.prompt;
      if (typeof prompt !== 'string') throw new RequestError(400, "'prompt' must be a string", 'prompt');
      ids = served.tokenizer.encode(prompt, { addSpecialTokens: true });
    }
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID()}`;
    const created = Math.floor(Date.now() / 1000);
    const object = chat ? 'chat.completion' : 'text_completion';
    const controller = new AbortController();
    response.on('close', () => {
      if (!response.writableFinished) controller.abort();
    });
    // One generation at a time: the model and its caches are shared.
    const run = queue.then(async () => {
      let text = '';
      let count = 0;
      let finish: string | undefined;
      let cached = 0;
      if (stream)
        response.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
        });
      for await (const step of generate(served.model, ids, {
        ...options,
        stopStrings: stop,
        eosTokenIds: eos,
        tokenizer: served.tokenizer,
        signal: controller.signal,
        keepPlan: true, // requests run one at a time on a model whose weights do not change
      })) {
        count++;
        cached = step.cachedPromptTokens ?? cached;
        text += step.text;
        finish = step.finishReason;
        if (stream && step.text) {
          const choice = chat
            ? { index: 0, delta: { content: step.text }, finish_reason: null }
            : { index: 0, text: step.text, finish_reason: null };
          response.write(
            `data: ${JSON.stringify({ id, object: chat ? 'chat.completion.chunk' : object, created, model: served.name, choices: [choice] })}\n\n`,
          );
        }
      }
      const finishReason = finish === 'length' ? 'length' : 'stop';
      const usage = {
        prompt_tokens: ids.length,
        completion_tokens: count,
        total_tokens: ids.length + count,
        // The start of the prompt that the kept plan's cache held from an earlier request.
        prompt_tokens_details: { cached_tokens: cached },
      };
      if (stream) {
        const last = chat
          ? { index: 0, delta: {}, finish_reason: finishReason }
          : { index: 0, text: '', finish_reason: finishReason };
        response.write(
          `data: ${JSON.stringify({ id, object: chat ? 'chat.completion.chunk' : object, created, model: served.name, choices: [last], usage })}\n\n`,
        );
        response.end('data: [DONE]\n\n');
        return;
      }
      const choice = chat
        ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: finishReason }
        : { index: 0, text, finish_reason: finishReason };
      send(response, 200, { id, object, created, model: served.name, choices: [choice], usage });
    });
    queue = run.catch(() => undefined);
    await run;
  }

  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '');
    const routes: Record<string, { method: string; handle: () => Promise<void> | void }> = {
      '/v1/models': {
        method: 'GET',
        handle: () =>
          send(response, 200, {
            object: 'list',
            data: [{ id: served.name, object: 'model', created: 0, owned_by: 'slmkit' }],
          }),
      },
      '/v1/completions': { method: 'POST', handle: () => complete(request, response, false) },
      '/v1/chat/completions': { method: 'POST', handle: () => complete(request, response, true) },
    };
    const route = routes[path];
    if (!route)
      return sendError(
        response,
        new RequestError(404, `no route ${path}; try /v1/models, /v1/completions or /v1/chat/completions`),
      );
    if (request.method !== route.method)
      return sendError(response, new RequestError(405, `${path} takes ${route.method}`));
    Promise.resolve(route.handle()).catch((error) => sendError(response, error));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port: actual } = server.address() as AddressInfo;
      resolve({
        url: `http://${host}:${actual}`,
        server,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}
