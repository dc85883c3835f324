#!/usr/bin/env python3
"""Loads every LLM MoE layout Graft writes with transformers and compares the logits with the dense model's.

    python3 scripts/interop/check_llm_moe.py .build/debug/graft [--work /tmp/graft-llm-moe] [--only-v4]

For each case below, `graft moe upcycle` turns a committed dense fixture (Fixtures/llm/<name>) into an MoE folder;
then transformers' `AutoModelForCausalLM.from_pretrained(OUT, output_loading_info=True)` must report no missing,
unexpected or mismatched keys, and for the exact constructions the logits on seeded token ids must equal the dense
model's within 1e-5 * max|dense logits| (float32, eager attention). The dense logits are the fixture's own
(`io.safetensors`: transformers 5.25's float32 eager logits on its `tokens`), so a transformers 4 that misreads the
dense fixture's v5 config spelling does not move the reference. Run it with transformers 5 (system) and 4.x
(`python3 -m venv --system-site-packages /tmp/tf4 && /tmp/tf4/bin/pip install 'transformers<5'`, then
`/tmp/tf4/bin/python scripts/interop/check_llm_moe.py ... --only-v4`): transformers 4 cannot read the v5 fused keys.
Prints a Markdown table (recorded in Fixtures/llm-moe/README.md); exits 1 when a check fails. CI never runs it.
"""
import argparse
import os
import shutil
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file
import torch
import transformers
from transformers import AutoModelForCausalLM

transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "Fixtures", "llm")

# (name, dense fixture, graft arguments, exact construction?, needs transformers 5)
CASES = [
    ("mixtral-v4-copies", "mistral", "--to mixtral --experts 4 --top-k 2", True, False),
    ("mixtral-v5-fused-copies", "mistral", "--to mixtral --experts 4 --top-k 2 --layout v5-fused", True, True),
    ("mixtral-tied-linear-rope", "llama_linear_tied", "--to mixtral --experts 4 --top-k 1", True, False),
    ("mixtral-llama3-rope", "llama_llama3", "--to mixtral --experts 8 --top-k 3", True, False),
    ("mixtral-bf16-partition-all", "llama_bf16",
     "--to mixtral --experts 4 --top-k 4 --method partition --router zero", True, False),
    ("mixtral-calibrated-router", "llama_dynamic", "--to mixtral --experts 2 --top-k 1 --calibration {calib}", True,
     False),
    ("mixtral-drop-upcycling", "mistral", "--to mixtral --experts 4 --drop-ratio 0.5", False, False),
    ("qwen2-moe-from-llama", "llama_dynamic", "--to qwen2-moe --experts 4 --top-k 2", True, False),
    ("qwen2-moe-layer-1-only", "qwen2", "--to qwen2-moe --experts 4 --layers 1", True, False),
    ("qwen2-moe-v5-fused", "qwen2", "--to qwen2-moe --experts 4 --layout v5-fused", True, True),
    ("qwen2-moe-shared-dense", "qwen2", "--to qwen2-moe --experts 4 --shared-expert dense", False, False),
    ("qwen3-moe-copies", "qwen3", "--to qwen3-moe --experts 4 --top-k 2", True, False),
    ("qwen3-moe-v5-fused-partition", "qwen3",
     "--to qwen3-moe --experts 4 --top-k 4 --method partition --router zero --layout v5-fused", True, True),
    ("qwen3-moe-not-renormalised", "qwen3", "--to qwen3-moe --experts 4 --norm-topk-prob false", False, False),
]


def load(path):
    kwargs = dict(dtype=torch.float32, attn_implementation="eager", output_loading_info=True)
    if int(transformers.__version__.split(".")[0]) >= 5:
        kwargs["experts_implementation"] = "eager"
    else:
        kwargs["torch_dtype"] = kwargs.pop("dtype")
    model, info = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    return model.eval(), info


def logits(model, ids):
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids)).logits.float().numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graft")
    ap.add_argument("--work", default="/tmp/graft-llm-moe")
    ap.add_argument("--only-v4", action="store_true", help="skip the cases that need transformers 5")
    args = ap.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    calib = os.path.join(args.work, "calibration.npy")
    np.save(calib, np.random.default_rng(1).integers(0, 96, size=(4, 10)).astype(np.int64))
    major = int(transformers.__version__.split(".")[0])
    print(f"transformers {transformers.__version__}, torch {torch.__version__}\n")
    print("| case | dense | loading (missing / unexpected / mismatched) | max abs dlogits / max abs logits | verdict |")
    print("|---|---|---|---|---|")
    failed = 0
    dense_cache = {}
    for name, dense, flags, exact, needs5 in CASES:
        if needs5 and (args.only_v4 or major < 5):
            print(f"| {name} | {dense} | skipped: the v5 fused keys are transformers 5's | - | - |")
            continue
        out = os.path.join(args.work, name)
        cmd = [args.graft, "moe", "upcycle", os.path.join(FIX, dense), out, "--quiet"]
        cmd += flags.format(calib=calib).split()
        run = subprocess.run(cmd, capture_output=True, text=True)
        if run.returncode != 0:
            failed += 1
            print(f"| {name} | {dense} | graft failed ({run.returncode}): {run.stderr.strip()[:120]} | - | FAIL |")
            continue
        if dense not in dense_cache:
            io = load_file(os.path.join(FIX, dense, "io.safetensors"))
            dense_cache[dense] = (io["tokens"].astype(np.int64).tolist(), io["logits"])
        ids, ref = dense_cache[dense]
        model, info = load(out)
        keys = (len(info.get("missing_keys", [])), len(info.get("unexpected_keys", [])),
                len(info.get("mismatched_keys", [])))
        got = logits(model, ids)
        rel = float(np.abs(got - ref).max() / np.abs(ref).max())
        ok = keys == (0, 0, 0) and (rel <= 1e-5 if exact else True)
        failed += 0 if ok else 1
        detail = "" if keys == (0, 0, 0) else " " + str(
            {k: list(v)[:3] for k, v in info.items() if v})
        verdict = ("exact: ok" if exact else "not exact (info)") if ok else "FAIL"
        print(f"| {name} | {dense} | {keys[0]} / {keys[1]} / {keys[2]}{detail} | {rel:.2e} | {verdict} |")
    print(f"\n{failed} failure(s)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
