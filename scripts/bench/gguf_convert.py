#!/usr/bin/env python3
"""Hugging Face folder -> GGUF, Graft vs llama.cpp's convert_hf_to_gguf.py, side by side in one session.

Usage: python3 scripts/bench/gguf_convert.py GRAFT_BINARY LLAMA_CPP_DIR MODEL_DIR [--runs 5] [--work DIR]

MODEL_DIR is the anchor model (`python3 /work/shared/anchors/make_llama.py /tmp/anchor-llama`: 427M-parameter bf16
Llama, SentencePiece tokenizer). LLAMA_CPP_DIR is `<llama-cpp-python sdist>/vendor/llama.cpp` (the converter runs with
PYTHONPATH=LLAMA_CPP_DIR/gguf-py). For F16 and Q8_0, each tool runs once to warm the page cache, then --runs times,
alternating; every run is measured by `/usr/bin/time -v` (wall clock, maximum resident set size of the process tree's
largest process) and the output is deleted after it. Prints a Markdown table of medians and the load average before
and after, and checks that both tools wrote files with the same tensor bytes (first run's outputs, compare_gguf.py).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys

sys.path.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))


def timed(cmd, env=None):
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    if p.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{p.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", p.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    seconds = int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3))
    return seconds, int(rss.group(1)) * 1024


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graft")
    ap.add_argument("llama_cpp")
    ap.add_argument("model")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/tmp/gguf-bench")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.path.join(args.llama_cpp, "gguf-py"))
    converter = os.path.join(args.llama_cpp, "convert_hf_to_gguf.py")
    print(f"load average before: {loadavg()}  (nproc {os.cpu_count()})")
    rows = []
    for outtype in ["F16", "Q8_0"]:
        ours = os.path.join(args.work, f"graft-{outtype}.gguf")
        theirs = os.path.join(args.work, f"convert-{outtype}.gguf")
        commands = {
            "graft convert": ([args.graft, "convert", args.model, ours, "--dtype", outtype, "--quiet"], None, ours),
            "convert_hf_to_gguf.py": ([sys.executable, converter, args.model, "--outfile", theirs, "--outtype",
                                       outtype.lower()], env, theirs),
        }
        for cmd, e, out in commands.values():  # warm-up; keeps the outputs for the byte comparison
            timed(cmd, e)
        from compare_gguf import compare
        rows_diff = compare(ours, theirs, ["graft", "convert"])
        tensor_rows = [r for r in rows_diff if r[0].startswith("tensor") and r[0] != "tensor order"]
        print(f"{outtype}: tensor differences between the two files: {len(tensor_rows)}")
        results = {name: ([], []) for name in commands}
        for _ in range(args.runs):
            for name, (cmd, e, out) in commands.items():
                os.remove(out)
                s, r = timed(cmd, e)
                results[name][0].append(s)
                results[name][1].append(r)
        for name, (times, rss) in results.items():
            rows.append((outtype, name, statistics.median(times), min(times), max(times), statistics.median(rss)))
        for _, _, out in commands.values():
            os.remove(out)
    print(f"load average after: {loadavg()}\n")
    print("| output | tool | median wall (s) | min–max (s) | median peak RSS (MB) |\n|---|---|---|---|---|")
    for outtype, name, med, lo, hi, rss in rows:
        print(f"| {outtype} | {name} | {med:.2f} | {lo:.2f}–{hi:.2f} | {rss / 1e6:.0f} |")
    for outtype in ["F16", "Q8_0"]:
        g = next(r for r in rows if r[0] == outtype and r[1] == "graft convert")
        c = next(r for r in rows if r[0] == outtype and r[1] != "graft convert")
        print(f"{outtype}: graft {c[2] / g[2]:.1f}× faster, peak RSS {g[5] / c[5]:.3f} of the converter's")


if __name__ == "__main__":
    main()
