#!/usr/bin/env python3
"""Interop check between Graft and the Python `safetensors` package.

Usage: check_safetensors.py GRAFT_BINARY WORKDIR

For each tensor set (every dtype Python safetensors writes, odd shapes, zero-size tensors and scalars):
  1. write A.safetensors with Python (`safetensors.numpy.save_file`, or raw `TensorSpec` buffers for the dtypes
     numpy lacks: bf16, fp8, fp4), metadata {"format": "pt"};
  2. `graft convert A.safetensors B.graft`, then `graft convert B.graft C.safetensors`;
  3. assert C's bytes == A's bytes, and that Python loads C with every array bit-identical to what it wrote;
  4. `graft convert A.safetensors D.safetensors --dtype BF16` and assert Python loads D: F16/F32/F64 cast bit for bit
     as torch's `.to(torch.bfloat16)` (round to nearest even), fp8 widened to the same values as torch, F4 decoded
     by the E2M1 table, integer and bool tensors unchanged.
Prints `N passed, M failed` and exits non-zero on any failure.
"""
import os
import subprocess
import sys

# This folder has no package of that name, but keep the convention of scripts/fixtures/safetensors.py.
sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import safetensors.numpy  # noqa: E402
from safetensors import TensorSpec, safe_open  # noqa: E402

PASSED = 0
FAILED = 0


def check(name, ok, detail=""):
    global PASSED, FAILED
    if ok:
        PASSED += 1
        print(f"ok    {name}")
    else:
        FAILED += 1
        print(f"FAIL  {name}: {detail}")


def run(graft, *args):
    proc = subprocess.run([graft, *args], capture_output=True, text=True)
    detail = f"`graft {' '.join(args)}` exited {proc.returncode}: {proc.stderr.strip()[-2000:]}"
    return proc.returncode == 0, detail


def numpy_tensors(rng):
    shapes = [[3], [5, 1], [7], [2, 3], [1], [3, 1, 3], [0], [2, 0], []]
    dtypes = [np.bool_, np.uint8, np.int8, np.int16, np.uint16, np.float16, np.int32, np.uint32, np.float32,
              np.complex64, np.float64, np.int64, np.uint64]
    out = {}
    for k, dt in enumerate(dtypes):
        for j, shape in enumerate([shapes[k % 6], shapes[6 + (k % 3)]]):
            n = int(np.prod(shape)) if shape else 1
            raw = rng.integers(0, 256, size=n * np.dtype(dt).itemsize, dtype=np.uint8)
            if dt == np.bool_:
                raw = raw % 2
            out[f"np.{np.dtype(dt).name}.{j}"] = raw.view(dt).reshape(shape)
    # Special float values survive bit for bit.
    out["np.specials"] = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 65504.0, 3.0e38], dtype=np.float32)
    return out


RAW_DTYPES = {  # safetensors dtype -> (TensorSpec name, bits per element)
    "BF16": ("bfloat16", 16), "F8_E4M3": ("float8_e4m3fn", 8), "F8_E5M2": ("float8_e5m2", 8),
    "F8_E8M0": ("float8_e8m0fnu", 8), "F8_E4M3FNUZ": ("float8_e4m3fnuz", 8), "F8_E5M2FNUZ": ("float8_e5m2fnuz", 8),
    "F4": ("float4_e2m1fn_x2", 4),
}


