#!/usr/bin/env python3
"""transformers anchor for `graft-bench llm`: prefill tokens/s of a Hugging Face decoder folder in float32.

Usage:
  python3 scripts/bench/llm_prefill.py FOLDER [--tokens 512] [--runs 5] [--threads 2]
Loads the folder with from_pretrained(dtype=float32) and eager attention (the engine's math; sdpa is printed too),
runs one warm-up forward and RUNS timed forwards of one sequence of seeded token ids (logits for every position,
the default logits_to_keep=0), and prints the median and best seconds and tokens/s. Threads: torch.set_num_threads.
"""
import argparse
import statistics
import time

import torch
from transformers import AutoModelForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder")
    p.add_argument("--tokens", type=int, default=512)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    for attn in ["eager", "sdpa"]:
        t0 = time.perf_counter()
        model = AutoModelForCausalLM.from_pretrained(a.folder, dtype=torch.float32, attn_implementation=attn).eval()
        load = time.perf_counter() - t0
        gen = torch.Generator().manual_seed(0)
        ids = torch.randint(0, model.config.vocab_size, (1, a.tokens), generator=gen)
        with torch.inference_mode():
            model(input_ids=ids)
            samples = []
            for _ in range(a.runs):
                t = time.perf_counter()
                model(input_ids=ids)
                samples.append(time.perf_counter() - t)
        med = statistics.median(samples)
        print(f"transformers {attn} float32, {torch.get_num_threads()} threads, load {load:.2f} s: "
              f"prefill {a.tokens} tokens median {med:.3f} s ({a.tokens / med:.0f} tok/s), "
              f"best {min(samples):.3f} s ({a.tokens / min(samples):.0f} tok/s), runs {[round(s, 3) for s in samples]}")
        del model


if __name__ == "__main__":
    main()
