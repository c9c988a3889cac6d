/**
 * Chat templates render as transformers' apply_chat_template does (reference.json), and the template
 * machinery (selection, raise_exception, strftime_now, continueFinalMessage) behaves like it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ChatTemplateError, strftime, Tokenizer } from '../../src/tokenizer/index.js';
import { FIXTURES, loadGzTokenizer, REAL_TOKENIZERS, readReference } from './fixtures.js';

const reference = readReference();

for (const name of REAL_TOKENIZERS) {
  describe(`${name} chat template matches apply_chat_template`, () => {
    const tokenizer = loadGzTokenizer(name);
    const cases = reference.tokenizers[name]!.chat!;

    test('has reference cases with and without the generation prompt and a system message', () => {
      assert.ok(cases.some((c) => c.addGenerationPrompt) && cases.some((c) => !c.addGenerationPrompt));
      assert.ok(cases.some((c) => c.conversation === 'system_multi'));
    });

    for (const c of cases) {
      const label = `${c.conversation}, addGenerationPrompt=${c.addGenerationPrompt}${c.tools ? ', tools' : ''} ${JSON.stringify(c.extra)}`;
      test(label, () => {
        const messages = c.messages ?? reference.conversations[c.conversation]!;
        const options = { addGenerationPrompt: c.addGenerationPrompt, tools: c.tools, variables: c.extra };
        if (typeof c.text !== 'string') {
          // transformers raised (raise_exception in the template): we raise the same message.
          const message = c.text.error.replace(/^\w+: /, '');
          assert.throws(
            () => tokenizer.renderChat(messages, options),
            (e: unknown) => e instanceof ChatTemplateError && e.message === message,
          );
          return;
        }
        assert.equal(tokenizer.renderChat(messages, options), c.text);
        const ids = c.ids ?? tokenizer.encode(c.text, { addSpecialTokens: false });
        assert.deepEqual(tokenizer.applyChatTemplate(messages, options), ids);
      });
    }
  });
}

describe('chat template machinery', () => {
  const bpeFiles = {
    tokenizerJson: JSON.parse(readFileSync(join(FIXTURES, 'trained-bpe', 'tokenizer.json'), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(join(FIXTURES, 'trained-bpe', 'tokenizer_config.json'), 'utf8')),
  };
  const chatml =
    "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{% endfor %}" +
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const messages = [
    { role: 'user', content: 'Hi' },
    { role: 'assistant', content: 'Hello there' },
  ];

  test('a tokenizer without a chat template says so', () => {
    const tokenizer = Tokenizer.fromJSON(bpeFiles);
    assert.equal(tokenizer.chatTemplates, null);
    assert.throws(
      () => tokenizer.renderChat(messages),
      (e: unknown) => {
        return e instanceof ChatTemplateError && /no chat template/.test(e.message);
      },
    );
  });

  test('an explicit template is used and sees special tokens', () => {
    const tokenizer = Tokenizer.fromJSON(bpeFiles);
    const text = tokenizer.renderChat(messages, {
      template: '{{ eos_token }}|{{ pad_token }}|{{ messages | length }}',
    });
    assert.equal(text, '<|endoftext|>|<|pad|>|2');
  });

  test('named templates: default, tool_use when tools are given, by name, unknown name', () => {
    const config = {
      ...bpeFiles.tokenizerConfig,
      chat_template: [
        { name: 'default', template: 'D{{ tools is none }}' },
        { name: 'tool_use', template: 'T{{ tools | length }}' },
        { name: 'rag', template: 'R{{ documents[0].title }}' },
      ],
    };
    const tokenizer = Tokenizer.fromJSON({ ...bpeFiles, tokenizerConfig: config });
    assert.equal(tokenizer.renderChat(messages), 'Dtrue');
    assert.equal(tokenizer.renderChat(messages, { tools: [{}, {}] }), 'T2');
    assert.equal(tokenizer.renderChat(messages, { templateName: 'rag', documents: [{ title: 'x' }] }), 'Rx');
    assert.throws(
      () => tokenizer.renderChat(messages, { templateName: 'nope' }),
      /no chat template named 'nope'/,
    );
    const noDefault = Tokenizer.fromJSON({
      ...bpeFiles,
      tokenizerConfig: { chat_template: [{ name: 'a', template: 'A' }] },
    });
    assert.throws(() => noDefault.renderChat(messages), /no 'default'/);
  });

  test('continueFinalMessage leaves the last message open', () => {
    const tokenizer = Tokenizer.fromJSON({ ...bpeFiles, chatTemplate: chatml });
    assert.equal(
      tokenizer.renderChat(messages, { continueFinalMessage: true }),
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello there',
    );
    assert.equal(
      tokenizer.renderChat(messages, { addGenerationPrompt: true }),
      '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello there<|im_end|>\n<|im_start|>assistant\n',
    );
    assert.throws(
      () => tokenizer.renderChat(messages, { continueFinalMessage: true, addGenerationPrompt: true }),
      /cannot both be set/,
    );
  });

  test('applyChatTemplate does not add special tokens a second time', () => {
    const tokenizer = Tokenizer.fromJSON({
      ...bpeFiles,
      chatTemplate: '{{ bos_token }}{{ messages[0].content }}',
    });
    const ids = tokenizer.applyChatTemplate(messages);
    assert.equal(ids[0], tokenizer.bosTokenId);
    assert.equal(ids.filter((id) => id === tokenizer.bosTokenId).length, 1);
    assert.equal(tokenizer.decode(ids, { skipSpecialTokens: true }), 'Hi');
  });

  test('raise_exception, parse errors and bad messages give ChatTemplateError', () => {
    const tokenizer = Tokenizer.fromJSON(bpeFiles);
    const raising =
      "{% if messages[0].role != 'system' %}{{ raise_exception('need a system message') }}{% endif %}";
    assert.throws(() => tokenizer.renderChat(messages, { template: raising }), {
      name: 'ChatTemplateError',
      message: 'need a system message',
    });
    assert.throws(() => tokenizer.renderChat(messages, { template: '{% for %}' }), /does not parse/);
    assert.throws(
      () => tokenizer.renderChat([{ content: 'x' } as never], { template: 'x' }),
      /messages\[0\]/,
    );
  });

  test('strftime_now and strftime follow Python for the directives templates use', () => {
    const date = new Date(2024, 6, 5, 9, 7, 3); // local time: 5 July 2024, 09:07:03, a Friday
    assert.equal(strftime(date, '%d %b %Y'), '05 Jul 2024');
    assert.equal(strftime(date, '%A %B %-d %H:%M:%S %y %j %%'), 'Friday July %-d 09:07:03 24 187 %');
    const tokenizer = Tokenizer.fromJSON(bpeFiles);
    const year = String(new Date().getFullYear());
    assert.match(
      tokenizer.renderChat(messages, { template: '{{ strftime_now("%Y") }}' }),
      new RegExp(`^${year}$`),
    );
  });
});
