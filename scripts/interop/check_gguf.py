#!/usr/bin/env python3
"""Checks that gguf-py's GGUFReader reads every GGUF file Graft writes: same key-values (types and values), tensor
names, types, shapes and bytes; for Q8_0 and Q4_0 also that gguf.quants.quantize of the source values gives exactly
Graft's bytes, and for every quantized tensor that gguf.quants.dequantize of Graft's bytes is close to the source.

Usage (scripts/test.sh runs this after the Swift tests):

    export GRAFT_INTEROP_DIR=$(mktemp -d)
    swift test --filter GGUFInteropExportTests
    python3 scripts/interop/check_gguf.py "$GRAFT_INTEROP_DIR"

The Swift test writes F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K, Q4_K_M and split files plus `manifest.json`:
`{name: {"files": [...], "metadata": {key: {"type", "value"}}, "tensors": [{"file", "name", "type", "dims",
"hex", "source_f32_hex"?}]}}` where `dims` are ggml's ne and `type`s use Graft's spelling (`UINT32`,
`ARRAY[STRING]`). Prints `N passed, M failed` and exits non-zero on any failure.
"""
import json
import math
import os
import sys

import numpy as np
import gguf
from gguf import GGUFReader, GGUFValueType

from checker import Checker

# Worst-case |error| relative to the largest |source| value of a row, per quantized type (a grid step, see
# GGUFWriterTests.quantizedRoundTrip).
TOLERANCE = {"Q8_0": 0.005, "Q4_0": 0.126, "Q4_K": 0.134, "Q6_K": 0.033, "Q5_K": 0.07}


def descriptor(field):
    types = field.types
    if types[0] != GGUFValueType.ARRAY:
        return types[0].name
    if len(types) > 1 and types[1] == GGUFValueType.ARRAY:
        return None  # nested arrays: gguf-py flattens them; not written by the export
    return "ARRAY[%s]" % (types[1].name if len(types) > 1 else "?")


def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return float(a) == float(b) or (math.isnan(float(a)) and math.isnan(float(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def check_file(folder, name, entry, checker):
    readers = {f: GGUFReader(os.path.join(folder, f)) for f in entry["files"]}
    first = readers[entry["files"][0]]
    for key, expected in entry["metadata"].items():
        field = first.get_field(key)
        checker.check(field is not None, "%s: key %s missing" % (name, key))
        if field is None:
            continue
        checker.check(descriptor(field) == expected["type"],
                      "%s: %s type %s, expected %s" % (name, key, descriptor(field), expected["type"]))
        value = field.contents()
        if expected["type"] in ("FLOAT32",):
            value = float(np.float32(value))
        checker.check(same(value, expected["value"]), "%s: %s = %r, expected %r" % (name, key, value, expected["value"]))
    names = [k for k in first.fields if not k.startswith("GGUF.")]
    checker.check(names == list(entry["metadata"]), "%s: key order %s" % (name, names))
    tensors = [(f, t) for f, r in readers.items() for t in r.tensors]
    checker.check([t.name for _, t in tensors] == [t["name"] for t in entry["tensors"]], "%s: tensor names" % name)
    for (file, tensor), expected in zip(tensors, entry["tensors"]):
        what = "%s: %s" % (name, expected["name"])
        checker.check(file == expected["file"], "%s in %s, expected %s" % (what, file, expected["file"]))
        checker.check(tensor.tensor_type.name == expected["type"], "%s type %s" % (what, tensor.tensor_type.name))
        checker.check([int(d) for d in tensor.shape] == expected["dims"], "%s dims %s" % (what, list(tensor.shape)))
        data = np.ascontiguousarray(tensor.data).tobytes()
        checker.check(data == bytes.fromhex(expected["hex"]), "%s bytes differ" % what)
        if "source_f32_hex" not in expected:
            continue
        qtype = gguf.GGMLQuantizationType[expected["type"]]
        rows = list(reversed(expected["dims"]))
        source = np.frombuffer(bytes.fromhex(expected["source_f32_hex"]), dtype="<f4").reshape(rows)
        if expected["type"] in ("Q8_0", "Q4_0"):
            ours = gguf.quants.quantize(source, qtype).tobytes()
            checker.check(ours == data, "%s: gguf.quants.quantize gives other bytes" % what)
        back = gguf.quants.dequantize(np.frombuffer(data, dtype=np.uint8).reshape(rows[:-1] + [-1]), qtype)
        scale = np.max(np.abs(source))
        worst = float(np.max(np.abs(back - source))) / (scale if scale else 1)
        checker.check(worst <= TOLERANCE[expected["type"]], "%s: dequantized error %.4f" % (what, worst))


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    folder = sys.argv[1]
    with open(os.path.join(folder, "manifest.json")) as f:
        manifest = json.load(f)
    checker = Checker()
    for name, entry in manifest.items():
        check_file(folder, name, entry, checker)
    for failure in checker.failures:
        print("FAIL", failure)
    print("%d passed, %d failed (%d files)" % (checker.passed, len(checker.failures), len(manifest)))
    return 1 if checker.failures else 0


if __name__ == "__main__":
    sys.exit(main())
