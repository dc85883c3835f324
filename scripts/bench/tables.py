#!/usr/bin/env python3
"""One command per BENCHMARKS.md table (issue 18): Graft and its anchor in the same run, interleaved.

Usage:
  python3 scripts/bench/tables.py TABLE [--runs 5] [--graft .build/release/graft] [--bench .build/release/graft-bench]
                                        [--work /tmp/graft-bench] [--threads T]
TABLE: sgemm | vit-b1 | vit-s8 | run | convert | pth | hdf5 | surgery | llm | gguf | all

Build first: swift build -c release -Xcc -march=x86-64-v3 (graft and graft-bench; the kernels are chosen at run time,
so a flag-less release build runs the same AVX-512 kernels).
Every table prints the load average before and after, medians of --runs runs with min–max and peak RSS (ru_maxrss of
each child from wait4). Whole-process tables (convert, pth, hdf5, run, surgery) print warm and cold page-cache rows;
cold drops the caches before every run (root: sync; echo 3 > /proc/sys/vm/drop_caches). In-process tables (sgemm,
vit-*, llm, gguf) time the kernel or forward inside one process per library after a warm-up.
Inputs are generated on first use into --work (and /tmp/anchor-llama via /work/shared/anchors/make_llama.py).
"""
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert import make_checkpoint, PY_H5_WRITE, PY_TORCH  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ARGS = sys.argv[1:]


def opt(name, default):
    return type(default)(ARGS[ARGS.index(name) + 1]) if name in ARGS else default


RUNS = opt("--runs", 5)
WORK = opt("--work", "/tmp/graft-bench")
GRAFT = os.path.abspath(opt("--graft", ".build/release/graft"))
BENCH = os.path.abspath(opt("--bench", ".build/release/graft-bench"))
THREADS = opt("--threads", 2)


def load():
    return "load %.2f %.2f %.2f at %s" % (*os.getloadavg(), time.strftime("%H:%M:%S"))


def drop_caches():
    subprocess.run(["sync"], check=True)
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def child(cmd, env=None, cold=False):
    """Runs cmd; returns (wall seconds, peak RSS bytes, stdout)."""
    if cold:
        drop_caches()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    out, err = p.communicate()
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"command failed ({p.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return dt, peak_rss(p.pid), out


_RSS = {}


def peak_rss(pid):
    return _RSS.pop(pid, 0)


class Popen(subprocess.Popen):
    """A Popen whose wait records the child's ru_maxrss (wait4), which plain wait discards."""

    def _try_wait(self, wait_flags):
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0
        if pid:
            _RSS[pid] = usage.ru_maxrss * 1024
        return pid, status


subprocess.Popen = Popen


def env_threads(t):
    return dict(os.environ, GRAFT_THREADS=str(t), OMP_NUM_THREADS=str(t), MKL_NUM_THREADS=str(t),
                OPENBLAS_NUM_THREADS=str(t))


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def row(name, xs, rss, unit="s", scale=1.0, extra=""):
    med, lo, hi = stats([x * scale for x in xs])
    return f"| {name} | {med:.3f} | {lo:.3f}–{hi:.3f} | {rss / 1e6:.0f} |{extra}"


def header(title, unit="s"):
    print(f"### {title}\n")
    print(f"{load()}; {RUNS} runs; kernels: {kernels()}\n")
    print(f"| case | median {unit} | min–max {unit} | peak RSS MB | ratio |")
    print("|---|---|---|---|---|")


_KERNELS = None


def kernels():
    global _KERNELS
    if _KERNELS is None:
        out = subprocess.run([GRAFT, "--version"], capture_output=True, text=True).stdout
        _KERNELS = next((l.split("engine: ", 1)[1] for l in out.splitlines() if "engine:" in l), "?")
    return _KERNELS


def interleaved(cases, runs, cold):
    """Runs every (name, cmd, env, cleanup) once per round, `runs` rounds; returns {name: (times, peak rss)}."""
    res = {c[0]: ([], 0) for c in cases}
    for _ in range(runs):
        for name, cmd, env, cleanup in cases:
            if cleanup:
                cleanup()
            dt, rss, _ = child(cmd, env, cold)
            times, peak = res[name]
            res[name] = (times + [dt], max(peak, rss))
    return res


