#!/usr/bin/env python3
"""Hugging Face <-> GGUF interop for the Llama family: llama.cpp runs Graft's GGUF, gguf-py reads it, and it is
compared with what llama.cpp's own convert_hf_to_gguf.py writes. CI does not run this (it needs a llama.cpp build).

For tiny random Llama and Qwen2 models (hidden 64, FFN 128, 2 layers, GQA 4/2, vocab 96 with the committed
SentencePiece tokenizer Fixtures/gguf-llm/tokenizer-spm) converted by `graft convert DIR out.gguf --dtype T` for T in
F32, F16, Q8_0 (plus Qwen3, Mixtral, Qwen2-MoE and Qwen3-MoE at F32 and Q8_0):
  1. gguf-py's GGUFReader reads the file: every key-value equals (value and GGUF type) what `graft inspect --json`
     reports Graft wrote; every tensor's name, type, ggml dims and bytes equal those computed independently here from
     the Hugging Face weights (llama.cpp's names, `LlamaModel.permute` for arch llama, torch.stack for experts,
     convert_hf_to_gguf.py's F32 rule, numpy float16, gguf.quants.quantize for Q8_0).
  2. llama.cpp (llama-cpp-python, F32 KV cache: type_k = type_v = 0) loads it and its logits on fixed token ids match
     transformers' eager float32 logits: F32 max|Δ|/max|logit| <= 1e-3, Q8_0 NMSE <= 1e-3 (F16 is reported).
  3. convert_hf_to_gguf.py (from the llama-cpp-python sdist, PYTHONPATH=<sdist>/vendor/llama.cpp/gguf-py) converts the
     same folder; the differences in key-values, tensor names, types and bytes are printed as a table.
  4. `graft convert out-F32.gguf DIR` writes a Hugging Face folder that transformers loads with the same logits
     (<= 1e-6 relative), and whose rebuilt tokenizer tokenizes a sample text like the original.

Usage:
  pip install cmake scikit-build-core
  CMAKE_ARGS="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
      pip install --no-build-isolation llama-cpp-python==0.3.36          (≈ 5-9 min on 2 cores)
  python3 scripts/interop/check_gguf_llm.py --graft .build/release/graft --llama-cpp <sdist>/vendor/llama.cpp
Prints `N passed, M failed` and exits non-zero on any failure.
"""
import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))] + [
    os.path.dirname(os.path.abspath(__file__))]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import gguf  # noqa: E402
from gguf import GGUFReader  # noqa: E402
from transformers import (AutoModelForCausalLM, AutoTokenizer, LlamaConfig, MixtralConfig, Qwen2Config,  # noqa: E402
                          Qwen2MoeConfig, Qwen3Config, Qwen3MoeConfig)

from checker import Checker  # noqa: E402
from compare_gguf import compare  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TOKENIZERS = os.path.join(ROOT, "Fixtures", "gguf-llm")
BASE = dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)
MOE = dict(num_experts=4, num_experts_per_tok=2, moe_intermediate_size=64, decoder_sparse_step=1, mlp_only_layers=[])
MODELS = {
    "llama": (LlamaConfig, dict(BASE), ["F32", "F16", "Q8_0"]),
    "qwen2": (Qwen2Config, dict(BASE), ["F32", "F16", "Q8_0"]),
    # The byte-level BPE tokenizer fixture (gpt2 vocabulary, pre-tokenizer qwen2); convert_hf_to_gguf.py refuses it
    # (it names pre-tokenizers by hashing a tokenization, and this vocabulary is in no table).
    "qwen2_bpe": (Qwen2Config, dict(BASE, bos_token_id=None, eos_token_id=95), ["F32"]),
    "qwen3": (Qwen3Config, dict(BASE, head_dim=32), ["F32", "Q8_0"]),
    "mixtral": (MixtralConfig, dict(BASE, num_local_experts=4, num_experts_per_tok=2), ["F32", "Q8_0"]),
    "qwen2_moe": (Qwen2MoeConfig, dict(BASE, **MOE, shared_expert_intermediate_size=64, norm_topk_prob=False),
                  ["F32", "Q8_0"]),
    "qwen3_moe": (Qwen3MoeConfig, dict(BASE, **MOE, head_dim=16, norm_topk_prob=True), ["F32", "Q8_0"]),
}
ARCH = {"llama": "llama", "qwen2": "qwen2", "qwen2_bpe": "qwen2", "qwen3": "qwen3", "mixtral": "llama", "qwen2_moe": "qwen2moe",
        "qwen3_moe": "qwen3moe"}
