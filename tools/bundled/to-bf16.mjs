// Rewrites a trained model directory with bfloat16 weights (what models/default ships), keeping its
// tokenizer and other files. Usage: node tools/bundled/to-bf16.mjs DIR
import { loadHFModel, saveHFModel } from '../../dist/src/index.js';

const dir = process.argv[2];
const { model, generationConfig, family } = await loadHFModel(dir);
saveHFModel(dir, model, { dtype: 'bfloat16', family, generationConfig });
console.log(`${dir}: ${model.numParameters()} parameters saved as bfloat16`);
