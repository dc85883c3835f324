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
swift test 2>&1 | tee .build/test-output.txt | grep -E '^(✘|✔ Test run|Test Suite .All tests. (passed|failed)|.*error:)' || true
if grep -qE '✘ Test run|with [1-9][0-9]* failures' .build/test-output.txt; then
  grep -E '✘|error:' .build/test-output.txt | head -50
  echo "swift test: FAILED"; exit 1
fi
grep -E '(✔|━) Test run with' .build/test-output.txt | tail -1 || true

echo "== interop (Python reference packages read what Graft wrote)"
BIN="$(swift build --show-bin-path)/graft"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
status=0
echo "-- scripts/interop/check_safetensors.py"
python3 scripts/interop/check_safetensors.py "$BIN" "$WORK/safetensors" || status=1
if "$BIN" --version | grep -q "HDF5 .* built in"; then
  echo "-- scripts/interop/check_hdf5.py (files written by the HDF5 export test)"
  mkdir -p "$WORK/hdf5"
  GRAFT_INTEROP_DIR="$WORK/hdf5" swift test --skip-build --filter HDF5InteropExportTests >/dev/null 2>&1 || status=1
  python3 scripts/interop/check_hdf5.py "$WORK/hdf5" || status=1
fi
exit $status
