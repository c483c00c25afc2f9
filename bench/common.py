"""bench/common.py: helpers shared by the Python peers (data, medians, RESULT lines)."""
import gzip
import os
import statistics
import sys
import time

import numpy as np

FMNIST = os.environ.get("NAS_DATA_ROOT", "/usr/share/datasets") + "/fashion-mnist"
if not os.path.exists(FMNIST + "/train-images-idx3-ubyte.gz"):
    FMNIST = "/usr/share/datasets/fashion-mnist"

now = time.perf_counter


def args(**defaults):
    o = dict(defaults)
    for a in sys.argv[1:]:
        k, _, v = a.partition("=")
        if k not in o:
            raise SystemExit(f"unknown option {k}")
        o[k] = type(defaults[k])(v)
    return o


def load_idx(path):
    """Reads an IDX file (gzip) with numpy: no torchvision."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist_train():
    """Training set as float32 N x 1 x 28 x 28, normalised like nasrun's loader
    ((pixel/255 - mean) / std with the training set's statistics), and int64 labels."""
    x = load_idx(FMNIST + "/train-images-idx3-ubyte.gz").astype(np.float32) / 255.0
    y = load_idx(FMNIST + "/train-labels-idx1-ubyte.gz").astype(np.int64)
    x = (x - x.mean()) / x.std()
    return x.reshape(-1, 1, 28, 28), y


def median(v):
    return statistics.median(v)


def result(key, value):
    print(f"RESULT {key} {value:.6g}", flush=True)


def info(key, value):
    print(f"INFO {key} {value}", flush=True)
