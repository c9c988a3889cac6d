/// <reference types="@webgpu/types" />
/**
 * Bind groups shared across the planned step's dispatches (DecodePlanOptions.sharedBindings). What a
 * dispatch costs the host in Dawn is mostly its setBindGroup and the buffers it binds
 * (bench/dispatch-cost.ts: on the H200 machine 3.6–4.0 µs a dispatch with a group each, 2.9–3.1 µs with
 * one group per five), so the recorded step is rewritten after recording to bind four slots:
 *
 * - slot 0, set once a step: the step uniform;
 * - slot 1, the unit's group, set twice a layer (for norm·QKV, then from the attention on): every
 *   buffer other than the activations (the weight and constant arenas, q/k/v, the KV cache, the RoPE
 *   table), one binding per buffer and element type, spanning the ranges the unit uses;
 * - slots 2 and 3, set once a step: the two activation arenas, A read-only with B read_write (slot 2)
 *   and B read-only with A read_write (slot 3).
 *
 * Each activation (x, the FFN's hidden units, the attention output and partials …) is placed in one
 * arena so that every kernel reads its activation inputs from one arena and writes its outputs into the
 * other: a two-colouring of the step's dataflow. A kernel's pipeline layout names only one of slots 2
 * and 3 (the other is null), and a dispatch's usage scope holds only the groups its layout names, so
 * both arena groups stay bound all step while each kernel still reads its inputs read-only: on the
 * H200 a read_write input costs NVIDIA's read-only load path (the attention kernel: 15%). A dispatch
 * whose activations cannot be coloured (a cycle of three, as sandwich norms make: gate/up → down →
 * norm·add) binds its activation ranges in a group of its own.
 *
 * Each kernel's WGSL is rewritten to match: its own declarations go, and every `name[i]` becomes an
 * index into the shared view at the range's offset (`slmIn[b + (i >> 2)][i & 3]` for a scalar read
 * through a vec4 view). The offsets inside a layer's ranges are the same in every layer of the same
 * shape, so the rewritten kernels (and their pipelines) are shared across layers. Anything the rewrite
 * does not understand throws, and the plan keeps its per-dispatch bind groups.
 */
import type { PlannedDispatch } from './decode-plan-dispatch.js';
import { type Declaration, elementBytes, parseDeclarations, rewriteIndexing } from './decode-plan-wgsl.js';

export { parseDeclarations, rewriteIndexing } from './decode-plan-wgsl.js';

/** A dispatch as recorded: its WGSL and bind group entries (buffer ranges). */
export interface RecordedDispatch {
  label: string;
  code: string;
  entries: { binding: number; resource: GPUBufferBinding }[];
  groups: [number, number];
}

/** A binding of a kernel: its declaration and the range bound to it (remapped into an arena where it is an activation). */
interface Use {
  decl: Declaration;
  buffer: GPUBuffer;
  offset: number;
  size: number;
  /** Index of the activation it binds, or null. */
  act: number | null;
}

/** Classes of nodes with a colour relative to their class (0 or 1): a union-find with parity. */
class ParityClasses {
  constructor(
    private readonly parent: number[],
    private readonly flip: number[],
  ) {}

  static of(n: number): ParityClasses {
    return new ParityClasses(
      Array.from({ length: n }, (_, i) => i),
      new Array<number>(n).fill(0),
    );
  }

  copy(): ParityClasses {
    return new ParityClasses([...this.parent], [...this.flip]);
  }

  private find(x: number): [number, number] {
    let parity = 0;
    while (this.parent[x] !== x) {
      parity ^= this.flip[x]!;
      x = this.parent[x]!;
    }
    return [x, parity];
  }

  /** Puts `a` and `b` in one class, with colours that differ or not; false where that contradicts it. */
  relate(a: number, b: number, differ: boolean): boolean {
    const [ra, pa] = this.find(a);
    const [rb, pb] = this.find(b);
    const want = differ ? 1 : 0;
    if (ra === rb) return (pa ^ pb) === want;
    this.parent[ra] = rb;
    this.flip[ra] = pa ^ pb ^ want;
    return true;
  }

