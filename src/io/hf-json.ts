/**
 * config.json text the way Python writes it: transformers v5 configs are strict dataclasses that refuse
 * an int where a float is declared (`"routed_scaling_factor": 1` fails, `1.0` loads), so keys that
 * hold floats keep a decimal point even for whole values.
 */

/** Keys transformers declares as float (and lists of floats), in config.json and generation_config.json. */
const FLOAT_KEYS = new Set([
  'attention_dropout',
  'attention_factor',
  'attn_logit_softcapping',
  'attn_pdrop',
  'beta_fast',
  'beta_slow',
  'classifier_dropout',
  'embd_pdrop',
  'factor',
  'final_logit_softcapping',
  'hidden_dropout',
  'high_freq_factor',
  'initializer_range',
  'length_penalty',
  'min_p',
  'repetition_penalty',
  'temperature',
  'top_p',
  'typical_p',
  'layer_norm_eps',
  'layer_norm_epsilon',
  'long_factor',
  'low_freq_factor',
  'mscale',
  'mscale_all_dim',
  'partial_rotary_factor',
  'resid_pdrop',
  'rms_norm_eps',
  'rope_local_base_freq',
  'rope_theta',
  'rotary_emb_base',
  'rotary_pct',
  'routed_scaling_factor',
  'scale_depth',
  'short_factor',
]);

function number(value: number, float: boolean): string {
  const text = JSON.stringify(value);
  return float && Number.isInteger(value) && !/e/i.test(text) ? `${text}.0` : text;
}

function write(value: unknown, indent: string, float: boolean): string {
  if (typeof value === 'number') return number(value, float);
  if (Array.isArray(value)) {
    if (value.every((v) => typeof v !== 'object' || v === null)) {
      return `[${value.map((v) => write(v, indent, float)).join(', ')}]`;
    }
    const inner = `${indent}  `;
    return `[\n${value.map((v) => inner + write(v, inner, float)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = `${indent}  `;
    const lines = entries.map(
      ([k, v]) => `${inner}${JSON.stringify(k)}: ${write(v, inner, FLOAT_KEYS.has(k))}`,
    );
    return `{\n${lines.join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Pretty JSON (2 spaces, keys in insertion order) with float keys written as floats. */
export function hfJson(value: unknown): string {
  return `${write(value, '', false)}\n`;
}
