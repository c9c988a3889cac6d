/**
 * Chat templates as transformers renders them (`apply_chat_template`, `utils/chat_template_utils.py`):
 * Jinja with trim_blocks and lstrip_blocks (what `@huggingface/jinja` does), the globals
 * `raise_exception` and `strftime_now`, and the variables `messages`, `tools`, `documents`,
 * `add_generation_prompt`, every special token (`bos_token`, `eos_token`, …) and any extra variables.
 */
import { Environment, Interpreter, Template } from '@huggingface/jinja';

export interface ChatMessage {
  role: string;
  /** A string, or a list of content parts such as `{type: 'text', text: '…'}`. */
  content?: string | Array<Record<string, unknown>> | null;
  [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** End the prompt with the header of an assistant turn. Default false, as in transformers. */
  addGenerationPrompt?: boolean;
  /** Leave the final (assistant) message open so generation continues it; excludes addGenerationPrompt. */
  continueFinalMessage?: boolean;
  /** Tool (function) schemas, passed to the template as `tools`. */
  tools?: unknown[] | null;
  /** Retrieval documents, passed to the template as `documents`. */
  documents?: unknown[] | null;
  /** Pick a named template when the tokenizer has several (e.g. 'tool_use'). */
  templateName?: string;
  /** A template string to use instead of the tokenizer's own. */
  template?: string;
  /** Extra template variables, e.g. `{date_string: '26 Jul 2024', enable_thinking: false}`. */
  variables?: Record<string, unknown>;
}

/** A template's own `raise_exception(...)`, or a template that cannot be chosen or rendered. */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
}

/** The chat template(s) of a tokenizer: one string, or several by name. */
export type ChatTemplates = string | Map<string, string>;

/** Reads `chat_template` as stored in tokenizer_config.json: a string or a list of {name, template}. */
export function parseChatTemplates(value: unknown, source: string): ChatTemplates | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = new Map<string, string>();
    for (const entry of value) {
      if (typeof entry?.name !== 'string' || typeof entry?.template !== 'string') {
        throw new ChatTemplateError(`${source}: chat_template list entries must be {name, template} strings`);
      }
      named.set(entry.name, entry.template);
    }
    return named;
  }
  throw new ChatTemplateError(`${source}: chat_template must be a string or a list of {name, template}`);
}

/** transformers' choice: the named template, else 'tool_use' when tools are given, else 'default'. */
export function selectChatTemplate(templates: ChatTemplates | null, options: ChatTemplateOptions): string {
  if (options.template !== undefined) return options.template;
  if (templates === null) {
    throw new ChatTemplateError(
      'this tokenizer has no chat template (no chat_template in tokenizer_config.json and no chat_template.jinja); pass options.template',
    );
  }
  if (typeof templates === 'string') {
    if (options.templateName !== undefined) {
      throw new ChatTemplateError(
        `this tokenizer has a single chat template, not one named '${options.templateName}'`,
      );
    }
    return templates;
  }
  const names = [...templates.keys()].join(', ');
  if (options.templateName !== undefined) {
    const named = templates.get(options.templateName);
    if (named === undefined) {
      throw new ChatTemplateError(`no chat template named '${options.templateName}' (available: ${names})`);
    }
    return named;
  }
  if (options.tools && templates.has('tool_use')) return templates.get('tool_use')!;
  const fallback = templates.get('default');
  if (fallback === undefined) {
    throw new ChatTemplateError(
      `this tokenizer has several chat templates and no 'default'; pass templateName (one of: ${names})`,
    );
  }
  return fallback;
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's `datetime.now().strftime(fmt)` for the directives chat templates use (C locale, local time). */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return format.replace(/%([a-zA-Z%])/g, (whole, directive: string) => {
    switch (directive) {
      case 'Y':
        return String(date.getFullYear());
      case 'y':
        return pad(date.getFullYear() % 100);
      case 'm':
        return pad(date.getMonth() + 1);
      case 'd':
        return pad(date.getDate());
      case 'e':
        return String(date.getDate()).padStart(2, ' ');
      case 'B':
        return MONTHS[date.getMonth()]!;
      case 'b':
      case 'h':
        return MONTHS[date.getMonth()]!.slice(0, 3);
      case 'A':
        return DAYS[date.getDay()]!;
      case 'a':
        return DAYS[date.getDay()]!.slice(0, 3);
      case 'H':
        return pad(date.getHours());
      case 'I':
        return pad(((date.getHours() + 11) % 12) + 1);
      case 'p':
        return date.getHours() < 12 ? 'AM' : 'PM';
      case 'M':
        return pad(date.getMinutes());
      case 'S':
        return pad(date.getSeconds());
      case 'j': {
        const dayOfYear = (date.getTime() - new Date(date.getFullYear(), 0, 1).getTime()) / 86_400_000;
        return pad(Math.floor(dayOfYear) + 1, 3);
      }
      case '%':
        return '%';
      default:
        return whole;
    }
  });
}

