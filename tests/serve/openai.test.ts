/** The OpenAI-compatible server on a tiny model: completions, chat, streaming, and bad requests. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { conversationIds } from '../../src/cli/chat.js';
import { defineConfig } from '../../src/config/model-config.js';
import { generateAll } from '../../src/generate/generate.js';
import { Transformer } from '../../src/model/transformer.js';
import { type OpenAIServer, startOpenAIServer } from '../../src/serve/openai.js';
import { Tokenizer } from '../../src/tokenizer/tokenizer.js';

const tokenizer = Tokenizer.fromJSON({
  tokenizerJson: JSON.parse(readFileSync('tests/fixtures/tokenizers/trained-bpe/tokenizer.json', 'utf8')),
  tokenizerConfig: JSON.parse(
    readFileSync('tests/fixtures/tokenizers/trained-bpe/tokenizer_config.json', 'utf8'),
  ),
});
const model = Transformer.init(
  defineConfig({
    vocabSize: 2048,
    hiddenSize: 32,
    numLayers: 2,
    numAttentionHeads: 4,
    numKeyValueHeads: 2,
    intermediateSize: 64,
    maxPositionEmbeddings: 64,
  }),
  { seed: 4 },
);
let server: OpenAIServer;
before(async () => {
  server = await startOpenAIServer(
    { name: 'tiny', model, tokenizer, chatPrompt: (messages) => conversationIds(tokenizer, messages) },
    { port: 0 },
  );
});
after(() => server.close());

const post = (path: string, body: unknown) =>
  fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

test('GET /v1/models lists the served model', async () => {
  const list = await (await fetch(`${server.url}/v1/models`)).json();
  assert.equal(list.data[0].id, 'tiny');
});

test('a greedy completion equals the library generation, with usage counts', async () => {
  const response = await post('/v1/completions', { prompt: 'The jury said', max_tokens: 8, temperature: 0 });
  assert.equal(response.status, 200);
  const body = await response.json();
  const ids = tokenizer.encode('The jury said', { addSpecialTokens: true });
  const expected = await generateAll(model, ids, {
    maxNewTokens: 8,
    eosTokenIds: tokenizer.eosTokenIds,
    tokenizer,
  });
  assert.equal(body.object, 'text_completion');
  assert.equal(body.choices[0].text, expected.text);
  assert.equal(body.usage.prompt_tokens, ids.length);
  assert.equal(body.usage.completion_tokens, expected.ids.length);
  assert.equal(body.usage.prompt_tokens_details.cached_tokens, 0, 'the eager path keeps no plan');
  assert.equal(body.choices[0].finish_reason, expected.finishReason === 'length' ? 'length' : 'stop');
});

test('streaming sends the same text as server-sent events, then [DONE]', async () => {
  const request = { prompt: 'The jury said', max_tokens: 8, temperature: 0 };
  const whole = (await (await post('/v1/completions', request)).json()).choices[0].text;
  const response = await post('/v1/completions', { ...request, stream: true });
  assert.match(response.headers.get('content-type') ?? '', /text\/event-stream/);
  const events = (await response.text()).split('\n\n').filter(Boolean);
  assert.equal(events.at(-1), 'data: [DONE]');
  const text = events
    .slice(0, -1)
    .map((e) => JSON.parse(e.slice('data: '.length)).choices[0].text)
    .join('');
  assert.equal(text, whole);
});

test('chat completions answer as the assistant; sampled answers are seeded', async () => {
  const request = { messages: [{ role: 'user', content: 'Hello' }], max_tokens: 6, temperature: 1, seed: 3 };
  const a = await (await post('/v1/chat/completions', request)).json();
  const b = await (await post('/v1/chat/completions', request)).json();
  assert.equal(a.object, 'chat.completion');
  assert.equal(a.choices[0].message.role, 'assistant');
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test('bad requests get a 4xx with an OpenAI-style error naming the problem', async () => {
  const cases: [string, unknown, number, RegExp][] = [
    ['/v1/completions', '{not json', 400, /not valid JSON/],
    ['/v1/completions', { max_tokens: 3 }, 400, /'prompt' must be a string/],
    ['/v1/completions', { prompt: 'x', max_tokens: -1 }, 400, /'max_tokens' must be a positive integer/],
    ['/v1/completions', { prompt: 'x', temperature: 'hot' }, 400, /'temperature'/],
    ['/v1/completions', { prompt: 'x', stop: [1] }, 400, /'stop'/],
    ['/v1/completions', { prompt: 'word '.repeat(200) }, 400, /context is 64/],
    ['/v1/chat/completions', { messages: [] }, 400, /'messages' must be a non-empty list/],
    ['/v1/chat/completions', { messages: [{ role: 'wizard', content: 'hi' }] }, 400, /messages\[0\]\.role/],
    ['/v1/nope', {}, 404, /no route/],
  ];
  for (const [path, body, status, message] of cases) {
    const response = await post(path, body);
    assert.equal(response.status, status, `${path} ${JSON.stringify(body)}`);
    assert.match((await response.json()).error.message, message);
  }
  const wrongMethod = await fetch(`${server.url}/v1/completions`);
  assert.equal(wrongMethod.status, 405);
});
