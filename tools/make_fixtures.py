#!/usr/bin/python3
"""Writes the PyTorch parity fixtures used by tests/test_parity.c.

Needs Debian's python3-torch (1.13) and numpy; the test suite itself does
not. Deterministic: fixed seeds, reference math in float64 on float32 inputs,
so rerunning reproduces the same files. Output: tests/fixtures/torch/<case>/
*.npy (float32 unless noted) and tests/fixtures/torch/README.txt.

Parameter layout ("our flat order", include/collapse/nn.h):
  LINEAR     W [OUT, IN], then b [OUT] if bias
  CONV2D     W [OC, C, k, k], then b [OC] if bias
  BATCHNORM  gamma [C], beta [C];   bufs: running_mean [C], running_var [C]
  BLOCK      sub-layers in order conv1, bn1, conv2, bn2, then (projection
             shortcut only) sc_conv, sc_bn; convs without bias
  model      layers in order, each at its param_off / buf_off

Layer case files (dy is a random upstream gradient; dx = d(sum(y*dy))/dx):
  x, params, bufs (before), y, dy, dx, dparams, bufs_after (train mode BN)
Loss case files: logits [N,K], labels [N] (int32), loss [1] (mean over the
  batch), dlogits [N,K] (gradient of the mean)
Optimizer cases (optim_sgd, optim_sgd_nesterov, optim_adam, optim_adamw):
  params0 [50] = body [0,40) (group 0, wd 5e-4) + classifier [40,50)
  (group 1, wd 1e-2), g0..g2 gradients, lr [3] per step, params1..params3
  after each torch.optim step (two param groups).
Tiny ResNet SGD cases (sgd, sgd_nesterov): params0, bufs0, x0..x2, y0..y2
  (int32), logits0 (train-mode forward at step 0), loss [3] (at each step),
  params1..params3 and bufs1..bufs3 after each step.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "torch")
torch.set_default_dtype(torch.float64)
readme = []


def f32(t):
    """float32 copy (as stored), returned as float64 tensor for the reference math."""
    return torch.tensor(np.asarray(t.detach().cpu().numpy(), dtype=np.float32), dtype=torch.float64)


def save(case, name, arr, dtype=np.float32):
    d = os.path.join(ROOT, case)
    os.makedirs(d, exist_ok=True)
    a = np.ascontiguousarray(np.asarray(arr.detach().numpy() if torch.is_tensor(arr) else arr,
                                        dtype=dtype))
    np.save(os.path.join(d, name + ".npy"), a)
    readme.append(f"{case}/{name}.npy {a.dtype} {list(a.shape)}")


def round_module(m):
    """Make every parameter/buffer exactly representable in float32."""
    with torch.no_grad():
        for t in list(m.parameters()) + list(m.buffers()):
            if t.is_floating_point():
                t.copy_(f32(t))


def randomize_bn(bn, g):
    with torch.no_grad():
        bn.weight.copy_(f32(1 + 0.3 * torch.randn(bn.num_features, generator=g)))
        bn.bias.copy_(f32(0.2 * torch.randn(bn.num_features, generator=g)))
        bn.running_mean.copy_(f32(0.5 * torch.randn(bn.num_features, generator=g)))
        bn.running_var.copy_(f32(0.5 + torch.rand(bn.num_features, generator=g)))


# ---- our flat layout ----

def layer_params(m):
    if isinstance(m, (nn.Linear, nn.Conv2d)):
        return [m.weight] + ([m.bias] if m.bias is not None else [])
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return [m.weight, m.bias]
    if isinstance(m, Block):
        out = []
        for s in m.subs():
            out += layer_params(s)
        return out
    return []


def layer_bufs(m):
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return [m.running_mean, m.running_var]
    if isinstance(m, Block):
        out = []
        for s in m.subs():
            out += layer_bufs(s)
        return out
    return []


def flat(ts):
    if not ts:
        return torch.zeros(0)
    return torch.cat([t.detach().reshape(-1) for t in ts])


def flat_grads(ts):
    return torch.cat([t.grad.detach().reshape(-1) for t in ts])


class Block(nn.Module):
    """BasicBlock as CL_LAYER_BLOCK: conv3x3(stride)-BN-ReLU-conv3x3-BN + shortcut, ReLU."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.proj = stride != 1 or cin != cout
        if self.proj:
            self.sc_conv = nn.Conv2d(cin, cout, 1, stride, 0, bias=False)
            self.sc_bn = nn.BatchNorm2d(cout)

    def subs(self):
        s = [self.conv1, self.bn1, self.conv2, self.bn2]
        return s + ([self.sc_conv, self.sc_bn] if self.proj else [])

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        sc = self.sc_bn(self.sc_conv(x)) if self.proj else x
        return F.relu(y + sc)


