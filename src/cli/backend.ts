/**
 * `--backend auto|cpu|webgpu` (and the SLM_BACKEND environment variable) for every command that
 * computes. The cpu backend is always there; WebGPU is imported only when asked for (or tried by
 * `auto`), so commands that never touch a GPU never load Dawn.
 */
import '../backend/cpu/index.js';
import { type Backend, setBackend } from '../backend/backend.js';
import { enableCpuThreads } from '../backend/cpu/threads.js';
import { type OptionSpec, UsageError } from './args.js';

export const backendChoices = ['auto', 'cpu', 'webgpu'] as const;
export type BackendChoice = (typeof backendChoices)[number];

/** Spread into a command's options: `options: { ...backendOption, model: … }`. */
export const backendOption = {
  backend: {
    type: 'string',
    choices: backendChoices,
    valueName: 'NAME',
    description: 'compute backend; default $SLM_BACKEND, else auto (WebGPU when an adapter exists, else cpu)',
  },
} as const satisfies Record<string, OptionSpec>;

/** The backend asked for: the option if given, else SLM_BACKEND, else 'auto'. */
export function backendChoice(
  option: string | undefined,
  env: Record<string, string | undefined>,
): BackendChoice {
  if (option !== undefined) {
    if (!(backendChoices as readonly string[]).includes(option)) {
      throw new UsageError(`--backend must be one of ${backendChoices.join(', ')}, got '${option}'`);
    }
    return option as BackendChoice;
  }
  const fromEnv = env.SLM_BACKEND?.trim();
  if (fromEnv === undefined || fromEnv === '') return 'auto';
  if (!(backendChoices as readonly string[]).includes(fromEnv)) {
    throw new UsageError(`SLM_BACKEND must be one of ${backendChoices.join(', ')}, got '${fromEnv}'`);
  }
  return fromEnv as BackendChoice;
}

/** What src/backend/webgpu/index.ts is expected to export. */
interface WebGPUModule {
  webgpuAvailable(): Promise<boolean>;
  /** Creates the device, registers the 'webgpu' backend and returns it. */
  initWebGPU(): Promise<Backend | undefined>;
  /** The adapter's description without creating a device. */
  webgpuAdapterInfo?(): Promise<Record<string, string> | null>;
}

async function importWebGPU(): Promise<WebGPUModule | string> {
  // A variable specifier: the module is optional at build time, and bundlers should not pull in Dawn.
  const specifier = '../backend/webgpu/index.js';
  try {
    const module = (await import(specifier)) as Partial<WebGPUModule>;
    if (typeof module.initWebGPU !== 'function' || typeof module.webgpuAvailable !== 'function') {
      return 'this build of slmkit has no WebGPU backend entry point (src/backend/webgpu/index.ts with initWebGPU)';
    }
    return module as WebGPUModule;
  } catch (error) {
    const e = error as { code?: string; message?: string };
    if (e.code === 'ERR_MODULE_NOT_FOUND' && e.message?.includes('webgpu/index.js')) {
      return 'this build of slmkit has no WebGPU backend (src/backend/webgpu/index.ts is missing)';
    }
    throw error;
  }
}

/**
 * Makes the chosen backend the default for new tensors and returns it. `webgpu` fails with a clear
 * error when there is no backend module or no adapter; `auto` falls back to cpu in both cases and when
 * the only adapter is a software one.
 */
export async function selectBackend(choice: BackendChoice): Promise<Backend> {
  if (choice === 'cpu') return setBackend('cpu');
  const module = await importWebGPU();
  if (typeof module === 'string') {
    if (choice === 'auto') return setBackend('cpu');
    throw new Error(`--backend webgpu: ${module}`);
  }
  if (!(await module.webgpuAvailable())) {
    if (choice === 'auto') return setBackend('cpu');
    throw new Error(
      "--backend webgpu: no WebGPU adapter found (Node needs the 'webgpu' package and a Vulkan/Metal/D3D12 driver; " +
        'on Linux without a GPU, Mesa lavapipe provides a software adapter)',
    );
  }
  if (choice === 'auto' && module.webgpuAdapterInfo) {
    // Decide before creating a device: a software adapter is passed over without touching it.
    const adapterInfo = await module.webgpuAdapterInfo();
    if (adapterInfo && isSoftwareAdapter({ name: 'webgpu', adapterInfo } as unknown as Backend))
      return setBackend('cpu');
  }
  const backend = await module.initWebGPU();
  if (choice === 'auto' && isSoftwareAdapter(backend)) return setBackend('cpu');
  return setBackend(backend?.name ?? 'webgpu');
}

/**
 * Software WebGPU adapters (Mesa's llvmpipe/lavapipe, SwiftShader) emulate a GPU on the CPU and run
 * slmkit's workloads far slower than the cpu backend, so `auto` passes them over (`webgpu` still uses them).
 */
export function isSoftwareAdapter(backend: Backend | undefined): boolean {
  const info = (backend as { adapterInfo?: Record<string, string> } | undefined)?.adapterInfo;
  if (!info) return false;
  const text = Object.values(info).join(' ').toLowerCase();
  return /llvmpipe|lavapipe|swiftshader|software/.test(text);
}

/**
 * backendChoice + selectBackend in one call, for a command's run(). On the cpu backend the linear
 * layers then use every core (SLM_CPU_THREADS sets how many threads; 1 = one).
 */
export async function useBackend(
  option: string | undefined,
  env: Record<string, string | undefined>,
): Promise<Backend> {
  const backend = await selectBackend(backendChoice(option, env));
  if (backend.name === 'cpu') await enableCpuThreads();
  return backend;
}
