#!/usr/bin/env python3
"""Disk-full and EIO tests for every output format, through the `graft` CLI.

Usage: io_fault_test.py GRAFT_BINARY [--work DIR] [--trials N]

* Disk full: a 1 MiB tmpfs (`mount -t tmpfs -o size=1m`, needs root) holding a previous complete output; converting a
  larger input into it must fail with exit status 3, leave the previous file byte-identical and leave no temporary.
* EIO: an LD_PRELOAD shim (`eio_shim.c`) makes write/pwrite fail with EIO after a random number of bytes, or fsync,
  or rename fail; the same three properties must hold (the folder is on the real disk).
"""
import argparse, hashlib, os, random, subprocess, sys, tempfile

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
from kill_test import make_input, sha, temporaries  # noqa: E402

FORMATS = ["safetensors", "graft", "pth", "npz", "h5"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graft")
    ap.add_argument("--work", default="/tmp/graft-io-faults")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--formats", default=",".join(FORMATS))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    formats = args.formats.split(",")
    # The Swift runtime's crash backtracer would inherit LD_PRELOAD and hang on the failing writes; a crash must
    # show up as an exit status instead.
    os.environ["SWIFT_BACKTRACE"] = "enable=no"
    os.makedirs(args.work, exist_ok=True)
    small, big = os.path.join(args.work, "small.safetensors"), os.path.join(args.work, "big.safetensors")
    make_input(big, 8, 2)
    # A tiny previous output: one tensor of 64 floats.
    import json, struct
    header = json.dumps({"w": {"dtype": "F32", "shape": [64], "data_offsets": [0, 256]}}).encode()
    header += b" " * (-len(header) % 8)
    open(small, "wb").write(struct.pack("<Q", len(header)) + header + bytes(256))
    shim = os.path.join(args.work, "eio_shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(here, "eio_shim.c"), "-ldl"], check=True)
    failures, counts = [], {"disk_full": 0, "eio_write": 0, "eio_fsync": 0, "eio_rename": 0}

    def check(label, folder, dest, before, env=None):
        r = subprocess.run([args.graft, "convert", big, dest, "-q"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
        if r.returncode != 3:
            failures.append(f"{label}: exit status {r.returncode}, expected 3: {r.stderr.decode()[:300]}")
        if sha(dest) != before:
            failures.append(f"{label}: the previous output changed")
        left = temporaries(folder)
        if left:
            failures.append(f"{label}: temporaries left: {left}")
        return r.stderr.decode().strip().splitlines()[-1:] if r.stderr else []

    # Disk full.
    mnt = tempfile.mkdtemp(dir=args.work, prefix="tmpfs-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt]).returncode == 0
    if mounted:
        try:
            for fmt in formats:
                dest = os.path.join(mnt, "model." + fmt)
                subprocess.run([args.graft, "convert", small, dest, "-q"], check=True)
                msg = check(f"disk full {fmt}", mnt, dest, sha(dest))
                counts["disk_full"] += 1
                print(f"disk full {fmt}: {msg}")
        finally:
            subprocess.run(["umount", mnt])
    else:
        print("disk full: cannot mount a tmpfs (not root?); skipped")

    # EIO.
    folder = os.path.join(args.work, "eio")
    os.makedirs(folder, exist_ok=True)
    size = os.path.getsize(big)
    for fmt in formats:
        dest = os.path.join(folder, "model." + fmt)
        subprocess.run([args.graft, "convert", small, dest, "-q"], check=True)
        before = sha(dest)
        for t in range(args.trials):
            env = dict(os.environ, LD_PRELOAD=shim, GRAFT_EIO_WRITE_AFTER=str(rng.randrange(0, size)))
            check(f"EIO write {fmt} #{t}", folder, dest, before, env)
            counts["eio_write"] += 1
        msg = check(f"EIO fsync {fmt}", folder, dest, before, dict(os.environ, LD_PRELOAD=shim, GRAFT_EIO_FSYNC="1"))
        counts["eio_fsync"] += 1
        print(f"EIO fsync {fmt}: {msg}")
        msg = check(f"EIO rename {fmt}", folder, dest, before, dict(os.environ, LD_PRELOAD=shim, GRAFT_EIO_RENAME="1"))
        counts["eio_rename"] += 1
        print(f"EIO rename {fmt}: {msg}")
    print("counts", counts)
    for f in failures[:60]:
        print("FAIL", f)
    print("violations:", len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
