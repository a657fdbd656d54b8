"""An eager-PyTorch peer for the `train` benchmark: the same training step tunemesh's `tunemesh bench` times, on
the same model directory, written the way Hugging Face transformers (eager attention) + PEFT compute it.

transformers and PEFT cannot be installed on this machine (no PyPI); Debian's python3-torch can. So this file is
the peer's computation written out by hand against plain torch, kept to what the Hugging Face code does per step:
Qwen2/Llama decoder (RMSNorm in float32, rotate-half RoPE, grouped-query attention as eager matmul + softmax
with an additive causal mask, SwiGLU MLP), tied or untied LM head, the causal-LM loss (shift by one, mean over
tokens), LoRA as PEFT's Linear (base output + B(A(dropout(x))) * alpha / r, A Kaiming-uniform, B zero, base
frozen), global-norm clipping, torch.optim.AdamW. Weights are read from model.safetensors.

Prints one JSON object: tokens_per_s, step_s, peak_rss_mb, MFU against a float32 MatMul peak measured in this
process like the TypeScript benchmark's (four chained 1024 x 1024 products, best of 6), and the last loss.

  /usr/bin/python3 bench/peer/torch_train.py --model DIR --method lora|full [--batch-size 4 --seq-len 256
    --steps 6 --warmup 2 --threads 2 --r 8 --alpha 16 --target-modules q_proj,v_proj]
"""

import argparse
import json
import math
import os
import resource
import struct
import sys
import time

# Debian's torch runs its elementwise ops on GNU OpenMP threads and its GEMMs on OpenBLAS's own threads. OpenMP's
# idle threads spin by default and take the two cores from OpenBLAS: 2.06 s a LoRA step against 0.65 s with the
# spin off (measured 2026-11-29). Set before torch loads libgomp, which reads it once.
os.environ.setdefault("GOMP_SPINCOUNT", "0")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

DTYPES = {"F32": np.float32, "F16": np.float16}


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    raw = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        arr = raw[start:end].view(DTYPES[meta["dtype"]]).reshape(meta["shape"])
        out[name] = torch.from_numpy(np.array(arr, dtype=np.float32))
    return out


class LoraLinear(nn.Module):
    """PEFT's lora.Linear at dropout 0: frozen base, y = base(x) + B(A(x)) * scaling."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + self.lora_B(self.lora_A(x)) * self.scaling


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.to(torch.float32)
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Layer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d = cfg["hidden_size"]
        self.h = cfg["num_attention_heads"]
        self.kvh = cfg.get("num_key_value_heads", self.h)
        self.hd = cfg.get("head_dim", d // self.h)
        qkv_bias = cfg["model_type"] == "qwen2" or bool(cfg.get("attention_bias", False))
        eps = cfg["rms_norm_eps"]
        self.input_layernorm = RMSNorm(d, eps)
        self.post_attention_layernorm = RMSNorm(d, eps)
        self.q_proj = nn.Linear(d, self.h * self.hd, bias=qkv_bias)
        self.k_proj = nn.Linear(d, self.kvh * self.hd, bias=qkv_bias)
        self.v_proj = nn.Linear(d, self.kvh * self.hd, bias=qkv_bias)
        self.o_proj = nn.Linear(self.h * self.hd, d, bias=False)
        i = cfg["intermediate_size"]
        self.gate_proj = nn.Linear(d, i, bias=False)
        self.up_proj = nn.Linear(d, i, bias=False)
        self.down_proj = nn.Linear(i, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, _ = x.shape
        h = self.input_layernorm(x)
        q = self.q_proj(h).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(h).view(b, t, self.kvh, self.hd).transpose(1, 2)
        v = self.v_proj(h).view(b, t, self.kvh, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        rep = self.h // self.kvh
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(self.hd) + mask
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        a = torch.matmul(probs, v).transpose(1, 2).reshape(b, t, self.h * self.hd)
        x = x + self.o_proj(a)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class CausalLM(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg["num_hidden_layers"]))
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        if not self.tied:
            self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)

    def load(self, weights):
        own = {}
        for name, tensor in weights.items():
            key = name.removeprefix("model.").replace(".self_attn.", ".").replace(".mlp.", ".")
            own[key] = tensor
        missing, unexpected = self.load_state_dict(own, strict=False)
        missing = [m for m in missing if "lora_" not in m]
        if missing or unexpected:
            raise SystemExit(f"weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")

    def forward(self, ids, labels):
        b, t = ids.shape
        hd = self.layers[0].hd
        theta = float(self.cfg.get("rope_theta", 10000.0))
        inv = 1.0 / theta ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)
        freqs = torch.outer(torch.arange(t, dtype=torch.float32), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos()[None, None], emb.sin()[None, None]
        mask = torch.full((t, t), torch.finfo(torch.float32).min).triu(1)[None, None]
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        x = self.norm(x)
        logits = F.linear(x, self.embed_tokens.weight if self.tied else self.lm_head.weight).float()
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


def matmul_peak():
    a = torch.randn(1024, 1024)
    ws = [torch.randn(1024, 1024) for _ in range(4)]
    best = float("inf")
    for _ in range(6):
        t0 = time.perf_counter()
        x = a
        for w in ws:
            x = x @ w
        best = min(best, time.perf_counter() - t0)
    return 4 * 2 * 1024**3 / best / 1e9


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--method", choices=["lora", "full"], required=True)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--r", type=int, default=8)
    p.add_argument("--alpha", type=float, default=16)
    p.add_argument("--target-modules", default="q_proj,v_proj")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(f"{a.model}/config.json") as f:
        cfg = json.load(f)
    model = CausalLM(cfg)
    model.load(load_safetensors(f"{a.model}/model.safetensors"))
    if a.method == "lora":
        for prm in model.parameters():
            prm.requires_grad_(False)
        targets = a.target_modules.split(",")
        for layer in model.layers:
            for name in targets:
                setattr(layer, name, LoraLinear(getattr(layer, name), a.r, a.alpha))
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-4, weight_decay=0.0)
    gen = torch.Generator().manual_seed(1)
    ids = torch.randint(0, cfg["vocab_size"], (a.batch_size, a.seq_len), generator=gen)
    peak_before = matmul_peak()
    times = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = model(ids, ids)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step >= a.warmup:
            times.append(time.perf_counter() - t0)
    step_s = sum(times) / len(times)
    tokens = a.batch_size * a.seq_len
    n_matrix = sum(
        m.weight.numel() for name, m in model.named_modules() if isinstance(m, nn.Linear) and "lora_" not in name
    )
    if model.tied:
        n_matrix += model.embed_tokens.weight.numel()
    n_train = sum(q.numel() for q in params)
    flops = 6 * n_matrix if a.method == "full" else 4 * n_matrix + 6 * n_train
    peak = max(peak_before, matmul_peak())
    print(
        json.dumps(
            {
                "peer": f"eager PyTorch {torch.__version__} ({a.method})",
                "tokens_per_s": round(tokens / step_s, 1),
                "step_s": round(step_s, 4),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "matmul_peak_gflops": round(peak, 1),
                "mfu": round(flops * tokens / step_s / (peak * 1e9), 4),
                "trainable_params": n_train,
                "matrix_params": n_matrix,
                "final_loss": round(loss.item(), 5),
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
