#!/usr/bin/python3
"""PyTorch reference for shrink's training throughput figures (README).

Not part of the Go build and not a dependency: a plain llama module of the
shape shrink's distill benchmarks use (RMSNorm, rotary attention with
grouped key/value heads, SwiGLU feed-forward, untied output head), trained
with AdamW on random tokens, with either cross-entropy alone ("train") or a
live teacher of the same shape under KL(teacher || student) plus nothing
else ("distill", shrink distill's default loss), printing tokens/s.

    /usr/bin/python3 internal/tools/torch_bench.py --mode train --steps 6
"""
import argparse
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.w = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.w


def rope(x, cos, sin):
    # x: (B, H, T, hd), adjacent pairs rotated (GGUF llama convention)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), -1).flatten(-2)


class Block(nn.Module):
    def __init__(self, d, heads, kv, ffn):
        super().__init__()
        self.h, self.kv, self.hd = heads, kv, d // heads
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.q = nn.Linear(d, heads * self.hd, bias=False)
        self.k = nn.Linear(d, kv * self.hd, bias=False)
        self.v = nn.Linear(d, kv * self.hd, bias=False)
        self.o = nn.Linear(heads * self.hd, d, bias=False)
        self.g = nn.Linear(d, ffn, bias=False)
        self.u = nn.Linear(d, ffn, bias=False)
        self.dn = nn.Linear(ffn, d, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        n = self.n1(x)
        q = self.q(n).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k(n).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.v(n).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = self.h // self.kv
        k = k.repeat_interleave(rep, 1)
        v = v.repeat_interleave(rep, 1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        a = (F.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, -1)
        x = x + self.o(a)
        n = self.n2(x)
        return x + self.dn(F.silu(self.g(n)) * self.u(n))


class Llama(nn.Module):
    def __init__(self, vocab, d, layers, heads, kv, ffn, ctx):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(Block(d, heads, kv, ffn) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.out = nn.Linear(d, vocab, bias=False)
        hd = d // heads
        inv = 10000 ** (-torch.arange(0, hd, 2).float() / hd)
        ang = torch.arange(ctx).float()[:, None] * inv[None, :]
        self.register_buffer("cos", ang.cos(), persistent=False)
        self.register_buffer("sin", ang.sin(), persistent=False)
        self.register_buffer("mask", torch.full((ctx, ctx), float("-inf")).triu(1), persistent=False)

    def forward(self, ids):
        T = ids.shape[1]
        x = self.emb(ids)
        cos, sin, mask = self.cos[:T], self.sin[:T], self.mask[:T, :T]
        for b in self.blocks:
            x = b(x, cos, sin, mask)
        return self.out(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["train", "distill"], default="train")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    shape = (a.vocab, a.dim, a.layers, a.heads, a.kv_heads, a.ffn, a.ctx)
    student = Llama(*shape)
    teacher = Llama(*shape).eval() if a.mode == "distill" else None
    opt = torch.optim.AdamW(student.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.01)
    data = torch.randint(0, a.vocab, (a.steps + 1, a.batch, a.ctx + 1))
    params = sum(p.numel() for p in student.parameters())

    def step(ids):
        x, y = ids[:, :-1], ids[:, 1:]
        z = student(x)
        if teacher is None:
            loss = F.cross_entropy(z.reshape(-1, a.vocab), y.reshape(-1))
        else:
            with torch.no_grad():
                zt = teacher(x)
            loss = F.kl_div(F.log_softmax(z, -1).reshape(-1, a.vocab),
                            F.log_softmax(zt, -1).reshape(-1, a.vocab),
                            log_target=True, reduction="batchmean")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()

    step(data[0])  # warm-up, not timed
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(a.steps):
        step(data[i + 1])
    el, cpu = time.perf_counter() - t0, time.process_time() - c0
    tok = a.steps * a.batch * a.ctx
    print(f"torch {torch.__version__} {a.mode}: {params} params, {a.steps} steps of {a.batch}x{a.ctx} tokens "
          f"in {el:.1f} s: {tok / el:.0f} tok/s, {tok / cpu:.0f} tok/cpu-s (threads {torch.get_num_threads()})")


if __name__ == "__main__":
    main()
