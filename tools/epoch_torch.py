#!/usr/bin/python3
"""One CIFAR-10 ResNet-20 epoch in PyTorch, the same work as
`collapse train --arch resnet20 --data cifar10 --epochs 1 --normalize` with
the default study, for tools/bench_epoch.sh (issue 10: a whole epoch end to end).

What `collapse train --epochs 1` does with the default study (src/study/:
opts.initial = 1, layers on, every epoch up to 14 analyzed, the last always)
and what this script does for each step:
  load      the official binary files data/cifar10/{data_batch_1..5,test_batch}.bin.gz
            (src/data/cifar.c), pixels / 255, then per-channel standardisation with
            the training set's mean and (population) standard deviation
            (--normalize, src/data/prepare.c)
  epoch 0   the study analyzes the initial model (BN in eval mode):
            two sweeps over the training set (the taps of every layer do not fit
            the 512 MB cache, so they are streamed: pass 1 class means, pass 2
            the within-class scatter against them; one sweep and the cached taps
            when they fit, e.g. on a small subset) for every tap: the input,
            the stem ReLU, the 9 BasicBlock outputs and the classifier input;
            then one sweep over the test set (the penultimate tap)
  train     one epoch: shuffled batches of 128, SGD lr 0.1 momentum 0.9
            weight decay 5e-4, cross-entropy, BN in train mode
  epoch 1   the same analysis again, keeping the penultimate training features
  save      features (penultimate, train) and a checkpoint, with --out
Per tap the NC1 of Papyan et al. 2020 (PNAS, "Prevalence of neural collapse",
eq. NC1 = tr(Sigma_W Sigma_B^+) / K), computed as in the streaming pass: with
M = [mu_c - mu_G] (D x K, mu_G the unweighted mean of the class means) and
P = (M^T M)^+ M^T, NC1 = (1 / N) sum_i |P (h_i - mu_{y_i})|^2, since
Sigma_B = M M^T / K. Plus the train and test loss/accuracy from the sweeps'
logits and the nearest-class-mean accuracy on the test set.
Not done here (collapse does them): the other NC metrics per tap (NC2-NC4,
CDNV, ...: a few K x D products, small next to the sweeps) and the PNG figures.
`--study pen` does the lighter variant: one training sweep with the
penultimate tap only.

Settings: the `hugetlb` configuration of tools/bench_torch.py
(GLIBC_TUNABLES=glibc.malloc.hugetlb=1, OPENBLAS_* unset, channels_last), in
a re-executed process; --config mmap|asis for the others.
--train-per-class / --test-per-class N take a random N per class (0 = all;
a smoke test, not the same images as collapse's subset).

Prints the time of each step and `wall_seconds X` (the whole run, loading
included, as the wall time of the collapse process).
"""
import argparse
import gzip
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch  # noqa: E402  (no torch import at module load)

K = 10


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(os.environ.get("COLLAPSE_DATA", "data"),
                                                   "cifar10"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--train-per-class", type=int, default=0)
    ap.add_argument("--test-per-class", type=int, default=0)
    ap.add_argument("--study", choices=("layers", "pen"), default="layers")
    ap.add_argument("--config", choices=bench_torch.CONFIGS, default="hugetlb")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="directory for the features and the checkpoint")
    a = ap.parse_args()
    if a.threads < 1 or a.batch < 1 or a.train_per_class < 0 or a.test_per_class < 0:
        ap.error("--threads and --batch must be >= 1, the per-class counts >= 0")
    return a


def reexec(a):
    if os.environ.get("CL_EPOCH_TORCH_REEXEC"):
        return
    env = bench_torch.config_env(a.config)
    env["CL_EPOCH_TORCH_REEXEC"] = "1"
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


def load_split(np, d, names, per_class, rng):
    recs = []
    for n in names:
        p = os.path.join(d, n + ".bin.gz")
        try:
            with gzip.open(p, "rb") as f:
                raw = f.read()
        except OSError as e:
            sys.exit(f"epoch_torch.py: {p}: {e}")
        if len(raw) % 3073:
            sys.exit(f"epoch_torch.py: {p}: not a whole number of 3073-byte records")
        recs.append(np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073))
    r = np.concatenate(recs)
    y = r[:, 0].astype(np.int64)
    if per_class:
        keep = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:per_class]
                               for c in range(K)])
        keep.sort()
        r, y = r[keep], y[keep]
    x = r[:, 1:].astype(np.float32).reshape(-1, 3, 32, 32) / np.float32(255.0)
    return x, y


