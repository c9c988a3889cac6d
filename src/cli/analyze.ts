/** `slm analyze`: parameters, FLOPs/token, KV-cache bytes/token and weight memory of a config (no weights loaded). */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { analyzeConfig, type BytesByDType, type ConfigAnalysis } from '../config/analyze.js';
import { loadModelConfig } from '../config/load.js';
import { presetNames } from '../config/presets.js';
import { openCheckpoint, SAFETENSORS_FILE, SAFETENSORS_INDEX_FILE } from '../io/index.js';
import { defineCommand, UsageError } from './args.js';

/** What a model directory's safetensors checkpoint holds, read from the headers only. */
export interface CheckpointSummary {
  tensors: number;
  elements: number;
  /** Bytes of tensor data (all files). */
  bytes: number;
  /** Elements by safetensors dtype (BF16, F32, …). */
  dtypes: Record<string, number>;
}

/** Null when the directory has no safetensors checkpoint. */
export function checkpointSummary(dir: string): CheckpointSummary | null {
  if (!existsSync(join(dir, SAFETENSORS_FILE)) && !existsSync(join(dir, SAFETENSORS_INDEX_FILE))) return null;
  const reader = openCheckpoint(dir);
  try {
    const summary: CheckpointSummary = { tensors: 0, elements: 0, bytes: 0, dtypes: {} };
    for (const name of reader.names()) {
      const info = reader.info(name);
      const n = info.shape.reduce((a, b) => a * b, 1);
      summary.tensors++;
      summary.elements += n;
      summary.bytes += info.byteLength;
      summary.dtypes[info.dtype] = (summary.dtypes[info.dtype] ?? 0) + n;
    }
    return summary;
  } finally {
    reader.close();
  }
}

const group = (n: number) => Math.round(n).toLocaleString('en-US');

function scaled(n: number, units: readonly string[], base: number): string {
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= base && unit < units.length - 1) {
    value /= base;
    unit++;
  }
  const digits = unit === 0 ? 0 : value >= 100 ? 1 : value >= 10 ? 2 : 3;
  return `${value.toFixed(digits)}${units[unit]}`;
}

const count = (n: number) => scaled(n, ['', 'K', 'M', 'B', 'T'], 1000);
const flops = (n: number) => scaled(n, [' FLOP', ' KFLOP', ' MFLOP', ' GFLOP', ' TFLOP', ' PFLOP'], 1000);
const bytes = (n: number) => scaled(n, [' B', ' KiB', ' MiB', ' GiB', ' TiB'], 1024);
const percent = (part: number, whole: number) => (whole === 0 ? '' : `${((100 * part) / whole).toFixed(1)}%`);