def raw_tensors(rng):
    """(safetensors dtype, shape, bytes) for the dtypes numpy cannot hold."""
    out = {}
    for k, (dt, (_, bits)) in enumerate(RAW_DTYPES.items()):
        for j, shape in enumerate([[3, 5] if dt != "F4" else [3, 4], [] if dt != "F4" else [2], [0, 2]]):
            n = int(np.prod(shape)) if shape else 1
            out[f"raw.{dt.lower()}.{j}"] = (dt, shape, rng.integers(0, 256, size=n * bits // 8, dtype=np.uint8))
    out["raw.f32"] = ("F32", [7], rng.standard_normal(7).astype(np.float32).view(np.uint8))
    return out


def write_raw(path, tensors):
    specs = {}
    keep = []
    for name, (dt, shape, data) in tensors.items():
        data = np.ascontiguousarray(data)
        keep.append(data)
        spec_dtype = "float32" if dt == "F32" else RAW_DTYPES[dt][0]
        spec_shape = list(shape)
        if dt == "F4":
            spec_shape[-1] //= 2  # TensorSpec takes torch's storage shape for packed fp4
        specs[name] = TensorSpec(dtype=spec_dtype, shape=spec_shape, data_ptr=int(data.ctypes.data),
                                 data_len=int(data.nbytes))
    safetensors.serialize_file(specs, path, metadata={"format": "pt"})


def header_dtypes(path):
    import json
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    return {k: (v["dtype"], v["shape"]) for k, v in header.items() if k != "__metadata__"}


def torch_bytes(t):
    import torch
    return t.reshape(-1).contiguous().view(torch.uint8).numpy().tobytes()


def round_trip(graft, work, label, a, expected_bytes):
    b = os.path.join(work, label + "-B.graft")
    c = os.path.join(work, label + "-C.safetensors")
    ok, detail = run(graft, "convert", a, b)
    check(f"{label}: convert A.safetensors -> B.graft", ok, detail)
    if not ok:
        return
    ok, detail = run(graft, "convert", b, c)
    check(f"{label}: convert B.graft -> C.safetensors", ok, detail)
    if not ok:
        return
    a_bytes = open(a, "rb").read()
    c_bytes = open(c, "rb").read()
    first = next((i for i in range(min(len(a_bytes), len(c_bytes))) if a_bytes[i] != c_bytes[i]), None)
    check(f"{label}: C bytes == A bytes", a_bytes == c_bytes,
          f"sizes {len(a_bytes)} vs {len(c_bytes)}, first difference at byte {first}")
    try:
        mismatches = []
        with safe_open(c, framework="pt") as f:
            keys = set(f.keys())
            for name, want in expected_bytes.items():
                if name not in keys:
                    mismatches.append(f"{name} missing")
                elif torch_bytes(f.get_tensor(name)) != want:
                    mismatches.append(f"{name} differs")
            if keys != set(expected_bytes):
                mismatches.append(f"extra tensors {sorted(keys - set(expected_bytes))}")
        check(f"{label}: Python loads C bit for bit", not mismatches, "; ".join(mismatches[:10]))
    except Exception as e:  # noqa: BLE001 - any loader failure is a failed check
        check(f"{label}: Python loads C bit for bit", False, f"{type(e).__name__}: {e}")


def cast_check(graft, work, label, a):
    import torch
    d = os.path.join(work, label + "-D.safetensors")
    ok, detail = run(graft, "convert", a, d, "--dtype", "BF16")
    check(f"{label}: convert A.safetensors -> D.safetensors --dtype BF16", ok, detail)
    if not ok:
        return
    source = header_dtypes(a)
    try:
        problems = []
        with safe_open(a, framework="pt") as fa, safe_open(d, framework="pt") as fd:
            for name, (dt, shape) in source.items():
                t = fd.get_tensor(name)
                orig = fa.get_tensor(name)
                if list(t.shape) != list(shape):
                    # torch shows packed F4 with its storage shape; compare with the header's logical shape.
                    problems.append(f"{name}: shape {list(t.shape)} != {list(shape)}")
                elif dt in ("F16", "F32", "F64", "BF16") or dt.startswith("F8_"):
                    want = orig.to(torch.bfloat16)
                    if t.dtype != torch.bfloat16:
                        problems.append(f"{name}: {dt} became {t.dtype}, expected bfloat16")
                    elif dt.startswith("F8_"):
                        # Widening is exact; NaN payloads may be canonicalised differently.
                        if not torch.equal(t.isnan(), want.isnan()) or not torch.equal(
                                t[~t.isnan()], want[~want.isnan()]):
                            problems.append(f"{name}: {dt} -> bfloat16 values differ from torch's .to(bfloat16)")
                    elif torch_bytes(t) != torch_bytes(want):
                        problems.append(f"{name}: {dt} -> bfloat16 not bit-identical to torch's .to(bfloat16)")
                elif dt == "F4":
                    packed = np.frombuffer(torch_bytes(orig), dtype=np.uint8)
                    nibbles = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1)
                    magnitude = np.array([0, 0.5, 1, 1.5, 2, 3, 4, 6], dtype=np.float32)[nibbles & 7]
                    want = np.where(nibbles & 8, -magnitude, magnitude)
                    got = t.float().reshape(-1).numpy()
                    if t.dtype != torch.bfloat16 or not np.array_equal(got, want):
                        problems.append(f"{name}: F4 -> {t.dtype} values differ from the E2M1 table")
                elif torch_bytes(t) != torch_bytes(orig):
                    problems.append(f"{name}: non-float {dt} tensor changed")
        check(f"{label}: Python loads D (BF16) with torch-identical casts", not problems, "; ".join(problems[:10]))
    except Exception as e:  # noqa: BLE001
        check(f"{label}: Python loads D (BF16) with torch-identical casts", False, f"{type(e).__name__}: {e}")


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    graft, work = os.path.abspath(sys.argv[1]), sys.argv[2]
    if not os.access(graft, os.X_OK):
        sys.exit(f"error: {graft} is not an executable Graft binary")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(1234)

    arrays = numpy_tensors(rng)
    a = os.path.join(work, "numpy-A.safetensors")
    safetensors.numpy.save_file(arrays, a, metadata={"format": "pt"})
    expected = {k: np.ascontiguousarray(v).tobytes() for k, v in arrays.items()}
    back = safetensors.numpy.load_file(a)
    check("numpy: Python reads its own file", all(back[k].tobytes() == expected[k] for k in arrays))
    round_trip(graft, work, "numpy", a, expected)
    cast_check(graft, work, "numpy", a)

    raw = raw_tensors(rng)
    a = os.path.join(work, "raw-A.safetensors")
    write_raw(a, raw)
    expected = {k: bytes(v[2].tobytes()) for k, v in raw.items()}
    round_trip(graft, work, "raw", a, expected)
    cast_check(graft, work, "raw", a)

    print(f"{PASSED} passed, {FAILED} failed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
