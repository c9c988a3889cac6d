/**
 * The command framework of `slm`: how a command declares itself (name, summary, arguments, options,
 * run) and a small argument parser with no dependency. Supported forms: `--flag value`,
 * `--flag=value`, boolean flags (`--json`, `--json=false`), declared short aliases (`-h`, `-o out`),
 * positionals, repeatable options, and `--` to end options. Unknown options are usage errors with a
 * "did you mean" suggestion. Values are typed by the spec, so `run` receives numbers as numbers.
 */

import { suggest } from '../config/suggest.js';

export { suggest };

export type OptionType = 'string' | 'number' | 'integer' | 'boolean';

export interface OptionSpec {
  type: OptionType;
  description: string;
  /** One-letter alias: `-o` for `--out`. */
  short?: string;
  /** Placeholder in help: `--out FILE`. Defaults to the uppercased type. */
  valueName?: string;
  /** The option may be given several times; its value is then an array in command-line order. */
  repeated?: boolean;
  required?: boolean;
  /** Allowed values (string options). */
  choices?: readonly string[];
  default?: string | number | boolean;
}

export interface PositionalSpec {
  name: string;
  description: string;
  /** Defaults to true. */
  required?: boolean;
  /** Takes every remaining positional (only the last one may be variadic). */
  variadic?: boolean;
}

export type OptionsSpec = Record<string, OptionSpec>;

type ScalarOf<S extends OptionSpec> = S['type'] extends 'boolean'
  ? boolean
  : S['type'] extends 'number' | 'integer'
    ? number
    : string;

/** The parsed value type of each declared option. */
export type OptionValues<O extends OptionsSpec> = {
  [K in keyof O]: O[K] extends { repeated: true }
    ? ScalarOf<O[K]>[]
    : O[K] extends { type: 'boolean' }
      ? boolean
      : O[K] extends { required: true } | { default: string | number }
        ? ScalarOf<O[K]>
        : ScalarOf<O[K]> | undefined;
};

export interface ParsedArgs<O extends OptionsSpec = OptionsSpec> {
  options: OptionValues<O>;
  positionals: string[];
}

/** Where a command writes; tests pass collectors, the bin passes the process streams. */
export interface CommandIO {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
}

export interface Command<O extends OptionsSpec = OptionsSpec> {
  name: string;
  /** One line, shown by `slm --help`. */
  summary: string;
  /** The synopsis after `slm <name> `, e.g. `<preset | hf-dir | config.json> [--json] [--context N]`. */
  usage: string;
  /** Paragraphs shown after the synopsis in `slm <name> --help`. */
  description?: string;
  positionals?: readonly PositionalSpec[];
  options: O;
  /** Example invocations, shown at the end of the help. */
  examples?: readonly string[];
  /** Returns the exit code (default 0). Throw UsageError for bad invocations, Error for failures. */
  run(args: ParsedArgs<O>, io: CommandIO): Promise<number | undefined> | number | undefined;
}

/** Declares a command with its option types inferred from the spec. */
export function defineCommand<const O extends OptionsSpec>(command: Command<O>): Command<O> {
  return command;
}

/** A bad invocation (exit code 2); the CLI prints it with a pointer to `--help`. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Raised by the parser for `--help`/`-h`; the CLI prints the command's help and exits 0. */
export class HelpRequested extends Error {
  constructor() {
    super('help requested');
    this.name = 'HelpRequested';
  }
}

export const helpOption: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help' };