def taps_of(model, mode):
    """Modules whose outputs are tapped (the input is tapped apart)."""
    import torch.nn as nn
    layers = list(model.children())
    pen = [m for m in layers if isinstance(m, nn.Flatten)]
    if mode == "pen":
        return pen
    return [m for m in layers[:-1] if isinstance(m, nn.ReLU) or type(m).__name__ == "Block"] + pen


class Sweeper:
    """Forward sweeps (BN eval) with hooks on the taps."""

    def __init__(self, torch, model, mode, batch, fmt):
        self.torch, self.model, self.batch, self.fmt = torch, model, batch, fmt
        self.mods = taps_of(model, mode)
        self.with_input = mode == "layers"
        self.cur, self.on = [], False
        # the hooks record only inside sweep(): during training they would keep
        # every step's activations (and graphs) alive
        for m in self.mods:
            m.register_forward_hook(lambda mod, _i, o: self.cur.append((mod, o)) if self.on else None)
        dims = []
        self.sweep(torch.zeros(1, 3, 32, 32), torch.zeros(1, dtype=torch.long),
                   lambda t, h, yb: dims.append(h.shape[1]))
        self.dims = dims

    def sweep(self, x, y, fn):
        """fn(tap_index, features [n, D], labels) for every tap; returns
        (loss sum, correct, logits count)."""
        torch = self.torch
        F = torch.nn.functional
        loss, correct = 0.0, 0
        self.model.eval()
        self.on = True
        with torch.no_grad():
            for s in range(0, len(x), self.batch):
                xb = x[s:s + self.batch].contiguous(memory_format=self.fmt)
                yb = y[s:s + self.batch]
                self.cur = []
                out = self.model(xb)
                active = [m for m in self.mods]
                hs = ([xb] if self.with_input else []) + [o for (m, o) in self.cur
                                                           if any(m is b for b in active)]
                for t, h in enumerate(hs):
                    fn(t, h.flatten(1), yb)
                loss += float(F.cross_entropy(out, yb, reduction="sum"))
                correct += int((out.argmax(1) == yb).sum())
        self.on, self.cur = False, []
        return loss / len(x), correct / len(x)


def analyze(torch, sw, xtr, ytr, xte, yte, keep):
    """One analyzed epoch; returns (metrics dict, penultimate train features)."""
    ntap = len(sw.mods) + (1 if sw.with_input else 0)
    sums, cache = [None] * ntap, [[] for _ in range(ntap)]
    cnt = torch.bincount(ytr, minlength=K).double()
    # as src/study/sweep.c: every tap cached when all fit 512 MB, else streamed
    # (a second sweep); the penultimate tap is always cached
    cache_all = 4.0 * len(xtr) * sum(sw.dims) <= 512 * 1048576.0

    def pass1(t, h, yb):
        if sums[t] is None:
            sums[t] = torch.zeros(K, h.shape[1], dtype=torch.float64)
        sums[t].index_add_(0, yb, h.double())
        if cache_all or t == ntap - 1:
            cache[t].append(h.clone())

    loss_tr, acc_tr = sw.sweep(xtr, ytr, pass1)
    mus, projs = [], []
    for t in range(ntap):
        mu = sums[t] / cnt.clamp(min=1)[:, None]
        M = (mu - mu.mean(0)).T  # D x K
        projs.append((torch.linalg.pinv(M.T @ M) @ M.T).float())
        mus.append(mu.float())
    nc1 = [0.0] * ntap

    def nc1_of(t, h, yb):
        z = (h - mus[t][yb]) @ projs[t].T
        nc1[t] += float((z * z).sum())

    if not cache_all:  # pass 2 over the training set for the streamed taps
        sw.sweep(xtr, ytr, lambda t, h, yb: nc1_of(t, h, yb) if t < ntap - 1 else None)
    for t in range(ntap):
        if cache[t]:
            nc1_of(t, torch.cat(cache[t]), ytr)
    pen = cache[ntap - 1]
    nc1 = [v / len(xtr) for v in nc1]
    # test split: the penultimate tap, nearest class mean with the training means
    ncc = [0]
    keep_mods, keep_in = sw.mods, sw.with_input
    sw.mods, sw.with_input = sw.mods[-1:], False

    def test_fn(t, h, yb):
        if t == 0:
            d = torch.cdist(h, mus[-1])
            ncc[0] += int((d.argmin(1) == yb).sum())

    loss_te, acc_te = sw.sweep(xte, yte, test_fn)
    sw.mods, sw.with_input = keep_mods, keep_in
    feats = torch.cat(pen) if keep else None
    return {"train_loss": loss_tr, "train_acc": acc_tr, "test_loss": loss_te, "test_acc": acc_te,
            "ncc_test": ncc[0] / max(1, len(xte)), "nc1": nc1}, feats