  colour(x: number): number {
    return this.find(x)[1];
  }
}

const IN = 'slmIn';
const OUT = 'slmOut';
const floatTypes = new Set(['f32', 'vec4<f32>']);

/**
 * Layouts and pipelines by key, per device: every plan's rewritten kernels are the same text for the
 * same shapes (as the runtime caches the per-dispatch ones), and layouts made from the same entries
 * are interchangeable.
 */
const deviceCaches = new WeakMap<
  GPUDevice,
  {
    layouts: Map<string, GPUBindGroupLayout>;
    pipelineLayouts: Map<string, GPUPipelineLayout>;
    pipelines: Map<string, GPUComputePipeline>;
  }
>();

/** The bind groups and pipelines of a shared-binding step. */
export class SharedBindings {
  private readonly layouts: Map<string, GPUBindGroupLayout>;
  private readonly pipelineLayouts: Map<string, GPUPipelineLayout>;
  private readonly pipelines: Map<string, GPUComputePipeline>;
  private readonly group0Layout: GPUBindGroupLayout;
  private readonly group0: GPUBindGroup;
  private readonly arenaLayout: GPUBindGroupLayout;

  constructor(
    private readonly device: GPUDevice,
    private readonly stepUniform: GPUBuffer,
    /** The step's activations, a buffer each (their contents move into the arenas). */
    private readonly activations: readonly GPUBuffer[],
    /** Allocates an arena (a storage buffer the plan owns). */
    private readonly makeBuffer: (bytes: number) => GPUBuffer,
  ) {
    let cache = deviceCaches.get(device);
    if (!cache) {
      cache = { layouts: new Map(), pipelineLayouts: new Map(), pipelines: new Map() };
      deviceCaches.set(device, cache);
    }
    ({ layouts: this.layouts, pipelineLayouts: this.pipelineLayouts, pipelines: this.pipelines } = cache);
    this.group0Layout = this.layout(['uniform']);
    this.group0 = device.createBindGroup({
      layout: this.group0Layout,
      entries: [{ binding: 0, resource: { buffer: stepUniform } }],
    });
    this.arenaLayout = this.layout(['read-only-storage', 'storage']);
  }