function convert(name: string, spec: OptionSpec, raw: string): string | number | boolean {
  switch (spec.type) {
    case 'boolean':
      if (raw === 'true' || raw === '1') return true;
      if (raw === 'false' || raw === '0') return false;
      throw new UsageError(`--${name} is a flag; it takes no value (or =true / =false), got '${raw}'`);
    case 'number': {
      const value = raw.trim() === '' ? Number.NaN : Number(raw);
      if (!Number.isFinite(value)) throw new UsageError(`--${name} needs a number, got '${raw}'`);
      return value;
    }
    case 'integer': {
      const value = raw.trim() === '' ? Number.NaN : Number(raw);
      if (!Number.isInteger(value)) throw new UsageError(`--${name} needs an integer, got '${raw}'`);
      return value;
    }
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}, got '${raw}'`);
      }
      return raw;
  }
}

/**
 * Parses `argv` (the words after the command name) against a command's options and positionals.
 * Throws UsageError for anything malformed and HelpRequested for `--help`/`-h`.
 */
export function parseArgs<O extends OptionsSpec>(
  argv: readonly string[],
  command: Pick<Command<O>, 'options' | 'positionals'>,
): ParsedArgs<O> {
  const specs: OptionsSpec = { ...command.options, help: helpOption };
  const byShort = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) byShort.set(spec.short, name);
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];

  const set = (name: string, spec: OptionSpec, raw: string | null) => {
    const value = raw === null ? true : convert(name, spec, raw);
    if (spec.repeated) {
      const list = (values[name] as unknown[] | undefined) ?? [];
      list.push(value);
      values[name] = list;
    } else {
      if (name in values && spec.type !== 'boolean') {
        throw new UsageError(`--${name} was given more than once`);
      }
      values[name] = value;
    }
  };

  // Help wins over any other mistake on the line.
  const end = argv.indexOf('--');
  if ((end === -1 ? argv : argv.slice(0, end)).some((w) => w === '--help' || w === '-h')) {
    throw new HelpRequested();
  }

  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    let name: string;
    let inline: string | null = null;
    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      name = eq === -1 ? word.slice(2) : word.slice(2, eq);
      if (eq !== -1) inline = word.slice(eq + 1);
      if (!(name in specs)) {
        const hint = suggest(name, Object.keys(specs));
        throw new UsageError(`unknown option --${name}${hint ? ` (did you mean --${hint}?)` : ''}`);
      }
    } else if (word.startsWith('-') && word.length > 1 && !/^-\d/.test(word)) {
      const short = word.slice(1, 2);
      const long = byShort.get(short);
      if (!long) throw new UsageError(`unknown option ${word}`);
      name = long;
      if (word.length > 2) inline = word.slice(2).replace(/^=/, '');
    } else {
      positionals.push(word);
      continue;
    }
    const spec = specs[name]!;
    if (name === 'help') throw new HelpRequested();
    if (spec.type === 'boolean') {
      set(name, spec, inline);
      continue;
    }
    if (inline === null) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new UsageError(`--${name} needs a value${spec.valueName ? ` (${spec.valueName})` : ''}`);
      }
      inline = next;
      i++;
    }
    set(name, spec, inline);
  }

  for (const [name, spec] of Object.entries(command.options)) {
    if (name in values) continue;
    if (spec.required) throw new UsageError(`missing required option --${name}`);
    if (spec.repeated) values[name] = [];
    else if (spec.default !== undefined) values[name] = spec.default;
    else if (spec.type === 'boolean') values[name] = false;
  }

  const declared = command.positionals ?? [];
  const variadic = declared.at(-1)?.variadic === true;
  declared.forEach((p, i) => {
    if ((p.required ?? true) && positionals.length <= i) {
      throw new UsageError(`missing argument <${p.name}>`);
    }
  });
  if (!variadic && positionals.length > declared.length) {
    const extra = positionals[declared.length]!;
    throw new UsageError(
      extra.startsWith('-')
        ? `unknown option ${extra}`
        : `unexpected argument '${extra}'${declared.length === 0 ? ' (this command takes no arguments)' : ''}`,
    );
  }
  return { options: values as OptionValues<O>, positionals };
}

/** Comma-separated integers (`--ids 1,2,3`), with an error naming the option and the bad item. */
export function parseIntList(value: string, optionName: string): number[] {
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${optionName} needs a comma-separated list of integers`);
  return items.map((item) => {
    const n = Number(item);
    if (!Number.isInteger(n)) throw new UsageError(`--${optionName}: '${item}' is not an integer`);
    return n;
  });
}

function optionLabel(name: string, spec: OptionSpec): string {
  const value = spec.type === 'boolean' ? '' : ` ${spec.valueName ?? spec.type.toUpperCase()}`;
  return `${spec.short ? `-${spec.short}, ` : '    '}--${name}${value}`;
}

function table(rows: readonly [string, string][], indent = '  '): string {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`.trimEnd()).join('\n');
}

/** The text of `slm <name> --help`. */
export function commandHelp(command: Command<any>): string {
  const parts = [
    `slm ${command.name} — ${command.summary}`,
    '',
    `Usage: slm ${command.name} ${command.usage}`,
  ];
  if (command.description) parts.push('', command.description.trim());
  const positionals = command.positionals ?? [];
  if (positionals.length > 0) {
    parts.push('', 'Arguments:', table(positionals.map((p) => [`<${p.name}>`, p.description])));
  }
  const options = Object.entries({ ...command.options, help: helpOption } as OptionsSpec).map(
    ([name, spec]): [string, string] => {
      const notes: string[] = [];
      if (spec.choices) notes.push(`one of ${spec.choices.join(', ')}`);
      if (spec.default !== undefined && spec.type !== 'boolean') notes.push(`default ${spec.default}`);
      if (spec.required) notes.push('required');
      if (spec.repeated) notes.push('repeatable');
      return [optionLabel(name, spec), `${spec.description}${notes.length ? ` (${notes.join('; ')})` : ''}`];
    },
  );
  parts.push('', 'Options:', table(options));
  if (command.examples?.length) {
    parts.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`));
  }
  return `${parts.join('\n')}\n`;
}
