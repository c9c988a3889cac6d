"""PyTorch anchor for bench/train-step.ts: one training step (forward, backward, AdamW) of transformers'
GPT2LMHeadModel at the same shape (GPT-2 small, dropout off, random tokens), timed on the wall clock
with CUDA synchronisation; median of the steps after warm-up. Configurations: f32 eager (TF32 off,
unfused attention), f32 with SDPA attention (TF32 off), bf16 autocast with SDPA. AdamW lr 6e-4,
betas (0.9, 0.95), weight decay 0.1 (on every parameter; the decay split does not change the time).
Prints a table and one `JSON {...}` line per configuration (bench/train-step.ts --torch reads them).
Usage: python3 bench/torch_train_step.py [--layers 12] [--batch 8] [--seq 1024] [--steps 10] [--warmup 3]
"""
import argparse
import contextlib
import json
import time

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, GPT2Config

parser = argparse.ArgumentParser()
parser.add_argument("--layers", type=int, default=12)
parser.add_argument("--batch", type=int, default=8)
parser.add_argument("--seq", type=int, default=1024)
parser.add_argument("--vocab", type=int, default=50257)
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--warmup", type=int, default=3)
args = parser.parse_args()
dev = "cuda"


def run(label, attn, autocast_dtype):
    torch.manual_seed(0)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    config = GPT2Config(
        vocab_size=args.vocab,
        n_positions=max(1024, args.seq),
        n_embd=768,
        n_layer=args.layers,
        n_head=12,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn).to(dev).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)
    g = torch.Generator(device=dev).manual_seed(0)
    times, losses = [], []
    for step in range(args.warmup + args.steps):
        ids = torch.randint(0, args.vocab, (args.batch, args.seq + 1), device=dev, generator=g)
        torch.cuda.synchronize()
        start = time.perf_counter()
        ctx = torch.autocast("cuda", dtype=autocast_dtype) if autocast_dtype else contextlib.nullcontext()
        with ctx:
            # seq predictions per row, as in train-step.ts: inputs ids[:, :-1], targets ids[:, 1:].
            logits = model(input_ids=ids[:, :-1]).logits
            loss = F.cross_entropy(logits.float().view(-1, args.vocab), ids[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        value = loss.item()
        seconds = time.perf_counter() - start
        losses.append(value)
        if step >= args.warmup:
            times.append(seconds)
    times.sort()
    median = times[len(times) // 2]
    tokens = args.batch * args.seq
    result = {
        "run": label,
        "layers": args.layers,
        "batch": args.batch,
        "seq": args.seq,
        "tokensPerSecond": round(tokens / median, 1),
        "msPerStep": round(median * 1000, 2),
        "losses": [round(x, 4) for x in losses],
    }
    print(f"{label:34s} {result['tokensPerSecond']:>10.0f} tok/s {result['msPerStep']:>9.2f} ms/step")
    print("JSON " + json.dumps(result), flush=True)
    del model, optimizer
    torch.cuda.empty_cache()


print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}: GPT2LMHeadModel, {args.layers} layers, "
      f"batch {args.batch} x seq {args.seq}")
run("f32 eager (TF32 off)", "eager", None)
run("f32 SDPA (TF32 off)", "sdpa", None)
run("bf16 autocast, SDPA", "sdpa", torch.bfloat16)
