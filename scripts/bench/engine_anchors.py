#!/usr/bin/env python3
"""Anchors for `graft-bench engine`: numpy/OpenBLAS SGEMM and PyTorch CPU ViT forward, same shapes and threads.

Usage:
  python3 scripts/bench/engine_anchors.py [sgemm|vit|all] [--runs N] [--threads 1,2]
Each (library, thread count) runs in a fresh subprocess so OPENBLAS_NUM_THREADS / OMP_NUM_THREADS and
OPENBLAS_CORETYPE take effect before the libraries load. SGEMM runs twice: OpenBLAS as installed (it picks its
kernel from the CPU) and forced to the AVX-512 kernels with OPENBLAS_CORETYPE=SkylakeX.
Prints one JSON line per case and a Markdown table of medians.
"""
import json
import os
import statistics
import subprocess
import sys
import time

SHAPES = [(197, 2304, 768), (197, 3072, 768), (197, 768, 3072), (1576, 3072, 768), (1024, 1024, 1024)]
MODELS = [("vit_small_patch16_224", 384, 6), ("vit_base_patch16_224", 768, 12)]


def timed(fn, runs):
    """Median and best wall seconds, and median process CPU seconds (meaningful for 1-thread runs on a busy host)."""
    fn()
    samples = []
    cpu = []
    for _ in range(runs):
        c = time.process_time()
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    timed.worst = max(samples)
    return statistics.median(samples), min(samples), statistics.median(cpu)


def child_sgemm(runs, threads, coretype):
    import numpy as np
    rng = np.random.default_rng(0)
    for m, n, k in SHAPES:
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        med, best, cpu = timed(lambda: a @ b, runs)
        print(json.dumps({"case": "sgemm", "lib": "numpy", "coretype": coretype or "auto", "m": m, "n": n, "k": k,
                          "threads": threads, "median_ms": med * 1e3, "best_ms": best * 1e3,
                          "max_ms": timed.worst * 1e3, "cpu_ms": cpu * 1e3, "gflops": 2 * m * n * k / med / 1e9}), flush=True)


def child_vit(runs, threads):
    import torch
    import timm
    torch.set_num_threads(threads)
    for name, _, _ in MODELS:
        model = timm.create_model(name, pretrained=False).eval()
        for batch in (1, 8):
            x = torch.randn(batch, 3, 224, 224)
            with torch.inference_mode():
                med, best, cpu = timed(lambda: model(x), runs if batch == 1 else max(5, runs // 2))
            print(json.dumps({"case": "vit", "lib": "torch " + torch.__version__, "model": name, "batch": batch,
                              "threads": threads, "median_ms": med * 1e3, "best_ms": best * 1e3,
                              "cpu_ms": cpu * 1e3}), flush=True)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--child":
        kind, runs, threads, coretype = args[1], int(args[2]), int(args[3]), args[4] if len(args) > 4 else ""
        child_sgemm(runs, threads, coretype) if kind == "sgemm" else child_vit(runs, threads)
        return
    what = "all"
    runs = 7
    thread_counts = [1, 2]
    i = 0
    while i < len(args):
        if args[i] == "--runs":
            runs = int(args[i + 1]); i += 1
        elif args[i] == "--threads":
            thread_counts = [int(t) for t in args[i + 1].split(",")]; i += 1
        else:
            what = args[i]
        i += 1
    rows = []
    jobs = []
    for t in thread_counts:
        if what in ("all", "sgemm"):
            jobs.append(("sgemm", t, ""))
            jobs.append(("sgemm", t, "SkylakeX"))
        if what in ("all", "vit"):
            jobs.append(("vit", t, ""))
    for kind, t, coretype in jobs:
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t))
        if coretype:
            env["OPENBLAS_CORETYPE"] = coretype
        out = subprocess.run([sys.executable, __file__, "--child", kind, str(runs), str(t), coretype], env=env,
                             capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            print(line)
            rows.append(json.loads(line))
    print()
    print("| case | threads | median ms | best ms | GFLOP/s | CPU ms |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        label = (f"numpy {r['coretype']} {r['m']}×{r['n']}×{r['k']}" if r["case"] == "sgemm"
                 else f"{r['lib']} {r['model']} batch {r['batch']}")
        gf = f"{r['gflops']:.1f}" if "gflops" in r else "-"
        print(f"| {label} | {r['threads']} | {r['median_ms']:.2f} | {r['best_ms']:.2f} | {gf} | {r['cpu_ms']:.2f} |")


if __name__ == "__main__":
    main()