function rows(lines: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const line of lines) {
    line.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return lines.map((line) =>
    line
      .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

const byDType = (b: BytesByDType) => [bytes(b.f32), bytes(b.bf16)];

/** The human-readable report of `slm analyze`. */
export function formatAnalysis(
  name: string,
  source: string,
  a: ConfigAnalysis,
  showLayers: boolean,
  checkpoint: CheckpointSummary | null = null,
): string {
  const arch = a.architecture;
  const p = a.params;
  const f = a.flopsPerToken;
  const kv = a.kvCache;
  const layers =
    arch.virtualLayers === arch.numLayers
      ? `${arch.numLayers} layers`
      : `${arch.numLayers} blocks run as ${arch.virtualLayers} layers`;
  const out = [
    `${name}  (${source})`,
    `${arch.attention}${arch.perLayerWidths ? ' (per-layer widths)' : ''}${arch.moe ? ' + MoE' : ''}, ${layers}, hidden ${arch.hiddenSize}, vocab ${group(arch.vocabSize)}, ` +
      `max context ${group(arch.maxPositionEmbeddings)}, ${arch.tiedEmbeddings ? 'tied' : 'untied'} embeddings`,
    '',
  ];
  const paramRows: string[][] = [
    ['Parameters', group(p.total), count(p.total), ''],
    ['  embedding', group(p.embedding), count(p.embedding), percent(p.embedding, p.total)],
    ['  attention', group(p.attention), count(p.attention), percent(p.attention, p.total)],
    ['  ffn', group(p.ffn), count(p.ffn), percent(p.ffn, p.total)],
    ['  norm', group(p.norm), count(p.norm), percent(p.norm, p.total)],
    arch.tiedEmbeddings
      ? ['  lm head (tied to embedding)', '0', '0', '']
      : ['  lm head', group(p.head), count(p.head), percent(p.head, p.total)],
    ['  non-embedding', group(p.nonEmbedding), count(p.nonEmbedding), percent(p.nonEmbedding, p.total)],
  ];
  if (arch.moe)
    paramRows.push([
      '  active per token',
      group(p.activePerToken),
      count(p.activePerToken),
      percent(p.activePerToken, p.total),
    ]);
  out.push(...rows(paramRows), '');
  const b = f.breakdown;
  out.push(
    ...rows([
      [`FLOPs per token (matmuls; ${group(f.contextLength)} keys)`, '', ''],
      ['  forward', group(f.forward), flops(f.forward)],
      [
        '    attention projections',
        group(b.attentionProjections),
        percent(b.attentionProjections, f.forward),
      ],
      ['    attention scores + values', group(b.attentionScores), percent(b.attentionScores, f.forward)],
      ['    ffn', group(b.ffn), percent(b.ffn, f.forward)],
      ['    lm head', group(b.lmHead), percent(b.lmHead, f.forward)],
      ['  training (3 x forward)', group(f.training), flops(f.training)],
    ]),
    '',
  );
  const kvLabel =
    kv.kind === 'mla' ? 'KV cache (MLA latent + rope key)' : `KV cache (K and V, ${kv.virtualLayers} layers)`;
  const memoryRows: string[][] = [
    ['Memory', 'f32', 'bf16/f16'],
    ['  weights', ...byDType(a.weightBytes)],
    ['  training state (weights, grads, AdamW m and v)', ...byDType(a.trainingStateBytes)],
    [`  ${kvLabel} per token`, ...byDType(kv.bytesPerToken)],
    [`  KV cache at ${group(f.contextLength)} tokens`, ...byDType(kv.bytesAtContext)],
  ];
  if (kv.decompressedBytesPerToken) {
    memoryRows.push(['  (decompressed K/V per token)', ...byDType(kv.decompressedBytesPerToken)]);
  }
  const act = a.activations;
  memoryRows.push(
    [`  logits of ${group(f.contextLength)} tokens (f32)`, bytes(act.logitsBytes), ''],
    ['  attention scores of one layer (unfused, f32)', bytes(act.attentionScoresBytes), ''],
  );
  out.push(...rows(memoryRows));
  if (checkpoint) {
    const dtypes = Object.keys(checkpoint.dtypes).join('/');
    const diff = checkpoint.elements - p.total;
    const verdict =
      diff === 0
        ? "equal to the config's count"
        : `${diff > 0 ? '+' : ''}${group(diff)} vs the config (buffers, or a stored copy of a tied head?)`;
    out.push(
      `  checkpoint on disk (${dtypes}): ${group(checkpoint.tensors)} tensors, ${group(checkpoint.elements)} elements, ${bytes(checkpoint.bytes)}; ${verdict}`,
    );
  }
  if (kv.slidingLayers > 0) {
    out.push(
      `  ${kv.slidingLayers} sliding-window layers keep at most ${group(kv.slidingWindow ?? 0)} tokens`,
    );
  }
  if (showLayers) {
    out.push(
      '',
      ...rows([
        ['Layer', 'heads', 'kv', 'ffn width', 'attention', 'ffn', 'total'],
        ...p.perLayer.map((l) => [
          String(l.layer),
          String(l.numAttentionHeads),
          String(l.numKeyValueHeads),
          l.moe ? 'MoE' : String(l.intermediateSize),
          group(l.attention),
          group(l.ffn),
          group(l.total),
        ]),
      ]),
    );
  }
  return `${out.join('\n')}\n`;
}

function layersDiffer(a: ConfigAnalysis): boolean {
  return a.architecture.perLayerWidths;
}

export const analyzeCommand = defineCommand({
  name: 'analyze',
  summary: 'parameters, FLOPs/token, KV-cache bytes/token and weight memory of a model (no weights loaded)',
  usage: '<preset | hf-dir | config.json> [--json] [--context N] [--layers]',
  description: [
    'Counts the parameters of exactly the tensors the model would allocate, by part; the matmul FLOPs of',
    'one token (2 x multiply-adds, attention against N keys, LM head included; training = 3 x forward);',
    'the KV cache per token (K and V per layer; MLA: the compressed latent); and weight bytes by dtype.',
    'A Hugging Face config.json (with "model_type") is read through the family adapters; any other JSON',
    'file is read as slmkit ModelConfig fields. Only config files are read, never weights.',
    '',
    `Presets: ${presetNames().join(', ')}`,
  ].join('\n'),
  positionals: [
    { name: 'model', description: 'a preset name, a Hugging Face model directory, or a config JSON file' },
  ],
  options: {
    json: {
      type: 'boolean',
      description: 'print one JSON object (params.total, flopsPerToken, kvCacheBytesPerToken, …)',
    },
    context: {
      type: 'integer',
      valueName: 'N',
      description:
        'keys each token attends to, for attention FLOPs and the whole-cache size (default min(max context, 2048))',
    },
    layers: {
      type: 'boolean',
      description: 'also print the per-layer table (shown anyway when layers differ)',
    },
  },
  examples: [
    'slm analyze smollm2-135m',
    'slm analyze ./SmolLM2-135M --json',
    'slm analyze openelm-270m --context 4096',
  ],
  async run({ options, positionals }, io) {
    if (options.context !== undefined && options.context <= 0) {
      throw new UsageError(`--context must be a positive integer, got ${options.context}`);
    }
    const spec = positionals[0]!;
    const { config, source, dir } = await loadModelConfig(spec);
    const analysis = analyzeConfig(config, { contextLength: options.context });
    const checkpoint = dir === null ? null : checkpointSummary(dir);
    if (options.json) {
      const extra = checkpoint ? { checkpoint } : {};
      io.stdout.write(`${JSON.stringify({ model: spec, source, ...analysis, ...extra }, null, 2)}\n`);
    } else {
      const layers = options.layers || layersDiffer(analysis);
      io.stdout.write(formatAnalysis(spec, source, analysis, layers, checkpoint));
    }
    return 0;
  },
});
