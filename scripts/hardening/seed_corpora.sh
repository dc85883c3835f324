#!/usr/bin/env bash
# Builds the seed corpora of the libFuzzer harnesses from Fixtures/** (files up to 64 KiB; bigger fixtures are
# mostly tensor bytes and only slow the fuzzer down). Output: Fuzz/Corpus/<target>/ (committed).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
out="$root/Fuzz/Corpus"
fx="$root/Fixtures"
small() { find "$@" -type f -size -65k 2>/dev/null; }
put() { # target files...
  local t=$1; shift; mkdir -p "$out/$t"
  for f in "$@"; do cp "$f" "$out/$t/$(echo "${f#$fx/}" | tr '/' '_')"; done
}
put safetensors $(small "$fx" -name '*.safetensors')
put graft $(small "$fx/graft" -name '*.graft')
put zip $(small "$fx/pytorch" "$fx/numpy" "$fx/denoiserep" -name '*.pth' -o -name '*.npz' -o -name '*.ckpt')
# Pickle: the legacy raw streams and tars as they are, plus every data.pkl extracted from the zip checkpoints.
put pickle "$fx/pytorch/legacy.pth" "$fx/pytorch/legacy_tar.pth" "$fx/pytorch/protocol4_folder.pth"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
for f in $(small "$fx/pytorch" -name '*.pth' -o -name '*.ckpt'); do
  python3 - "$f" "$tmp" <<'PY' || true
import sys, zipfile, os
f, tmp = sys.argv[1], sys.argv[2]
try:
    z = zipfile.ZipFile(f)
except Exception:
    sys.exit(0)
for n in z.namelist():
    if n.endswith("data.pkl"):
        open(os.path.join(tmp, os.path.basename(f) + ".data.pkl"), "wb").write(z.read(n))
PY
done
put pickle "$tmp"/*.pkl
put numpy $(small "$fx/numpy" -name '*.npy' -o -name '*.npz')
put sharded "$fx/safetensors/sharded/model.safetensors.index.json"
put hdf5 $(small "$fx/hdf5" -name '*.h5')
put json $(small "$fx" -name '*.json')
put gguf $(small "$fx/gguf" -name '*.gguf')
# safetensors headers and .graft indexes are JSON too.
for f in $(small "$fx" -name '*.safetensors' | head -40); do
  python3 -c 'import sys,struct;d=open(sys.argv[1],"rb").read();n=struct.unpack("<Q",d[:8])[0];sys.stdout.buffer.write(d[8:8+n])' "$f" \
    > "$out/json/header_$(basename "$f").json"
done
for t in "$out"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done