def layer_case(case, module, x_shape, g, train=True):
    """Forward/backward of one module on a random input; all in float64."""
    round_module(module)
    module.train(train)
    params = layer_params(module)
    bufs = layer_bufs(module)
    x = f32(torch.randn(*x_shape, generator=g)).requires_grad_(True)
    p0, b0 = flat(params), flat(bufs)
    y = module(x)
    dy = f32(torch.randn(*y.shape, generator=g))
    for p in params:
        p.grad = None
    (y * dy).sum().backward()
    save(case, "x", x)
    save(case, "params", p0)
    save(case, "bufs", b0)
    save(case, "y", y)
    save(case, "dy", dy)
    save(case, "dx", x.grad)
    save(case, "dparams", flat_grads(params) if params else torch.zeros(0))
    save(case, "bufs_after", flat(bufs))


def loss_value(kind, param, z, y):
    if kind == "ce":
        return F.cross_entropy(z, y)
    if kind == "ls":
        return F.cross_entropy(z, y, label_smoothing=param)
    if kind == "mse":  # sum over classes, mean over the batch, target param*one_hot
        return F.mse_loss(z, param * F.one_hot(y, z.shape[1]).to(z.dtype), reduction="sum") / z.shape[0]
    if kind == "focal":
        lp = F.log_softmax(z, 1).gather(1, y[:, None])[:, 0]
        return (-(1 - lp.exp()) ** param * lp).mean()
    raise ValueError(kind)


def loss_case(case, kind, param, g):
    n, k = 6, 5
    z = f32(2 * torch.randn(n, k, generator=g)).requires_grad_(True)
    y = torch.randint(0, k, (n,), generator=g)
    loss = loss_value(kind, param, z, y)
    loss.backward()
    save(case, "logits", z)
    save(case, "labels", y, np.int32)
    save(case, "loss", loss.reshape(1))
    save(case, "dlogits", z.grad)


