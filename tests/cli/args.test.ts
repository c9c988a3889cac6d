/** The argument parser and the --backend helper of the `slm` command framework. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findBackend } from '../../src/backend/backend.js';
import {
  commandHelp,
  defineCommand,
  HelpRequested,
  parseArgs,
  parseIntList,
  suggest,
  UsageError,
} from '../../src/cli/args.js';
import { backendChoice, backendOption, isSoftwareAdapter, selectBackend } from '../../src/cli/backend.js';

const command = defineCommand({
  name: 'demo',
  summary: 'a demo command',
  usage: '<input> [more…] [options]',
  positionals: [
    { name: 'input', description: 'first input' },
    { name: 'more', description: 'more inputs', required: false, variadic: true },
  ],
  options: {
    model: { type: 'string', valueName: 'DIR', description: 'model directory' },
    json: { type: 'boolean', description: 'print JSON' },
    'max-new-tokens': { type: 'integer', default: 16, description: 'tokens to generate' },
    temperature: { type: 'number', description: 'sampling temperature' },
    stop: { type: 'string', repeated: true, short: 's', description: 'stop string' },
    out: { type: 'string', short: 'o', description: 'output file' },
    ...backendOption,
  },
  run: () => 0,
});

const parse = (...argv: string[]) => parseArgs(argv, command);

test('--flag value, --flag=value, booleans, defaults and positionals', () => {
  const a = parse('in.txt', '--model', 'm', '--temperature=0.7', '--json', 'b', 'c');
  assert.deepEqual(a.positionals, ['in.txt', 'b', 'c']);
  assert.equal(a.options.model, 'm');
  assert.equal(a.options.temperature, 0.7);
  assert.equal(a.options.json, true);
  assert.equal(a.options['max-new-tokens'], 16);
  assert.deepEqual(a.options.stop, []);
  assert.equal(a.options.out, undefined);

  const b = parse('x', '--json=false', '--max-new-tokens', '3', '--temperature', '-1.5');
  assert.equal(b.options.json, false);
  assert.equal(b.options['max-new-tokens'], 3);
  assert.equal(b.options.temperature, -1.5, 'a negative number is a value, not an option');
});

test('repeated options keep command-line order; short aliases take values', () => {
  const a = parse('x', '--stop', 'a', '-s', 'b', '--stop=c', '-o', 'out.bin');
  assert.deepEqual(a.options.stop, ['a', 'b', 'c']);
  assert.equal(a.options.out, 'out.bin');
  assert.equal(parse('x', '-oout.bin').options.out, 'out.bin');
});

test('-- ends the options', () => {
  const a = parse('--', '--json', '-x');
  assert.deepEqual(a.positionals, ['--json', '-x']);
  assert.equal(a.options.json, false);
});

test('--help and -h anywhere request help', () => {
  assert.throws(() => parse('--help'), HelpRequested);
  assert.throws(() => parse('x', '--model', 'm', '-h'), HelpRequested);
  assert.throws(() => parse('--jsn', '--help'), HelpRequested, 'help wins over other mistakes');
  assert.deepEqual(parse('--', '--help').positionals, ['--help'], 'after --, --help is an argument');
});

test('usage errors name the problem', () => {
  const cases: [string[], RegExp][] = [
    [['x', '--jsn'], /unknown option --jsn \(did you mean --json\?\)/],
    [['x', '--max-tokens', '3'], /unknown option --max-tokens \(did you mean --max-new-tokens\?\)/],
    [['x', '--zzzzzz'], /^unknown option --zzzzzz$/],
    [['x', '-q'], /unknown option -q/],
    [[], /missing argument <input>/],
    [['x', '--model'], /--model needs a value \(DIR\)/],
    [['x', '--model', '--json'], /--model needs a value/],
    [['x', '--max-new-tokens', '2.5'], /--max-new-tokens needs an integer, got '2.5'/],
    [['x', '--temperature', 'hot'], /--temperature needs a number, got 'hot'/],
    [['x', '--json=yes'], /--json is a flag/],
    [['x', '--model', 'a', '--model', 'b'], /--model was given more than once/],
    [['x', '--backend', 'gpu'], /--backend must be one of auto, cpu, webgpu, got 'gpu'/],
  ];
  for (const [argv, message] of cases) {
    assert.throws(
      () => parse(...argv),
      (e: unknown) => e instanceof UsageError && message.test(e.message),
      argv.join(' '),
    );
  }
});

test('required options, extra positionals and commands without positionals', () => {
  const strict = defineCommand({
    name: 'strict',
    summary: 's',
    usage: '--model DIR',
    options: { model: { type: 'string', required: true, description: 'm' } },
    run: () => 0,
  });
  assert.throws(() => parseArgs([], strict), /missing required option --model/);
  assert.throws(
    () => parseArgs(['--model', 'm', 'extra'], strict),
    /unexpected argument 'extra' \(this command takes no arguments\)/,
  );
  assert.equal(parseArgs(['--model', 'm'], strict).options.model, 'm');
});

test('parseIntList reads comma-separated ids and names the bad item', () => {
  assert.deepEqual(parseIntList('1,2, 3', 'ids'), [1, 2, 3]);
  assert.throws(() => parseIntList('1,x', 'ids'), /--ids: 'x' is not an integer/);
  assert.throws(() => parseIntList('', 'ids'), /--ids needs/);
});

test('suggest finds prefixes and near misses only', () => {
  assert.equal(suggest('analyz', ['analyze', 'forward']), 'analyze');
  assert.equal(suggest('froward', ['analyze', 'forward']), 'forward');
  assert.equal(suggest('xyz', ['analyze', 'forward']), null);
});

test('help lists usage, arguments, options with their notes, and examples', () => {
  const help = commandHelp({ ...command, examples: ['slm demo a.txt --json'] });
  assert.match(help, /^slm demo — a demo command\n\nUsage: slm demo <input> \[more…\] \[options\]/);
  assert.match(help, /<input> {2,}first input/);
  assert.match(help, /--model DIR {2,}model directory/);
  assert.match(help, /-s, --stop STRING {2,}stop string \(repeatable\)/);
  assert.match(help, /--max-new-tokens INTEGER {2,}tokens to generate \(default 16\)/);
  assert.match(help, /--backend NAME .*\(one of auto, cpu, webgpu\)/);
  assert.match(help, /-h, --help {2,}show this help/);
  assert.match(help, /Examples:\n {2}slm demo a.txt --json/);
});

test('--backend beats SLM_BACKEND, which beats auto; bad values are usage errors', () => {
  assert.equal(backendChoice(undefined, {}), 'auto');
  assert.equal(backendChoice(undefined, { SLM_BACKEND: 'cpu' }), 'cpu');
  assert.equal(backendChoice('webgpu', { SLM_BACKEND: 'cpu' }), 'webgpu');
  assert.throws(
    () => backendChoice(undefined, { SLM_BACKEND: 'cuda' }),
    /SLM_BACKEND must be one of auto, cpu, webgpu, got 'cuda'/,
  );
  assert.throws(() => backendChoice('metal', {}), UsageError);
});

test('selectBackend: cpu always works; webgpu works or fails with a clear reason; auto never fails', async () => {
  assert.equal((await selectBackend('cpu')).name, 'cpu');
  try {
    const gpu = await selectBackend('webgpu');
    assert.equal(gpu.name, 'webgpu');
  } catch (error) {
    assert.match(
      (error as Error).message,
      /^--backend webgpu: (this build of slmkit has no WebGPU|no WebGPU adapter found)/,
    );
  }
  const auto = await selectBackend('auto');
  assert.ok(auto.name === 'cpu' || auto.name === 'webgpu');
  // auto passes over a software adapter (lavapipe here and in CI): the cpu backend is faster.
  const gpu = findBackend('webgpu');
  if (gpu && isSoftwareAdapter(gpu)) assert.equal(auto.name, 'cpu');
  await selectBackend('cpu');
});

test('software adapters are recognised by their adapter info', () => {
  const fake = (description: string) => ({
    name: 'webgpu',
    adapterInfo: { vendor: 'x', architecture: '', device: '', description },
  });
  assert.equal(isSoftwareAdapter(fake('llvmpipe (LLVM 15.0.6, 256 bits)') as never), true);
  assert.equal(isSoftwareAdapter(fake('NVIDIA H200') as never), false);
  assert.equal(isSoftwareAdapter(undefined), false);
});
