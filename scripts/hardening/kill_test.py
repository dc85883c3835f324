#!/usr/bin/env python3
"""Crash-safety test: start `graft` conversions (and a surgery pass) and SIGKILL them at random moments.

Usage: kill_test.py GRAFT_BINARY [--kills N] [--work DIR] [--seed S] [--size-mb M] [--no-surgery]

For every output format the destination is first written completely by one of two variants (A: plain convert,
B: the surgery pass `--rename s/^layer/block/ --dtype BF16`, whose bytes differ); then the same for a model-surgery
command, `graft moe upcycle` of a ViT fixture with 4 experts (A) and 8 experts (B). Each round then starts the other
variant on the same destination and kills it with SIGKILL after a random delay drawn from [0, 1.1 x its measured
run time]. After each kill:

  * the destination must be byte-identical to the complete output of A or of B (never partial, never absent) — HDF5
    included, since the writer turned libhdf5's object timestamps off;
  * at most ONE temporary file (`.graft-tmp-*`) may exist in the output folder: the one the killed run may have
    left (the next run must clean up or at least not add to it);
  * the destination must read back (`graft verify` for .graft, `graft inspect` otherwise).

A kill "lands in the write phase" when the killed run left its temporary file (it had created it and not renamed it).
The script prints per-format counts and exits 1 on any violation.
"""
import argparse, hashlib, json, os, random, signal, struct, subprocess, sys, time


def make_input(path, size_mb, seed):
    rng = random.Random(seed)
    tensors, blobs, offset = {}, [], 0
    n = 8
    per = size_mb * (1 << 20) // n // 4 * 4
    for i in range(n):
        blob = rng.randbytes(per)
        # Keep the floats finite (random bytes would give NaN/inf, which casts handle but reports flag).
        arr = bytearray(blob)
        for j in range(3, len(arr), 4):
            arr[j] &= 0x3F
        tensors[f"layer{i}.weight"] = {"dtype": "F32", "shape": [per // 4], "data_offsets": [offset, offset + per]}
        blobs.append(bytes(arr))
        offset += per
    header = json.dumps(tensors, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)))
        f.write(header)
        for b in blobs:
            f.write(b)


def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def content(graft, path, fmt, scratch):
    """A digest of the file's bytes (every format, HDF5 included, is written reproducibly)."""
    return sha(path)


def temporaries(folder):
    return sorted(n for n in os.listdir(folder) if n.startswith(".graft-tmp-"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graft")
    ap.add_argument("--kills", type=int, default=240)
    ap.add_argument("--work", default="/tmp/graft-kill-test")
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--size-mb", type=int, default=64)
    ap.add_argument("--formats", default="safetensors,graft,pth,npz,h5")
    ap.add_argument("--surgery", action=argparse.BooleanOptionalAction, default=True,
                    help="also kill `graft moe upcycle` runs")
    ap.add_argument("--vit", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Fixtures",
                                                  "engine", "vit_medium_bf16.safetensors"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.work, exist_ok=True)
    src = os.path.join(args.work, "input.safetensors")
    make_input(src, args.size_mb, args.seed)
    formats = args.formats.split(",")
    variants = {"A": [], "B": ["--rename", "s/^layer/block/", "--dtype", "BF16"]}
    failures, stats = [], {}
    # Every output format through `convert`, then a model-surgery pass (MoE sparse upcycling of a ViT fixture, 4
    # experts against 8, without the engine checks so that the write is a large part of the run).
    jobs = []
    for fmt in formats:
        dest = os.path.join(args.work, fmt, "model." + fmt)
        jobs.append((fmt, dest, {v: ["convert", src, dest, "-q", *extra] for v, extra in variants.items()}))
    if args.surgery:
        dest = os.path.join(args.work, "moe-upcycle", "moe.graft")
        upcycle = ["moe", "upcycle", args.vit, dest, "--no-verify", "-q", "--experts"]
        jobs.append(("moe-upcycle", dest, {"A": upcycle + ["4"], "B": upcycle + ["8"]}))
    per_job = max(1, args.kills // len(jobs))
    for label, dest, commands in jobs:
        out_dir = os.path.dirname(dest)
        os.makedirs(out_dir, exist_ok=True)
        for n in os.listdir(out_dir):
            os.unlink(os.path.join(out_dir, n))
        fmt = dest.rsplit(".", 1)[1]
        complete, seconds = {}, {}
        for v, argv in commands.items():
            t0 = time.monotonic()
            subprocess.run([args.graft, *argv], check=True)
            seconds[v] = time.monotonic() - t0
            complete[v] = content(args.graft, dest, fmt, args.work)
        assert complete["A"] != complete["B"], "variants must differ"
        st = {"kills": 0, "in_write_phase": 0, "completed_before_kill": 0, "max_temporaries": 0, "runs_ok": 0}
        current = "B"
        for k in range(per_job):
            v = "A" if current == "B" else "B"
            before = set(temporaries(out_dir))
            delay = rng.uniform(0, seconds[v] * 1.1)
            p = subprocess.Popen([args.graft, *commands[v]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            rc = p.wait()
            st["kills"] += 1
            after = temporaries(out_dir)
            st["max_temporaries"] = max(st["max_temporaries"], len(after))
            new = set(after) - before
            if new:
                st["in_write_phase"] += 1
            if len(after) > 1:
                failures.append(f"{label} kill {k}: {len(after)} temporary files: {after}")
            if not os.path.exists(dest):
                failures.append(f"{label} kill {k}: destination missing")
                continue
            h = content(args.graft, dest, fmt, args.work)
            if h == complete[v]:
                if rc != -signal.SIGKILL or current != v:
                    st["completed_before_kill"] += 1
                current = v
            elif h != complete[current]:
                failures.append(f"{label} kill {k}: destination is neither complete output (partial?)")
                continue
            if k % 10 == 0:
                cmd = ["verify", dest] if fmt == "graft" else ["inspect", dest]
                r = subprocess.run([args.graft, *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    failures.append(f"{label} kill {k}: {' '.join(cmd)} failed: {r.stderr.decode()[:200]}")
        # A clean run afterwards must leave no temporary file at all.
        subprocess.run([args.graft, *commands["A"]], check=True)
        leftover = temporaries(out_dir)
        st["temporaries_after_clean_run"] = len(leftover)
        if leftover:
            failures.append(f"{label}: a clean run left {leftover}")
        st["seconds_per_run"] = round(seconds["A"], 2)
        stats[label] = st
        print(label, json.dumps(st), flush=True)
    total = {k: sum(s[k] for s in stats.values()) for k in ("kills", "in_write_phase", "completed_before_kill")}
    print("TOTAL", json.dumps(total))
    for f in failures[:50]:
        print("FAIL", f)
    print("violations:", len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
