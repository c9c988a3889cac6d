"""PyTorch anchor for the WebGPU benchmarks: the same shapes on the same GPU, timed with CUDA events
(median of 5 samples, each sample a loop sized to ~0.1 s, after warm-up). Prints a table and a JSON line.
Usage: python3 bench/torch_anchor.py [matmul size] [elementwise millions]
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

size = int(sys.argv[1]) if len(sys.argv) > 1 else 4096
elems = (int(sys.argv[2]) if len(sys.argv) > 2 else 256) * 2**20
dev = "cuda"


def time_cuda(fn, sample_seconds=0.1, samples=5):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    single = start.elapsed_time(end) / 1000
    reps = max(1, min(500, round(sample_seconds / max(single, 1e-6))))
    times = []
    for _ in range(samples):
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1000 / reps)
    times.sort()
    return times[len(times) // 2]


rows = []


def add(bench, shape, seconds, rate, unit):
    rows.append({"bench": bench, "shape": shape, "ms": round(seconds * 1000, 3), "rate": f"{rate:.4g} {unit}"})


g = torch.Generator(device=dev).manual_seed(0)
a = torch.rand(size, size, device=dev, generator=g) * 2 - 1
b = torch.rand(size, size, device=dev, generator=g) * 2 - 1
flops = 2 * size**3
for label, dtype, tf32 in [("f32 (no TF32)", torch.float32, False), ("tf32", torch.float32, True),
                           ("f16", torch.float16, False), ("bf16", torch.bfloat16, False)]:
    torch.backends.cuda.matmul.allow_tf32 = tf32
    x, y = a.to(dtype), b.to(dtype)
    s = time_cuda(lambda: torch.mm(x, y))
    add(f"matmul {label}", f"{size}^3", s, flops / s / 1e12, "TFLOP/s")
torch.backends.cuda.matmul.allow_tf32 = False
del a, b

x = torch.rand(elems, device=dev, generator=g) * 2 - 1
y = torch.rand(elems, device=dev, generator=g) * 2 - 1
out = torch.empty_like(x)
shape = f"{elems // 2**20}M f32"
for label, nbytes, fn in [
    ("copy", 8, lambda: out.copy_(x)),
    ("neg", 8, lambda: torch.neg(x, out=out)),
    ("gelu (erf)", 8, lambda: F.gelu(x)),
    ("add", 12, lambda: torch.add(x, y, out=out)),
]:
    s = time_cuda(fn)
    add(f"elementwise {label}", shape, s, nbytes * elems / s / 1e9, "GB/s")
del x, y, out

for label, k, n in [("attn qkv 768->2304", 768, 2304), ("attn proj 768->768", 768, 768),
                    ("mlp up 768->3072", 768, 3072), ("mlp down 3072->768", 3072, 768),
                    ("lm head 768->50257", 768, 50257)]:
    xv = torch.rand(1, k, device=dev, generator=g)
    w = torch.rand(n, k, device=dev, generator=g)
    s = time_cuda(lambda: F.linear(xv, w))
    add(f"matvec {label}", f"[1,{k}]x[{n},{k}]T", s, 4 * n * k / s / 1e9, "GB/s")
del xv, w

B, H, T, D = 8, 12, 1024, 64
q, k, v = (torch.rand(B, H, T, D, device=dev, generator=g) * 2 - 1 for _ in range(3))
mask = torch.full((T, T), float("-inf"), device=dev).triu(1)


def unfused():
    scores = (q @ k.transpose(-1, -2)) * (1 / math.sqrt(D)) + mask
    return torch.softmax(scores, -1) @ v


attn_flops = 4 * B * H * T * T * D
for label, fn in [("sdpa causal (fused)", lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
                  ("unfused causal (5 kernels)", unfused)]:
    s = time_cuda(fn)
    add(f"attention {label} f32", f"B{B} H{H} T{T} D{D}", s, attn_flops / s / 1e12, "TFLOP/s")

print(f"torch {torch.__version__} on {torch.cuda.get_device_name()}")
width = max(len(r["bench"]) for r in rows)
for r in rows:
    print(f'{r["bench"]:<{width}}  {r["shape"]:>18}  {r["ms"]:>9.3f} ms  {r["rate"]:>16}')
print("JSON " + json.dumps({"title": "torch anchor", "rows": rows}))
