#!/usr/bin/env bash
# The README's first command: build Graft (release; -march=x86-64-v3 for the Swift-side code where the CPU has it, the
# engine's kernels are chosen by CPUID at run time either way) and run `graft demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh
FLAGS=()
if [ "$(uname -m)" = "x86_64" ] && grep -q ' avx2 ' /proc/cpuinfo && grep -q ' fma ' /proc/cpuinfo; then
  FLAGS=(-Xcc -march=x86-64-v3)
fi
swift build -c release "${FLAGS[@]}" --product graft >&2
exec .build/release/graft demo "$@"
