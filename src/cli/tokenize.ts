/** `slm tokenize`: text to token ids with a model's tokenizer. */
import { defineCommand } from './args.js';
import { modelOption, openTokenizer } from './model-arg.js';

export const tokenizeCommand = defineCommand({
  name: 'tokenize',
  summary: 'turn text into token ids with a model tokenizer',
  usage: '[--model <dir>] --text "…" [--add-special-tokens] [--json]',
  options: {
    ...modelOption,
    text: { type: 'string', required: true, description: 'the text to encode' },
    'add-special-tokens': {
      type: 'boolean',
      description: 'add the tokenizer’s BOS/EOS as its post-processor says',
    },
    json: { type: 'boolean', description: 'print {"ids": [...], "tokens": [...]}' },
  },
  examples: ['slm tokenize --model ./SmolLM2-135M --text "Hello world" --json'],
  async run({ options }, io) {
    const tokenizer = await openTokenizer(options.model);
    const ids = tokenizer.encode(options.text, { addSpecialTokens: options['add-special-tokens'] });
    if (options.json) {
      io.stdout.write(
        `${JSON.stringify({ ids, tokens: ids.map((id) => tokenizer.idToToken(id) ?? null) })}\n`,
      );
    } else {
      io.stdout.write(`${ids.join(' ')}\n`);
    }
  },
});