IDS = [1, 17, 42, 5, 88, 63, 9, 30, 71, 54, 12, 95, 3, 26, 47, 80, 66, 21, 39, 8, 91, 58, 14, 33]
SAMPLE = "the model graft tensor layer quantized head expert router"


def make_model(folder, cls, kw, seed, tokenizer):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(cls(**kw), attn_implementation="eager",
                                             experts_implementation="eager").eval()
    # The weight redraw of the LLM fixtures (scripts/fixtures/llm.py), so no tensor is trivially zero or one.
    spec = importlib.util.spec_from_file_location("llm_fixtures", os.path.join(ROOT, "scripts", "fixtures", "llm.py"))
    fixtures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fixtures)
    fixtures.randomize(model, torch.Generator().manual_seed(seed))
    model.save_pretrained(folder)
    source = os.path.join(TOKENIZERS, f"tokenizer-{tokenizer}")
    for f in os.listdir(source):
        shutil.copy(os.path.join(source, f), folder)


def hf_logits(folder):
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager",
                                                 experts_implementation="eager").eval()
    with torch.no_grad():
        return model(input_ids=torch.tensor([IDS])).logits[0].numpy(), model.config


def permute(w, n_head, n_kv):
    if n_kv is not None and n_head != n_kv:
        n_head = n_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def expected_tensors(folder, config, arch):
    """name -> float32 numpy array, as llama.cpp's converter lays them out (reference mapping, written here)."""
    from safetensors.numpy import load_file
    state = {}
    for f in sorted(os.listdir(folder)):
        if f.endswith(".safetensors"):
            state.update(load_file(os.path.join(folder, f)))
    layer = {"input_layernorm.weight": "attn_norm.weight", "post_attention_layernorm.weight": "ffn_norm.weight",
             "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_norm.weight": "attn_q_norm.weight",
             "self_attn.k_norm.weight": "attn_k_norm.weight", "mlp.gate.weight": "ffn_gate_inp.weight",
             "block_sparse_moe.gate.weight": "ffn_gate_inp.weight",
             "mlp.shared_expert_gate.weight": "ffn_gate_inp_shexp.weight"}
    for p, g in [("q", "q"), ("k", "k"), ("v", "v")]:
        for s in ["weight", "bias"]:
            layer[f"self_attn.{p}_proj.{s}"] = f"attn_{g}.{s}"
    for p, g in [("gate", "gate"), ("up", "up"), ("down", "down")]:
        layer[f"mlp.{p}_proj.weight"] = f"ffn_{g}.weight"
        layer[f"mlp.shared_expert.{p}_proj.weight"] = f"ffn_{g}_shexp.weight"
    out = {"token_embd.weight": state["model.embed_tokens.weight"], "output_norm.weight": state["model.norm.weight"]}
    if "lm_head.weight" in state:
        out["output.weight"] = state["lm_head.weight"]
    experts = {}
    for name, value in state.items():
        if not name.startswith("model.layers."):
            continue
        n, rest = name[len("model.layers."):].split(".", 1)
        if ".experts." in rest:
            part = rest.split(".experts.")[1]
            e, w = part.split(".", 1)
            kind = {"w1.weight": "gate", "w3.weight": "up", "w2.weight": "down", "gate_proj.weight": "gate",
                    "up_proj.weight": "up", "down_proj.weight": "down"}[w]
            experts.setdefault(f"blk.{n}.ffn_{kind}_exps.weight", {})[int(e)] = value
            continue
        target = layer[rest]
        if arch == "llama" and rest.startswith("self_attn.q_proj"):
            value = permute(value, config.num_attention_heads, config.num_attention_heads)
        if arch == "llama" and rest.startswith("self_attn.k_proj"):
            value = permute(value, config.num_attention_heads, config.num_key_value_heads)
        out[f"blk.{n}.{target}"] = value
    for name, by in experts.items():
        out[name] = np.stack([by[e] for e in sorted(by)])
    if arch == "qwen2moe" and "output.weight" not in out:
        out["output.weight"] = out["token_embd.weight"]
    return out


