#!/usr/bin/env bash
# Builds the libFuzzer harnesses (Fuzz/ package, -sanitize=fuzzer,address) and runs them.
#
#   scripts/hardening/fuzz.sh build
#   scripts/hardening/fuzz.sh run TARGET SECONDS     # one target, niced, results in .build-fuzz/runs/TARGET.log
#   scripts/hardening/fuzz.sh smoke [SECONDS]         # every target for SECONDS (default 30) each, one at a time
#   scripts/hardening/fuzz.sh replay                  # every corpus + regression input once (no mutation)
#   scripts/hardening/fuzz.sh merge TARGET            # add the run corpus's new coverage to Fuzz/Corpus/TARGET
#
# Crashes, leaks, timeouts and OOMs are written to .build-fuzz/runs/artifacts/TARGET/. A working corpus grows in
# .build-fuzz/runs/corpus/TARGET (seeded from Fuzz/Corpus/TARGET, which stays as committed).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
scratch="${GRAFT_FUZZ_SCRATCH:-$root/.build-fuzz}"
bin="$scratch/release"
runs="$scratch/runs"
targets=(safetensors graft zip pickle numpy sharded hdf5 json gguf)
export GRAFT_FIXTURES="$root/Fixtures"
# Swift's runtime allocates some caches that are never freed; leak detection would report them on every input.
# Let libFuzzer, not the Swift runtime's backtracer, handle crashes (the backtracer is slow and hides the artifact).
export SWIFT_BACKTRACE="enable=no"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"

build() {
  cd "$root/Fuzz"
  # One product at a time: a plain `swift build` would also link the main package's graft-bench with these flags.
  for t in "${targets[@]}"; do
    swift build -c release --scratch-path "$scratch" -Xswiftc -sanitize=fuzzer,address --product "fuzz-$t"
  done
}

run_one() { # target seconds [extra libFuzzer flags…]
  local t=$1 secs=$2; shift 2
  mkdir -p "$runs/corpus/$t" "$runs/artifacts/$t"
  cd "$runs"
  nice -n 19 "$bin/fuzz-$t" "$runs/corpus/$t" "$root/Fuzz/Corpus/$t" \
    -dict="$root/Fuzz/Dictionaries/$t.dict" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
    -max_len=65536 -print_final_stats=1 -artifact_prefix="$runs/artifacts/$t/" "$@" 2>&1 | tee "$runs/$t.log" | tail -25
}

replay() {
  local status=0
  for t in "${targets[@]}"; do
    local inputs=("$root/Fuzz/Corpus/$t")
    [[ -d "$root/Fuzz/Regressions/$t" ]] && inputs+=("$root/Fuzz/Regressions/$t")
    echo "== $t"
    "$bin/fuzz-$t" -runs=0 -rss_limit_mb=2048 -timeout=10 "${inputs[@]}" 2>&1 | grep -E "INITED|DONE|ERROR|crash" || status=1
  done
  return $status
}

case "${1:-}" in
  build) build ;;
  run) run_one "$2" "$3" "${@:4}" ;;
  smoke | all) for t in "${targets[@]}"; do echo "== $t"; run_one "$t" "${2:-30}"; done ;;
  replay) replay ;;
  merge)
    "$bin/fuzz-$2" -merge=1 -rss_limit_mb=2048 -timeout=10 -max_len=65536 "$root/Fuzz/Corpus/$2" "$runs/corpus/$2" 2>&1 |
      grep -E "MERGE-OUTER: [0-9]+ new files" ;;
  *) sed -n 2,11p "$0"; exit 64 ;;
esac
