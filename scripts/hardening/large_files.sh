#!/usr/bin/env bash
# >4 GiB checks through the CLI (the Swift tests do the same through the library: GRAFT_LARGE_TESTS=1 swift test
# --filter HardeningLargeFile). Builds a sparse 5 GiB safetensors (a 5 GiB + 16 byte U8 tensor, then an F32 tensor
# whose data starts past 4 GiB), runs `graft inspect` and `graft verify` on it, converts it to .graft / .pth / .npz
# (real 5 GiB outputs, one at a time, deleted after), verifies each and checks the far-end values by converting back
# only the small tensor.
#
#   scripts/hardening/large_files.sh GRAFT_BINARY [FOLDER]
set -euo pipefail
graft="$1"
dir="${2:-/tmp/graft-large}"
mkdir -p "$dir"
free=$(df --output=avail -B1 "$dir" | tail -1)
(( free > 12 * 1024 ** 3 )) || { echo "need 12 GiB free in $dir"; exit 1; }
src="$dir/sparse.safetensors"
python3 - "$src" <<'PY'
import json, os, struct, sys
n = (5 << 30) + 16
h = json.dumps({"big": {"dtype": "U8", "shape": [n], "data_offsets": [0, n]},
                "tail": {"dtype": "F32", "shape": [4], "data_offsets": [n, n + 16]}}, separators=(",", ":")).encode()
h += b" " * (-len(h) % 8)
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<Q", len(h)) + h)
    f.truncate(8 + len(h) + n + 16)
    f.seek(8 + len(h) + n - 16)
    f.write(bytes(range(0xA0, 0xB0)) + struct.pack("<4f", 1.5, -2, 3.25, 4e9))
PY
echo "== source: $(du -h --apparent-size "$src" | cut -f1) apparent, $(du -h "$src" | cut -f1) on disk"
"$graft" inspect "$src" | head -8
/usr/bin/time -f "verify: %e s, %M KiB peak RSS" "$graft" verify "$src" | tail -2
check_tail() { # file
  python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", d[:8])[0]
vals = struct.unpack("<4f", d[8 + n:8 + n + 16])
assert vals == (1.5, -2.0, 3.25, 4e9), vals
print("tail values", vals)
PY
}
for fmt in graft pth npz; do
  out="$dir/large.$fmt"
  /usr/bin/time -f "convert -> $fmt: %e s, %M KiB peak RSS" "$graft" convert "$src" "$out" -q
  ls -l "$out" | awk '{print $5, $9}'
  /usr/bin/time -f "verify $fmt: %e s, %M KiB peak RSS" "$graft" verify "$out" | tail -2
  "$graft" convert "$out" "$dir/tail.safetensors" --include '^tail$' -q
  check_tail "$dir/tail.safetensors"
  if [[ $fmt != graft ]]; then
    python3 -c 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); i = max(z.infolist(), key=lambda i: i.file_size); print("python zipfile reads the zip64 directory:", i.filename, i.file_size, "bytes")' "$out"
  fi
  rm -f "$out" "$dir/tail.safetensors"
done
rm -f "$src"
echo "large-file checks passed"
