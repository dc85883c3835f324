#!/usr/bin/env python3
"""A randomly initialised 1.1B-parameter Llama (TinyLlama's shape: hidden 2048, MLP 5632, 22 layers, 32/4 heads,
vocab 32000), bf16, for measuring the peak RSS of `graft moe upcycle` into 8 experts (~13 GB of output).

Usage: python3 scripts/bench/make_llama_1b.py OUT_DIR     (needs torch and transformers; ~1 min, ~5 GB of RAM)
Weights only: no tokenizer (Graft does not need one; the anchors' make_llama.py has one for mergekit).
"""
import sys

import torch
import transformers as T

cfg = T.LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                    num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048)
torch.manual_seed(0)
with torch.device("meta"):
    model = T.LlamaForCausalLM(cfg)
model = model.to_empty(device="cpu").to(torch.bfloat16)
with torch.no_grad():
    for name, p in model.named_parameters():
        if p.dim() == 1:
            p.fill_(1.0)
        else:
            p.normal_(0.0, 0.02)
model.save_pretrained(sys.argv[1], max_shard_size="2GB")
print(f"{sum(p.numel() for p in model.parameters()) / 1e9:.3f}B parameters written to {sys.argv[1]}")
