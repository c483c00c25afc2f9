#!/usr/bin/env python3
"""Checks a network exported by nasrun (model.py + weights.pt) against nasrun's own outputs.

    python3 tests/export/check.py CASE.json

CASE.json (written by tests/lua/export_spec.lua):
    dir        the exported folder (model.py, weights.pt)
    class      the module's class name in model.py
    input      a raw file of n * prod(shape) native float32: the fixed batch model.py is given
    n, shape   the batch size and the per-sample input shape
    eval       a raw float32 file: nasrun's outputs for the batch in eval mode
    train      (optional) the same in training mode (batch-norm batch statistics); left out
               for nets with dropout, whose training-mode outputs are random
    tol        the largest allowed |python - nasrun| per output (default 1e-5)
    bn_trained (optional) true: the state dict must hold batch-norm running statistics that
               training moved (running_mean not all 0, num_batches_tracked > 0)

It also checks that model.py imports nothing but torch and that weights.pt loads with
weights_only=True and strict=True (every tensor of the module, and no other). Prints one line per check; the exit
status is 0 when everything matches, 1 on a mismatch, 2 on bad input or a missing package.
"""
import ast
import importlib.util
import json
import os
import sys

try:
    import torch
except ImportError:
    print("check.py: cannot import torch: install Debian's python3-torch "
          "(apt-get install --no-install-recommends python3-torch)", file=sys.stderr)
    sys.exit(2)


def read_floats(path, count):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) != 4 * count:
        raise SystemExit(f"check.py: {path} has {len(data)} bytes, expected {4 * count} (float32)")
    return torch.frombuffer(bytearray(data), dtype=torch.float32)


def imports_only_torch(path):
    tree = ast.parse(open(path).read(), path)
    bad = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name != "torch"]
        elif isinstance(node, ast.ImportFrom):
            bad.append(node.module or ".")
    return bad


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    case = json.load(open(sys.argv[1]))
    folder, n, shape = case["dir"], case["n"], case["shape"]
    tol = case.get("tol", 1e-5)
    failures = 0

    bad = imports_only_torch(os.path.join(folder, "model.py"))
    if bad:
        print(f"FAIL model.py imports {bad}, only torch is allowed")
        failures += 1

    spec = importlib.util.spec_from_file_location("nasrun_exported_model", os.path.join(folder, "model.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, case["class"])()
    # weights_only=True (the default from PyTorch 2.6 on): the file must hold nothing but tensors in a dict
    state = torch.load(os.path.join(folder, "weights.pt"), weights_only=True)
    model.load_state_dict(state, strict=True)  # raises on a missing or unexpected key, or a wrong shape
    print(f"ok   weights.pt: {len(state)} tensors load with weights_only=True and strict=True")

    if case.get("bn_trained"):
        means = [v for k, v in state.items() if k.endswith(".running_mean")]
        tracked = [int(v) for k, v in state.items() if k.endswith(".num_batches_tracked")]
        if not means or all(float(m.abs().sum()) == 0.0 for m in means) or not tracked or min(tracked) <= 0:
            print(f"FAIL batch-norm statistics look untrained ({len(means)} running_mean, "
                  f"num_batches_tracked {tracked[:4]})")
            failures += 1
        else:
            print(f"ok   {len(means)} batch norms with trained running statistics "
                  f"(num_batches_tracked {min(tracked)}..{max(tracked)})")

    count = 1
    for d in shape:
        count *= d
    x = read_floats(case["input"], n * count).reshape([n] + list(shape))
    modes = [("eval", False)] + ([("train", True)] if case.get("train") else [])
    for mode, training in modes:
        model.train(training)
        with torch.no_grad():
            y = model(x.clone()).reshape(n, -1)
        want = read_floats(case[mode], y.numel()).reshape(n, -1)
        diff = float((y - want).abs().max())
        scale = float(want.abs().max())
        if not diff <= tol:  # also catches NaN
            print(f"FAIL {mode} mode: max |python - nasrun| = {diff:.3g} > {tol:g} (outputs up to {scale:.3g})")
            failures += 1
        else:
            print(f"ok   {mode} mode: max |python - nasrun| = {diff:.3g} <= {tol:g} (outputs up to {scale:.3g})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
