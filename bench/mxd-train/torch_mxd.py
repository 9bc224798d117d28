"""The same MxD layer and training step in PyTorch (CPU), for bench/mxd-train/run.sh.

Forward (docs/science/mxd.md#the-factorised-forward-pass): z = gelu(x E + b_E); a = TopK(ReLU(x G + b_G), K);
y = (C^T a) * (D^T z) + b_out. Loss = mean((y - y*)^2 / ||y*||). After backward, each row of
C's gradient loses its component along the row; AdamW (wd 0); rows of C renormalised.
  --expert-product sparse: C^T a from the K gathered rows of C (as our trainer does);
  --expert-product dense:  the official code's dense [B,N] x [N,O] product.
Prints one JSON line: tokens per CPU-second (best and median step), GFLOP/s by the shared count (flops.ts),
torch.mm sgemm GFLOP/s at the same thread count, peak RSS.
"""
import argparse, json, resource, time
import torch
import torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("--batch", type=int, default=1024)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--d", type=int, default=768)
p.add_argument("--hidden", type=int, default=3072)
p.add_argument("--experts", type=int, default=21490)
p.add_argument("--k", type=int, default=32)
p.add_argument("--threads", type=int, default=0, help="0: torch's default")
p.add_argument("--expert-product", choices=["sparse", "dense"], default="sparse")
a = p.parse_args()
if a.threads > 0:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
d, H, N, K, B = a.d, a.hidden, a.experts, a.k, a.batch


def linear_init(*shape, fan_in):
    bound = 1 / fan_in ** 0.5
    return torch.empty(*shape).uniform_(-bound, bound)


E = linear_init(d, H, fan_in=d).requires_grad_()
b_E = torch.zeros(H, requires_grad=True)
G = linear_init(d, N, fan_in=d).requires_grad_()
b_G = torch.zeros(N, requires_grad=True)
C = torch.empty(N, d).uniform_(-1, 1)
C = (C / C.norm(dim=1, keepdim=True)).requires_grad_()
D = (torch.randn(H, d) * 0.02).requires_grad_()  # random, as the TS bench: D = 0 zeroes gradients
b_out = torch.zeros(d, requires_grad=True)
params = [E, b_E, G, b_G, C, D, b_out]
opt = torch.optim.AdamW(params, lr=4e-4, weight_decay=0.0)
x = torch.randn(B, d)
y = torch.randn(B, d)


def forward(x):
    z = F.gelu(x @ E + b_E)  # exact (erf) GELU, torch's default
    g = F.relu(x @ G + b_G)
    vals, idx = torch.topk(g, K, dim=1)
    if a.expert_product == "sparse":
        Ca = (vals.unsqueeze(2) * C[idx]).sum(1)  # [B,K,1] * [B,K,O]
    else:
        codes = torch.zeros(B, N).scatter(1, idx, vals)
        Ca = codes @ C
    return Ca * (z @ D) + b_out


def step():
    opt.zero_grad(set_to_none=True)
    out = forward(x)
    loss = ((out - y) ** 2 / y.norm(dim=1, keepdim=True)).mean()
    loss.backward()
    with torch.no_grad():
        C.grad -= (C.grad * C).sum(1, keepdim=True) * C  # keep c_n on the unit sphere
        opt.step()
        C.div_(C.norm(dim=1, keepdim=True))
    return loss.item()


times, walls = [], []
for s in range(a.steps + 1):
    t0 = time.process_time()  # CPU time of all threads: robust to other load on the machine
    w0 = time.perf_counter()  # wall time beside it: with several threads, what a user waits for
    step()
    if s > 0:
        times.append(time.process_time() - t0)
        walls.append(time.perf_counter() - w0)
times.sort()
walls.sort()
best, median = times[0], times[len(times) // 2]

# sgemm at the same thread count (what the machine's BLAS does on a plain square product).
n = 2048
m1, m2 = torch.randn(n, n), torch.randn(n, n)
torch.mm(m1, m2)
reps, t0 = 5, time.process_time()
for _ in range(reps):
    torch.mm(m1, m2)
sgemm = 2 * n ** 3 * reps / (time.process_time() - t0) / 1e9  # per CPU-second

forward_macs = d * H + H * d + d * N + K * d
backward_macs = 2 * H * d + d * H + K * d + K * d
flops = 2 * (forward_macs + backward_macs)
print(json.dumps({
    "impl": f"PyTorch {torch.__version__} ({a.expert_product} C^T a, {torch.get_num_threads()} thread(s))",
    "batch": B,
    "tokens_per_s": B / best,
    "tokens_per_s_median": B / median,
    "tokens_per_wall_s": B / walls[0],
    "gflops": flops * B / best / 1e9,
    "sgemm_gflops": sgemm,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
