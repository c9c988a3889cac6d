// The playground: loads a Hugging Face model directory over HTTP (default: the bundled model) and
// streams generated text into the page. Everything runs in the browser through slmkit/browser.
import {
  generate,
  initWebGPU,
  loadHFModelFromFiles,
  setBackend,
  Tokenizer,
  webgpuAvailable,
} from '../dist/src/browser.js';

const params = new URLSearchParams(location.search);
const modelUrl = params.get('model') ?? '../models/default';
const $ = (id) => document.getElementById(id);
const status = (text) => {
  $('status').textContent = text;
};

async function fetchJson(name, optional = false) {
  const response = await fetch(`${modelUrl}/${name}`);
  if (!response.ok) {
    if (optional) return null;
    throw new Error(`${modelUrl}/${name}: HTTP ${response.status}`);
  }
  return response.json();
}

async function chooseBackend(choice) {
  if (choice !== 'cpu' && (await webgpuAvailable())) return initWebGPU();
  if (choice === 'webgpu') throw new Error('this browser has no WebGPU adapter');
  return setBackend('cpu');
}

let loaded = null;

async function load(choice) {
  const started = performance.now();
  status(`loading ${modelUrl} …`);
  const [config, generationConfig, tokenizerJson, tokenizerConfig, weights] = await Promise.all([
    fetchJson('config.json'),
    fetchJson('generation_config.json', true),
    fetchJson('tokenizer.json'),
    fetchJson('tokenizer_config.json', true),
    fetch(`${modelUrl}/model.safetensors`).then((r) => {
      if (!r.ok) throw new Error(`${modelUrl}/model.safetensors: HTTP ${r.status}`);
      return r.arrayBuffer();
    }),
  ]);
  const backend = await chooseBackend(choice);
  // On WebGPU a bf16 checkpoint's matrices stay bf16 (half the GPU memory, the same tokens), as the
  // CLI does by default; ?weights=f32 makes float32 copies instead.
  const gpuWeights = backend.name === 'webgpu' && params.get('weights') !== 'f32' ? 'bf16' : 'f32';
  const { model } = loadHFModelFromFiles({ config, weights, generationConfig }, { backend, gpuWeights });
  const tokenizer = Tokenizer.fromJSON({
    tokenizerJson,
    tokenizerConfig,
    generationConfig,
    modelConfig: config,
  });
  loaded = { model, tokenizer, generationConfig: generationConfig ?? {}, backend: backend.name };
  status(
    `${(model.numParameters() / 1e6).toFixed(1)}M parameters on ${backend.name}, loaded in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

let controller = null;

async function run() {
  const { model, tokenizer, generationConfig } = loaded;
  const prompt = $('prompt').value;
  const ids = tokenizer.encode(prompt, { addSpecialTokens: true });
  const temperature = Number($('temperature').value);
  const out = $('output');
  out.textContent = '';
  const shown = document.createElement('span');
  shown.className = 'prompt';
  shown.textContent = prompt;
  out.append(shown);
  controller = new AbortController();
  $('go').disabled = true;
  $('stop').disabled = false;
  const started = performance.now();
  let painted = started;
  let count = 0;
  try {
    for await (const step of generate(model, ids, {
      maxNewTokens: Math.min(Number($('max').value), model.config.maxPositionEmbeddings - ids.length),
      doSample: temperature > 0,
      temperature: temperature > 0 ? temperature : 1,
      topK: generationConfig.top_k ?? 50,
      topP: generationConfig.top_p ?? 1,
      repetitionPenalty: generationConfig.repetition_penalty ?? 1,
      seed: Number($('seed').value),
      eosTokenIds: tokenizer.eosTokenIds,
      tokenizer,
      signal: controller.signal,
    })) {
      out.append(step.text);
      count++;
      // Let the page paint about every frame. Not after every token: a browser clamps nested
      // setTimeout(0) to 4 ms, which would cap decoding at 250 tokens/s.
      if (performance.now() - painted > 16) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        painted = performance.now();
      }
    }
    const seconds = (performance.now() - started) / 1000;
    status(
      `${count} tokens in ${seconds.toFixed(2)} s (${(count / seconds).toFixed(1)} tokens/s) on ${loaded.backend}`,
    );
  } catch (error) {
    status(`error: ${error.message}`);
  } finally {
    $('go').disabled = false;
    $('stop').disabled = true;
  }
}

$('go').addEventListener('click', () => run());
$('stop').addEventListener('click', () => controller?.abort());
$('backend').addEventListener('change', async (event) => {
  $('go').disabled = true;
  await load(event.target.value).catch((error) => status(`error: ${error.message}`));
  $('go').disabled = false;
});

load(params.get('backend') ?? 'auto')
  .then(() => {
    $('go').disabled = false;
  })
  .catch((error) => status(`error: ${error.message}`));
