#!/usr/bin/env python3
"""Loads checkpoints Graft writes back into their real clients (issue 14, items 2, 3 and 5).

Usage:

    KERAS_BACKEND=torch python3 scripts/interop/check_integrity.py GRAFT_BINARY [--work DIR] \
        [--transformers4-python PYTHON]

Keras (items 2 and 3): the Conv + BatchNorm + Dense model of Fixtures/integrity (scripts/fixtures/integrity.py) is
converted by Graft from each of its three Keras files to safetensors, then to .graft, then to a Keras 2 file
(`--hdf5-layout keras2`) and a Keras 3 file (`--hdf5-layout keras3`). Each written file is loaded with Keras 3's
`model.load_weights` (which reads both the Keras 3 layout and, for `.h5` names, the legacy Keras 2 layout) into the
model rebuilt from keras-model.json, and its output on the recorded input must equal the recorded output. Where the
source does not say what the layout needs (no recorded weight order, no model config) Graft must refuse, naming why.

transformers (item 5): bert-tiny/pytorch_model.bin goes to .graft, then to model.safetensors next to config.json;
`BertModel.from_pretrained` of transformers 4.x (run with --transformers4-python, a Python whose transformers is
< 5) must load it and reproduce the recorded last_hidden_state.

Prints one line per check and `N passed, M failed`; exits non-zero on any failure.
"""
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "Fixtures", "integrity")
sys.path.insert(0, HERE)
from checker import Checker  # noqa: E402


class Verbose(Checker):
    def check(self, ok, what):
        print("ok  " if ok else "FAIL", what)
        super().check(ok, what)

os.environ.setdefault("KERAS_BACKEND", "torch")

# What each source can become: (source file, layout) -> None when it must load, else a phrase the refusal names.
KERAS_CASES = {
    ("keras-legacy-weights.h5", "keras2"): None,
    ("keras-legacy-weights.h5", "keras3"): "model_config",
    ("keras-legacy-model.h5", "keras2"): None,
    ("keras-legacy-model.h5", "keras3"): None,
    ("keras3.weights.h5", "keras2"): "order",
    ("keras3.weights.h5", "keras3"): None,
}


def graft(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True)


def check_keras(checker, binary, work):
    import keras
    import numpy as np
    from safetensors.numpy import load_file

    io = load_file(os.path.join(FIXTURES, "keras-io.safetensors"))
    with open(os.path.join(FIXTURES, "keras-model.json")) as f:
        config = f.read()
    for (source, layout), refusal in KERAS_CASES.items():
        stem = os.path.join(work, source.split(".")[0] + "-" + layout)
        steps = [(os.path.join(FIXTURES, source), stem + ".safetensors", []),
                 (stem + ".safetensors", stem + ".graft", []),
                 (stem + ".graft", stem + (".h5" if layout == "keras2" else ".weights.h5"), ["--hdf5-layout", layout])]
        result = None
        for src, dst, extra in steps:
            result = graft(binary, "convert", src, dst, "-q", *extra)
            if result.returncode != 0:
                break
        what = f"{source} -> safetensors -> .graft -> {layout}"
        if refusal is not None:
            checker.check(result.returncode != 0 and refusal in result.stderr,
                          f"{what}: refused ({result.stderr.strip()[:160]})")
            continue
        if result.returncode != 0:
            checker.check(False, f"{what}: graft failed: {result.stderr.strip()}")
            continue
        model = keras.models.model_from_json(config)
        try:
            model.load_weights(steps[-1][1])
        except Exception as error:  # noqa: BLE001 - any load failure is the check failing
            checker.check(False, f"{what}: load_weights failed: {error}")
            continue
        out = keras.ops.convert_to_numpy(model(io["x"], training=False))
        diff = float(np.max(np.abs(out - io["y"])))
        checker.check(diff <= 1e-5, f"{what}: load_weights, max |output - recorded| = {diff:.2e} (bound 1e-5)")


TRANSFORMERS_CHECK = r"""
import sys, torch, transformers
from safetensors.torch import load_file
folder, io = sys.argv[1], load_file(sys.argv[2])
model = transformers.BertModel.from_pretrained(folder).eval()
with torch.no_grad():
    out = model(input_ids=io["input_ids"]).last_hidden_state
print(transformers.__version__, float((out - io["last_hidden_state"]).abs().max()))
"""


def check_transformers(checker, binary, work, python):
    folder = os.path.join(work, "bert")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(FIXTURES, "bert-tiny", "config.json")) as f, \
            open(os.path.join(folder, "config.json"), "w") as g:
        g.write(f.read())
    for src, dst in [(os.path.join(FIXTURES, "bert-tiny", "pytorch_model.bin"), os.path.join(work, "bert.graft")),
                     (os.path.join(work, "bert.graft"), os.path.join(folder, "model.safetensors"))]:
        result = graft(binary, "convert", src, dst, "-q")
        if result.returncode != 0:
            checker.check(False, f"bert: graft convert {os.path.basename(src)} failed: {result.stderr.strip()}")
            return
    run = subprocess.run([python, "-c", TRANSFORMERS_CHECK, folder, os.path.join(FIXTURES, "bert-io.safetensors")],
                         capture_output=True, text=True)
    if run.returncode != 0:
        checker.check(False, f"bert: transformers from_pretrained failed: {run.stderr.strip()[-300:]}")
        return
    version, diff = run.stdout.split()
    checker.check(version.startswith("4.") and float(diff) <= 1e-5,
                  f"bert via .graft: transformers {version} from_pretrained, max |Δ| = {float(diff):.2e} (bound 1e-5)")


def main():
    binary = os.path.abspath(sys.argv[1])
    work = sys.argv[sys.argv.index("--work") + 1] if "--work" in sys.argv else tempfile.mkdtemp(prefix="graft-int-")
    python = (sys.argv[sys.argv.index("--transformers4-python") + 1]
              if "--transformers4-python" in sys.argv else sys.executable)
    os.makedirs(work, exist_ok=True)
    checker = Verbose()
    check_keras(checker, binary, work)
    check_transformers(checker, binary, work, python)
    return checker.finish()


if __name__ == "__main__":
    sys.exit(main())
