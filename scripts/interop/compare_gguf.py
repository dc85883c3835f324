#!/usr/bin/env python3
"""Compare two GGUF files with gguf-py's GGUFReader: key-values (value and type), tensor names, types, shapes and
bytes. Prints one row per difference (Markdown table) and exits 0; `--strict` exits 1 when anything differs.

Usage: python3 scripts/interop/compare_gguf.py A.gguf B.gguf [--strict] [--labels graft convert_hf_to_gguf]
"""
import sys

import numpy as np
from gguf import GGUFReader


def fields(reader):
    out = {}
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        types = "/".join(t.name for t in field.types)
        value = field.contents()
        out[name] = (types, value)
    return out


def short(value, limit=60):
    text = repr(value)
    if isinstance(value, list) and len(value) > 6:
        text = f"[{len(value)} items: {repr(value[:3])[1:-1]}, …]"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def compare(a_path, b_path, labels):
    a, b = GGUFReader(a_path), GGUFReader(b_path)
    rows = []
    fa, fb = fields(a), fields(b)
    for key in sorted(set(fa) | set(fb)):
        if key not in fb:
            rows.append(("KV", key, f"{fa[key][0]} {short(fa[key][1])}", "absent"))
        elif key not in fa:
            rows.append(("KV", key, "absent", f"{fb[key][0]} {short(fb[key][1])}"))
        elif fa[key][0] != fb[key][0]:
            rows.append(("KV type", key, fa[key][0], fb[key][0]))
        else:
            va, vb = fa[key][1], fb[key][1]
            same = np.allclose(va, vb, rtol=0, atol=0) if isinstance(va, list) and va and isinstance(
                va[0], float) else va == vb
            if not same:
                rows.append(("KV value", key, short(va), short(vb)))
    ta = {t.name: t for t in a.tensors}
    tb = {t.name: t for t in b.tensors}
    for name in sorted(set(ta) | set(tb)):
        if name not in tb:
            rows.append(("tensor", name, ta[name].tensor_type.name, "absent"))
            continue
        if name not in ta:
            rows.append(("tensor", name, "absent", tb[name].tensor_type.name))
            continue
        x, y = ta[name], tb[name]
        if x.tensor_type != y.tensor_type:
            rows.append(("tensor type", name, x.tensor_type.name, y.tensor_type.name))
        elif list(x.shape) != list(y.shape):
            rows.append(("tensor shape", name, str(list(x.shape)), str(list(y.shape))))
        elif bytes(x.data.tobytes()) != bytes(y.data.tobytes()):
            xa = np.frombuffer(x.data.tobytes(), np.uint8)
            ya = np.frombuffer(y.data.tobytes(), np.uint8)
            rows.append(("tensor bytes", name, f"{int((xa != ya).sum())} of {xa.size} bytes differ", ""))
    order_a = [t.name for t in a.tensors if t.name in tb]
    order_b = [t.name for t in b.tensors if t.name in ta]
    if order_a != order_b:
        rows.append(("tensor order", "(all)", "differs", ""))
    print(f"| kind | name | {labels[0]} | {labels[1]} |\n|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(s.replace("|", "\\|") for s in r) + " |")
    if not rows:
        print("| — | identical | | |")
    return rows


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    labels = ["A", "B"]
    if "--labels" in sys.argv:
        i = sys.argv.index("--labels")
        labels = sys.argv[i + 1:i + 3]
        args = [a for a in args if a not in labels]
    rows = compare(args[0], args[1], labels)
    sys.exit(1 if rows and "--strict" in sys.argv else 0)
