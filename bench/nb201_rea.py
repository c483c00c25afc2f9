"""bench/nb201_rea.py: regularized evolution (REA) on NAS-Bench-201 in plain Python.

    /usr/bin/python3 bench/nb201_rea.py nb201.csv nb201_12epoch.csv [--runs 500] [--budget 12000]

A straightforward port of the NAS-Bench-201 reference REA (D-X-Y/AutoDL-Projects,
exps/NAS-Bench-201-algos/R_EA.py) under the protocol of bench/nb201.lua: signal =
12-epoch CIFAR-10 validation accuracy (cifar10_valid_12ep), each query costs
12 * train_s_per_epoch_cifar10 / 2 simulated seconds, the first query that would
pass the budget ends the run, the chosen cell is the best by signal among the
queried ones; population 10, tournament of 3 drawn with replacement, mutation of
one edge (node first, then one of its edges, as the reference does). Run r seeds
Python's random with r. Prints the CPU time of all runs (the table load not
included) and the chosen cells' 200-epoch cifar10_test, mean +- std.
"""
import argparse
import collections
import csv
import random
import time

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def load(path, path12):
    table = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            table[row["arch"]] = [float(row["cifar10_test"]), 12 * float(row["train_s_per_epoch_cifar10"]) / 2, None]
    with open(path12, newline="") as f:
        for row in csv.DictReader(f):
            table[row["arch"]][2] = float(row["cifar10_valid_12ep"])
    return table


def arch_str(nodes):
    return "+".join("|" + "|".join("%s~%d" % (op, j) for j, op in enumerate(node)) + "|" for node in nodes)


def random_arch():
    return tuple(tuple(random.choice(OPS) for _ in range(i)) for i in range(1, 4))


def mutate(arch):
    nodes = [list(n) for n in arch]
    i = random.randint(0, len(nodes) - 1)
    j = random.randint(0, len(nodes[i]) - 1)
    op = random.choice(OPS)
    while op == nodes[i][j]:
        op = random.choice(OPS)
    nodes[i][j] = op
    return tuple(tuple(n) for n in nodes)


def rea(table, budget, population_size=10, sample_size=3):
    population = collections.deque()
    history = []
    spent = 0.0

    def query(arch):
        test, cost, signal = table[arch_str(arch)]
        return signal, cost, test

    while len(population) < population_size:
        arch = random_arch()
        signal, cost, test = query(arch)
        spent += cost
        population.append((signal, arch, test))
        history.append((signal, arch, test))
    while spent < budget:
        sample = [random.choice(population) for _ in range(sample_size)]
        parent = max(sample, key=lambda m: m[0])
        child = mutate(parent[1])
        signal, cost, test = query(child)
        if spent + cost > budget:
            break
        spent += cost
        population.append((signal, child, test))
        history.append((signal, child, test))
        population.popleft()
    return max(history, key=lambda m: m[0])[2], len(history)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("path12")
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--budget", type=float, default=12000)
    a = ap.parse_args()
    table = load(a.path, a.path12)
    t0 = time.process_time()
    tests, queries = [], 0
    for r in range(1, a.runs + 1):
        random.seed(r)
        test, n = rea(table, a.budget)
        tests.append(test)
        queries += n
    wall = time.process_time() - t0
    mean = sum(tests) / len(tests)
    std = (sum((x - mean) ** 2 for x in tests) / len(tests)) ** 0.5
    print("python REA: %d runs, %.1f queries per run, wall %.3f s (CPU), cifar10_test %.2f +- %.2f"
          % (a.runs, queries / a.runs, wall, mean, std))


if __name__ == "__main__":
    main()