def rm(*paths):
    return lambda: [os.remove(p) for p in paths if os.path.exists(p)]


def whole_process(title, cases, anchor, goal):
    """Warm then cold rows for whole-command cases; ratios against `anchor`."""
    header(title)
    for cold in (False, True):
        res = interleaved(cases, RUNS, cold)
        base = statistics.median(res[anchor][0])
        for name, _, _, _ in cases:
            times, rss = res[name]
            r = statistics.median(times) / base
            print(row(f"{name} ({'cold' if cold else 'warm'})", times, rss, extra=f" {r:.2f}× |"))
    print(f"\n{load()}. Goal: {goal}\n")


# MARK: inputs

def st_input():
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, "model-0.8GB.safetensors")
    if not os.path.exists(path):
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); from convert import "
                        "make_checkpoint; make_checkpoint(sys.argv[2], 800_000_000)", HERE, path], check=True)
    return path


def pth_input():
    pth = os.path.join(WORK, "model-0.8GB.pth")
    if not os.path.exists(pth):
        subprocess.run([sys.executable, "-c", "import sys, torch; from safetensors.torch import load_file; "
                        "torch.save(load_file(sys.argv[1]), sys.argv[2])", st_input(), pth], check=True)
    return pth


def vit_input(name):
    path = os.path.join(WORK, f"{name}.safetensors")
    if not os.path.exists(path):
        os.makedirs(WORK, exist_ok=True)
        subprocess.run([sys.executable, "-c", "import sys, timm, torch; from safetensors.torch import save_file; "
                        "torch.manual_seed(0); m = timm.create_model(sys.argv[1], pretrained=False).eval(); "
                        "save_file({k: v.contiguous() for k, v in m.state_dict().items()}, sys.argv[2], "
                        "metadata={'format': 'pt', 'architecture': sys.argv[1]})", name, path], check=True)
    return path


def llama_input():
    path = "/tmp/anchor-llama"
    if not os.path.exists(os.path.join(path, "config.json")):
        subprocess.run([sys.executable, "/work/shared/anchors/make_llama.py", path], check=True)
    return path


# MARK: in-process tables

TORCH_VIT = """
import json, sys, time, timm, torch
from safetensors.torch import load_file
name, path, batch, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
m = timm.create_model(name, pretrained=False).eval(); m.load_state_dict(load_file(path))
x = torch.randn(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    m(x); s = []
    for _ in range(runs):
        t = time.perf_counter(); m(x); s.append(time.perf_counter() - t)
print(json.dumps({"seconds": s}))
"""


def vit_forward(name, batch, threads, goal):
    path = vit_input(name)
    header(f"{name} batch {batch}, {threads} thread(s), forward (warm, after one warm-up)", "ms")
    g, t = [], []
    grss = trss = 0
    for _ in range(2):  # two processes each, interleaved, RUNS forwards each
        _, rss, out = child([GRAFT, "run", path, "--random", str(batch), "--repeat", str(RUNS), "--json"],
                            env_threads(threads))
        g += json.loads(out)["forward_seconds"]
        grss = max(grss, rss)
        _, rss, out = child([sys.executable, "-c", TORCH_VIT, name, path, str(batch), str(threads), str(RUNS)],
                            env_threads(threads))
        t += json.loads(out)["seconds"]
        trss = max(trss, rss)
    r = statistics.median(g) / statistics.median(t)
    print(row("graft run --repeat (forward)", g, grss, scale=1e3, extra=f" {r:.2f}× |"))
    print(row(f"torch {name} (timm)", t, trss, scale=1e3, extra=" 1.00× |"))
    print(f"\n{load()}. Goal: Graft ≤ {goal}× torch.\n")


