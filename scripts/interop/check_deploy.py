#!/usr/bin/env python3
"""Interop check of Graft's deployment passes against peft 0.21, timm 1.0.31 and torch (issue 19).

Usage: check_deploy.py GRAFT_BINARY WORKDIR   (run scripts/fixtures/deploy.py first; it is committed output)

  1. `graft lora merge` for the ViT, weighted (a 0.7 + b 0.3), DoRA and Llama adapters: every tensor within
     1e-5 * max|ref| of peft's merge_and_unload(), and the merged Llama's logits (transformers) within 1e-5 relative
     of peft's unmerged model;
  2. `graft lora extract --rank 4` from (llama-base, llama-merged): peft's PeftModel.from_pretrained loads the folder
     and its logits equal the merged model's within 1e-5 relative;
  3. `graft reparam` (RepVGG timm and original naming, --fold-bn, ACB) within 1e-6 * max|ref| of timm / torch, and the
     reparameterised timm RepVGG's outputs equal timm's training-time outputs within 1e-5 relative;
  4. `graft average --timm` bit-identical to timm's avg_checkpoints logic.
Prints `N passed, M failed` and exits non-zero on any failure.
"""
import os
import subprocess
import sys

sys.path = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

FIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Fixtures", "deploy")
PASSED = 0
FAILED = 0


def check(ok, what):
    global PASSED, FAILED
    PASSED += bool(ok)
    FAILED += not ok
    print(("ok   " if ok else "FAIL ") + what)


def graft(binary, *args):
    subprocess.run([binary, *args, "-q"], check=True)


def close(path, ref, rel):
    x, y = load_file(path), load_file(os.path.join(FIX, ref))
    if set(x) != set(y):
        return False
    return all((x[k].double() - y[k].double()).abs().max() <= rel * y[k].double().abs().max() for k in y)


def main():
    binary, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    out = lambda name: os.path.join(work, name)  # noqa: E731
    fix = lambda name: os.path.join(FIX, name)  # noqa: E731
    for adapters, ref in ((["vit-lora"], "vit-merged"), (["vit-lora-a:0.7", "vit-lora-b:0.3"], "vit-merged-ab"),
                          (["vit-dora"], "vit-merged-dora")):
        extra = sum((["--adapter", fix(a)] for a in adapters[1:]), [])
        graft(binary, "lora", "merge", fix("vit-base.safetensors"), fix(adapters[0]), out(ref + ".safetensors"), *extra)
        check(close(out(ref + ".safetensors"), ref + ".safetensors", 1e-5), f"lora merge {' + '.join(adapters)}")
    graft(binary, "lora", "merge", fix("llama-base"), fix("llama-lora"), out("llama.safetensors"))
    check(close(out("llama.safetensors"), "llama-merged.safetensors", 1e-5), "lora merge llama")

    from peft import PeftModel
    from transformers import LlamaForCausalLM
    io = load_file(fix("llama-io.safetensors"))
    merged = LlamaForCausalLM.from_pretrained(fix("llama-base")).eval()
    merged.load_state_dict(load_file(out("llama.safetensors")))
    with torch.no_grad():
        y = merged(io["input_ids"]).logits
    scale = io["logits.lora"].abs().max()
    check((y - io["logits.lora"]).abs().max() <= 1e-5 * scale, "Graft-merged Llama logits = peft unmerged logits")
    graft(binary, "lora", "extract", fix("llama-base"), fix("llama-merged.safetensors"), out("extracted"), "--rank", "4")
    model = PeftModel.from_pretrained(LlamaForCausalLM.from_pretrained(fix("llama-base")), out("extracted")).eval()
    with torch.no_grad():
        y = model(io["input_ids"]).logits
    check((y - io["logits.merged"]).abs().max() <= 1e-5 * scale, "peft loads the extracted adapter; logits = merged")

    for src, ref, flags in (("repvgg", "repvgg-reparam", []), ("repvgg-original", "repvgg-original-reparam", []),
                            ("convbn", "convbn-fused", ["--fold-bn"]), ("acb", "acb-fused", [])):
        graft(binary, "reparam", fix(src + ".safetensors"), out(ref + ".safetensors"), *flags)
        check(close(out(ref + ".safetensors"), ref + ".safetensors", 1e-6), f"reparam {src}")
    from timm.models.byobnet import ByobNet, ByoBlockCfg, ByoModelCfg
    from timm.utils.model import reparameterize_model
    cfg = ByoModelCfg(blocks=(ByoBlockCfg(type="rep", d=2, c=8, s=1), ByoBlockCfg(type="rep", d=2, c=16, s=2, gs=4)),
                      stem_type="rep", stem_chs=8, stem_pool=None)
    net = reparameterize_model(ByobNet(cfg, num_classes=5).eval())
    net.load_state_dict(load_file(out("repvgg-reparam.safetensors")))
    rio = load_file(fix("repvgg-io.safetensors"))
    with torch.no_grad():
        y = net(rio["input"])
    check((y - rio["output.train"]).abs().max() <= 1e-5 * rio["output.train"].abs().max(),
          "Graft-reparameterised RepVGG outputs = timm training-time outputs")

    graft(binary, "average", *[fix(f"avg-{i}.pth") for i in range(3)], "-o", out("avg.pth"), "--timm")
    a, b = torch.load(out("avg.pth")), torch.load(fix("avg-timm.pth"))
    check(set(a) == set(b) and all(a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in b),
          "average --timm bit-identical to avg_checkpoints")
    print(f"{PASSED} passed, {FAILED} failed")
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
