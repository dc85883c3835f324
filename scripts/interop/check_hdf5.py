#!/usr/bin/env python3
"""Checks that HDF5 files written by Graft open in h5py (and Keras) with identical arrays and attributes.

Usage (CI runs this after the Swift tests):

    export GRAFT_INTEROP_DIR=$(mktemp -d)
    swift test --filter HDF5InteropExportTests
    python3 scripts/interop/check_hdf5.py "$GRAFT_INTEROP_DIR" [--keras]

The Swift test writes Graft files plus `manifest.json`:
`{file: {"layout", "datasets": {"/path": {"dtype", "shape", "hex"}}, "attributes": {...}, "keras_model"?}}`,
where `hex` is the tensor's little-endian bytes. Each dataset and root attribute is one check. With `--keras` (needs
keras 3 and a backend; KERAS_BACKEND defaults to torch) each file with a `keras_model` is also loaded with
`model.load_weights` into that model, and every weight must equal the file's bytes.
Prints `N passed, M failed` and exits non-zero on any failure.
"""
import json
import os
import sys

import h5py
import numpy as np

from checker import Checker

OPAQUE_NAMES = {"F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
                "F8_E4M3FNUZ": "float8_e4m3fnuz", "F8_E5M2FNUZ": "float8_e5m2fnuz"}


def little_endian_bytes(value, dtype):
    array = np.asarray(value)
    if array.dtype.kind == "V":
        return np.ascontiguousarray(array).tobytes()  # opaque bf16/fp8: raw bytes, as Keras writes them
    if dtype == "BF16":
        # A custom bf16 float type is widened to float32 by h5py; bf16 is its top half.
        return (np.ascontiguousarray(array, dtype="<f4").view("<u4") >> 16).astype("<u2").tobytes()
    if array.dtype.kind in "fiuc" and array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


def decode(value):
    if isinstance(value, bytes):
        return value.decode("utf8")
    if isinstance(value, np.ndarray):
        return [decode(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [decode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def check_file(checker, path, spec):
    with h5py.File(path, "r") as f:
        for dpath, expected in spec["datasets"].items():
            what = f"{os.path.basename(path)}:{dpath}"
            if dpath not in f:
                checker.check(False, f"{what}: missing")
                continue
            ds = f[dpath]
            got = little_endian_bytes(ds[()], expected["dtype"]).hex()
            ok = got == expected["hex"] and list(ds.shape) == expected["shape"]
            if expected["dtype"] == "BF16":
                ok = ok and ds.attrs.get("dtype") == "bfloat16"
            if expected["dtype"] in OPAQUE_NAMES:
                ok = ok and ds.attrs.get("dtype") == OPAQUE_NAMES[expected["dtype"]]
            checker.check(ok, f"{what}: shape {ds.shape} {ds.dtype}, bytes differ" if not ok else what)
        for key, value in spec["attributes"].items():
            got = decode(f.attrs.get(key)) if key in f.attrs else None
            if isinstance(value, (dict,)) or value is None:
                continue
            checker.check(got == value, f"{os.path.basename(path)}@{key}: {got!r} != {value!r}")


def check_keras(checker, path, spec):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras
    import ml_dtypes

    with open(spec["keras_model"]) as f:
        model = keras.models.model_from_json(f.read())
    try:
        model.load_weights(path)
    except Exception as error:  # noqa: BLE001 -- any loader error is a failed check
        checker.check(False, f"{os.path.basename(path)}: keras load_weights failed: {error}")
        return
    expected = sorted(spec["datasets"].values(), key=lambda e: e["hex"])
    got = []
    for w in model.weights:
        value = keras.ops.convert_to_numpy(w.value)
        if value.dtype == ml_dtypes.bfloat16:
            got.append(value.view("<u2").tobytes().hex())
        else:
            got.append(np.ascontiguousarray(value).tobytes().hex())
    ok = sorted(got) == sorted(e["hex"] for e in expected)
    checker.check(ok, f"{os.path.basename(path)}: keras load_weights gives {'the same' if ok else 'different'} weights")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = args[0]
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    checker = Checker()
    for name, spec in sorted(manifest.items()):
        path = os.path.join(folder, name)
        check_file(checker, path, spec)
        if "--keras" in sys.argv and spec.get("keras_model"):
            check_keras(checker, path, spec)
    return checker.finish()


if __name__ == "__main__":
    sys.exit(main())
