"""bench/graph_build.py: the Python peer of graph_build.lua / graph_build.c.

    /usr/bin/python3 bench/graph_build.py reps=5 threads=2

The same 20-op residual CNN (input 1x28x28). One "graph" in PyTorch is:
  build: construct the nn.Module (8 submodules: 5 Conv2d, 5 BatchNorm2d,
         1 Linear; relu/maxpool/add/gap are functional in forward);
  shape inference: a forward pass on an input of shape (1,1,28,28);
  param count: sum(p.numel() for p in model.parameters());
  MAC count: forward hooks on Conv2d and Linear compute MACs from the output
         shape (Cout*H*W*Cin/groups*k*k; in*out for Linear), as nasrun counts.
Two variants, both reported:
  graph_py_meta: modules built with device="meta" and the forward run on a
         meta tensor (no memory, no weight init, no arithmetic: the cheapest
         way to get shapes from PyTorch);
  graph_py_cpu:  ordinary CPU modules (weights initialised) and a real
         forward of a zero tensor under torch.no_grad().
The counts are checked against nasrun's (35,834 params, 5,532,544 MACs).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import args, info, median, now, result


class Net(nn.Module):
    def __init__(self, device=None):
        super().__init__()
        d = {"device": device}
        self.c1 = nn.Conv2d(1, 16, 3, padding=1, **d)
        self.b1 = nn.BatchNorm2d(16, **d)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1, **d)
        self.b2 = nn.BatchNorm2d(16, **d)
        self.c3 = nn.Conv2d(16, 32, 3, padding=1, **d)
        self.b3 = nn.BatchNorm2d(32, **d)
        self.c4 = nn.Conv2d(32, 32, 3, padding=1, **d)
        self.b4 = nn.BatchNorm2d(32, **d)
        self.c5 = nn.Conv2d(32, 64, 3, padding=1, **d)
        self.b5 = nn.BatchNorm2d(64, **d)
        self.fc = nn.Linear(64, 10, **d)

    def forward(self, x):
        x = F.relu(self.b1(self.c1(x)))
        x = F.relu(self.b2(self.c2(x)))
        x = F.max_pool2d(x, 2)
        a = F.relu(self.b3(self.c3(x)))
        b = self.b4(self.c4(a))
        x = F.relu(a + b)
        x = F.max_pool2d(x, 2)
        x = F.relu(self.b5(self.c5(x)))
        x = x.mean((2, 3))
        return self.fc(x)


def count(device):
    """One graph: build + shape inference + params + MACs."""
    model = Net(device)
    macs = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            macs[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * k
        else:
            macs[0] += m.in_features * m.out_features

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.register_forward_hook(hook)
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if device == "meta":
        model(torch.empty(1, 1, 28, 28, device="meta"))
    else:
        with torch.no_grad():
            model(torch.zeros(1, 1, 28, 28))
    return params, macs[0]


def rate(device, reps, window):
    n = 50
    while True:
        t0 = now()
        for _ in range(n):
            count(device)
        if now() - t0 > 0.5 * window:
            break
        n *= 2
    rates = []
    for _ in range(reps):
        t0 = now()
        for _ in range(n):
            count(device)
        rates.append(n / (now() - t0))
    return median(rates)


def main():
    o = args(reps=5, threads=2, window=1.0)
    torch.set_num_threads(o["threads"])
    for dev in ("meta", "cpu"):
        p, m = count(dev)
        info(f"graph_py_{dev}_params", p)
        info(f"graph_py_{dev}_macs", m)
        assert (p, m) == (35834, 5532544), (p, m)
    result("graph_py_meta", rate("meta", o["reps"], o["window"]))
    result("graph_py_cpu", rate("cpu", o["reps"], o["window"]))


if __name__ == "__main__":
    main()