def sgemm():
    header("SGEMM, 1 thread (C = A·B, both operands packed per call)", "ms")
    env = env_threads(1)
    _, grss, out = child([BENCH, "engine", "sgemm", "--runs", str(max(RUNS, 9)), "--threads", "1"], env)
    graft = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    anchors = {}
    for core in ("", "SkylakeX"):
        e = dict(env, OPENBLAS_CORETYPE=core) if core else env
        _, rss, out = child([sys.executable, os.path.join(HERE, "engine_anchors.py"), "--child", "sgemm",
                             str(max(RUNS, 9)), "1", core], e)
        anchors[core or "auto"] = ([json.loads(l) for l in out.splitlines() if l.startswith("{")], rss)
    for g in graft:
        shape = f"{g['m']}×{g['n']}×{g['k']}"
        print(f"| graft {shape} | {g['median_ms']:.2f} | {g['best_ms']:.2f}–{g['max_ms']:.2f} | {grss / 1e6:.0f} | "
              f"{g['gflops']:.0f} GFLOP/s |")
        for core, (rows, rss) in anchors.items():
            a = next(r for r in rows if (r["m"], r["n"], r["k"]) == (g["m"], g["n"], g["k"]))
            print(f"| numpy/OpenBLAS {core} {shape} | {a['median_ms']:.2f} | {a['best_ms']:.2f}–{a['max_ms']:.2f} | "
                  f"{rss / 1e6:.0f} | graft {a['median_ms'] / g['median_ms']:.2f}× faster |")
    print(f"\n{load()}. Goal: 1024³ ≥ 1.8× numpy (auto), ≥ 1.0× SkylakeX.\n")


def run_table():
    path = vit_input("vit_small_patch16_224")
    threads = THREADS
    header(f"`graft run` whole process, ViT-S/16 batch 8, {threads} threads vs torch forward only", "s")
    env = env_threads(threads)
    t = []
    trss = 0
    for _ in range(2):
        _, rss, out = child([sys.executable, "-c", TORCH_VIT, "vit_small_patch16_224", path, "8", str(threads),
                             str(RUNS)], env)
        t += json.loads(out)["seconds"]
        trss = max(trss, rss)
    base = statistics.median(t)
    for cold in (False, True):
        res = interleaved([("graft run (whole process)", [GRAFT, "run", path, "--random", "8"], env, None)], RUNS,
                          cold)
        times, rss = res["graft run (whole process)"]
        print(row(f"graft run --random 8 ({'cold' if cold else 'warm'})", times, rss,
                  extra=f" {statistics.median(times) / base:.2f}× |"))
    print(row("torch forward only (warm, in process)", t, trss, extra=" 1.00× |"))
    print(f"\n{load()}. Goal: ≤ 0.8× torch forward.\n")


# MARK: whole-process tables

def convert_table():
    src = st_input()
    dst = lambda n: os.path.join(WORK, n)
    copy = dst("copy.safetensors")
    cases = [
        ("cp && sync", ["sh", "-c", f"cp {src} {copy} && sync {copy}"], None, rm(copy)),
        ("graft st → .graft", [GRAFT, "convert", "-q", src, dst("m.graft")], None, rm(dst("m.graft"))),
    ]
    whole_process("safetensors → .graft, 0.8 GB F32 (both durable: fsync before done)", cases, "cp && sync",
                  "graft ≤ 1.0× cp && sync")


def pth_table():
    pth = pth_input()
    out = os.path.join(WORK, "from-pth.safetensors")
    cases = [
        ("torch.load(mmap)+save_file", [sys.executable, "-c", PY_TORCH, pth, os.path.join(WORK, "t.safetensors")],
         None, rm(os.path.join(WORK, "t.safetensors"))),
        ("graft .pth → safetensors", [GRAFT, "convert", "-q", pth, out], None, rm(out)),
    ]
    whole_process(".pth → safetensors, 0.8 GB F32", cases, "torch.load(mmap)+save_file",
                  "graft ≥ 3× faster than torch (ratio ≤ 0.33)")


def hdf5_table():
    src = st_input()
    p = os.path.join(WORK, "p.h5")
    cases = [
        ("h5py write", [sys.executable, "-c", PY_H5_WRITE, src, p], None, rm(p)),
        ("graft st → .h5", [GRAFT, "convert", "-q", src, os.path.join(WORK, "g.h5")], None,
         rm(os.path.join(WORK, "g.h5"))),
    ]
    whole_process("HDF5 write, 0.8 GB F32 safetensors → .h5", cases, "h5py write", "graft ≤ 1.0× h5py")


