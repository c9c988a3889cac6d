#!/usr/bin/env node
/**
 * `slm`: the command-line front end (a thin layer over the library; DESIGN.md "Command line contract").
 *
 * Adding a command (one file, one import, one registry entry):
 *
 *   1. Create src/cli/<name>.ts exporting a command made with `defineCommand` from ./args.js:
 *
 *        export const forwardCommand = defineCommand({
 *          name: 'forward',
 *          summary: 'run a model on token ids and save the logits',
 *          usage: '--model <hf-dir> --ids 1,2,3 --out logits.safetensors [--backend cpu|webgpu]',
 *          options: {
 *            model: { type: 'string', required: true, valueName: 'DIR', description: 'Hugging Face directory' },
 *            ids: { type: 'string', required: true, valueName: 'LIST', description: 'comma-separated token ids' },
 *            ...backendOption,                           // from ./backend.js; then `await useBackend(...)`
 *          },
 *          async run({ options, positionals }, io) {     // options are typed from the spec
 *            const backend = await useBackend(options.backend, io.env);
 *            const ids = parseIntList(options.ids, 'ids');
 *            io.stdout.write(`${JSON.stringify({ ids })}\n`);
 *          },                                            // return an exit code, or nothing for 0
 *        });
 *
 *   2. Import it below and add it to `commands` (the order is the order of `slm --help`).
 *
 * Contract every command gets for free: `--help`/`-h`; unknown options, missing arguments and bad
 * values are usage errors (exit 2, `slm <command>: <message>` plus a pointer to --help); throw
 * `UsageError` for your own usage checks; any other thrown Error prints `slm <command>: <message>`
 * and exits 1, with the stack only when SLM_DEBUG=1. Write output through `io.stdout`/`io.stderr`
 * (tests capture them); long-running commands may stream to them.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { version } from '../index.js';
import { analyzeCommand } from './analyze.js';
import {
  type Command,
  type CommandIO,
  commandHelp,
  HelpRequested,
  parseArgs,
  suggest,
  UsageError,
} from './args.js';
import { benchCommand } from './bench.js';
import { chatCommand } from './chat.js';
import { evalCommand } from './eval.js';
import { exportCommand } from './export.js';
import { finetuneCommand } from './finetune.js';
import { forwardCommand } from './forward.js';
import { generateCommand } from './generate.js';
import { serveCommand } from './serve.js';
import { templateCommand } from './template.js';
import { tokenizeCommand } from './tokenize.js';
import { trainCommand } from './train.js';
import { webCommand } from './web.js';

export const commands: readonly Command<any>[] = [
  analyzeCommand,
  forwardCommand,
  tokenizeCommand,
  templateCommand,
  generateCommand,
  chatCommand,
  benchCommand,
  evalCommand,
  trainCommand,
  finetuneCommand,
  exportCommand,
  serveCommand,
  webCommand,
];

export function findCommand(name: string): Command<any> | undefined {
  return commands.find((c) => c.name === name);
}

export function mainHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `slm ${version} — small language models: define, analyze, train and run them on CPU or WebGPU`,
    '',
    'Usage: slm <command> [arguments] [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Global options:',
    '  -h, --help     show help (slm <command> --help for a command)',
    '  --version      print the version',
    '',
    'Environment: SLM_BACKEND=auto|cpu|webgpu (default backend), SLM_DEBUG=1 (stack traces on errors).',
    '',
  ].join('\n');
}

const processIO: CommandIO = { stdout: process.stdout, stderr: process.stderr, env: process.env };

function report(io: CommandIO, prefix: string, error: unknown): void {
  const debug = io.env.SLM_DEBUG === '1';
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`${prefix}: ${message}\n`);
  if (debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
}

/** Runs `slm` with the words after the program name; resolves to the exit code. */
export async function main(argv: readonly string[], io: CommandIO = processIO): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    const command = topic === undefined ? undefined : findCommand(topic);
    if (topic !== undefined && !command) return main([topic], io);
    if (first === undefined) {
      io.stderr.write(mainHelp());
      return 2;
    }
    io.stdout.write(command ? commandHelp(command) : mainHelp());
    return 0;
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${version}\n`);
    return 0;
  }
  const command = findCommand(first);
  if (!command) {
    const names = commands.map((c) => c.name);
    const hint = first.startsWith('-') ? null : suggest(first, names);
    const what = first.startsWith('-') ? `unknown option ${first}` : `unknown command '${first}'`;
    io.stderr.write(
      `slm: ${what}${hint ? ` (did you mean '${hint}'?)` : ''}\nCommands: ${names.join(', ')}. Run 'slm --help' for usage.\n`,
    );
    return 2;
  }
  const prefix = `slm ${command.name}`;
  try {
    const args = parseArgs(rest, command);
    return (await command.run(args, io)) ?? 0;
  } catch (error) {
    if (error instanceof HelpRequested) {
      io.stdout.write(commandHelp(command));
      return 0;
    }
    if (error instanceof UsageError) {
      report(io, prefix, error);
      io.stderr.write(`Usage: slm ${command.name} ${command.usage}\nRun '${prefix} --help' for details.\n`);
      return 2;
    }
    report(io, prefix, error);
    return 1;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    // npm installs the bin as a symlink, so compare real paths.
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      report(processIO, 'slm', error);
      process.exitCode = 1;
    },
  );
}
