/** `slm web`: serve the browser playground (web/) and a model for it on localhost. */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStaticServer } from '../serve/static.js';
import { defineCommand } from './args.js';
import { resolveModelDir } from './model-arg.js';

const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export const webCommand = defineCommand({
  name: 'web',
  summary: 'serve the browser playground (WebGPU in the page) on localhost',
  usage: '[--model <dir>] [--port N] [--host ADDR]',
  description:
    'Serves web/ and the model it runs (default: the bundled model) from this machine; open the printed URL in a browser with ' +
    'WebGPU (Chrome, Edge, Safari 18+) or any browser for the CPU backend. Ctrl-C stops the server.',
  options: {
    model: {
      type: 'string',
      valueName: 'DIR',
      description: 'Hugging Face model directory to serve (default: the bundled model)',
    },
    port: { type: 'integer', default: 8080, description: 'port (default 8080; 0 picks a free one)' },
    host: {
      type: 'string',
      default: '127.0.0.1',
      valueName: 'ADDR',
      description: 'address to listen on (default 127.0.0.1)',
    },
  },
  async run({ options }, io) {
    const modelDir = resolveModelDir(options.model);
    const server = await startStaticServer({
      root: packageRoot,
      mounts: { '/model': modelDir },
      port: options.port,
      host: options.host,
      index: '/web/?model=/model',
    });
    io.stdout.write(`slmkit playground: ${server.url}/  (model ${modelDir}; Ctrl-C stops)\n`);
    await new Promise<void>((done) => {
      process.once('SIGINT', () => done());
      server.server.once('close', () => done());
    });
    await server.close();
  },
});