/** The text of the final message, where continueFinalMessage cuts the rendered prompt. */
function finalMessageText(messages: readonly ChatMessage[]): string {
  const content = messages.at(-1)?.content;
  if (typeof content === 'string') return content.trim();
  if (Array.isArray(content)) {
    for (let i = content.length - 1; i >= 0; i--) {
      const text = content[i]!.text;
      if (typeof text === 'string') return text.trim();
    }
  }
  throw new ChatTemplateError('continueFinalMessage needs a final message with text content');
}

const compiled = new Map<string, Template>();

/** Python's range(stop) / range(start, stop[, step]). */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new ChatTemplateError('range() step must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

/**
 * Template.render declares its own raise_exception and strftime_now, and redeclaring a variable is an
 * error there, so the environment is assembled here: Jinja's constants, then our globals.
 */
function runTemplate(template: Template, variables: Record<string, unknown>): string {
  const env = new Environment();
  const constants = { false: false, true: true, none: null, False: false, True: true, None: null };
  for (const [name, value] of Object.entries({ ...constants, range: pythonRange, ...variables })) {
    env.set(name, value);
  }
  return new Interpreter(env).run(template.parsed).value as string;
}

/** Renders `template` for `messages`; `specialTokens` become variables (`bos_token`, …). */
export function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  specialTokens: Readonly<Record<string, unknown>>,
  options: ChatTemplateOptions = {},
): string {
  if (!Array.isArray(messages)) throw new ChatTemplateError('messages must be an array of {role, content}');
  messages.forEach((m, i) => {
    if (typeof m !== 'object' || m === null || typeof m.role !== 'string') {
      throw new ChatTemplateError(`messages[${i}] must be an object with a string 'role'`);
    }
  });
  if (options.continueFinalMessage && options.addGenerationPrompt) {
    throw new ChatTemplateError('continueFinalMessage and addGenerationPrompt cannot both be set');
  }
  let parsed = compiled.get(template);
  if (!parsed) {
    try {
      parsed = new Template(template);
    } catch (e) {
      throw new ChatTemplateError(`chat template does not parse: ${(e as Error).message}`);
    }
    compiled.set(template, parsed);
  }
  const variables: Record<string, unknown> = {
    ...specialTokens,
    ...options.variables,
    messages,
    // null, not undefined: templates test `tools is not none`.
    tools: options.tools ?? null,
    documents: options.documents ?? null,
    add_generation_prompt: options.addGenerationPrompt ?? false,
    raise_exception: (message: unknown) => {
      throw new ChatTemplateError(String(message));
    },
    strftime_now: (format: string) => strftime(new Date(), format),
  };
  let rendered: string;
  try {
    rendered = runTemplate(parsed, variables);
  } catch (e) {
    if (e instanceof ChatTemplateError) throw e;
    throw new ChatTemplateError(`chat template failed to render: ${(e as Error).message}`);
  }
  if (options.continueFinalMessage) {
    const finalText = finalMessageText(messages);
    const at = rendered.lastIndexOf(finalText);
    if (at < 0)
      throw new ChatTemplateError(
        'continueFinalMessage: the final message does not appear in the rendered prompt',
      );
    rendered = rendered.slice(0, at + finalText.length);
  }
  return rendered;
}
