#!/usr/bin/env python3
"""Loads the directories written by tools/families/save-for-transformers.ts with PyTorch transformers
(AutoModelForCausalLM, float32, eager attention, CPU) and compares its logits with slmkit's
(`slmkit.safetensors` in each directory). Prints a table; exits 1 when a directory fails to load or
differs by more than 1e-4.

    python3 tools/families/check_saved_in_transformers.py <dir-of-saved-models> [--json out.json]
"""

import argparse
import json
import os
import sys
import traceback

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--json")
    args = parser.parse_args()

    import transformers
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(min(8, os.cpu_count() or 1))
    print(f"transformers {transformers.__version__}, torch {torch.__version__}")
    rows, failed = [], 0
    for name in sorted(os.listdir(args.root)):
        path = os.path.join(args.root, name)
        if not os.path.isdir(path):
            continue
        row = dict(name=name)
        try:
            ref = load_file(os.path.join(path, "slmkit.safetensors"))
            with open(os.path.join(path, "config.json")) as f:
                row["model_type"] = json.load(f)["model_type"]
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager")
            model.eval()
            with torch.no_grad():
                logits = model(ref["input_ids"].long()[None], use_cache=False).logits[0].float()
            row["max_abs_diff"] = float((logits - ref["logits"]).abs().max())
            row["argmax_agree"] = bool(torch.equal(logits.argmax(-1), ref["logits"].argmax(-1)))
            row["ok"] = row["max_abs_diff"] <= 1e-4
        except Exception as err:  # noqa: BLE001 - report every directory
            row["ok"] = False
            row["error"] = f"{type(err).__name__}: {err}"
            row["traceback"] = traceback.format_exc()[-2000:]
        failed += 0 if row["ok"] else 1
        rows.append(row)

    print(f"{'directory':34s} {'model_type':12s} {'max|dlogit|':>12s} argmax ok")
    for r in rows:
        diff = f"{r['max_abs_diff']:.2e}" if "max_abs_diff" in r else "-"
        print(f"{r['name']:34s} {r.get('model_type', '?'):12s} {diff:>12s} {str(r.get('argmax_agree', '-')):6s} {r['ok']}")
        if "error" in r:
            print(f"    {r['error'][:300]}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(transformers=transformers.__version__, torch=torch.__version__, rows=rows), f, indent=1)
    print(f"{len(rows) - failed}/{len(rows)} directories load in transformers and match slmkit")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