  private layout(types: readonly GPUBufferBindingType[]): GPUBindGroupLayout {
    const key = types.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: types.map((type, binding) => ({ binding, visibility: 4 /* COMPUTE */, buffer: { type } })),
      });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /** The pipeline of rewritten `code`: groups 0 and 1, then the arena group of `inArena` (none for null). */
  private pipeline(
    code: string,
    group1: readonly GPUBufferBindingType[],
    inArena: number | null,
  ): GPUComputePipeline {
    const key = `${group1.join(',')};${inArena}`;
    let layout = this.pipelineLayouts.get(key);
    if (!layout) {
      const arenas = inArena === null ? [] : inArena === 0 ? [this.arenaLayout] : [null, this.arenaLayout];
      layout = this.device.createPipelineLayout({
        bindGroupLayouts: [this.group0Layout, this.layout(group1), ...arenas],
      });
      this.pipelineLayouts.set(key, layout);
    }
    const cacheKey = `${key}\n${code}`;
    let pipeline = this.pipelines.get(cacheKey);
    if (!pipeline) {
      const module = this.device.createShaderModule({ code });
      pipeline = this.device.createComputePipeline({ layout, compute: { module, entryPoint: 'main' } });
      this.pipelines.set(cacheKey, pipeline);
    }
    return pipeline;
  }

  /** The whole step's dispatches, rewritten: see the file's comment. */
  share(recorded: readonly RecordedDispatch[]): PlannedDispatch[] {
    // Comments could mention a binding's name unindexed.
    const codes = recorded.map((d) => d.code.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, ''));
    const uses = recorded.map((dispatch, d) => this.usesOf(dispatch, codes[d]!));
    // Colour the activations: a kernel's inputs in its in-arena, its outputs in the other. A dispatch
    // whose uses contradict the colouring so far is left out of it ("loose").
    const acts = this.activations.length;
    let classes = ParityClasses.of(acts + recorded.length);
    const loose = new Set<number>();
    for (const [d, list] of uses.entries()) {
      const own = list.filter((u) => u.act !== null);
      if (own.length === 0) continue;
      const trial = classes.copy();
      const fits = own.every(
        (u) =>
          floatTypes.has(u.decl.elem) &&
          u.offset % 16 === 0 &&
          trial.relate(u.act!, acts + d, u.decl.access === 'read_write'),
      );
      if (fits) classes = trial;
      else loose.add(d);
    }
    // The arenas: each activation at an aligned offset of its colour's buffer.
    const limits = this.device.limits;
    const align = Math.max(16, limits.minStorageBufferOffsetAlignment);
    const ends = [0, 0];
    const placed = this.activations.map((a, i) => {
      const arena = classes.colour(i);
      const offset = ends[arena]!;
      ends[arena] = Math.ceil((offset + a.size) / align) * align;
      return { arena, offset };
    });
    if (Math.max(...ends) > limits.maxStorageBufferBindingSize)
      throw new Error('the activations exceed one storage binding');
    const arenas = ends.map((bytes) => this.makeBuffer(Math.max(16, bytes)));
    for (const list of uses)
      for (const u of list) {
        if (u.act === null) continue;
        const { arena, offset } = placed[u.act]!;
        u.offset += offset;
        u.buffer = arenas[arena]!;
      }
    const arenaGroups = [0, 1].map((inArena) =>
      this.device.createBindGroup({
        layout: this.arenaLayout,
        entries: [
          { binding: 0, resource: { buffer: arenas[inArena]! } },
          { binding: 1, resource: { buffer: arenas[1 - inArena]! } },
        ],
      }),
    );
    const inArenaOf = (d: number) =>
      loose.has(d) || uses[d]!.every((u) => u.act === null) ? null : classes.colour(acts + d);
    const step: Step = { recorded, codes, uses, inArenaOf, arenas, arenaGroups, loose };
    return shareUnits(recorded, loose).flatMap((unit) => {
      try {
        return this.shareUnit(step, unit);
      } catch (error) {
        if (unit.length === 1) throw error;
        return unit.flatMap((d) => this.shareUnit(step, [d]));
      }
    });
  }

  private usesOf(dispatch: RecordedDispatch, code: string): Use[] {
    const byBinding = new Map(dispatch.entries.map((e) => [e.binding, e.resource]));
    return parseDeclarations(code).map((decl) => {
      const range = byBinding.get(decl.binding);
      if (!range) throw new Error(`${dispatch.label}: binding ${decl.binding} has no resource`);
      const offset = range.offset ?? 0;
      const size = range.size ?? range.buffer.size - offset;
      const act = decl.access === 'uniform' ? -1 : this.activations.indexOf(range.buffer);
      if (decl.access === 'uniform' && range.buffer !== this.stepUniform)
        throw new Error('a uniform other than the step uniform');
      return { decl, buffer: range.buffer, offset, size, act: act >= 0 ? act : null };
    });
  }

  /**
   * The dispatches `unit` (indices into the step) with one group 1 between them: every binding that is
   * not the step uniform or an arena view. A loose dispatch (a unit of its own) binds its activations
   * there too, a binding per activation.
   */
  private shareUnit(step: Step, unit: readonly number[]): PlannedDispatch[] {
    const align = this.device.limits.minStorageBufferOffsetAlignment;
    const inArena = unit.map((d) => step.inArenaOf(d));
    const viaArena = (d: number, u: Use) => u.act !== null && step.inArenaOf(d) !== null;
    interface Entry {
      buffer: GPUBuffer;
      start: number;
      end: number;
      views: string[];
    }
    // Per buffer (per activation, for a loose dispatch's), one range over all its uses and one binding
    // per element type read through it; a buffer any use writes is read_write in all its bindings.
    const entries = new Map<unknown, Entry>();
    const written = new Set<GPUBuffer>();
    const keyOf = (d: number, u: Use) => (u.act !== null && step.loose.has(d) ? `act ${u.act}` : u.buffer);
    for (const d of unit)
      for (const u of step.uses[d]!) {
        if (u.decl.access === 'uniform' || viaArena(d, u)) continue;
        if (u.decl.access === 'read_write') written.add(u.buffer);
        const key = keyOf(d, u);
        const start = Math.floor(u.offset / align) * align;
        const end = u.offset + u.size;
        const entry = entries.get(key);
        if (!entry) entries.set(key, { buffer: u.buffer, start, end, views: [u.decl.elem] });
        else {
          entry.start = Math.min(entry.start, start);
          entry.end = Math.max(entry.end, end);
          if (!entry.views.includes(u.decl.elem)) entry.views.push(u.decl.elem);
        }
      }
    for (const entry of entries.values())
      if (written.has(entry.buffer) && entry.views.length > 1)
        throw new Error(
          `a written buffer read as ${entry.views.join(' and ')} (views that would alias) in ${step.recorded[unit[0]!]!.label}`,
        );
    const views: { key: unknown; elem: string }[] = [];
    for (const [key, entry] of entries) for (const elem of entry.views) views.push({ key, elem });
    const types = views.map(({ key }) =>
      written.has(entries.get(key)!.buffer) ? ('storage' as const) : ('read-only-storage' as const),
    );
    const arenaViews = inArena.some((a) => a !== null) ? 2 : 0;
    const storageLimit = this.device.limits.maxStorageBuffersPerShaderStage;
    if (views.length + arenaViews > storageLimit)
      throw new Error(
        `${step.recorded[unit[0]!]!.label}: more storage bindings than the ${storageLimit} a stage may have`,
      );
    const limit = this.device.limits.maxStorageBufferBindingSize;
    for (const entry of entries.values())
      if (entry.end - entry.start > limit) throw new Error('a layer range exceeds the binding size limit');
    const group1 = this.device.createBindGroup({
      layout: this.layout(types),
      entries: views.map(({ key }, binding) => {
        const { buffer, start, end } = entries.get(key)!;
        return { binding, resource: { buffer, offset: start, size: Math.ceil((end - start) / 4) * 4 } };
      }),
    });
    return unit.map((d, i) => {
      let code = step.codes[d]!;
      const declared = new Set<number>();
      const own = step.uses[d]!.filter((u) => viaArena(d, u));
      // The arena views' element types: the one its uses have, else vec4 (scalars by component).
      const viewElem = (write: boolean) => {
        const elems = new Set(
          own.filter((u) => (u.decl.access === 'read_write') === write).map((u) => u.decl.elem),
        );
        return elems.size === 1 ? [...elems][0]! : 'vec4<f32>';
      };
      const elems = { [IN]: viewElem(false), [OUT]: viewElem(true) };
      for (const u of step.uses[d]!) {
        const { decl } = u;
        if (decl.access === 'uniform') {
          code = code.replace(decl.text, decl.text.replace(/@binding\(\d+\)/, '@binding(0)'));
          continue;
        }
        code = code.replace(decl.text, '');
        if (viaArena(d, u)) {
          const view = decl.access === 'read_write' ? OUT : IN;
          const base = u.offset / elementBytes[elems[view]]!;
          code = rewriteIndexing(code, decl.name, (x) =>
            elems[view] === decl.elem
              ? `${view}[${base}u + u32(${x})]`
              : `${view}[${base}u + (u32(${x}) >> 2u)][u32(${x}) & 3u]`,
          );
          continue;
        }
        const key = keyOf(d, u);
        const view = views.findIndex((v) => v.key === key && v.elem === decl.elem);
        const bytes = elementBytes[decl.elem]!;
        const within = u.offset - entries.get(key)!.start;
        if (within % bytes !== 0) throw new Error(`'${decl.name}' is not aligned to its element type`);
        const viewName = `slmView${view}`;
        code = rewriteIndexing(code, decl.name, (x) => `${viewName}[${within / bytes}u + u32(${x})]`);
        if (!declared.has(view)) {
          declared.add(view);
          const access = types[view] === 'storage' ? 'read_write' : 'read';
          const { start, end } = entries.get(key)!;
          const count = Math.max(1, Math.floor((end - start) / bytes));
          code = `@group(1) @binding(${view}) var<storage, ${access}> ${viewName}: array<${decl.elem}, ${count}>;\n${code}`;
        }
      }
      const arena = inArena[i]!;
      if (arena !== null) {
        // Fixed-size arrays, as the kernels declared their own (runtime-sized views measured slower).
        const slot = 2 + arena;
        const count = (buffer: GPUBuffer, elem: string) => Math.floor(buffer.size / elementBytes[elem]!);
        const inBuffer = step.arenas[arena]!;
        const outBuffer = step.arenas[1 - arena]!;
        if (own.some((u) => u.decl.access === 'read_write'))
          code = `@group(${slot}) @binding(1) var<storage, read_write> ${OUT}: array<${elems[OUT]}, ${count(outBuffer, elems[OUT])}>;\n${code}`;
        if (own.some((u) => u.decl.access !== 'read_write'))
          code = `@group(${slot}) @binding(0) var<storage, read> ${IN}: array<${elems[IN]}, ${count(inBuffer, elems[IN])}>;\n${code}`;
      }
      // `enable` directives must stay first.
      const enables = code.match(/^\s*enable [^;]+;/gm) ?? [];
      for (const e of enables) code = code.replace(e, '');
      code = `${enables.map((e) => e.trim()).join('\n')}\n${code}`;
      return {
        label: step.recorded[d]!.label,
        pipeline: this.pipeline(code, types, arena),
        bindGroup: this.group0,
        bindGroup1: group1,
        ...(arena === 0 ? { bindGroup2: step.arenaGroups[0]! } : {}),
        ...(arena === 1 ? { bindGroup3: step.arenaGroups[1]! } : {}),
        groups: step.recorded[d]!.groups,
        bindings: 1 + views.length + (arena === null ? 0 : 2),
      };
    });
  }
}

