/**
 * `slm forward --model <hf-dir> --ids 1,2,3 --out logits.safetensors [--backend cpu|webgpu]`: one
 * forward pass over the ids, saving the float32 tensor `logits` [T, vocab] (for parity checks
 * against other implementations).
 */
import { loadHFModel } from '../io/hf.js';
import { writeSafetensors } from '../io/index.js';
import { defineCommand, parseIntList, UsageError } from './args.js';
import { backendOption, useBackend } from './backend.js';

export const forwardCommand = defineCommand({
  name: 'forward',
  summary: 'run a model on token ids and save the logits',
  usage: '--model <hf-dir> --ids 1,2,3 --out logits.safetensors [--backend cpu|webgpu]',
  options: {
    model: { type: 'string', required: true, valueName: 'DIR', description: 'Hugging Face model directory' },
    ids: { type: 'string', required: true, valueName: 'LIST', description: 'comma-separated token ids' },
    out: {
      type: 'string',
      required: true,
      valueName: 'FILE',
      description: 'safetensors file for the float32 tensor `logits` [T, vocab]',
    },
    ...backendOption,
  },
  examples: ['slm forward --model ./SmolLM2-135M --ids 1,2,3 --out logits.safetensors --backend cpu'],
  async run({ options }, io) {
    const backend = await useBackend(options.backend, io.env);
    const ids = parseIntList(options.ids, 'ids');
    if (ids.length === 0) throw new UsageError('--ids needs at least one token id');
    const { model, config } = await loadHFModel(options.model, { backend });
    const bad = ids.find((id) => id < 0 || id >= config.vocabSize);
    if (bad !== undefined)
      throw new UsageError(`token id ${bad} is outside the vocabulary (0..${config.vocabSize - 1})`);
    const logits = model.forward(ids); // [1, T, vocab]
    const values = Float32Array.from(await logits.data());
    writeSafetensors(options.out, {
      logits: { dtype: 'F32', shape: [ids.length, config.vocabSize], data: values },
    });
    io.stdout.write(
      `wrote logits [${ids.length}, ${config.vocabSize}] to ${options.out} (${backend.name})\n`,
    );
  },
});
