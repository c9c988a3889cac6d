#!/usr/bin/env bash
# Trains the bundled default model (models/default) with `slm train` on the GPU machine's WebGPU backend,
# then measures token- and word-level perplexity on the Brown test split.
# Usage: bash tools/bundled/train-on-device.sh OUT_DIR [STEPS] [VOCAB]
# (run on the GPU machine after `source .device/setup.sh`; see ../shared/device/README.md).
set -euo pipefail
out=$1
steps=${2:-650}
vocab=${3:-4096}
slm="node dist/src/cli/main.js"
$slm train --config tools/bundled/config.json --vocab-size "$vocab" --batch-size 32 --seq-len 256 \
  --steps "$steps" --lr 2e-3 --eval-every $((steps / 10)) --eval-batches 16 --save-every 0 \
  --backend webgpu --out "$out" --json | tee "$out.summary.json"
$slm eval --model "$out" --data brown:test --json --backend webgpu | tee "$out.eval-test.json"
