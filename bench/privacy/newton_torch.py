#!/usr/bin/python3
"""PyTorch's side of bench/privacy/run.sh: the same privacy objective F on the same Fashion-MNIST
rows from the same weights (DIR/weights-{kind}.safetensors, written by newton.ts --prepare), timed
for (1) the gradient, (2) one Hessian-vector product by double backward, and (4) the Newton step
w- = w* - (H + sI)^-1 g by the conjugate gradient of src/engine/privacy/linalg.ts written in torch
(x = 0, r = p = g, stop at |r| <= tol |g|, the residual recomputed from x at the end), with the
shift s of DIR/shift-{kind}.json, in float64 and float32. Prints one JSON line per model and dtype;
where ours-{kind}-t{threads}-*.f64 exist in DIR it also prints how far apart the two sides' g and
w- are. `--summary FILE` prints run.sh's markdown table from the collected JSON lines instead.
  /usr/bin/python3 bench/privacy/newton_torch.py --out DIR --threads N [--rows 10000 --forget 100]
"""
import argparse
import ctypes
import gzip
import json
import math
import os
import struct
import time

import numpy as np
import torch

LAYOUT = {  # the order of model.init(...).weights in src/engine/classifiers: w's layout
    'logreg': ['head.weight', 'head.bias'],
    'mlp': ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias'],
}
THETA, LAMBDA, K = 0.75, 1e-2, 10


def read_idx(path):
    with gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb') as f:
        raw = f.read()
    dims = raw[3]
    shape = struct.unpack('>' + 'I' * dims, raw[4:4 + 4 * dims])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def read_safetensors(path):
    with open(path, 'rb') as f:
        raw = f.read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        assert info['dtype'] == 'F32', f'{path}: {name} is {info["dtype"]}, expected F32'
        a, b = info['data_offsets']
        out[name] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype='<f4').reshape(info['shape'])
    return out


def openblas_corename():
    # Debian's torch calls whatever libblas.so.3 is (OpenBLAS when libopenblas0-pthread is in);
    # it is already loaded in this process, so this asks the very library torch uses.
    try:
        lib = ctypes.CDLL('libblas.so.3')
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None


def objective(kind, sizes, X_f, X_r, y_r):
    def F(w):
        parts, o = [], 0
        for s in sizes:
            parts.append(w[o:o + math.prod(s)].view(s))
            o += math.prod(s)
        if kind == 'logreg':
            f_f, f_r = X_f @ parts[0] + parts[1], X_r @ parts[0] + parts[1]
        else:
            W1, b1, W2, b2 = parts
            f_f, f_r = torch.relu(X_f @ W1 + b1) @ W2 + b2, torch.relu(X_r @ W1 + b1) @ W2 + b2
        logp = torch.log_softmax(f_f, dim=1)
        loss_k = (math.log(K) + (logp.exp() * logp).sum(1)).mean()  # forward KL(p || uniform)
        loss_a = torch.nn.functional.cross_entropy(f_r, y_r)
        return THETA * loss_k + (1 - THETA) * loss_a + LAMBDA / 2 * (w * w).sum()
    return F


def conjugate_gradient(apply, b, tol, max_it):
    """linalg.ts conjugateGradient, in torch (same recurrences, same stopping rule)."""
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    b_norm = b.norm()
    rr = r.dot(r)
    it = 0
    target = tol * b_norm
    while it < max_it and rr.sqrt() > target:
        Ap = apply(p)
        pAp = p.dot(Ap)
        if not pAp > 0:
            raise RuntimeError(f'conjugate gradient met non-positive curvature (pAp = {pAp.item():.3e})')
        alpha = rr / pAp
        x += alpha * p
        r -= alpha * Ap
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p
        rr = rr_new
        it += 1
    return x, it, bool(rr.sqrt() <= target), ((apply(x) - b).norm() / b_norm).item()


def timed(fn):
    t = time.perf_counter()
    r = fn()
    return r, time.perf_counter() - t