def tiny_resnet(g):
    """Spec (tests/test_parity.c builds the same with cl_layer_spec):
    conv3x3(3->4, pad 1, no bias) BN ReLU, block(4->4, s1), block(4->8, s2),
    GAP, flatten, linear(8->3, bias, classifier group)."""
    m = nn.Sequential(nn.Conv2d(3, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                      Block(4, 4, 1), Block(4, 8, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                      nn.Linear(8, 3))
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            randomize_bn(mod, g)
            with torch.no_grad():  # start from PyTorch's fresh running stats
                mod.running_mean.zero_()
                mod.running_var.fill_(1)
    round_module(m)
    return m


def model_params(m):
    out = []
    for mod in m:
        out += layer_params(mod)
    return out


def model_bufs(m):
    out = []
    for mod in m:
        out += layer_bufs(mod)
    return out


def sgd_case(case, nesterov, g):
    m = tiny_resnet(g)
    m.train()
    params, bufs = model_params(m), model_bufs(m)
    assert len(params) == len(list(m.parameters()))
    save(case, "params0", flat(params))
    save(case, "bufs0", flat(bufs))
    opt = torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4,
                          nesterov=nesterov)
    losses = []
    for s in range(3):
        x = f32(torch.randn(4, 3, 8, 8, generator=g))
        y = torch.randint(0, 3, (4,), generator=g)
        save(case, f"x{s}", x)
        save(case, f"y{s}", y, np.int32)
        opt.zero_grad()
        z = m(x)
        if s == 0:
            save(case, "logits0", z)
        loss = F.cross_entropy(z, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        save(case, f"params{s + 1}", flat(params))
        save(case, f"bufs{s + 1}", flat(bufs))
    save(case, "loss", np.array(losses))


def optim_case(case, kind, g, **kw):
    p = f32(torch.randn(50, generator=g))
    body, head = p[:40].clone().requires_grad_(True), p[40:].clone().requires_grad_(True)
    groups = [{"params": [body], "weight_decay": 5e-4}, {"params": [head], "weight_decay": 1e-2}]
    opt = getattr(torch.optim, kind)(groups, lr=0.1, **kw)
    lrs = [0.1, 0.05, 0.02]
    save(case, "params0", p)
    save(case, "lr", np.array(lrs))
    for s, lr in enumerate(lrs):
        grad = f32(torch.randn(50, generator=g))
        save(case, f"g{s}", grad)
        body.grad, head.grad = grad[:40].clone(), grad[40:].clone()
        for grp in opt.param_groups:
            grp["lr"] = lr
        opt.step()
        save(case, f"params{s + 1}", torch.cat([body.detach(), head.detach()]))


def main():
    torch.manual_seed(1234)  # module default inits
    g = torch.Generator().manual_seed(4321)
    layer_case("conv2d_bias", nn.Conv2d(3, 4, 3, 2, 1, bias=True), (2, 3, 7, 7), g)
    layer_case("conv2d_nobias", nn.Conv2d(3, 4, 3, 2, 1, bias=False), (2, 3, 7, 7), g)
    layer_case("linear", nn.Linear(5, 4), (3, 5), g)
    for case, train in (("bn2d_train", True), ("bn2d_eval", False)):
        bn = nn.BatchNorm2d(3)
        randomize_bn(bn, g)
        layer_case(case, bn, (4, 3, 5, 5), g, train)
    bn = nn.BatchNorm1d(5)
    randomize_bn(bn, g)
    layer_case("bn1d_train", bn, (6, 5), g)
    bn = nn.BatchNorm1d(5)
    randomize_bn(bn, g)
    layer_case("bn1d_eval", bn, (6, 5), g, False)
    layer_case("maxpool_k3s2p1", nn.MaxPool2d(3, 2, 1), (2, 3, 7, 7), g)
    layer_case("maxpool_k2s2", nn.MaxPool2d(2, 2), (2, 3, 6, 6), g)
    layer_case("avgpool_k3s2p1", nn.AvgPool2d(3, 2, 1, count_include_pad=True), (2, 3, 7, 7), g)
    layer_case("avgpool_k2s2", nn.AvgPool2d(2, 2), (2, 3, 6, 6), g)
    for case, (cin, cout, stride) in (("block_identity", (4, 4, 1)), ("block_proj", (4, 8, 2))):
        b = Block(cin, cout, stride)
        for s in b.subs():
            if isinstance(s, nn.BatchNorm2d):
                randomize_bn(s, g)
        layer_case(case, b, (2, cin, 6, 6), g)
    loss_case("loss_ce", "ce", 0, g)
    loss_case("loss_mse", "mse", 2.0, g)
    loss_case("loss_ls", "ls", 0.1, g)
    loss_case("loss_focal", "focal", 2.0, g)
    optim_case("optim_sgd", "SGD", g, momentum=0.9)
    optim_case("optim_sgd_nesterov", "SGD", g, momentum=0.9, nesterov=True)
    optim_case("optim_adam", "Adam", g)
    optim_case("optim_adamw", "AdamW", g)
    sgd_case("sgd", False, g)
    sgd_case("sgd_nesterov", True, g)
    # last, so the cases above keep their random streams: a block wide
    # enough for the channel-blocked path (16 channels, 8x8 planes)
    b = Block(16, 16, 1)
    for s in b.subs():
        if isinstance(s, nn.BatchNorm2d):
            randomize_bn(s, g)
    layer_case("block_identity16", b, (4, 16, 8, 8), g)
    with open(os.path.join(ROOT, "README.txt"), "w") as f:
        f.write("Generated by tools/make_fixtures.py (torch %s, numpy %s). Do not edit.\n"
                "See the script's docstring for the layouts.\n\n" % (torch.__version__, np.__version__))
        f.write("\n".join(readme) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
