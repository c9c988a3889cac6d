/**
 * Building a decode plan on the device: its buffers, copies and pipelines are made inside
 * out-of-memory and validation error scopes, so that a plan the device cannot hold fails with a
 * message that says so instead of as a broken step later.
 */

/**
 * Runs `build` inside the two error scopes. On a thrown error or one the device reports, calls
 * `cleanup` (which frees what was made) and throws: out of memory first, since the buffers it left
 * invalid make the validation errors that follow.
 */
export async function buildInErrorScopes(
  device: GPUDevice,
  build: () => Promise<void>,
  cleanup: () => void,
): Promise<void> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let failure: unknown = null;
  try {
    await build();
  } catch (e) {
    failure = e; // the error scopes are popped either way
  }
  const error = await device.popErrorScope();
  const memory = await device.popErrorScope();
  if (!failure && !error && !memory) return;
  cleanup();
  if (memory)
    throw new Error(
      `the decode plan does not fit in GPU memory (${memory.message || 'out of memory'}): its KV cache, activations and 16-bit weight copies come on top of the model`,
    );
  if (failure instanceof Error && failure.message) throw failure;
  const why =
    error?.message || (failure instanceof Error ? failure.name : String(failure)) || 'no reason given';
  throw new Error(`building the decode plan failed: ${why}`);
}
