/// <reference types="@webgpu/types" />
/**
 * Finding WebGPU: `navigator.gpu` in browsers, the `webgpu` npm package (Dawn) in Node. On NVIDIA the
 * Dawn toggles `vulkan_enable_f16_on_nvidia` and `allow_unsafe_apis` expose shader-f16 and
 * chromium-experimental-subgroup-matrix (tensor cores).
 */

/**
 * Dawn toggles. `disable_robustness` is on unless SLM_WEBGPU_ROBUSTNESS=1: Dawn's bounds checks (on
 * Vulkan, the driver's robustBufferAccess2 on every storage access) cost the H200's planned decode step
 * 7% (SmolLM2 0.675 → 0.629 ms), and every slmkit kernel keeps its indices in range itself (the planned
 * kernels clamp explicitly; the whole suite passes with and without the checks on lavapipe, the decode
 * tests on the H200). An out-of-range index in a kernel is then undefined behaviour instead of a
 * clamped read. SLM_DAWN_TOGGLES (comma-separated) adds more, e.g. disable_workgroup_init.
 */
export function dawnFlags(
  env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env,
): string[] {
  const toggles = ['vulkan_enable_f16_on_nvidia', 'allow_unsafe_apis'];
  if (env?.SLM_WEBGPU_ROBUSTNESS !== '1') toggles.push('disable_robustness');
  if (env?.SLM_DAWN_TOGGLES) toggles.push(...env.SLM_DAWN_TOGGLES.split(',').filter(Boolean));
  return [`enable-dawn-features=${toggles.join(',')}`];
}

let gpuPromise: Promise<GPU | null> | null = null;

/** The GPU entry point of this runtime, or null when there is none (cached). */
export function getGPU(): Promise<GPU | null> {
  gpuPromise ??= (async () => {
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav?.gpu) return nav.gpu;
    try {
      // A variable specifier keeps bundlers for the browser from pulling in the native addon.
      const specifier = 'webgpu';
      const dawn = (await import(specifier)) as { create(flags: string[]): GPU; globals: object };
      // GPUBufferUsage, GPUMapMode, ... are globals in browsers; Dawn hands them over separately.
      for (const [name, value] of Object.entries(dawn.globals)) {
        if (!(name in globalThis)) (globalThis as Record<string, unknown>)[name] = value;
      }
      return dawn.create(dawnFlags());
    } catch {
      return null;
    }
  })();
  return gpuPromise;
}

let adapterPromise: Promise<GPUAdapter | null> | null = null;

export function getAdapter(
  powerPreference: GPUPowerPreference = 'high-performance',
): Promise<GPUAdapter | null> {
  adapterPromise ??= (async () => {
    const gpu = await getGPU();
    if (!gpu) return null;
    try {
      return await gpu.requestAdapter({ powerPreference });
    } catch {
      return null;
    }
  })();
  return adapterPromise;
}

/** Whether a WebGPU adapter exists in this runtime. */
export async function webgpuAvailable(): Promise<boolean> {
  return (await getAdapter()) !== null;
}

/** One (M, N, K, component, result) shape the adapter's subgroup-matrix (tensor core) units support. */
export interface SubgroupMatrixConfig {
  M: number;
  N: number;
  K: number;
  componentType: string;
  resultComponentType: string;
}

export function subgroupMatrixConfigs(adapter: GPUAdapter): SubgroupMatrixConfig[] {
  const configs = (adapter.info as unknown as { subgroupMatrixConfigs?: SubgroupMatrixConfig[] })
    .subgroupMatrixConfigs;
  // Dawn's config objects expose their fields as getters, so spreading them gives {}.
  return [...(configs ?? [])].map(({ M, N, K, componentType, resultComponentType }) => ({
    M,
    N,
    K,
    componentType,
    resultComponentType,
  }));
}

const optionalFeatures = [
  'shader-f16',
  'subgroups',
  'timestamp-query',
  'chromium-experimental-subgroup-matrix',
];

/** Requests a device with every useful optional feature and the adapter's largest buffer limits. */
export async function requestDevice(adapter: GPUAdapter): Promise<GPUDevice> {
  const requiredFeatures = optionalFeatures.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
  const wanted = [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxStorageBuffersPerShaderStage',
  ] as const;
  const requiredLimits: Record<string, number> = {};
  for (const name of wanted) requiredLimits[name] = adapter.limits[name];
  return adapter.requestDevice({ requiredFeatures, requiredLimits });
}

/** The adapter's description (vendor, architecture, device, description), without creating a device. */
export async function webgpuAdapterInfo(): Promise<Record<string, string> | null> {
  const adapter = await getAdapter();
  if (!adapter) return null;
  const { vendor, architecture, device, description } = adapter.info;
  return { vendor, architecture, device, description };
}
