#!/usr/bin/python3
"""Training throughput of the same classifiers in PyTorch on the CPU: the MLP (784-100-10) and the
small dense MLP-Mixer of docs/classifiers.md (patch 4, C 128, Dt 64, Dc 512, depth 4), full AdamW
steps on random 28x28 images, timed after two warm-up steps, as bench/classify/trainer.ts does.
Prints one JSON line per model. (PyTorch has no CPmuMoE layer of its own; the mixer-cpmoe16 row
of trainer.ts has no PyTorch counterpart here.)
  /usr/bin/python3 bench/classify/torch_bench.py [--threads N] [--batch 128] [--steps 10]
"""
import argparse
import json
import time

import torch
import torch.nn as nn


class MixerBlock(nn.Module):
    def __init__(self, P, C, Dt, Dc):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.token = nn.Sequential(nn.Linear(P, Dt), nn.GELU(), nn.Linear(Dt, P))
        self.channel = nn.Sequential(nn.Linear(C, Dc), nn.GELU(), nn.Linear(Dc, C))

    def forward(self, x):
        x = x + self.token(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.channel(self.norm2(x))


class Mixer(nn.Module):
    def __init__(self, p=4, C=128, Dt=64, Dc=512, depth=4, side=28, classes=10):
        super().__init__()
        self.p = p
        P = (side // p) ** 2
        self.patch = nn.Linear(p * p, C)
        self.blocks = nn.Sequential(*[MixerBlock(P, C, Dt, Dc) for _ in range(depth)])
        self.norm = nn.LayerNorm(C)
        self.head = nn.Linear(C, classes)

    def forward(self, x):
        B, H, W, _ = x.shape
        p = self.p
        x = x.reshape(B, H // p, p, W // p, p).permute(0, 1, 3, 2, 4).reshape(B, (H // p) * (W // p), p * p)
        x = self.blocks(self.patch(x))
        return self.head(self.norm(x).mean(1))


def main():
    a = argparse.ArgumentParser()
    a.add_argument('--threads', type=int, default=1)
    a.add_argument('--batch', type=int, default=128)
    a.add_argument('--steps', type=int, default=10)
    a.add_argument('--models', default='mlp,mixer-dense')
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    models = {
        'mlp': lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 100), nn.ReLU(), nn.Linear(100, 10)),
        'mixer-dense': lambda: Mixer(),
    }
    x = torch.rand(args.batch, 28, 28, 1)
    y = torch.arange(args.batch) * 7 % 10
    for name in args.models.split(','):
        model = models[name]()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)

        def step():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()

        step()
        step()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        seconds = time.perf_counter() - t0
        print(json.dumps({'impl': 'torch', 'torch': torch.__version__, 'model': name, 'threads': args.threads,
                          'params': sum(p.numel() for p in model.parameters()), 'batch': args.batch, 'steps': args.steps,
                          'seconds': seconds, 'samplesPerSecond': args.steps * args.batch / seconds}))


if __name__ == '__main__':
    main()
