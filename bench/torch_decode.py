"""PyTorch anchor for bench/decode-plan.ts: batch-1 greedy decode with transformers' eager models at the
shapes of slmkit's presets (SmolLM2-135M, Qwen2.5-0.5B, Llama-3.2-1B; random weights, nothing
downloaded), in f32 and bf16. Each decode step is one forward of one token through the model's KV cache
(DynamicCache), then argmax and a host read of the token (as slmkit's loop reads 4 bytes back). Reports
the median step (ms/token, tok/s), time to first token for the prompt, and prefill throughput for a
512-token prompt. Prints a table and one `JSON {...}` line per row.
Usage: python3 bench/torch_decode.py [--presets smollm2-135m,qwen2.5-0.5b,llama3.2-1b] [--dtypes f32,bf16]
         [--prompt-tokens 128] [--gen-tokens 64] [--runs 3] [--prefill 512] [--attn eager|sdpa]
"""
import argparse
import json
import statistics
import time

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

# The same shapes as src/config/presets.ts (parameter counts are printed to check them).
PRESETS = {
    "smollm2-135m": lambda: LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
        rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True),
    "qwen2.5-0.5b": lambda: Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
        rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
    "llama3.2-1b": lambda: LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64, max_position_embeddings=131072,
        rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
}
DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}

parser = argparse.ArgumentParser()
parser.add_argument("--presets", default="smollm2-135m,qwen2.5-0.5b,llama3.2-1b")
parser.add_argument("--dtypes", default="f32,bf16")
parser.add_argument("--prompt-tokens", type=int, default=128)
parser.add_argument("--gen-tokens", type=int, default=64)
parser.add_argument("--runs", type=int, default=3)
parser.add_argument("--prefill", type=int, default=512)
parser.add_argument("--attn", default="eager")
args = parser.parse_args()
dev = "cuda"
torch.backends.cuda.matmul.allow_tf32 = False


def prompt_ids(length, vocab, seed=0):
    # The same ids as src/generate/bench.ts promptIds.
    return [((i + 1 + seed) * 2654435761 % 2**32) % vocab for i in range(length)]


@torch.no_grad()
def one_run(model, prompt, gen):
    ids = torch.tensor([prompt], device=dev)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = model(input_ids=ids, use_cache=True)
    token = int(out.logits[0, -1].argmax())
    ttft = time.perf_counter() - t0
    if gen < 2:
        return ttft, None
    past = out.past_key_values
    steps = []
    for _ in range(gen - 1):
        t = time.perf_counter()
        out = model(input_ids=torch.tensor([[token]], device=dev), past_key_values=past, use_cache=True)
        past = out.past_key_values
        token = int(out.logits[0, -1].argmax())
        steps.append(time.perf_counter() - t)
    return ttft, statistics.median(steps)


rows = []
for name in args.presets.split(","):
    for dname in args.dtypes.split(","):
        torch.manual_seed(0)
        config = PRESETS[name]()
        config._attn_implementation = args.attn
        model = AutoModelForCausalLM.from_config(config, dtype=DTYPES[dname]).to(dev).eval()
        params = sum(p.numel() for p in model.parameters())
        prompt = prompt_ids(args.prompt_tokens, config.vocab_size)
        one_run(model, prompt, 4)  # warm-up
        runs = [one_run(model, prompt, args.gen_tokens) for _ in range(args.runs)]
        ttft = statistics.median(r[0] for r in runs)
        step = statistics.median(r[1] for r in runs)
        long_prompt = prompt_ids(args.prefill, config.vocab_size)
        prefill = statistics.median(one_run(model, long_prompt, 1)[0] for _ in range(args.runs))
        row = {
            "model": name, "framework": f"pytorch {torch.__version__} transformers eager ({args.attn})",
            "weights": dname, "parameters": params, "ms/token": round(step * 1000, 3),
            "tok/s": round(1 / step, 1), "TTFT ms": round(ttft * 1000, 1),
            f"prefill {args.prefill} tok/s": round(args.prefill / prefill, 1),
        }
        rows.append(row)
        print("JSON " + json.dumps(row), flush=True)
        del model
        torch.cuda.empty_cache()

print(f"\nbatch-1 greedy decode, {args.prompt_tokens}-token prompt, {args.gen_tokens} tokens, median of "
      f"{args.runs} runs, on {torch.cuda.get_device_name()}")
keys = list(rows[0].keys())
print(" | ".join(keys))
for r in rows:
    print(" | ".join(str(r[k]) for k in keys))
