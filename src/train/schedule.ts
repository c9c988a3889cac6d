/**
 * Learning-rate schedules, as a function of the 1-based update number t (t = 1 is the first optimizer
 * step, t = totalSteps the last):
 *
 * - `cosine`: linear warmup to the peak over `warmupSteps`, then half a cosine down to `minLR`, reached
 *   exactly at t = totalSteps (Loshchilov & Hutter 2017; the nanoGPT/Chinchilla recipe).
 * - `wsd` (warmup–stable–decay, MiniCPM, Hu et al. 2024): warmup, then the peak held constant, then a
 *   linear decay to `minLR` over the last `decayFraction` of the steps. A run can be continued from any
 *   stable-phase checkpoint with a longer horizon, which is why small-model trainers like it.
 * - `constant`: warmup, then the peak.
 */

export type ScheduleKind = 'cosine' | 'wsd' | 'constant';

export const SCHEDULE_KINDS: readonly ScheduleKind[] = ['cosine', 'wsd', 'constant'];

export interface ScheduleOptions {
  kind: ScheduleKind;
  peakLR: number;
  minLR: number;
  warmupSteps: number;
  totalSteps: number;
  /** wsd: fraction of totalSteps spent decaying at the end. Default 0.2. */
  decayFraction?: number;
}

export function validateSchedule(s: ScheduleOptions): void {
  if (!SCHEDULE_KINDS.includes(s.kind))
    throw new Error(`schedule must be one of ${SCHEDULE_KINDS.join(', ')}, got '${s.kind}'`);
  if (!(s.peakLR > 0)) throw new Error(`the learning rate must be positive, got ${s.peakLR}`);
  if (!(s.minLR >= 0 && s.minLR <= s.peakLR))
    throw new Error(`minLR must be in [0, lr = ${s.peakLR}], got ${s.minLR}`);
  if (!Number.isInteger(s.totalSteps) || s.totalSteps < 1)
    throw new Error(`steps must be a positive integer, got ${s.totalSteps}`);
  if (!Number.isInteger(s.warmupSteps) || s.warmupSteps < 0 || s.warmupSteps > s.totalSteps)
    throw new Error(`warmup must be an integer in [0, steps = ${s.totalSteps}], got ${s.warmupSteps}`);
  const f = s.decayFraction ?? 0.2;
  if (!(f >= 0 && f <= 1)) throw new Error(`decayFraction must be in [0, 1], got ${f}`);
}

/** The learning rate of update t (1-based). */
export function learningRate(t: number, s: ScheduleOptions): number {
  if (t <= s.warmupSteps) return (s.peakLR * t) / s.warmupSteps;
  if (s.kind === 'constant') return s.peakLR;
  if (s.kind === 'cosine') {
    const span = s.totalSteps - s.warmupSteps;
    const progress = span > 0 ? Math.min(1, (t - s.warmupSteps) / span) : 1;
    return s.minLR + 0.5 * (s.peakLR - s.minLR) * (1 + Math.cos(Math.PI * progress));
  }
  const decaySteps = Math.round((s.decayFraction ?? 0.2) * s.totalSteps);
  const decayStart = Math.max(s.warmupSteps, s.totalSteps - decaySteps);
  if (t <= decayStart) return s.peakLR;
  const progress = Math.min(1, (t - decayStart) / (s.totalSteps - decayStart));
  return s.peakLR + (s.minLR - s.peakLR) * progress;
}
