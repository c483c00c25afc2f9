"""bench/train_steps.py: the Python peer of train_steps.lua.

    /usr/bin/python3 bench/train_steps.py model=mlp steps=2000 reps=3 threads=2
    /usr/bin/python3 bench/train_steps.py model=cnn fmt=nchw steps=60 reps=3 threads=2
    /usr/bin/python3 bench/train_steps.py model=cnn fmt=cl   steps=60 reps=3 threads=2

A straightforward PyTorch loop: the whole training set pre-loaded as one float
tensor (normalised like nasrun's loader); per epoch a torch.randperm; per step
an index slice of it gives the batch (x = X[idx], y = Y[idx]), forward,
F.cross_entropy, opt.zero_grad(set_to_none=True), backward, opt.step(), and
loss.item() (nasrun reads the loss every step too, for its NaN check).
SGD lr 0.05 momentum 0.9. fmt=cl: model and each batch
.to(memory_format=torch.channels_last). Rate = steps / wall time of a window of
`steps` steps, after warm-up steps; median of `reps` windows.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import args, fashion_mnist_train, info, median, now, result


def build(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    return nn.Sequential(
        nn.Conv2d(1, 24, 3, padding=1), nn.BatchNorm2d(24), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(24, 48, 3, padding=1), nn.BatchNorm2d(48), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(48, 88, 3, padding=1), nn.BatchNorm2d(88), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(88, 10))


def main():
    o = args(model="mlp", fmt="nchw", steps=0, reps=3, warmup=0, threads=2)
    torch.set_num_threads(o["threads"])
    torch.manual_seed(1)
    batch = 32 if o["model"] == "mlp" else 128
    steps = o["steps"] or (2000 if o["model"] == "mlp" else 60)
    warm = o["warmup"] or (200 if o["model"] == "mlp" else 10)
    xn, yn = fashion_mnist_train()
    X, Y = torch.from_numpy(xn.copy()), torch.from_numpy(yn.copy())
    n = X.shape[0]
    cl = o["fmt"] == "cl"
    model = build(o["model"])
    if cl:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    key = f"{o['model']}_py" + ("" if o["model"] == "mlp" else "_" + o["fmt"])
    info(key + "_params", sum(p.numel() for p in model.parameters() if p.requires_grad))
    info(key + "_threads", torch.get_num_threads())

    state = {"perm": torch.randperm(n), "pos": 0}

    def run(k):
        perm, pos = state["perm"], state["pos"]
        loss = None
        for _ in range(k):
            if pos + batch > n:
                perm, pos = torch.randperm(n), 0
            idx = perm[pos:pos + batch]
            pos += batch
            x, y = X[idx], Y[idx]
            if cl:
                x = x.to(memory_format=torch.channels_last)
            out = model(x)
            loss = F.cross_entropy(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            lv = loss.item()
        state["perm"], state["pos"] = perm, pos
        return lv

    run(warm)
    rates = []
    for _ in range(o["reps"]):
        t0 = now()
        lv = run(steps)
        rates.append(steps / (now() - t0))
        info(key + "_loss", f"{lv:.4f}")
    result(key, median(rates))


if __name__ == "__main__":
    main()
