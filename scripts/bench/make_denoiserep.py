#!/usr/bin/env python3
"""The ViT-B-sized DenoiseRep benchmark input (issue 7): python3 make_denoiserep.py OUT.safetensors."""
## ViT-B-sized DenoiseRep checkpoint (12 blocks, 768/3072, 24 wrapped Linears), unfused, random values, base. keys.
import sys, torch
from safetensors.torch import save_file
D, H, depth = 768, 3072, 12
g = torch.Generator().manual_seed(0)
betas = torch.linspace(1e-4, 2e-3, 1000); alphas = 1 - betas; cum = torch.cumprod(alphas, 0)
prev = torch.cat((torch.tensor([1.0]), cum[:-1]))
buf = {"betas": betas, "sqrt_betas": betas.sqrt(), "alphas": alphas, "sqrt_alphas": alphas.sqrt(), "alphas_cumprod": cum,
       "alphas_cumprod_prev": prev, "sqrt_alphas_cumprod": cum.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - cum).sqrt(),
       "log_one_minus_alphas_cumprod": (1 - cum).log(), "sqrt_recip_alphas_cumprod": (1 / cum).sqrt(),
       "sqrt_recipm1_alphas_cumprod": (1 / cum - 1).sqrt(), "posterior_variance": betas * (1 - prev) / (1 - cum)}
sd = {}
r = lambda *s: torch.randn(*s, generator=g) * 0.02
sd["base.cls_token"] = r(1, 1, D); sd["base.pos_embed"] = r(1, 197, D)
sd["base.patch_embed.proj.weight"] = r(D, 3, 16, 16); sd["base.patch_embed.proj.bias"] = r(D)
def wrap(p, o, i):
    sd[p + ".weight"] = r(o, i); sd[p + ".bias"] = r(o)
    for k, v in buf.items(): sd[p + "." + k] = v.clone()
    sd[p + ".time_mlp.1.weight"] = r(i, 2048); sd[p + ".time_mlp.1.bias"] = r(i)
    sd[p + ".time_mlp.3.weight"] = r(i, i); sd[p + ".time_mlp.3.bias"] = r(i)
    sd[p + ".dm.weight"] = r(i, i); sd[p + ".dm.bias"] = r(i)
for b in range(depth):
    p = f"base.blocks.{b}."
    for n in ("norm1", "norm2"): sd[p + n + ".weight"] = 1 + r(D); sd[p + n + ".bias"] = r(D)
    sd[p + "attn.qkv.weight"] = r(3 * D, D); sd[p + "attn.qkv.bias"] = r(3 * D)
    sd[p + "attn.proj.weight"] = r(D, D); sd[p + "attn.proj.bias"] = r(D)
    wrap(p + "mlp.fc1", H, D); wrap(p + "mlp.fc2", D, H)
sd["base.norm.weight"] = 1 + r(D); sd["base.norm.bias"] = r(D)
save_file(sd, sys.argv[1], metadata={"num_heads": "12"})
