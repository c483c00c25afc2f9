"""bench/module_build.py: the Python peer of module_build.lua.

    /usr/bin/python3 bench/module_build.py reps=5 threads=2

One build = torch.manual_seed(1) (nas.model seeds too) + constructing the
nn.Module on the CPU with PyTorch's default weight init (the same
reset_parameters as libtorch's C++ modules) + dropping it. Nets: "cnn" (the
49,970-param CNN of train_steps.py, as nn.Sequential) and "res20" (the 20-op
residual CNN of graph_build.py, a custom nn.Module). Rate = modules / wall
time of a ~1 s window, median of `reps` windows.
"""
import torch

from common import args, info, median, now, result
from graph_build import Net as Res20
from train_steps import build


def rate(make, reps, window):
    def one():
        torch.manual_seed(1)
        return make()

    n = 20
    while True:
        t0 = now()
        for _ in range(n):
            one()
        if now() - t0 > 0.5 * window:
            break
        n *= 2
    rates = []
    for _ in range(reps):
        t0 = now()
        for _ in range(n):
            one()
        rates.append(n / (now() - t0))
    return median(rates)


def main():
    o = args(reps=5, threads=2, window=1.0)
    torch.set_num_threads(o["threads"])
    for name, make in (("cnn", lambda: build("cnn")), ("res20", lambda: Res20())):
        info(f"module_{name}_py_params", sum(p.numel() for p in make().parameters()))
        result(f"module_{name}_py", rate(make, o["reps"], o["window"]))


if __name__ == "__main__":
    main()
