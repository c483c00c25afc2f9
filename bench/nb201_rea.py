"""bench/nb201_rea.py: regularized evolution (REA) on NAS-Bench-201 in plain Python.

    /usr/bin/python3 bench/nb201_rea.py nb201.csv nb201_12epoch.csv [--runs 500] [--budget 12000] [--reference]

A straightforward Python port of nasrun's REA (strategies/evolution.lua with
population 10, sample 3) under the protocol of bench/nb201.lua, doing the same
work per query as the Lua side:

- a cell is a tuple of its six ops in NB201 edge order (edge_1_0, edge_2_0,
  edge_2_1, edge_3_0, edge_3_1, edge_3_2); the table is a dict from that tuple
  to (signal, cost, cifar10_test), built once from the CSVs' arch strings
  (the Lua side indexes arrays by the cell's base-5 code);
- signal = 12-epoch CIFAR-10 validation accuracy (cifar10_valid_12ep); each
  query costs 12 * train_s_per_epoch_cifar10 / 2 simulated seconds; the first
  query that would pass the budget ends the run; the chosen cell is the best by
  signal among the queried ones (the first one on ties);
- warm-up: random cells until 10 are told, a cell already told re-drawn (up to
  5 draws in all);
- then each step: a tournament of 3 *distinct* members of the population (the
  10 most recently told cells; random.sample), the best by signal is the parent;
  the child changes one uniformly chosen edge to one of the 4 other ops; a child
  already told is re-mutated from the parent (up to 5 mutations in all); the
  oldest member leaves the population when the child joins (aging).

--reference runs the NAS-Bench-201 reference REA's semantics instead
(D-X-Y/AutoDL-Projects, exps/NAS-Bench-201-algos/R_EA.py: tournament drawn with
replacement, mutation picks a node then one of its edges, no de-duplication, the
table looked up by arch string). Run r seeds Python's random with r. Prints the
CPU time of all runs (the table load not included) and the chosen cells'
200-epoch cifar10_test, mean +- std.
"""
import argparse
import csv
import random
import time

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
REDRAWS = 5


def cell_of_arch(s):
    """'|a~0|+|b~0|c~1|+|d~0|e~1|f~2|' -> ('a', 'b', 'c', 'd', 'e', 'f')"""
    return tuple(tok.split("~")[0] for tok in s.replace("+", "").split("|") if tok)


def load(path, path12):
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows[row["arch"]] = [None, 12 * float(row["train_s_per_epoch_cifar10"]) / 2, float(row["cifar10_test"])]
    with open(path12, newline="") as f:
        for row in csv.DictReader(f):
            rows[row["arch"]][0] = float(row["cifar10_valid_12ep"])
    return {cell_of_arch(a): tuple(v) for a, v in rows.items()}, {a: tuple(v) for a, v in rows.items()}


def rea(table, budget, population_size=10, sample_size=3):
    """nasrun's REA (strategies/evolution.lua), serial ask/tell."""
    population = []  # (signal, cell), oldest first
    seen = set()
    spent = 0.0
    best_signal, best_test, n = float("-inf"), None, 0
    while True:
        if len(population) < population_size:  # warm-up: random cells
            for _ in range(REDRAWS):
                cell = tuple(random.choice(OPS) for _ in range(6))
                if cell not in seen:
                    break
        else:
            parent = max(random.sample(population, sample_size), key=lambda m: m[0])[1]
            for _ in range(REDRAWS):
                child = list(parent)
                i = random.randrange(6)
                j = random.randrange(4)  # one of the 4 other ops
                if j >= OPS.index(child[i]):
                    j += 1
                child[i] = OPS[j]
                cell = tuple(child)
                if cell not in seen:
                    break
        signal, cost, test = table[cell]
        if spent + cost > budget:
            break
        spent += cost
        n += 1
        seen.add(cell)
        if signal > best_signal:
            best_signal, best_test = signal, test
        population.append((signal, cell))
        if len(population) > population_size:
            del population[0]
    return best_test, n


def arch_str(nodes):
    return "+".join("|" + "|".join("%s~%d" % (op, j) for j, op in enumerate(node)) + "|" for node in nodes)


def rea_reference(table, budget, population_size=10, sample_size=3):
    """The NB201 reference R_EA.py's semantics (table keyed by arch string)."""
    population, history, spent = [], [], 0.0

    def mutate(arch):
        nodes = [list(n) for n in arch]
        i = random.randint(0, len(nodes) - 1)
        j = random.randint(0, len(nodes[i]) - 1)
        op = random.choice(OPS)
        while op == nodes[i][j]:
            op = random.choice(OPS)
        nodes[i][j] = op
        return tuple(tuple(n) for n in nodes)

    while True:
        if len(population) < population_size:
            arch = tuple(tuple(random.choice(OPS) for _ in range(i)) for i in range(1, 4))
        else:
            sample = [random.choice(population) for _ in range(sample_size)]
            arch = mutate(max(sample, key=lambda m: m[0])[1])
        signal, cost, test = table[arch_str(arch)]
        if spent + cost > budget:
            break
        spent += cost
        population.append((signal, arch, test))
        history.append((signal, arch, test))
        if len(population) > population_size:
            del population[0]
    return max(history, key=lambda m: m[0])[2], len(history)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("path12")
    ap.add_argument("--runs", type=int, default=500)
    ap.add_argument("--budget", type=float, default=12000)
    ap.add_argument("--reference", action="store_true", help="the NB201 reference REA's semantics")
    a = ap.parse_args()
    by_cell, by_arch = load(a.path, a.path12)
    fn, table = (rea_reference, by_arch) if a.reference else (rea, by_cell)
    t0 = time.process_time()
    tests, queries = [], 0
    for r in range(1, a.runs + 1):
        random.seed(r)
        test, n = fn(table, a.budget)
        tests.append(test)
        queries += n
    wall = time.process_time() - t0
    mean = sum(tests) / len(tests)
    std = (sum((x - mean) ** 2 for x in tests) / len(tests)) ** 0.5
    print("python REA (%s): %d runs, %.1f queries per run, wall %.3f s (CPU), cifar10_test %.2f +- %.2f"
          % ("reference" if a.reference else "nasrun's", a.runs, queries / a.runs, wall, mean, std))


if __name__ == "__main__":
    main()
