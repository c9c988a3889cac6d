"""Writes a random-weight bf16 Hugging Face checkpoint of a config (no download): the input of
bench/load-checkpoint.ts on machines without the real weights.

Usage: python3 bench/random_checkpoint.py tests/fixtures/configs/llama3.2-1b /tmp/llama-bf16
"""
import sys

import torch
from transformers import AutoConfig, AutoModelForCausalLM

config_dir, out = sys.argv[1], sys.argv[2]
config = AutoConfig.from_pretrained(config_dir)
device = "cuda" if torch.cuda.is_available() else "cpu"
with torch.device(device):
    model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
model.save_pretrained(out, safe_serialization=True)
print(f"{out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters, bf16")
