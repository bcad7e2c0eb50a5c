#!/usr/bin/python3
"""Reference throughput of PyTorch (Debian's python3-torch 1.13) on this CPU.

Measures img/s with a fixed thread count (default 2) for the models that
`make bench` times in C (build/bench/bench_2_layers):
  mlp_train       MLP 784-1024-1024-1024-10 (ReLU, biases), train step, batch 128
  resnet20_train  CIFAR ResNet-20 (16/32/64, 3 BasicBlocks per stage), batch 128
  resnet20_eval   same, no_grad, BN eval, batch 256
  resnet18_train  CIFAR ResNet-18 as `collapse --arch resnet18` (3x3 stem conv 64,
                  no max-pool, BasicBlocks 2-2-2-2 of widths 64/128/256/512), batch 128
  resnet18_eval   same, batch 128
BasicBlocks: conv3x3-BN-ReLU-conv3x3-BN + shortcut, ReLU; the shortcut is a
1x1 conv + BN when the shape changes (src/model/builders.c, CL_LAYER_BLOCK).
A train step is forward + cross-entropy + backward + SGD(momentum 0.9, wd 5e-4)
step with zero_grad, on random data (content does not matter for speed). Each
measurement: warm-up iterations, then the best (highest img/s) of --repeats
timed windows of --iters iterations (ResNet-18: a quarter of --iters, at least 1).

Configurations. Every one runs in a fresh child process (the environment must
be set before torch and its libraries load):
  hugetlb  GLIBC_TUNABLES=glibc.malloc.hugetlb=1, OPENBLAS_CORETYPE and every
           other OPENBLAS_* variable unset, ResNets in channels_last
           (the "best settings" of issue 10)
  mmap     GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:
           glibc.malloc.trim_threshold=4294967296 (keeps freed activations
           mapped), OPENBLAS_CORETYPE=SkylakeX if the CPU has AVX-512,
           ResNets in channels_last
  asis     the environment untouched, NCHW (only with --configs asis,...)
The best configuration per workload is reported, with its name.

Peak memory: max RSS (getrusage ru_maxrss) of a fresh process that builds
ResNet-18 and runs --rss-steps train steps at batch 128, in the configuration
that won resnet18_train (all configurations are measured and printed).
This counts everything the process maps (torch's libraries too), like the C
side's `bench_2_layers --only resnet18 --rss`.

Output: a table; with --kv FILE also `key value` lines (torch_<workload>,
torch_<workload>_config, torch_rss_mib, ...), with --json FILE the same as
a JSON object. --quick: a smoke run (batch 16, 1 iteration), not a measurement.

Usage: tools/bench_torch.py [--threads 2] [--iters 20] [--repeats 3]
         [--only mlp|resnet20|resnet18] [--configs hugetlb,mmap]
         [--rss-steps 3] [--no-rss | --rss-only] [--kv FILE] [--json FILE] [--quick]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

CONFIGS = ("hugetlb", "mmap", "asis")
WORKLOADS = ("mlp_train", "resnet20_train", "resnet20_eval", "resnet18_train", "resnet18_eval")
MMAP_TUNABLES = "glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=4294967296"


def has_avx512():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx512f" in f.read()
    except OSError:
        return False


def config_env(name, base=None):
    """The environment of configuration `name` (a copy of base / os.environ)."""
    env = dict(os.environ if base is None else base)
    if name == "hugetlb":
        for k in [k for k in env if k.startswith("OPENBLAS_")]:
            del env[k]
        env["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=1"
    elif name == "mmap":
        env["GLIBC_TUNABLES"] = MMAP_TUNABLES
        if has_avx512():
            env["OPENBLAS_CORETYPE"] = "SkylakeX"
    return env


def channels_last(name):
    return name != "asis"


def define_models():
    """Model constructors (torch is imported here, never at module load)."""
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False),
                                           nn.BatchNorm2d(cout))

        def forward(self, x):
            y = F.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return F.relu(y + (x if self.short is None else self.short(x)))

    def resnet(blocks, widths, k=10):
        """CIFAR ResNet as cl_build_resnet: 3x3 stem, no max-pool, stride 2 at the
        first block of every stage after the first, GAP, fc."""
        layers = [nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                  nn.ReLU()]
        cin = widths[0]
        for s, w in enumerate(widths):
            for b in range(blocks[s]):
                layers.append(Block(cin, w, 2 if (s > 0 and b == 0) else 1))
                cin = w
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, k)]
        return nn.Sequential(*layers)

    def mlp(widths=(784, 1024, 1024, 1024, 10)):
        layers = []
        for i in range(len(widths) - 1):
            layers.append(nn.Linear(widths[i], widths[i + 1]))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    return {
        "resnet20": lambda: resnet((3, 3, 3), (16, 32, 64)),
        "resnet18": lambda: resnet((2, 2, 2, 2), (64, 128, 256, 512)),
        "mlp": mlp,
    }


def timed(fn, batch, iters, repeats, warmup):
    for _ in range(warmup):
        fn()
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(iters):
            fn()
        best = max(best, batch * iters / (time.perf_counter() - t0))
    return best


def train_fn(torch, model, x, y):
    import torch.nn.functional as F
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    model.train()

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return step


def eval_fn(torch, model, x):
    model.eval()

    def run():
        with torch.no_grad():
            model(x)
    return run


def child_measure(a):
    """Runs inside a configuration's process: prints one JSON line."""
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    mk = define_models()
    fmt = torch.channels_last if channels_last(a.child) else torch.contiguous_format
    q = a.quick
    res = {}
    warm = 1 if q else 5
    if a.only in (None, "mlp"):
        b = 16 if q else 128
        m = mk["mlp"]()
        step = train_fn(torch, m, torch.randn(b, 784), torch.randint(0, 10, (b,)))
        res["mlp_train"] = timed(step, b, 1 if q else a.iters * 5, 1 if q else a.repeats, warm)
    for arch, tb, eb, it in (("resnet20", 128, 256, a.iters),
                             ("resnet18", 128, 128, max(1, a.iters // 4))):
        if a.only not in (None, arch):
            continue
        if q:
            tb, eb, it = 16, 16, 1
        m = mk[arch]().to(memory_format=fmt)
        x = torch.randn(tb, 3, 32, 32).to(memory_format=fmt)
        y = torch.randint(0, 10, (tb,))
        w = 1 if q or arch == "resnet18" else warm
        rep = 1 if q else a.repeats
        res[arch + "_train"] = timed(train_fn(torch, m, x, y), tb, it, rep, w)
        xe = torch.randn(eb, 3, 32, 32).to(memory_format=fmt)
        res[arch + "_eval"] = timed(eval_fn(torch, m, xe), eb, it, rep, w)
    print("@@ " + json.dumps(res), flush=True)


def child_rss(a):
    """Runs inside a fresh process: ResNet-18 train steps, then ru_maxrss."""
    import resource
    import torch
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    fmt = torch.channels_last if channels_last(a.child) else torch.contiguous_format
    b = 16 if a.quick else 128
    m = define_models()["resnet18"]().to(memory_format=fmt)
    x = torch.randn(b, 3, 32, 32).to(memory_format=fmt)
    step = train_fn(torch, m, x, torch.randint(0, 10, (b,)))
    for _ in range(1 if a.quick else a.rss_steps):
        step()
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("@@ " + json.dumps({"rss_mib": kib / 1024.0, "batch": b}), flush=True)


def run_child(a, cfg, what):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", cfg, "--threads", str(a.threads),
           "--iters", str(a.iters), "--repeats", str(a.repeats), "--rss-steps", str(a.rss_steps)]
    if a.only:
        cmd += ["--only", a.only]
    if a.quick:
        cmd.append("--quick")
    if what == "rss":
        cmd.append("--child-rss")
    p = subprocess.run(cmd, env=config_env(cfg), stdout=subprocess.PIPE, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("@@ "):
            return json.loads(line[3:])
    sys.exit(f"bench_torch.py: configuration {cfg} ({what}) failed (exit {p.returncode})")


def parse():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", choices=("mlp", "resnet20", "resnet18"), help="one model only")
    ap.add_argument("--configs", default="hugetlb,mmap",
                    help="comma-separated configurations (hugetlb, mmap, asis)")
    ap.add_argument("--rss-steps", type=int, default=3)
    ap.add_argument("--no-rss", action="store_true", help="skip the ResNet-18 max-RSS process")
    ap.add_argument("--rss-only", action="store_true",
                    help="only the max-RSS process, in the first of --configs")
    ap.add_argument("--kv", metavar="FILE", help="write `key value` lines")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument("--quick", action="store_true", help="smoke run (batch 16), not a measurement")
    ap.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    ap.add_argument("--child-rss", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    cfgs = [c for c in a.configs.split(",") if c]
    bad = [c for c in cfgs if c not in CONFIGS]
    if bad or not cfgs:
        ap.error(f"--configs: unknown configuration {','.join(bad) or '(none)'} "
                 f"(known: {', '.join(CONFIGS)})")
    if a.threads < 1 or a.iters < 1 or a.repeats < 1 or a.rss_steps < 1:
        ap.error("--threads, --iters, --repeats and --rss-steps must be >= 1")
    a.cfgs = cfgs
    return a


def main():
    a = parse()
    if a.child:
        (child_rss if a.child_rss else child_measure)(a)
        return
    import torch  # only for the version in the header (children do the work)
    load0 = os.getloadavg()[0]
    print(f"torch {torch.__version__}, {a.threads} threads, "
          f"{platform.processor() or platform.machine()}, load avg {load0:.2f}, "
          f"configurations {','.join(a.cfgs)}{', QUICK RUN (not a measurement)' if a.quick else ''}",
          flush=True)
    per = {} if a.rss_only else {c: run_child(a, c, "measure") for c in a.cfgs}
    names = [w for w in WORKLOADS if any(w in per.get(c, {}) for c in a.cfgs)]
    if names:
        print(f"{'workload':<16}" + "".join(f"{c:>10}" for c in a.cfgs) + f"{'best':>10}  config")
    out = {"torch_version": torch.__version__, "threads": a.threads, "quick": int(a.quick),
           "load_before": load0}
    for w in names:
        best = max(a.cfgs, key=lambda c: per[c].get(w, 0.0))
        print(f"{w:<16}" + "".join(f"{per[c].get(w, 0.0):>10.0f}" for c in a.cfgs)
              + f"{per[best][w]:>10.0f}  {best}", flush=True)
        out["torch_" + w] = round(per[best][w], 1)
        out["torch_" + w + "_config"] = best
        for c in a.cfgs:
            out[f"torch_{w}_{c}"] = round(per[c].get(w, 0.0), 1)
    if a.rss_only or (not a.no_rss and a.only in (None, "resnet18")):
        if a.rss_only:
            a.cfgs = a.cfgs[:1]
        rss = {c: run_child(a, c, "rss")["rss_mib"] for c in a.cfgs}
        pick = out.get("torch_resnet18_train_config", a.cfgs[0])
        print("max RSS, ResNet-18 train step, batch %d (MiB): " % (16 if a.quick else 128)
              + ", ".join(f"{c} {rss[c]:.0f}" for c in a.cfgs) + f"; reported: {pick} "
              f"{rss[pick]:.0f}", flush=True)
        out["torch_rss_mib"] = round(rss[pick], 1)
        out["torch_rss_config"] = pick
        for c in a.cfgs:
            out["torch_rss_mib_" + c] = round(rss[c], 1)
    out["load_after"] = os.getloadavg()[0]
    print(f"load avg after: {out['load_after']:.2f}")
    if a.kv:
        with open(a.kv, "w") as f:
            for k, v in out.items():
                f.write(f"{k} {v}\n")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
