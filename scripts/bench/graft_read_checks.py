#!/usr/bin/env python3
"""The cost of checking .graft checksums on read (issue 14, item 1): the same conversions by two graft binaries.

Usage: scripts/bench/graft_read_checks.py CHECKED_GRAFT UNCHECKED_GRAFT INPUT.graft OUTPUT_DIR [--runs N]

UNCHECKED_GRAFT is a build without the read-side check (the commit before it, or the same source with
`GraftFile.ReadOptions.verifyTensorChecksumsOnRead` forced off). The two binaries alternate, first one then the
other, so that load from other processes falls on both. Each case prints medians of wall time, of the child's CPU
time (user + system) and of its user time (where the hash shows), and the peak RSS. OUTPUT_DIR on a tmpfs
(/dev/shm) keeps the disk's writeback out of the figures. Make INPUT.graft with
`scripts/bench/convert.py --make m.safetensors 2000000000` and `graft convert m.safetensors m.graft`.
"""
import os
import statistics
import subprocess
import sys
import time


def run(binary, args):
    start = time.perf_counter()
    p = subprocess.Popen([binary] + args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{binary} {' '.join(args)} failed: {p.stderr.read().decode()}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_utime, usage.ru_maxrss / 1024


def main():
    checked, unchecked, source, out = (os.path.abspath(a) for a in sys.argv[1:5])
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 11
    cases = [("graft->st", ["convert", source, out + "/o.safetensors", "-q"]),
             ("graft->st BF16", ["convert", source, out + "/o16.safetensors", "-q", "--dtype", "BF16"]),
             ("graft->graft", ["convert", source, out + "/o.graft", "-q"])]
    results = {(name, label): [] for name, _ in cases for label in ("unchecked", "checked")}
    for r in range(runs):
        for name, args in cases:
            order = [("unchecked", unchecked), ("checked", checked)]
            for label, binary in order if r % 2 == 0 else reversed(order):
                results[(name, label)].append(run(binary, args))
    print(f"{'case':16} {'wall s (u→c)':>18} {'ratio':>6} {'CPU s (u→c)':>16} {'user s (u→c)':>16} {'RSS MB':>10}")
    for name, _ in cases:
        u, c = results[(name, "unchecked")], results[(name, "checked")]
        med = lambda rows, i: statistics.median(row[i] for row in rows)  # noqa: E731
        print(f"{name:16} {med(u, 0):8.3f} → {med(c, 0):6.3f} {med(c, 0) / med(u, 0):6.3f} "
              f"{med(u, 1):7.3f} → {med(c, 1):6.3f} {med(u, 2):7.3f} → {med(c, 2):6.3f} "
              f"{max(row[3] for row in u):4.0f}/{max(row[3] for row in c):.0f}")


if __name__ == "__main__":
    main()
