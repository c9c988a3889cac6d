/**
 * Loads a tokenizer from a Hugging Face model directory (Node). node:fs is imported lazily so that
 * importing the tokenizer module in a browser bundle does not pull it in.
 *
 * Read: tokenizer.json (required), tokenizer_config.json, chat_template.jinja, generation_config.json
 * and config.json (each optional).
 */
import { Tokenizer, TokenizerError } from './tokenizer.js';

async function readOptional(path: string): Promise<string | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new TokenizerError(`${path}: cannot read: ${(e as Error).message}`);
  }
}

function parseJson(text: string, path: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${path}: malformed JSON: ${(e as Error).message}`);
  }
}

/** Loads the tokenizer of the Hugging Face model directory `dir`. */
export async function loadTokenizer(dir: string): Promise<Tokenizer> {
  const { stat } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const info = await stat(dir).catch(() => null);
  if (info === null) throw new TokenizerError(`tokenizer directory ${dir} does not exist`);
  if (!info.isDirectory())
    throw new TokenizerError(`${dir} is not a directory (expected a Hugging Face model directory)`);

  const tokenizerPath = join(dir, 'tokenizer.json');
  const tokenizerText = await readOptional(tokenizerPath);
  if (tokenizerText === undefined) {
    throw new TokenizerError(
      `no tokenizer.json in ${dir}: expected a Hugging Face tokenizer (tokenizer.json with tokenizer_config.json beside it); ` +
        'slow-tokenizer files alone (tokenizer.model, vocab.json + merges.txt) are not supported',
    );
  }
  const optionalJson = async (name: string) => {
    const path = join(dir, name);
    const text = await readOptional(path);
    return text === undefined ? undefined : parseJson(text, path);
  };
  return Tokenizer.fromJSON({
    tokenizerJson: parseJson(tokenizerText, tokenizerPath),
    tokenizerConfig: await optionalJson('tokenizer_config.json'),
    generationConfig: await optionalJson('generation_config.json'),
    modelConfig: await optionalJson('config.json'),
    chatTemplate: await readOptional(join(dir, 'chat_template.jinja')),
    origin: dir,
  });
}
