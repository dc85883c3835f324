#!/usr/bin/env bash
# The README's second command: lint, build, run the whole test suite, then the interop checks (files Graft writes are
# read back by the Python reference packages and compared bit for bit).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh --python

echo "== swift format lint --strict"
swift format lint --strict -r Package.swift Sources Tests

echo "== swift build (debug, no extra flags)"
swift build

echo "== swift test"
# The verdict is swift test's exit status: a failing test, a crashing test binary and a test target that does not
# compile all end it non-zero. The grep only shortens the log.
set +e
swift test 2>&1 | tee .build/test-output.txt | grep -E '^(✘|✔ Test run|Test Suite .All tests. (passed|failed))|error:'
test_status=${PIPESTATUS[0]}
set -e
if [ "$test_status" -ne 0 ]; then
  echo "swift test: FAILED (exit status $test_status; full log in .build/test-output.txt)"
  exit 1
fi
if ! grep -qE '✔ Test run with [0-9]+ tests? .*passed' .build/test-output.txt; then
  echo "swift test: FAILED (exit status 0 but no passing Swift Testing summary in the log)"
  exit 1
fi

echo "== interop (Python reference packages read what Graft wrote)"
BIN="$(swift build --show-bin-path)/graft"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
status=0
echo "-- scripts/interop/check_safetensors.py"
python3 scripts/interop/check_safetensors.py "$BIN" "$WORK/safetensors" || status=1
echo "-- scripts/interop/check_gguf.py (files written by the GGUF export test)"
mkdir -p "$WORK/gguf"
GRAFT_INTEROP_DIR="$WORK/gguf" swift test --skip-build --filter GGUFInteropExportTests >/dev/null 2>&1 || status=1
python3 scripts/interop/check_gguf.py "$WORK/gguf" || status=1
if "$BIN" --version | grep -q "HDF5 .* built in"; then
  echo "-- scripts/interop/check_hdf5.py (files written by the HDF5 export test)"
  mkdir -p "$WORK/hdf5"
  GRAFT_INTEROP_DIR="$WORK/hdf5" swift test --skip-build --filter HDF5InteropExportTests >/dev/null 2>&1 || status=1
  python3 scripts/interop/check_hdf5.py "$WORK/hdf5" || status=1
fi
exit $status