def surgery_table():
    vit = vit_input("vit_base_patch16_224")
    dn = os.path.join(WORK, "denoiserep-vitb.safetensors")
    if not os.path.exists(dn):
        subprocess.run([sys.executable, os.path.join(HERE, "make_denoiserep.py"), dn], check=True)
    o = lambda n: os.path.join(WORK, n)
    cases = [
        ("graft convert ViT-B", [GRAFT, "convert", "-q", vit, o("vitb-copy.safetensors")], None, None),
        ("graft moe recycle ViT-B (8 experts, last half)",
         [GRAFT, "moe", "recycle", vit, o("vitb-moe.safetensors"), "--experts", "8", "--layers", "last-half",
          "--seed", "0"], None, None),
        ("graft convert DenoiseRep ViT-B", [GRAFT, "convert", "-q", dn, o("dn-copy.safetensors")], None, None),
        # The generated checkpoint names no architecture: timm's ViT-B defaults, stated.
        ("graft denoiserep fuse", [GRAFT, "denoiserep", "fuse", dn, o("dn-fused.safetensors"), "--global-pool",
                                   "token", "--norm-eps", "1e-6", "--act", "gelu"], None, None),
    ]
    header("MoE recycle and DenoiseRep fuse, ViT-B, against `graft convert` of the same input")
    for cold in (False, True):
        res = interleaved(cases, RUNS, cold)
        tag = "cold" if cold else "warm"
        for name, base in ((cases[0][0], None), (cases[1][0], cases[0][0]), (cases[2][0], None),
                           (cases[3][0], cases[2][0])):
            times, rss = res[name]
            r = statistics.median(times) / statistics.median(res[base][0]) if base else 1.0
            print(row(f"{name} ({tag})", times, rss, extra=f" {r:.2f}× |"))
    print(f"\n{load()}. Goal: ≤ 1.5× graft convert.\n")


# MARK: LLM and GGUF

TORCH_LLM = """
import json, sys, time, torch
from transformers import AutoModelForCausalLM
folder, tokens, threads, runs, attn = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
m = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation=attn).eval()
ids = torch.randint(0, m.config.vocab_size, (1, tokens), generator=torch.Generator().manual_seed(0))
with torch.inference_mode():
    m(input_ids=ids); s = []
    for _ in range(runs):
        t = time.perf_counter(); m(input_ids=ids); s.append(time.perf_counter() - t)
print(json.dumps({"seconds": s}))
"""

LLAMA_CPP = """
import json, sys, time, llama_cpp
path, tokens, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
m = llama_cpp.Llama(path, n_ctx=tokens + 8, n_batch=tokens, n_ubatch=tokens, n_threads=threads,
                    n_threads_batch=threads, logits_all=True, verbose=False)
import random; random.seed(0); ids = [random.randrange(3, m.n_vocab()) for _ in range(tokens)]
m.reset(); m.eval(ids); s = []
for _ in range(runs):
    m.reset(); t = time.perf_counter(); m.eval(ids); s.append(time.perf_counter() - t)
print(json.dumps({"seconds": s}))
"""


def llama_cpp_source():
    """convert_hf_to_gguf.py and gguf-py from the installed llama-cpp-python's source package (pip download)."""
    import importlib.metadata
    version = importlib.metadata.version("llama_cpp_python")
    root = os.path.join(WORK, f"llama_cpp_python-{version}")
    script = os.path.join(root, "vendor", "llama.cpp", "convert_hf_to_gguf.py")
    if not os.path.exists(script):
        dl = os.path.join(WORK, "sdist")
        # Only this package as source; no build isolation, so pip prepares its metadata with the installed
        # scikit-build-core instead of building cmake from source for an isolated build environment.
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "llama-cpp-python",
                        "--no-build-isolation", "-d", dl, f"llama-cpp-python=={version}"], check=True)
        with tarfile.open(os.path.join(dl, f"llama_cpp_python-{version}.tar.gz")) as tar:
            tar.extractall(WORK, filter="data")
    return script


def llama_gguf(outtype):
    path = os.path.join(WORK, f"anchor-llama-{outtype}.gguf")
    if not os.path.exists(path):
        script = llama_cpp_source()
        env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(script), "gguf-py"))
        subprocess.run([sys.executable, script, llama_input(), "--outfile", path, "--outtype", outtype], env=env,
                       check=True, stdout=subprocess.DEVNULL)
    return path


