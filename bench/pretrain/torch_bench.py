#!/usr/bin/python3
"""Training throughput of the same GPT-2 in PyTorch on the CPU: full optimizer steps (forward,
backward, clip_grad_norm_, AdamW betas 0.9/0.95 with weight decay on matrices) on the same shapes
and token pattern as bench/pretrain/trainer.ts, timed after two warm-up steps. Prints one JSON line.
  /usr/bin/python3 bench/pretrain/torch_bench.py [--threads N] [--layers 4 --d-model 256 --heads 4 --ctx 128 --batch 8 --vocab 512 --steps 5]
"""
import argparse
import json
import math
import time

import torch


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(torch.nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = torch.nn.LayerNorm(d), torch.nn.LayerNorm(d)
        self.c_attn, self.c_proj = torch.nn.Linear(d, 3 * d), torch.nn.Linear(d, d)
        self.c_fc, self.mlp_proj = torch.nn.Linear(d, 4 * d), torch.nn.Linear(4 * d, d)

    def forward(self, x, causal):
        B, T, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(d, dim=2)
        q, k, v = (t.view(B, T, self.heads, d // self.heads).transpose(1, 2) for t in (q, k, v))
        att = ((q @ k.transpose(-2, -1)) / math.sqrt(d // self.heads)).masked_fill(~causal, float('-inf')).softmax(-1)
        x = x + self.c_proj((att @ v).transpose(1, 2).reshape(B, T, d))
        return x + self.mlp_proj(gelu_new(self.c_fc(self.ln_2(x))))


class GPT2(torch.nn.Module):
    def __init__(self, V, C, L, d, H):
        super().__init__()
        self.wte, self.wpe = torch.nn.Embedding(V, d), torch.nn.Embedding(C, d)
        self.blocks = torch.nn.ModuleList(Block(d, H) for _ in range(L))
        self.ln_f = torch.nn.LayerNorm(d)
        self.register_buffer('causal', torch.tril(torch.ones(C, C, dtype=torch.bool)))

    def forward(self, ids):
        T = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x, self.causal[:T, :T])
        return self.ln_f(x) @ self.wte.weight.T


def main():
    p = argparse.ArgumentParser()
    for k, v in dict(threads=1, layers=4, d_model=256, heads=4, ctx=128, batch=8, vocab=512, steps=5).items():
        p.add_argument('--' + k.replace('_', '-'), type=int, default=v)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = GPT2(a.vocab, a.ctx, a.layers, a.d_model, a.heads)
    params = list(model.parameters())
    opt = torch.optim.AdamW([{'params': [q for q in params if q.dim() >= 2], 'weight_decay': 0.1},
                             {'params': [q for q in params if q.dim() < 2], 'weight_decay': 0.0}], lr=1e-3, betas=(0.9, 0.95))
    seqs = torch.tensor([[(i * 7919 + t * 104729) % a.vocab for t in range(a.ctx + 1)] for i in range(a.batch)])

    def step():
        logits = model(seqs[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, a.vocab), seqs[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    step()
    step()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    seconds = time.perf_counter() - t0
    print(json.dumps({'impl': 'pytorch', 'torch': torch.__version__, 'threads': a.threads,
                      'shape': dict(layers=a.layers, dModel=a.d_model, heads=a.heads, ctx=a.ctx, batch=a.batch, vocab=a.vocab),
                      'params': sum(q.numel() for q in params) - a.ctx * 0, 'steps': a.steps, 'seconds': seconds,
                      'tokensPerSecond': a.steps * a.batch * a.ctx / seconds}))


if __name__ == '__main__':
    main()