def rel(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def bench(args):
    torch.set_num_threads(args.threads)
    train = [f for f in os.listdir(args.data) if f.startswith('train-')]
    images = read_idx(os.path.join(args.data, next(f for f in train if 'images' in f)))
    labels = read_idx(os.path.join(args.data, next(f for f in train if 'labels' in f)))
    n, nf = args.rows, args.forget
    X = images[:n].reshape(n, -1).astype(np.float64) / 255  # PIXEL_SCALE
    corename = openblas_corename()
    for kind in args.models.split(','):
        tensors = read_safetensors(os.path.join(args.out, f'weights-{kind}.safetensors'))
        sizes = [tensors[name].shape for name in LAYOUT[kind]]
        w_star = np.concatenate([tensors[name].astype(np.float64).ravel() for name in LAYOUT[kind]])
        shift = json.load(open(os.path.join(args.out, f'shift-{kind}.json')))['shift']
        for dtype in args.dtypes.split(','):
            dt = getattr(torch, dtype)
            X_t = torch.tensor(X, dtype=dt)
            F = objective(kind, sizes, X_t[:nf], X_t[nf:], torch.tensor(labels[nf:n].astype(np.int64)))
            w = torch.tensor(w_star, dtype=dt, requires_grad=True)
            grad = lambda: torch.autograd.grad(F(w), w)[0]
            grad()  # warm-up
            g, grad_s = timed(grad)
            # One HVP: the graph of g (create_graph) once, then one backward through it per product.
            g2, setup_s = timed(lambda: torch.autograd.grad(F(w), w, create_graph=True)[0])
            v = torch.sin(torch.arange(w.numel(), dtype=dt))
            hvp_s = sorted(timed(lambda: torch.autograd.grad(g2, w, v, retain_graph=True)[0])[1] for _ in range(3))[1]
            del g2

            def newton():
                g0 = torch.autograd.grad(F(w), w, create_graph=True)[0]
                apply = lambda u: torch.autograd.grad(g0, w, u, retain_graph=True)[0] + shift * u
                with torch.no_grad():
                    b = g0.detach()
                    x, it, conv, res = conjugate_gradient(apply, b, args.tolerance, args.max_iterations)
                    return w.detach() - x, it, conv, res
            (w_minus, it, conv, res), newton_s = timed(newton)
            g_np, wm_np = g.detach().double().numpy(), w_minus.double().numpy()
            tag = f'{kind}-t{args.threads}'
            g_np.tofile(os.path.join(args.out, f'torch-{tag}-{dtype}-grad.f64'))
            row = dict(side='torch', kind=kind, dtype=dtype, P=int(w.numel()), threads=args.threads,
                       torch=torch.__version__, corename=corename, rows=n, forget=nf, gradientS=grad_s,
                       hessianSetupS=setup_s, hvpS=hvp_s, denseS=None, shift=shift, newtonS=newton_s,
                       cgIterations=it, cgConverged=conv, cgRelativeResidual=res)
            ours_g = os.path.join(args.out, f'ours-{tag}-grad.f64')
            if os.path.exists(ours_g):
                ours_wm = np.fromfile(os.path.join(args.out, f'ours-{tag}-wminus.f64'))
                row['gradientRelDiff'] = rel(np.fromfile(ours_g), g_np)
                row['wMinusRelDiff'] = rel(ours_wm, wm_np)
                row['stepRelDiff'] = rel(ours_wm - w_star, wm_np - w_star)  # of the step w* - w-, not of w-
            print(json.dumps(row), flush=True)


def summary(path):
    rows = [json.loads(l) for l in open(path) if l.startswith('{')]
    ours = {(r['kind'], r['threads']): r for r in rows if r['side'] == 'ours'}
    torch_rows = {(r['kind'], r['threads'], r['dtype']): r for r in rows if r['side'] == 'torch'}
    print('| model | P | threads | measure | ours s | PyTorch f64 s | ours / f64 | PyTorch f32 s | ours / f32 |')
    print('|---|---:|---:|---|---:|---:|---:|---:|---:|')
    for (kind, t), o in ours.items():
        t64, t32 = torch_rows.get((kind, t, 'float64')), torch_rows.get((kind, t, 'float32'))
        for key, name in [('gradientS', 'gradient of F'), ('hvpS', 'one HVP'), ('newtonS', 'Newton step (g, H, CG)')]:
            cells = []
            for tr in (t64, t32):
                cells += [f"{tr[key]:.3f}", f"{o[key] / tr[key]:.2f}"] if tr else ['—', '—']
            print(f"| {kind} | {o['P']:,} | {t} | {name} | {o[key]:.3f} | {' | '.join(cells)} |")
        its = ', '.join(f"{tr['dtype']} {tr['cgIterations']}{'' if tr['cgConverged'] else ' (not converged)'}, rel. residual {tr['cgRelativeResidual']:.1e}" for tr in (t64, t32) if tr)
        print(f"| {kind} | | {t} | CG iterations | {o['cgIterations']}, rel. residual {o['cgRelativeResidual']:.1e} | {its} | | | |")
    print()
    for (kind, t, dt), tr in torch_rows.items():
        if 'wMinusRelDiff' in tr:
            print(f"{kind}, {t} thread(s), ours vs PyTorch {dt}: |g - g'|/|g'| {tr['gradientRelDiff']:.1e}, "
                  f"|w- - w-'|/|w-'| {tr['wMinusRelDiff']:.1e}, of the step w* - w-: {tr['stepRelDiff']:.1e}")
    cores = {(r['side'], r.get('corename')) for r in rows if r['side'] in ('ours', 'torch')}
    print('OpenBLAS core type: ' + '; '.join(f'{s} {c}' for s, c in sorted(cores, key=str)))
    print('Dense Hessian: not measured. P = 7,850 (logreg) and 79,510 (MLP) exceed the curvature\'s DENSE_MAX_SIZE (4,096), '
          'so ours offers no dense() for either; PyTorch\'s would be P HVPs (7,850 x the HVP time above).')


def main():
    a = argparse.ArgumentParser()
    a.add_argument('--out')
    a.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    a.add_argument('--rows', type=int, default=10000)
    a.add_argument('--forget', type=int, default=100)
    a.add_argument('--threads', type=int, default=1)
    a.add_argument('--models', default='logreg,mlp')
    a.add_argument('--dtypes', default='float64,float32')
    a.add_argument('--tolerance', type=float, default=1e-6)
    a.add_argument('--max-iterations', type=int, default=1000)
    a.add_argument('--hidden', help="ignored: the MLP's width is the weights file's (run.sh passes newton.ts's options to both)")
    a.add_argument('--summary')
    args = a.parse_args()
    if args.summary:
        summary(args.summary)
    else:
        bench(args)


if __name__ == '__main__':
    main()
