"""bench/report.py: reads the RESULT/INFO lines bench/run.sh collected and
prints the summary table (median over runs, ratio, target, PASS/FAIL).

    /usr/bin/python3 bench/report.py results.txt
"""
import collections
import statistics
import sys


def main(path):
    res = collections.defaultdict(list)
    info = collections.defaultdict(list)
    for line in open(path):
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "RESULT":
            res[parts[1]].append(float(parts[2]))
        elif len(parts) >= 3 and parts[0] == "INFO":
            info[parts[1]].append(" ".join(parts[2:]))

    def med(k):
        return statistics.median(res[k]) if res.get(k) else float("nan")

    def spread(k):
        v = res.get(k) or []
        return f"{min(v):.4g}..{max(v):.4g} (n={len(v)})" if v else "-"

    rows = []  # (benchmark, nasrun label, nasrun value, peer label, peer value, target, ok)

    def row(name, nk, pk, target, unit):
        """ratio = median over rounds of nasrun/python from the same round
        (the two ran back to back, so machine-load drift mostly cancels)."""
        n, p = med(nk), med(pk)
        pairs = [a / b for a, b in zip(res.get(nk, []), res.get(pk, [])) if b > 0]
        r = statistics.median(pairs) if pairs else float("nan")
        rows.append((name, nk, n, pk, p, r, target, unit))

    row("1 MLP train steps (b32)", "mlp_nasrun", "mlp_py", 1.5, "steps/s")
    row("2 CNN train steps (b128) vs NCHW", "cnn_nasrun", "cnn_py_nchw", 1.2, "steps/s")
    # Python's best configuration, round by round
    res["cnn_py_best"] = [max(a, b) for a, b in zip(res.get("cnn_py_nchw", []), res.get("cnn_py_cl", []))]
    row("2 CNN train steps vs Python best", "cnn_nasrun", "cnn_py_best", 1.0, "steps/s")
    # the faster Python peer (meta device or ordinary CPU modules), round by round
    res["graph_py_best"] = [max(a, b) for a, b in zip(res.get("graph_py_meta", []), res.get("graph_py_cpu", []))]
    row("3 graph build, Lua API (nas.net)", "graph_lua", "graph_py_best", None, "graphs/s")
    row("3 graph build, C API (nas_graph_*)", "graph_c", "graph_py_best", None, "graphs/s")
    row("4 module build cnn", "module_cnn_nasrun", "module_cnn_py", 1.0, "models/s")
    row("4 module build res20", "module_res20_nasrun", "module_res20_py", 1.0, "models/s")

    print()
    print("Per-run values (min..max):")
    for k in sorted(res):
        print(f"  {k:24s} {spread(k)}")
    notes = []
    for k in ("cnn_nasrun_memfmt", "mlp_nasrun_params", "mlp_py_params", "cnn_nasrun_params",
              "cnn_py_nchw_params", "graph_params", "graph_macs", "graph_py_meta_params",
              "graph_py_meta_macs", "mlp_nasrun_incl_setup", "cnn_nasrun_incl_setup"):
        if info.get(k):
            notes.append(f"  {k}: {', '.join(sorted(set(info[k])))}")
    if notes:
        print("Notes:")
        print("\n".join(notes))
    print()
    hdr = f"{'benchmark':36s} {'nasrun':>12s} {'python':>12s} {'ratio':>7s} {'target':>16s} result"
    print(hdr)
    print("-" * len(hdr))
    allok = True
    for name, nk, n, pk, p, r, target, unit in rows:
        if target is None:  # absolute target: >= 100,000 graphs/s
            ok = n >= 100000
            tgt = ">=100k graphs/s"
        else:
            ok = r >= target
            tgt = f">={target:.1f}x"
        allok &= ok
        print(f"{name:36s} {n:12.5g} {p:12.5g} {r:6.2f}x {tgt:>16s} {'PASS' if ok else 'FAIL'}")
    print("(units: steps/s, graphs/s, models/s; nasrun/python columns: medians over rounds;"
          " ratio: median of same-round ratios)")
    return 0 if allok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/dev/stdin"))
