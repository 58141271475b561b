"""tandem-assign against scipy's linear_sum_assignment on identical score-like inputs.

Run with Debian's Python (/usr/bin/python3, python3-scipy). For each case the matrix is
generated once (seeded), written in tandem-assign's input format, and then, interleaved
for --repeat rounds:
  - tandem-assign is timed as a whole process reading the file (parsing included);
  - scipy's linear_sum_assignment(maximize=True) call alone is timed on the matrix
    already in memory (for capacity K, on the matrix with each row repeated K times).
Equal optimal totals are the gate: a case whose totals differ reports FAIL and no speed.
tandem-assign's pairs are also checked (one per column, at most K per row, total = sum).
The large-programme case runs bench_priced (the pricing loop on 100,000 participants).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scores  # noqa: E402


def child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_tandem(binary, path, capacity):
    args = [binary] + (["--capacity", str(capacity)] if capacity > 1 else [])
    with open(path, "rb") as f:
        c0 = child_cpu()
        t0 = time.perf_counter()
        out = subprocess.run(args, stdin=f, stdout=subprocess.PIPE, check=True).stdout
        t = time.perf_counter() - t0
        cpu = child_cpu() - c0
    lines = out.split(b"\n")
    total = int(lines[0])
    pairs = np.array([list(map(int, l.split())) for l in lines[1:] if l], dtype=np.int64)
    return t, cpu, total, pairs


def check_pairs(w, pairs, capacity, total):
    rows, cols = pairs[:, 0], pairs[:, 1]
    assert len(np.unique(cols)) == len(cols), "a column assigned twice"
    assert np.bincount(rows, minlength=w.shape[0]).max() <= capacity, "a row over capacity"
    assert int(w[rows, cols].sum()) == total, "printed total differs from the pairs' sum"
    assert len(pairs) == min(w.shape[1], w.shape[0] * capacity), "not every column matched"


def run_scipy(w, capacity):
    x = np.repeat(w, capacity, axis=0) if capacity > 1 else w
    c0 = time.process_time()
    t0 = time.perf_counter()
    r, c = linear_sum_assignment(x, maximize=True)
    t = time.perf_counter() - t0
    cpu = time.process_time() - c0
    return t, cpu, int(x[r, c].sum())


def dense_case(args, name, seed, n_rows, n_cols, capacity):
    w = scores.dense_matrix(seed, n_rows, n_cols)
    path = os.path.join(args.work, f"{name}.txt")
    scores.write_matrix(path, w)
    tt, ts, ct, cs = [], [], [], []
    ok = True
    for _ in range(args.repeat):
        t, c, total, pairs = run_tandem(args.tandem, path, capacity)
        check_pairs(w, pairs, capacity, total)
        tt.append(t)
        ct.append(c)
        s, c, stotal = run_scipy(w, capacity)
        ts.append(s)
        cs.append(c)
        ok = ok and total == stotal
    mt, ms = statistics.median(tt), statistics.median(ts)
    mct, mcs = statistics.median(ct), statistics.median(cs)
    speed = f"{ms / mt:.2f}x" if ok else "FAIL (totals differ)"
    cspeed = f"{mcs / mct:.2f}x" if ok else "-"
    print(f"| {name} | {n_rows}x{n_cols} cap {capacity} | {total} | {stotal} | "
          f"{'equal' if ok else 'DIFFER'} | {mt:.3f} (min {min(tt):.3f}) | "
          f"{ms:.3f} (min {min(ts):.3f}) | {speed} | {mct:.3f} / {mcs:.3f} | {cspeed} |",
          flush=True)


def priced_case(args):
    cmd = [args.priced, "--mentors", "25000", "--mentees", "75000", "--capacity", "3",
           "--k", "16", "--k2", "16", "--threads", "2", "--seed", "1"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, check=True, text=True).stdout
    kv = dict(item.split("=", 1) for item in out.split())
    print(f"| 100,000 participants (25,000 mentors x 3 seats, 75,000 mentees) | "
          f"{kv['seconds']} s (scans {kv['scan_s']} s, solves {kv['solve_s']} s) | "
          f"{kv['cpu_s']} s | "
          f"{kv['rounds']} | {kv['candidates']} | {kv['pairs_added']} | {kv['scored']} | "
          f"{kv['pairs']} | {kv['total']} | {kv['certified']} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tandem", required=True)
    ap.add_argument("--priced", required=True)
    ap.add_argument("--work", default="/tmp/tandem-bench-assign")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--skip-priced", action="store_true")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    print("| case | size | tandem total | scipy total | gate | tandem-assign wall s (median) "
          "| scipy wall s (median) | wall speed-up | CPU s tandem / scipy (median) "
          "| CPU speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    dense_case(args, "dense-2000", 1, 2000, 2000, 1)
    dense_case(args, "dense-4000", 2, 4000, 4000, 1)
    dense_case(args, "capacity-3", 3, 1000, 3000, 3)
    if not args.skip_priced:
        print()
        print("| programme | wall time | CPU time | pricing rounds | candidate pairs | "
              "pairs added | pairs scored | pairs | total | certified |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        priced_case(args)


if __name__ == "__main__":
    main()
