#!/usr/bin/env python3
"""Whole-command conversion benchmarks for BENCHMARKS.md, with the anchors measured in the same run.

Usage: scripts/bench/convert.py GRAFT_BINARY [--work DIR] [--runs 5] [--size-gb 2] [--cold]

Builds a synthetic float32 checkpoint (~200 tensors, the largest >= 100 MB) with numpy + python safetensors, then
times, side by side: `cp`, graft safetensors -> .graft, .graft -> safetensors, safetensors F32 -> BF16, graft inspect
(2 GB and 20 MB files), python safetensors.numpy load_file + save_file, and (when torch is installed) the .pth anchors.
Peak RSS is each child's ru_maxrss from wait4 (touched pages of a mapped file count). Medians of --runs runs.
--cold drops the page cache before every run (needs root) instead of measuring warm runs.
"""
import json, os, shutil, statistics, subprocess, sys, time

def run(cmd, cold=False):
    if cold:
        subprocess.run(["sync"])
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    err = p.stderr.read().decode() if p.stderr else ""
    if status != 0:
        raise SystemExit(f"command failed ({status}): {' '.join(cmd)}\n{err}")
    return dt, usage.ru_maxrss * 1024

def measure(name, cmd, runs, cold, cleanup=None):
    times, rss = [], []
    for _ in range(runs):
        if cleanup: cleanup()
        dt, r = run(cmd, cold)
        times.append(dt); rss.append(r)
    return {"case": name, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "peak_rss_mb": max(rss) / 1e6, "runs": runs}