def llm_table():
    folder = llama_input()
    tokens, threads = 512, THREADS
    header(f"LLM prefill, anchor Llama (427 M, 16 layers), {tokens} tokens, {threads} threads", "tok/s")
    env = env_threads(threads)
    cases = [
        ("graft F32", lambda: [BENCH, "llm", folder, "--tokens", str(tokens), "--runs", str(RUNS)]),
        ("transformers F32 eager", lambda: [sys.executable, "-c", TORCH_LLM, folder, str(tokens), str(threads),
                                            str(RUNS), "eager"]),
        ("transformers F32 sdpa", lambda: [sys.executable, "-c", TORCH_LLM, folder, str(tokens), str(threads),
                                           str(RUNS), "sdpa"]),
        ("llama.cpp F32", lambda: [sys.executable, "-c", LLAMA_CPP, llama_gguf("f32"), str(tokens), str(threads),
                                   str(RUNS)]),
        ("llama.cpp Q8_0", lambda: [sys.executable, "-c", LLAMA_CPP, llama_gguf("q8_0"), str(tokens), str(threads),
                                    str(RUNS)]),
    ]
    g = None
    for name, cmd in cases:
        _, rss, out = child(cmd(), env)
        if name.startswith("graft"):
            secs = [json.loads(l)["seconds"] for l in out.splitlines() if l.startswith('{"tokens"')]
        else:
            secs = json.loads(out.strip().splitlines()[-1])["seconds"]
        rates = [tokens / s for s in secs]
        g = g or statistics.median(rates)
        print(row(name, rates, rss, extra=f" graft {g / statistics.median(rates):.2f}× |"), flush=True)
    print(f"\n{load()}. tok/s: higher is better; ratio = graft tok/s / this row's.\n")


LLAMA_QUANT = """
import json, sys, time, ctypes, llama_cpp
src, dst, ftype, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = llama_cpp.llama_model_quantize_default_params(); p.nthread = 1; p.ftype = ftype
s = []
for _ in range(runs):
    t = time.perf_counter()
    assert llama_cpp.llama_model_quantize(src.encode(), dst.encode(), ctypes.byref(p)) == 0
    s.append(time.perf_counter() - t)
print(json.dumps({"seconds": s}))
"""


def gguf_table():
    header("GGUF quantization throughput, 1 thread (GB/s of F32 input)", "GB/s")
    env = env_threads(1)
    _, grss, out = child([BENCH, "gguf", "kernels", "256", "--runs", str(RUNS)], env)
    rows = [json.loads(l) for l in out.splitlines() if l.startswith('{"case":"gguf"')]
    src = llama_gguf("f32")
    size = os.path.getsize(src) / 1e9
    # llama.cpp quantizes the whole F32 GGUF file (read from the page cache, written to WORK): file I/O included.
    for name, gtype, ftype in (("Q8_0", "Q8_0", 7), ("Q4_K", "Q4_K", 15)):
        g = next(r for r in rows if r["type"] == gtype and r["op"] == "quantize" and r["threads"] == 1)
        rates = [g["gb"] / s for s in g["seconds"]]
        print(row(f"graft {name} quantize (in memory, {g['gb']:.2f} GB)", rates, grss))
        _, rss, out = child([sys.executable, "-c", LLAMA_QUANT, src, os.path.join(WORK, f"q-{name}.gguf"),
                             str(ftype), str(min(RUNS, 3) if name == "Q4_K" else RUNS)], env)
        secs = json.loads(out.strip().splitlines()[-1])["seconds"]
        lr = [size / s for s in secs]
        print(row(f"llama.cpp llama_model_quantize {name} (whole {size:.2f} GB file)", lr, rss,
                  extra=f" graft {statistics.median(rates) / statistics.median(lr):.2f}× |"))
    print(f"\n{load()}.\n")


TABLES = {"sgemm": sgemm, "vit-b1": lambda: vit_forward("vit_base_patch16_224", 1, 1, 0.55),
          "vit-s8": lambda: vit_forward("vit_small_patch16_224", 8, 2, 0.5), "run": run_table,
          "convert": convert_table, "pth": pth_table, "hdf5": hdf5_table, "surgery": surgery_table,
          "llm": llm_table, "gguf": gguf_table}

if __name__ == "__main__":
    which = ARGS[0] if ARGS else "all"
    for name, fn in TABLES.items():
        if which in (name, "all"):
            fn()