def expected_bytes(name, value, target):
    value = value.astype(np.float32)
    f32 = value.ndim <= 1 or name.endswith("_norm.weight") or "ffn_gate_inp" in name or not name.endswith(".weight")
    if f32 or target == "F32":
        return "F32", value.tobytes()
    if target == "F16" or value.shape[-1] % 32 != 0:
        return "F16", value.astype(np.float16).tobytes()
    return "Q8_0", gguf.quants.quantize(value, gguf.GGMLQuantizationType.Q8_0).tobytes()


def check_reader(c, path, graft, folder, config, arch, target, label):
    reader = GGUFReader(path)
    wrote = json.loads(subprocess.run([graft, "inspect", path, "--json"], check=True, capture_output=True,
                                      text=True).stdout)
    types = wrote["metadata"].get("gguf.types", {})
    keys = {k for k in reader.fields if not k.startswith("GGUF.")}
    c.check(keys == set(types), f"{label}: key sets differ: {sorted(keys ^ set(types))}")
    for key in keys:
        field = reader.fields[key]
        t = field.types[0].name if field.types[0] != gguf.GGUFValueType.ARRAY else f"ARRAY[{field.types[1].name}]"
        value = field.contents()
        mine = wrote["metadata"].get(key)
        same = np.allclose(value, mine, rtol=0, atol=0) if isinstance(value, (float, list)) and value and \
            isinstance(value if not isinstance(value, list) else value[0], float) else value == mine
        c.check(t == types.get(key) and same, f"{label}: {key}: gguf-py {t} {str(value)[:60]} vs Graft {types.get(key)}")
    expected = expected_tensors(folder, config, arch)
    names = {t.name for t in reader.tensors} - {"rope_freqs.weight"}
    c.check(names == set(expected), f"{label}: tensor names differ: {sorted(names ^ set(expected))}")
    for t in reader.tensors:
        if t.name not in expected:
            continue
        kind, data = expected_bytes(t.name, expected[t.name], target)
        dims = list(reversed(expected[t.name].shape))
        c.check(t.tensor_type.name == kind and [int(x) for x in t.shape] == dims and t.data.tobytes() == data,
                f"{label}: {t.name}: {t.tensor_type.name} {list(t.shape)} vs expected {kind} {dims}")


