"""bench/proxies_check.py: the zero-cost proxies as defined by SamsungLabs/zero-cost-nas
(foresight/pruners/measures) and Mellor et al. 2021 (NASWOT), written here from those
definitions in plain PyTorch, on the cells, weights and batch that bench/proxies_check.lua
wrote, next to nasrun's scores.

    /usr/bin/python3 bench/proxies_check.py [runs/proxies_check]

The net is an nn.Module interpreting the graph JSON (node i's modules named like nasrun's:
n<i>_conv, n<i>_bn, n<i>_linear), loaded from the weights file. Each measure works on a deep
copy in train mode, as the reference's get_prunable_copy does; synflow on a copy without
batch norm (the reference's bn=False), in float64.

Nodes that do not reach the output are skipped, as in nasrun's forward (a cell edge out of a
node whose other edges are all "none"). NB201's own cell code would still run such a node, so
NASWOT there also counts that node's ReLU codes; the other proxies are the same either way
(a dead layer has no gradient).
"""
import copy
import json
import math
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class GraphNet(nn.Module):
    def __init__(self, graph, in_shape, bn=True):
        super().__init__()
        self.nodes = graph["nodes"]
        self.use_bn = bn
        shapes = {0: list(in_shape)}
        for i, nd in enumerate(self.nodes, start=1):
            a = shapes[nd["inputs"][0]]
            op = nd["op"]
            if op == "conv":
                k, d = nd["k"], nd.get("dilation", 1)
                pad = d * (k - 1) // 2 if nd["padding"] == "same" else nd["padding"]
                m = nn.Conv2d(a[0], nd["out"], k, stride=nd["stride"], padding=pad, dilation=d,
                              groups=nd["groups"], bias=bool(nd["bias"]))
                setattr(self, f"n{i}_conv", m)
                h = (a[1] + 2 * pad - d * (k - 1) - 1) // nd["stride"] + 1
                w = (a[2] + 2 * pad - d * (k - 1) - 1) // nd["stride"] + 1
                shapes[i] = [nd["out"], h, w]
            elif op == "bn":
                setattr(self, f"n{i}_bn", nn.BatchNorm2d(a[0], eps=nd["eps"]) if len(a) == 3
                        else nn.BatchNorm1d(a[0], eps=nd["eps"]))
                shapes[i] = a
            elif op == "linear":
                setattr(self, f"n{i}_linear", nn.Linear(a[0], nd["out"], bias=bool(nd.get("bias", 1))))
                shapes[i] = [nd["out"]]
            elif op == "avgpool":
                k, s, p = nd["k"], nd["stride"], nd["padding"]
                shapes[i] = [a[0], (a[1] + 2 * p - k) // s + 1, (a[2] + 2 * p - k) // s + 1]
            elif op == "gap":
                shapes[i] = [a[0]]
            elif op in ("relu", "add", "zero", "identity"):
                shapes[i] = a
            else:
                raise ValueError("op " + op + " not in this checker")
        self.relus = []  # naswot hook: inputs of relu nodes
        n = len(self.nodes)
        self.live = {n}
        for i in range(n, 0, -1):
            if i in self.live:
                self.live.update(self.nodes[i - 1]["inputs"])

    def forward(self, x):
        v = {0: x}
        for i, nd in enumerate(self.nodes, start=1):
            if i not in self.live:
                continue
            a = v[nd["inputs"][0]]
            op = nd["op"]
            if op == "conv":
                r = getattr(self, f"n{i}_conv")(a)
            elif op == "bn":
                r = getattr(self, f"n{i}_bn")(a) if self.use_bn else a
            elif op == "linear":
                r = getattr(self, f"n{i}_linear")(a)
            elif op == "relu":
                for h in self.relus:
                    h(a)
                r = F.relu(a)
            elif op == "avgpool":
                r = F.avg_pool2d(a, nd["k"], nd["stride"], nd["padding"], count_include_pad=False)
            elif op == "gap":
                r = a.mean((2, 3))
            elif op == "add":
                r = a
                for j in nd["inputs"][1:]:
                    r = r + v[j]
            elif op == "zero":
                r = torch.zeros_like(a)
            elif op == "identity":
                r = a
            v[i] = r
        return v[len(self.nodes)]


def layers(net):
    """Conv/linear layers with a gradient (the reference scores a layer without one as 0)."""
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def graded(net):
    return [m for m in layers(net) if m.weight.grad is not None]


def synflow(net, x):
    net = copy.deepcopy(net)
    net.use_bn = False
    net.double()
    with torch.no_grad():
        for p in net.state_dict().values():
            p.abs_()
    net.zero_grad()
    out = net(torch.ones((1,) + tuple(x.shape[1:]), dtype=torch.float64))
    torch.sum(out).backward()
    return sum((m.weight * m.weight.grad).abs().sum().item() for m in graded(net))


def grad_norm(net, x, y):
    net = copy.deepcopy(net).train()
    F.cross_entropy(net(x), y).backward()
    return sum(m.weight.grad.norm().item() for m in graded(net))


def snip(net, x, y):
    net = copy.deepcopy(net).train()
    F.cross_entropy(net(x), y).backward()
    return sum((m.weight * m.weight.grad).abs().sum().item() for m in graded(net))


def fisher(net, x, y):
    net = copy.deepcopy(net).train()
    acts = []

    def keep(mod, inp, out):  # the layer's output a, and later dL/da
        out.retain_grad()
        acts.append(out)

    hooks = [m.register_forward_hook(keep) for m in layers(net)]
    F.cross_entropy(net(x), y).backward()
    for h in hooks:
        h.remove()
    s = 0.0
    for a in acts:
        g = a.grad
        if g is None:
            continue
        gnk = (a * g).sum(list(range(2, a.dim()))) if a.dim() > 2 else a * g
        s += gnk.pow(2).mean(0).mul(0.5).sum().item()
    return s


def jacob_cov(net, x):
    net = copy.deepcopy(net).train()
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    if x.grad is None:  # the output ignores the input (an all-"none" cell): the reference's NaN
        return float("nan")
    j = x.grad.reshape(x.shape[0], -1).numpy()
    corrs = np.corrcoef(j)
    v, _ = np.linalg.eig(corrs)
    k = 1e-5
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


def naswot(net, x):
    net = copy.deepcopy(net).train()
    n = x.shape[0]
    K = np.zeros((n, n))

    def hook(a):
        nonlocal K
        c = (a.reshape(n, -1) > 0).double()
        K = K + (c @ c.t()).numpy() + ((1 - c) @ (1 - c).t()).numpy()

    net.relus = [hook]
    with torch.no_grad():
        net(x)
    return float(np.linalg.slogdet(K)[1])


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/proxies_check"
    torch.set_num_threads(1)
    with open(root + "/cells.json") as f:
        spec = json.load(f)
    n = spec["n"]
    k = np.arange(n * 784, dtype=np.float64)
    x = torch.tensor(np.sin(0.37 * k + 0.3), dtype=torch.float32).reshape(n, 1, 28, 28)
    y = torch.arange(n) % 10
    names = ["synflow", "naswot", "grad_norm", "snip", "fisher", "jacob_cov"]
    worst = {nm: 0.0 for nm in names}
    for c in spec["cells"]:
        net = GraphNet(c["graph"], (1, 28, 28))
        sd = torch.load(c["weights"])
        net.load_state_dict(sd)
        ref = {"synflow": synflow(net, x), "naswot": naswot(net, x), "grad_norm": grad_norm(net, x, y),
               "snip": snip(net, x, y), "fisher": fisher(net, x, y), "jacob_cov": jacob_cov(net, x)}
        print(c["arch"])
        for nm in names:
            ours = c["scores"][nm]
            if isinstance(ours, str) or not math.isfinite(ref[nm]):
                print(f"  {nm:10s} nasrun {ours}  reference {ref[nm]}")
                continue
            rel = abs(ours - ref[nm]) / max(1e-12, abs(ref[nm]))
            worst[nm] = max(worst[nm], rel)
            print(f"  {nm:10s} nasrun {ours:.10g}  reference {ref[nm]:.10g}  rel.diff {rel:.2e}")
    print("largest relative difference: " + ", ".join(f"{nm} {worst[nm]:.1e}" for nm in names))


if __name__ == "__main__":
    main()