/** What `share` worked out for the whole step, for its units. */
interface Step {
  recorded: readonly RecordedDispatch[];
  codes: readonly string[];
  uses: readonly Use[][];
  /** The arena a dispatch reads its activations from (null: it binds none through the arenas). */
  inArenaOf(d: number): number | null;
  arenas: readonly GPUBuffer[];
  arenaGroups: readonly GPUBindGroup[];
  loose: ReadonlySet<number>;
}

/**
 * Splits a step into units (dispatch indices) that share a group 1: each layer's dispatches, every
 * other one alone, and each loose dispatch alone (its activations are bound in its group 1). A layer's
 * attention starts a unit of its own, so that q/k/v, written by the unit before, is read-only to it.
 */
export function shareUnits(recorded: readonly RecordedDispatch[], loose: ReadonlySet<number>): number[][] {
  const units: number[][] = [];
  let key: string | null = null;
  for (const [d, dispatch] of recorded.entries()) {
    const layer = /^layer (\d+) /.exec(dispatch.label)?.[1] ?? null;
    const alone = loose.has(d) || (units.length > 0 && loose.has(units[units.length - 1]!.at(-1)!));
    if (layer !== null && layer === key && !alone && !/^layer \d+ attention$/.test(dispatch.label))
      units[units.length - 1]!.push(d);
    else units.push([d]);
    key = layer;
  }
  return units;
}