def llama_cpp_run(path):
    """llama.cpp's logits on IDS and its tokenization of SAMPLE (with BOS when the GGUF says to add it)."""
    from llama_cpp import Llama
    llm = Llama(model_path=path, n_ctx=64, n_batch=64, logits_all=True, n_threads=2, verbose=False, type_k=0,
                type_v=0)
    tokens = llm.tokenize(SAMPLE.encode(), add_bos=True, special=False)
    llm.reset()
    llm.eval(IDS)
    out = np.array(llm.scores[:len(IDS)], dtype=np.float32)
    del llm
    return out, tokens


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--graft", default=os.path.join(ROOT, ".build", "release", "graft"))
    parser.add_argument("--llama-cpp", required=True, help="<llama-cpp-python sdist>/vendor/llama.cpp")
    parser.add_argument("--keep", help="write the models and GGUF files here instead of a temporary folder")
    args = parser.parse_args()
    c = Checker()
    work = args.keep or tempfile.mkdtemp()
    env = dict(os.environ, PYTHONPATH=os.path.join(args.llama_cpp, "gguf-py"))
    results = []
    for seed, (name, (cls, kw, targets)) in enumerate(MODELS.items()):
        folder = os.path.join(work, name)
        shutil.rmtree(folder, ignore_errors=True)
        make_model(folder, cls, kw, seed, "bpe" if name.endswith("_bpe") else "spm")
        hf_tokens = AutoTokenizer.from_pretrained(folder)(SAMPLE).input_ids
        # What llama.cpp must produce: sentencepiece's own encoding (plus BOS) for tokenizer.model, transformers' for
        # tokenizer.json (AutoTokenizer picks a Qwen2 tokenizer class for a qwen2 folder, whatever its files).
        if name.endswith("_bpe"):
            reference_tokens = hf_tokens
        else:
            import sentencepiece
            sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(folder, "tokenizer.model"))
            reference_tokens = [sp.bos_id()] + sp.encode(SAMPLE)
        reference, config = hf_logits(folder)
        scale = float(np.abs(reference).max())
        arch = ARCH[name]
        for target in targets:
            label = f"{name} {target}"
            path = os.path.join(work, f"{name}-{target}.gguf")
            subprocess.run([args.graft, "convert", folder, path, "--dtype", target, "--quiet"], check=True)
            check_reader(c, path, args.graft, folder, config, arch, target, label)
            logits, tokens = llama_cpp_run(path)
            c.check(tokens == reference_tokens, f"{label}: llama.cpp tokenizes {tokens}, reference {reference_tokens}")
            rel = float(np.abs(logits - reference).max()) / scale
            nmse = float(((logits - reference) ** 2).sum() / (reference ** 2).sum())
            top1 = float((logits.argmax(-1) == reference.argmax(-1)).mean())
            results.append((label, rel, nmse, top1))
            if target == "F32":
                c.check(rel <= 1e-3, f"{label}: llama.cpp max|Δ|/max|logit| {rel:.2e} > 1e-3")
            # Dense models only: in the MoE ones, Q8_0 rounding flips some top-k expert choices of these random
            # routers, a discontinuity the bound is not about (convert_hf_to_gguf.py's file has the same bytes).
            if target == "Q8_0" and name not in ("mixtral", "qwen2_moe", "qwen3_moe"):
                c.check(nmse <= 1e-3, f"{label}: llama.cpp NMSE {nmse:.2e} > 1e-3")
            if arch in ("llama", "qwen2", "qwen3") and not name.endswith("_bpe"):
                theirs = os.path.join(work, f"{name}-{target}-convert.gguf")
                subprocess.run([sys.executable, os.path.join(args.llama_cpp, "convert_hf_to_gguf.py"), folder,
                                "--outfile", theirs, "--outtype", target.lower()], env=env, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                print(f"\n### {label}: Graft vs convert_hf_to_gguf.py")
                rows = compare(path, theirs, ["Graft", "convert_hf_to_gguf.py"])
                # Explained in Fixtures/gguf-llm/README.md: the model name's capitalisation and the tensor order.
                unexplained = [r for r in rows if (r[0], r[1]) not in {("KV value", "general.name"),
                                                                     ("tensor order", "(all)")}]
                c.check(not unexplained, f"{label}: differs from convert_hf_to_gguf.py: {unexplained}")
        back = os.path.join(work, f"{name}-hf")
        shutil.rmtree(back, ignore_errors=True)
        subprocess.run([args.graft, "convert", os.path.join(work, f"{name}-F32.gguf"), back, "--quiet"], check=True)
        again, _ = hf_logits(back)
        rel = float(np.abs(again - reference).max()) / scale
        c.check(rel <= 1e-6, f"{name}: GGUF → HF logits differ by {rel:.2e}")
        b = AutoTokenizer.from_pretrained(back)(SAMPLE).input_ids
        c.check(hf_tokens == b, f"{name}: rebuilt tokenizer gives {b}, original {hf_tokens}")
        results.append((f"{name} GGUF→HF (transformers)", rel, float("nan"), 1.0))
    print("\n| model / type | max\\|Δ\\|/max\\|logit\\| | NMSE | top-1 agreement |\n|---|---|---|---|")
    for label, rel, nmse, top1 in results:
        print(f"| {label} | {rel:.2e} | {nmse:.2e} | {top1:.3f} |")
    print(f"\n{c.passed} passed, {len(c.failures)} failed")
    for f in c.failures:
        print("FAIL", f)
    sys.exit(1 if c.failures else 0)


if __name__ == "__main__":
    main()
