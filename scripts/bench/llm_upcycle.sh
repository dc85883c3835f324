#!/usr/bin/env bash
# Side by side: mergekit-moe vs graft moe upcycle on the anchor Llama (~427M parameters, bf16), 4 copies, top-2,
# random router. Wall time and peak RSS (/usr/bin/time -v) of each tool, median of RUNS alternating runs in the same
# session, then whether each output reproduces the dense logits (transformers float32, eager).
#
#   scripts/bench/llm_upcycle.sh [GRAFT_BIN] [MERGEKIT_MOE] [RUNS]
#
# GRAFT_BIN defaults to .build/release/graft (build with `swift build -c release -Xcc -march=x86-64-v3`),
# MERGEKIT_MOE to `mergekit-moe` on PATH (`pip install mergekit`, a venv with --system-site-packages keeps the
# installed torch/transformers), RUNS to 5. The anchor is made by /work/shared/anchors/make_llama.py when
# /tmp/anchor-llama is missing. Needs ~10 GB of free disk (outputs are deleted after each run).
set -euo pipefail
GRAFT=${1:-.build/release/graft}
MERGEKIT=${2:-mergekit-moe}
RUNS=${3:-5}
ANCHOR=${ANCHOR:-/tmp/anchor-llama}
WORK=${WORK:-/tmp/graft-llm-upcycle-bench}
[ -d "$ANCHOR" ] || python3 /work/shared/anchors/make_llama.py "$ANCHOR"
rm -rf "$WORK" && mkdir -p "$WORK"
cat > "$WORK/moe.yml" <<EOF
base_model: $ANCHOR
gate_mode: random
dtype: bfloat16
experts_per_token: 2
experts:
  - source_model: $ANCHOR
  - source_model: $ANCHOR
  - source_model: $ANCHOR
  - source_model: $ANCHOR
EOF

measure() { # name, output folder, command...
  local name=$1 out=$2
  shift 2
  rm -rf "$out"
  sync
  /usr/bin/time -v "$@" > "$WORK/$name.log" 2> "$WORK/$name.time"
  local wall rss
  wall=$(awk -F': ' '/Elapsed/ {n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s}' \
    "$WORK/$name.time")
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$WORK/$name.time")
  echo "$name $wall $rss" >> "$WORK/results.txt"
}

for i in $(seq 1 "$RUNS"); do
  measure mergekit "$WORK/mk" "$MERGEKIT" "$WORK/moe.yml" "$WORK/mk"
  [ "$i" = "$RUNS" ] || rm -rf "$WORK/mk"
  measure graft "$WORK/graft" "$GRAFT" moe upcycle "$ANCHOR" "$WORK/graft" --to mixtral --experts 4 --top-k 2 \
    --router normal:1 -q
  [ "$i" = "$RUNS" ] || rm -rf "$WORK/graft"
done
# Graft with the whole-model engine run of both models (7 GB of Float32) on top of the streamed checks.
measure graft-engine "$WORK/graft-engine" "$GRAFT" moe upcycle "$ANCHOR" "$WORK/graft-engine" --to mixtral \
  --experts 4 --top-k 2 --router normal:1 --engine-limit-gb 16 -q
rm -rf "$WORK/graft-engine"

echo "machine: $(nproc) cores; load before the logits check: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$WORK/results.txt" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, wall, rss = line.split()
    rows.setdefault(name, []).append((float(wall), int(rss)))
print("| tool | runs | wall (median) | wall (all, s) | peak RSS (median) |")
print("|---|---|---|---|---|")
for name, r in rows.items():
    walls = [w for w, _ in r]
    rss = statistics.median([m for _, m in r]) / 1024
    print(f"| {name} | {len(r)} | {statistics.median(walls):.2f} s | {', '.join(f'{w:.2f}' for w in walls)} | "
          f"{rss:.0f} MB |")
EOF
python3 - "$ANCHOR" "$WORK/mk" "$WORK/graft" <<'EOF'
import sys
import numpy as np, torch, transformers
from transformers import AutoModelForCausalLM
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
ids = torch.tensor(np.random.default_rng(0).integers(0, 8000, size=(2, 32)))
def logits(path):
    m = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, attn_implementation="eager",
                                             experts_implementation="eager")
    with torch.no_grad():
        out = m(input_ids=ids).logits.numpy()
    del m
    return out
dense = logits(sys.argv[1])
for name, path in [("mergekit", sys.argv[2]), ("graft", sys.argv[3])]:
    _, info = AutoModelForCausalLM.from_pretrained(path, output_loading_info=True)
    keys = {k: len(v) for k, v in info.items() if v}
    rel = float(np.abs(logits(path) - dense).max() / np.abs(dense).max())
    print(f"{name}: max|Δ logits|/max|dense| = {rel:.2e}; loading problems: {keys or 'none'}")
EOF
rm -rf "$WORK/mk" "$WORK/graft"