def make_checkpoint(path, total_bytes, count=200):
    import numpy as np
    from safetensors.numpy import save_file
    rng = np.random.default_rng(0)
    big = (max(100_000_000, total_bytes // 16) if total_bytes >= 1_000_000_000 else total_bytes // 16) // 4
    rest = (total_bytes - big * 4) // (count - 1) // 4
    tensors = {"embed.weight": rng.standard_normal(big, dtype=np.float32)}
    for i in range(count - 1):
        tensors[f"layers.{i}.weight"] = rng.standard_normal(rest, dtype=np.float32)
    save_file(tensors, path, metadata={"format": "pt"})

PY_ST = ("import sys; from safetensors.numpy import load_file, save_file; "
         "t = load_file(sys.argv[1]); save_file(t, sys.argv[2], metadata={'format': 'pt'})")
PY_H5_WRITE = ("import sys, h5py; from safetensors.numpy import load_file; t = load_file(sys.argv[1])\n"
               "with h5py.File(sys.argv[2], 'w') as f:\n"
               "    for k, v in t.items(): f.create_dataset(k, data=v)")
PY_H5_READ = ("import sys, h5py; from safetensors.numpy import save_file\n"
              "with h5py.File(sys.argv[1], 'r') as f:\n"
              "    t = {}\n"
              "    f.visititems(lambda n, o: t.__setitem__(n.replace('/', '.'), o[()]) if isinstance(o, h5py.Dataset) else None)\n"
              "save_file(t, sys.argv[2], metadata={'format': 'pt'})")
PY_TORCH = ("import sys, torch; from safetensors.torch import save_file; "
            "t = torch.load(sys.argv[1], mmap=True, weights_only=True); save_file(t, sys.argv[2], metadata={'format': 'pt'})")

def main():
    args = sys.argv[1:]
    if args[0] == "--make":
        make_checkpoint(args[1], int(args[2]))
        return
    if args[0] == "--make-pth":
        import torch
        from safetensors.torch import load_file
        torch.save(load_file(args[1]), args[2])
        return
    graft = os.path.abspath(args[0])
    work = args[args.index("--work") + 1] if "--work" in args else "/tmp/graft-bench"
    runs = int(args[args.index("--runs") + 1]) if "--runs" in args else 5
    size = float(args[args.index("--size-gb") + 1]) if "--size-gb" in args else 2.0
    cold = "--cold" in args
    os.makedirs(work, exist_ok=True)
    src = os.path.join(work, f"model-{size:g}GB.safetensors")
    small = os.path.join(work, "model-20MB.safetensors")
    # Inputs are generated in child processes: a child's ru_maxrss starts from its parent's RSS at fork, so the harness
    # itself must stay small for the peak-RSS column to mean anything.
    for path, nbytes in ((src, int(size * 1e9)), (small, 20_000_000)):
        if not os.path.exists(path):
            subprocess.run([sys.executable, os.path.abspath(__file__), "--make", path, str(nbytes)], check=True)
    out = lambda n: os.path.join(work, n)
    rm = lambda *ps: (lambda: [os.path.exists(p) and os.remove(p) for p in ps])
    results = []
    if "--hdf5" in args:
        results.append(measure("cp", ["cp", src, out("copy.safetensors")], runs, cold, rm(out("copy.safetensors"))))
        results.append(measure("graft st->h5", [graft, "convert", "-q", src, out("g.h5")], runs, cold))
        results.append(measure("h5py st->h5", [sys.executable, "-c", PY_H5_WRITE, src, out("p.h5")], runs, cold, rm(out("p.h5"))))
        results.append(measure("graft h5->st", [graft, "convert", "-q", out("p.h5"), out("g-from-h5.safetensors")], runs, cold))
        results.append(measure("h5py h5->st", [sys.executable, "-c", PY_H5_READ, out("p.h5"), out("p-from-h5.safetensors")], runs, cold))
        by = {r["case"]: r for r in results}
        print(f"# HDF5: {size:g} GB float32 checkpoint, {'cold' if cold else 'warm'} page cache, median of {runs} runs")
        print("| case | median s | min s | max s | peak RSS MB |")
        print("|---|---|---|---|---|")
        for r in results:
            print(f"| {r['case']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} | {r['peak_rss_mb']:.0f} |")
        print(f"- graft/h5py write: {by['graft st->h5']['median_s'] / by['h5py st->h5']['median_s']:.2f} (target <= 1.0)")
        print(f"- graft/h5py read: {by['graft h5->st']['median_s'] / by['h5py h5->st']['median_s']:.2f} (target <= 1.0)")
        print(json.dumps(results))
        return
    results.append(measure("cp", ["cp", src, out("copy.safetensors")], runs, cold, rm(out("copy.safetensors"))))
    # Graft fsyncs every output before renaming it into place; cp does not. This anchor pays the same durability cost.
    results.append(measure("cp + sync", ["sh", "-c", f"cp {src} {out('copy.safetensors')} && sync {out('copy.safetensors')}"],
                           runs, cold, rm(out("copy.safetensors"))))
    results.append(measure("graft st->graft", [graft, "convert", "-q", src, out("m.graft")], runs, cold))
    results.append(measure("graft graft->st", [graft, "convert", "-q", out("m.graft"), out("back.safetensors")], runs, cold))
    results.append(measure("graft st->st BF16", [graft, "convert", "-q", src, out("bf16.safetensors"), "--dtype", "BF16"], runs, cold))
    results.append(measure("graft st->st F32", [graft, "convert", "-q", src, out("same.safetensors")], runs, cold))
    results.append(measure(f"graft inspect {size:g}GB", [graft, "inspect", src, "--limit", "1"], runs, cold))
    results.append(measure("graft inspect 20MB", [graft, "inspect", small, "--limit", "1"], runs, cold))
    results.append(measure("python safetensors load+save", [sys.executable, "-c", PY_ST, src, out("py.safetensors")], runs, cold))
    same = open(src, "rb").read(1 << 20) == open(out("back.safetensors"), "rb").read(1 << 20)
    try:
        import importlib.util
        if importlib.util.find_spec("torch") is None:
            raise ImportError("torch")
        pth = out("model.pth")
        if not os.path.exists(pth):
            subprocess.run([sys.executable, os.path.abspath(__file__), "--make-pth", src, pth], check=True)
        results.append(measure("graft pth->st", [graft, "convert", "-q", pth, out("from-pth.safetensors")], runs, cold))
        results.append(measure("torch.load(mmap)+save_file", [sys.executable, "-c", PY_TORCH, pth, out("torch.safetensors")], runs, cold))
        results.append(measure(f"graft inspect pth", [graft, "inspect", pth, "--limit", "1"], runs, cold))
    except ImportError:
        pass
    by = {r["case"]: r for r in results}
    def ratio(a, b): return by[a]["median_s"] / by[b]["median_s"] if a in by and b in by else float("nan")
    print(f"# {size:g} GB float32 checkpoint, {'cold' if cold else 'warm'} page cache, median of {runs} runs")
    print("| case | median s | min s | max s | peak RSS MB |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['case']} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} | {r['peak_rss_mb']:.0f} |")
    print()
    print(f"- st->graft / cp: {ratio('graft st->graft', 'cp'):.2f}x (target <= 1.5); / cp+sync: {ratio('graft st->graft', 'cp + sync'):.2f}x")
    print(f"- graft->st / cp: {ratio('graft graft->st', 'cp'):.2f}x (target <= 1.5); / cp+sync: {ratio('graft graft->st', 'cp + sync'):.2f}x")
    print(f"- python load+save / graft st->graft: {1/ratio('graft st->graft', 'python safetensors load+save'):.2f}x faster (target >= 3)")
    print(f"- python load+save / graft graft->st: {1/ratio('graft graft->st', 'python safetensors load+save'):.2f}x faster (target >= 3)")
    print(f"- BF16 cast / same-dtype convert: {ratio('graft st->st BF16', 'graft st->st F32'):.2f}x (target <= 1.3)")
    print(f"- inspect {size:g}GB / 20MB: {ratio(f'graft inspect {size:g}GB', 'graft inspect 20MB'):.2f}x (target <= 2), "
          f"{by[f'graft inspect {size:g}GB']['median_s']*1000:.1f} ms (target < 50)")
    if "graft pth->st" in by:
        print(f"- torch / graft pth->st: {1/ratio('graft pth->st', 'torch.load(mmap)+save_file'):.2f}x faster (target >= 3); "
              f"inspect pth {by['graft inspect pth']['median_s']*1000:.1f} ms (target < 100)")
    print(f"- round trip first MiB identical: {same}")
    print(json.dumps(results))

if __name__ == "__main__":
    main()
