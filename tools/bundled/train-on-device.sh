#!/usr/bin/env bash
# Trains the bundled default model (models/default) with `slm train` on the GPU machine's WebGPU backend:
# a throughput probe picks the step count that fits the time budget, then the run, then word-level
# perplexity on the Brown test split. Usage: bash tools/bundled/train-on-device.sh OUT_DIR [SECONDS]
set -euo pipefail
out=$1
budget=${2:-270}
slm="node dist/src/cli/main.js"
common="--config tools/bundled/config.json --vocab-size 8192 --batch-size 32 --seq-len 256 --backend webgpu"
$slm train $common --steps 12 --eval-every 0 --eval-batches 1 --save-every 0 --out /tmp/slm-probe --json > /tmp/probe.json
tps=$(node -e "console.log(JSON.parse(require('fs').readFileSync('/tmp/probe.json','utf8')).tokensPerSecond)")
steps=$(node -e "console.log(Math.max(60, Math.floor($tps * $budget / (32 * 256))))")
echo "probe: $tps tokens/s -> $steps steps"
$slm train $common --steps "$steps" --lr 2e-3 --eval-every $((steps / 8)) --eval-batches 16 --save-every 0 --out "$out" --json | tee "$out.summary.json"
$slm eval --model "$out" --data brown:test --json --backend webgpu | tee "$out.eval-test.json"
