#!/usr/bin/env bash
# Installs what Graft needs beyond the Swift toolchain, only when it is missing:
# libhdf5-dev + zlib1g-dev + pkg-config (the library), and for the interop checks python's safetensors, numpy, h5py,
# gguf.
set -euo pipefail
need_apt=()
for pkg in libhdf5-dev zlib1g-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "installing ${need_apt[*]} (apt)" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if [ "${1:-}" = "--python" ]; then
  if ! python3 -c "import safetensors, numpy, h5py, gguf" >/dev/null 2>&1; then
    echo "installing safetensors numpy h5py gguf (pip)" >&2
    python3 -m pip install -q safetensors numpy h5py gguf
  fi
fi
