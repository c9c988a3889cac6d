/**
 * Loading a bf16 checkpoint with gpuWeights 'bf16': the matrices that stay packed go to the GPU as their
 * bytes were read (a BF16 tensor's little-endian bytes are the packed words), never widened to float32
 * on the host, and every parameter equals what the float32 load gives. Rules that rearrange a tensor
 * (Phi-3's fused qkv_proj split into q/k/v, GPT-2's transposed Conv1D) go through float32 and are packed
 * after, with the same result.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isPackedTensor } from '../../src/backend/webgpu/packed.js';
import { defaultModelDir } from '../../src/cli/model-arg.js';
import { defineConfig } from '../../src/config/model-config.js';
import { loadHFModel, saveHFModel } from '../../src/io/hf.js';
import { familyOfConfig, modelFromReader } from '../../src/io/hf-params.js';
import { openCheckpoint } from '../../src/io/sharded.js';
import { Transformer } from '../../src/model/transformer.js';
import { FIXTURES } from '../families/helpers.js';
import { requireWebGPU } from './setup.js';

const backend = await requireWebGPU();

/** Every parameter of `b` holds exactly `a`'s values. */
async function assertSameParams(a: Transformer, b: Transformer): Promise<void> {
  for (const [path, t] of a.params)
    assert.deepEqual(await b.params.get(path)!.data(), await t.data(), `${path} differs`);
}

if (backend) {
  test("gpuWeights 'bf16': the bundled checkpoint's packed matrices are uploaded as read, not widened", async () => {
    const hfConfig = JSON.parse(readFileSync(join(defaultModelDir, 'config.json'), 'utf8'));
    const { family, config } = familyOfConfig(hfConfig);
    const reader = openCheckpoint(defaultModelDir);
    const widened = new Set<string>();
    const readFloat32 = reader.readFloat32.bind(reader);
    reader.readFloat32 = (name: string) => {
      widened.add(name);
      return readFloat32(name);
    };
    let packed: Transformer;
    try {
      packed = modelFromReader(reader, config, family, { backend, gpuWeights: 'bf16' });
    } finally {
      reader.close();
    }
    const dense = (await loadHFModel(defaultModelDir, { backend })).model;
    try {
      const packedPaths = [...packed.params].filter(([, t]) => isPackedTensor(t)).map(([p]) => p);
      assert.ok(packedPaths.length > 10, `${packedPaths.length} packed`);
      // Our paths are the checkpoint's names for a Llama-style family; norms are still widened.
      for (const path of packedPaths) assert.ok(!widened.has(path), `${path} was widened to float32`);
      assert.ok(widened.size > 0 && [...widened].every((n) => n.includes('norm')), [...widened].join(', '));
      await assertSameParams(dense, packed);
    } finally {
      dense.dispose();
      packed.dispose();
    }
  });

  // Phi-3 at widths whose rows pack (K % 8 = 0; the fixture's hidden size is 60), and the GPT-2 fixture.
  const sources: Record<string, () => Promise<{ model: Transformer; family: string }>> = {
    phi3: async () => {
      const config = defineConfig({
        vocabSize: 96,
        hiddenSize: 64,
        numLayers: 2,
        numAttentionHeads: 4,
        numKeyValueHeads: 2,
        intermediateSize: 96,
        maxPositionEmbeddings: 32,
        tieWordEmbeddings: false,
      });
      return { model: Transformer.init(config, { seed: 5 }), family: 'phi3' };
    },
    gpt2: async () => {
      const { model } = await loadHFModel(join(FIXTURES, 'gpt2'));
      return { model, family: 'gpt2' };
    },
  };
  for (const [name, source] of Object.entries(sources))
    test(`gpuWeights 'bf16' on a bf16 ${name} checkpoint: rearranged tensors are packed after float32, values equal`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'slm-packed-import-'));
      try {
        const { model, family } = await source();
        saveHFModel(dir, model, { family, dtype: 'bfloat16' });
        const dense = (await loadHFModel(dir, { backend })).model;
        const packed = (await loadHFModel(dir, { backend, gpuWeights: 'bf16' })).model;
        try {
          const paths = [...packed.params].filter(([, t]) => isPackedTensor(t)).map(([p]) => p);
          // Phi-3's q/k/v and gate/up come from fused tensors, GPT-2's from transposed ones.
          assert.ok(
            paths.some((p) => p.endsWith('q_proj.weight')) && paths.some((p) => p.endsWith('up_proj.weight')),
            paths.join(', '),
          );
          await assertSameParams(dense, packed);
          const prompt = [[3, 1, 4, 1, 5]];
          assert.deepEqual(await packed.forward(prompt).data(), await dense.forward(prompt).data());
        } finally {
          dense.dispose();
          packed.dispose();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
}
