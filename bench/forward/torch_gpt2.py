#!/usr/bin/python3
"""The PyTorch side of bench/forward: GPT-2 small with random weights, driven by run.ts.

The forward follows Hugging Face's modeling_gpt2.py (GPT2LMHeadModel, eval mode, no dropout):
    x = wte[ids] + wpe[pos]
    per block: x = x + c_proj(attn(c_attn(ln_1(x))));  x = x + mlp(ln_2(x))
    mlp(x)     = c_proj(gelu_new(c_fc(x)))             gelu_new = HF's NewGELUActivation (tanh form)
    logits     = ln_f(x) @ wte.T                       (tied lm_head)
with Conv1D (y = x W + b, W [in, out]) as torch.addmm, exactly as HF's Conv1D computes it, and the
causal mask applied to the scores before softmax. Float32, torch.no_grad().

--linear picks how the Conv1D / lm_head products run:
  blas    torch.addmm / torch.matmul, i.e. PyTorch as installed (Debian's python3-torch calls the
          system libblas, which on this machine is the netlib *reference* BLAS);
  onednn  the same weights as torch.utils.mkldnn linear layers (oneDNN's JIT GEMM, PyTorch's own
          optimised CPU path), the fastest PyTorch CPU path this install offers.
Attention products (q·kᵀ, p·v) are torch.matmul in both modes.

Protocol (stdin/stdout, one JSON line per reply): run -> {"seconds"}, stats -> {"maxRssMB"}, quit.
Token ids arrive on the command line as a JSON file path so both sides see the same batch.
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F
import torch.utils.mkldnn


def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument('--layers', type=int, default=12)
    p.add_argument('--d-model', type=int, default=768)
    p.add_argument('--heads', type=int, default=12)
    p.add_argument('--vocab', type=int, default=50257)
    p.add_argument('--positions', type=int, default=1024)
    p.add_argument('--ids', required=True, help='JSON file with the batch of token ids')
    p.add_argument('--linear', choices=['blas', 'onednn'], default='onednn')
    p.add_argument('--threads', type=int, default=0, help='torch.set_num_threads (0: leave the default)')
    return p.parse_args()


class Gpt2:
    def __init__(self, layers, d, heads, vocab, positions, linear, seed=42):
        g = torch.Generator().manual_seed(seed)
        normal = lambda *shape: torch.randn(*shape, generator=g) * 0.02
        self.d, self.heads, self.linear_mode = d, heads, linear
        self.wte = normal(vocab, d)
        self.wpe = normal(positions, d)
        self.blocks = []
        for _ in range(layers):
            self.blocks.append({
                'ln_1': (torch.ones(d), torch.zeros(d)),
                'c_attn': self.conv1d(normal(d, 3 * d), torch.zeros(3 * d)),
                'attn_proj': self.conv1d(normal(d, d), torch.zeros(d)),
                'ln_2': (torch.ones(d), torch.zeros(d)),
                'c_fc': self.conv1d(normal(d, 4 * d), torch.zeros(4 * d)),
                'mlp_proj': self.conv1d(normal(4 * d, d), torch.zeros(d)),
            })
        self.ln_f = (torch.ones(d), torch.zeros(d))
        # The tied lm_head: a Linear whose weight is wte ([vocab, d]), no bias.
        self.lm_head = self.conv1d(self.wte.t(), None)

    def conv1d(self, w, b):
        """A Conv1D with W [in, out]; in onednn mode an nn.Linear (weight [out, in]) converted to mkldnn."""
        if self.linear_mode == 'blas':
            return (w, b)
        lin = torch.nn.Linear(w.shape[0], w.shape[1], bias=b is not None)
        with torch.no_grad():
            lin.weight.copy_(w.t())
            if b is not None:
                lin.bias.copy_(b)
        return torch.utils.mkldnn.to_mkldnn(lin)

    def apply(self, layer, x):
        flat = x.reshape(-1, x.shape[-1])
        if self.linear_mode == 'blas':
            w, b = layer
            y = torch.addmm(b, flat, w) if b is not None else flat @ w
        else:
            y = layer(flat)
        return y.view(*x.shape[:-1], y.shape[-1])

    def attention(self, blk, x, causal):
        B, T, d = x.shape
        hd = d // self.heads
        q, k, v = self.apply(blk['c_attn'], x).split(d, dim=2)
        split = lambda t: t.view(B, T, self.heads, hd).transpose(1, 2)  # [B, H, T, hd]
        q, k, v = split(q), split(k), split(v)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        scores = torch.where(causal, scores, torch.tensor(torch.finfo(scores.dtype).min))
        z = torch.matmul(F.softmax(scores, dim=-1), v)
        return self.apply(blk['attn_proj'], z.transpose(1, 2).reshape(B, T, d))

    def forward(self, ids):
        B, T = ids.shape
        x = self.wte[ids] + self.wpe[torch.arange(T)]
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool)).view(1, 1, T, T)
        for blk in self.blocks:
            x = x + self.attention(blk, F.layer_norm(x, (self.d,), *blk['ln_1']), causal)
            h = self.apply(blk['c_fc'], F.layer_norm(x, (self.d,), *blk['ln_2']))
            h = 0.5 * h * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (h + 0.044715 * torch.pow(h, 3.0))))
            x = x + self.apply(blk['mlp_proj'], h)
        return self.apply(self.lm_head, F.layer_norm(x, (self.d,), *self.ln_f))


def main():
    args = parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    with open(args.ids) as f:
        ids = torch.tensor(json.load(f), dtype=torch.long)
    model = Gpt2(args.layers, args.d_model, args.heads, args.vocab, args.positions, args.linear)
    reply = lambda value: print(json.dumps(value), flush=True)
    reply({'ready': True, 'torch': torch.__version__, 'threads': torch.get_num_threads(), 'linear': args.linear})
    for line in sys.stdin:
        command = line.strip()
        if command == 'run':
            with torch.no_grad():
                start = time.perf_counter()
                logits = model.forward(ids)
                seconds = time.perf_counter() - start
            assert logits.shape == (ids.shape[0], ids.shape[1], args.vocab)
            del logits
            reply({'seconds': seconds})
        elif command == 'stats':
            reply({'maxRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
        elif command == 'quit':
            break
        else:
            reply({'error': f'unknown command {command}'})


if __name__ == '__main__':
    main()
