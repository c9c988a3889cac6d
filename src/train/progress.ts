/**
 * Training throughput and its report: FLOPs per token, model FLOP utilisation (MFU), and a progress
 * line on stderr — redrawn in place on a terminal, plain lines (every `logEvery` steps) otherwise.
 *
 * FLOPs per trained token (Kaplan et al. 2020; PaLM appendix B): 6·N + 12·L·H·Q·T, where N counts the
 * parameters of every matmul a token goes through (all but the embedding lookup; a tied embedding counts
 * once, as the LM head), 6 = 2 (multiply-add) × 3 (forward + backward), and the attention term is QKᵀ
 * and AV over T positions for L executed layers of H heads of size Q.
 */
import type { Backend } from '../backend/backend.js';
import type { Transformer } from '../model/transformer.js';

export function trainingFlopsPerToken(model: Transformer, seqLen: number): number {
  const c = model.config;
  let matmulParams = 0;
  for (const spec of model.specs) {
    if (spec.part === 'norm' || spec.shape.length < 2) continue;
    if (spec.path === 'model.embed_positions.weight') continue;
    if (spec.path === 'model.embed_tokens.weight' && !c.tieWordEmbeddings) continue;
    matmulParams += spec.shape.reduce((a, b) => a * b, 1);
  }
  const layers = model.order.length;
  const qDim = c.mla ? c.mla.qkNopeHeadDim + c.mla.qkRopeHeadDim : c.headDim;
  return 6 * matmulParams + 12 * layers * c.numAttentionHeads * qDim * seqLen;
}

/**
 * Peak float32 FLOP/s assumed for MFU when none is given. The cpu backend is single-threaded scalar
 * JavaScript: about one multiply-add per cycle at ~2.5 GHz. For WebGPU the figure depends on the
 * adapter; we assume an H100/H200-class GPU's non-tensor-core float32 rate (67 TFLOP/s) unless told.
 */
export function defaultPeakFlops(backend: Backend): number {
  if (backend.name === 'cpu') return 5e9;
  return 67e12;
}

export interface StepReport {
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  gradNorm: number;
  tokensPerSecond: number;
  /** Fraction of the peak (0–1). */
  mfu: number;
  /** Seconds left at the current rate. */
  etaSeconds: number;
}

export interface ProgressSink {
  step(report: StepReport): void;
  /** A message on its own line (evaluation, checkpoint). */
  log(message: string): void;
  finish(): void;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}h${String(m).padStart(2, '0')}m`
    : m > 0
      ? `${m}m${String(sec).padStart(2, '0')}s`
      : `${sec}s`;
}

function formatRate(x: number): string {
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(0);
}

export function formatStep(r: StepReport): string {
  const width = String(r.totalSteps).length;
  return (
    `step ${String(r.step).padStart(width)}/${r.totalSteps}  loss ${r.loss.toFixed(4)}  lr ${r.lr.toExponential(2)}` +
    `  |g| ${r.gradNorm.toFixed(2)}  ${formatRate(r.tokensPerSecond)} tok/s  MFU ${(100 * r.mfu).toFixed(2)}%` +
    `  ETA ${formatDuration(r.etaSeconds)}`
  );
}

interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** The stderr progress display. */
export class ProgressBar implements ProgressSink {
  private drawn = false;

  constructor(
    private readonly stream: Stream = process.stderr,
    private readonly logEvery = 10,
  ) {}

  step(r: StepReport): void {
    const line = formatStep(r);
    if (this.stream.isTTY) {
      const width = 20;
      const filled = Math.round((width * r.step) / r.totalSteps);
      const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] `;
      const text = (bar + line).slice(0, Math.max(20, (this.stream.columns ?? 200) - 1));
      this.stream.write(`\r\x1b[2K${text}`);
      this.drawn = true;
    } else if (r.step % this.logEvery === 0 || r.step === r.totalSteps || r.step === 1) {
      this.stream.write(`${line}\n`);
    }
  }

  log(message: string): void {
    if (this.drawn) this.stream.write('\r\x1b[2K');
    this.stream.write(`${message}\n`);
    this.drawn = false;
  }

  finish(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}

/** Discards everything (tests, library use without output). */
export const silentProgress: ProgressSink = { step() {}, log() {}, finish() {} };