def train_epoch(torch, model, x, y, batch, gen, fmt):
    F = torch.nn.functional
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    model.train()
    perm = torch.randperm(len(x), generator=gen)
    tot, correct = 0.0, 0
    for s in range(0, len(x), batch):
        idx = perm[s:s + batch]
        xb = x[idx].contiguous(memory_format=fmt)
        yb = y[idx]
        opt.zero_grad(set_to_none=True)
        out = model(xb)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        opt.step()
        tot += float(loss) * len(idx)
        correct += int((out.argmax(1) == yb).sum())
    return tot / len(x), correct / len(x)


def main():
    a = parse()
    reexec(a)
    t_start = time.perf_counter()
    import numpy as np
    import torch
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    fmt = torch.channels_last if bench_torch.channels_last(a.config) else torch.contiguous_format
    print(f"torch {torch.__version__}, {a.threads} threads, config {a.config} "
          f"(GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '')}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}), study {a.study}, "
          f"load avg {os.getloadavg()[0]:.2f}", flush=True)
    rng = np.random.default_rng(a.seed)
    t0 = time.perf_counter()
    xtr, ytr = load_split(np, a.data, [f"data_batch_{i}" for i in range(1, 6)],
                          a.train_per_class, rng)
    xte, yte = load_split(np, a.data, ["test_batch"], a.test_per_class, rng)
    s1, s2 = np.zeros(3), np.zeros(3)  # per-channel sums in chunks (no 1 GB temporaries)
    for i in range(0, len(xtr), 5000):
        c = xtr[i:i + 5000].astype(np.float64)
        s1 += c.sum(axis=(0, 2, 3))
        s2 += (c * c).sum(axis=(0, 2, 3))
    cnt = float(len(xtr)) * 1024
    mean = s1 / cnt
    std = np.sqrt(np.maximum(s2 / cnt - mean ** 2, 0))
    std[std <= 0] = 1.0
    for arr in (xtr, xte):
        arr -= mean.astype(np.float32)[None, :, None, None]
        arr /= std.astype(np.float32)[None, :, None, None]
    xtr, ytr = torch.from_numpy(xtr), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(xte), torch.from_numpy(yte)
    t_load = time.perf_counter() - t0
    print(f"data: train {len(xtr)}, test {len(xte)}, load + normalize {t_load:.2f} s", flush=True)
    model = bench_torch.define_models()["resnet20"]().to(memory_format=fmt)
    sw = Sweeper(torch, model, a.study, a.batch, fmt)
    gen = torch.Generator().manual_seed(a.seed)
    times = {}
    for epoch in (0, 1):
        if epoch == 1:
            t0 = time.perf_counter()
            lo, ac = train_epoch(torch, model, xtr, ytr, a.batch, gen, fmt)
            times["train"] = time.perf_counter() - t0
            print(f"epoch 1/1 run {lo:.4f}/{100 * ac:.2f}%  {len(xtr) / times['train']:.0f} img/s  "
                  f"{times['train']:.1f} s", flush=True)
        t0 = time.perf_counter()
        r, feats = analyze(torch, sw, xtr, ytr, xte, yte, keep=epoch == 1)
        times[f"study{epoch}"] = time.perf_counter() - t0
        print(f"study epoch {epoch}: train {r['train_loss']:.4f}/{100 * r['train_acc']:.2f}%  "
              f"test {r['test_loss']:.4f}/{100 * r['test_acc']:.2f}%  ncc test "
              f"{100 * r['ncc_test']:.2f}%  NC1 penultimate {r['nc1'][-1]:.4g}"
              + (f" (input {r['nc1'][0]:.4g})" if len(r['nc1']) > 1 else "")
              + f"  {times[f'study{epoch}']:.1f} s", flush=True)
    if a.out:
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, "features_train.npy"), feats.numpy())
        np.save(os.path.join(a.out, "labels_train.npy"), ytr.numpy().astype(np.int32))
        torch.save(model.state_dict(), os.path.join(a.out, "checkpoint.pt"))
    wall = time.perf_counter() - t_start
    print(f"times: load {t_load:.1f} s, study epoch 0 {times['study0']:.1f} s, train "
          f"{times['train']:.1f} s, study epoch 1 {times['study1']:.1f} s")
    print(f"wall_seconds {wall:.2f}")


if __name__ == "__main__":
    main()
