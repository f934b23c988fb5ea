"""No-regret learners: rounds × seeds per second, against a naive per-round pure-Python loop.

    python benchmarks/regret.py [--quick] [--markdown | --json] [--in-process]

What is measured
----------------
Every learner of ``contractlab.learning.no_regret`` with K = 10 actions, run by
``no_regret.run`` for R = 100 seeds, recording the regret at a few horizons only (memory
``O(R)``, not ``O(R T)``):

- full information (Hedge with the tuned η, follow-the-leader, RM, RM+) against
  ``IIDUniform(10)`` (i.i.d. uniform losses, drawn by the runs' own generators: the drawing is
  part of the time). Hedge and FTL take the time-vectorised path (blocks of rounds), T = 10^6;
  RM and RM+ step round by round, T = 10^5. Hedge is run a second time with ``workers=2``
  (two threads, each with half of the seeds).
- bandit (EXP3 with the tuned η, UCB1) against ``Bernoulli`` losses with means
  0.3, 0.344, …, 0.7, T = 10^5, round by round.

Each row runs in a fresh subprocess (``python benchmarks/regret.py --child …``): wall time
(``time.perf_counter``) and CPU time of the process (``time.process_time``, all threads) of the
``run`` call, and the peak resident set size of that subprocess (``VmHWM`` from
``/proc/self/status``: interpreter, numpy, the blocks and the records; ``ru_maxrss`` is not
used there because Linux carries it over from the forked parent). ``--in-process`` runs the rows
in this process instead. The last line gives this process's own peak, ``ru_maxrss``.

The reference is a naive per-round loop written here in plain Python (lists and ``math``; the
losses of each round drawn by one numpy call), one seed, for each learner; its rounds per
second are measured on 20,000 rounds (2,000 with ``--quick``). "vs naive" is the row's
rounds × seeds per second divided by that. Before anything is timed, the naive loops and
``run`` must agree on the regret of the same seed over 2,000 rounds (to 1e-9 × T), else the
script stops with exit code 1.

Targets (the issue; this 2-core machine): Hedge, 10^6 rounds × 100 seeds in under 10 s; EXP3
and UCB1, 10^5 rounds × 100 seeds in under 10 s (wall time, one worker). ``--quick`` divides
the rounds by 100 and uses 10 seeds (a smoke test; no targets).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # the contractlab of this checkout, installed or not

from contractlab.learning.no_regret import LEARNERS, Bernoulli, IIDUniform, run  # noqa: E402
from contractlab.learning.no_regret.base import run_generators  # noqa: E402

K = 10
BANDIT_MEANS = tuple(float(x) for x in np.linspace(0.3, 0.7, K))

#: (learner, rounds, seeds, workers, target seconds or None), full size.
ROWS = [("hedge", 10 ** 6, 100, 1, 10.0), ("hedge", 10 ** 6, 100, 2, None), ("ftl", 10 ** 6, 100, 1, None),
        ("rm", 10 ** 5, 100, 1, None), ("rm+", 10 ** 5, 100, 1, None),
        ("exp3", 10 ** 5, 100, 1, 10.0), ("ucb1", 10 ** 5, 100, 1, 10.0)]
NAIVE_ROUNDS, QUICK_NAIVE_ROUNDS, CHECK_ROUNDS = 20_000, 2_000, 2_000


def adversary_for(name: str):
    return Bernoulli(BANDIT_MEANS) if LEARNERS[name].feedback == "bandit" else IIDUniform(K)


def bound(name: str, horizon: int) -> str:
    """The learner's regret bound at the horizon, and what kind of bound it is."""
    learner = LEARNERS[name](K)
    if name == "hedge":
        return f"{learner.regret_bound(horizon):,.0f} (sure)"
    if name in ("rm", "rm+"):
        return f"{learner.regret_bound(horizon):,.0f} (sure)"
    if name == "exp3":
        return f"{learner.regret_bound(horizon):,.0f} (expected)"
    if name == "ucb1":
        return f"{learner.regret_bound(BANDIT_MEANS, horizon):,.0f} (expected pseudo)"
    return "none"


# --------------------------------------------------------------------------- the naive reference

def naive(name: str, horizon: int, seed: int = 0) -> float:
    """One seed, one round at a time, plain Python: the final regret (mixed for full information,
    played for bandit), drawing the losses and the actions from the generators ``run`` uses."""
    adv_rng, learner_rng = (g[0] for g in run_generators([seed]))
    bandit = LEARNERS[name].feedback == "bandit"
    eta = {"hedge": math.sqrt(8 * math.log(K) / horizon),
           "exp3": math.sqrt(2 * math.log(K) / (horizon * K))}.get(name)
    L, est, reg, n, s = [0.0] * K, [0.0] * K, [0.0] * K, [0] * K, [0.0] * K
    total = 0.0
    for t in range(horizon):
        if bandit:
            losses = [1.0 if u < m else 0.0 for u, m in zip(adv_rng.random(K).tolist(), BANDIT_MEANS)]
        else:
            losses = adv_rng.random(K, dtype=np.float32).tolist()
        if name in ("hedge", "exp3"):
            x = L if name == "hedge" else est
            m = min(x)
            w = [math.exp(-eta * (v - m)) for v in x]
        elif name == "ftl":
            w = [0.0] * K
            w[min(range(K), key=lambda i: (L[i], i))] = 1.0
        elif name in ("rm", "rm+"):
            w = [max(r, 0.0) for r in reg]
            if sum(w) == 0:
                w = [1.0] * K
        else:                                                   # ucb1
            w = [0.0] * K
            if t < K:
                w[t] = 1.0
            else:
                idx = [s[i] / n[i] + math.sqrt(2 * math.log(t) / n[i]) for i in range(K)]
                w[idx.index(max(idx))] = 1.0
        W = sum(w)
        if bandit:
            u, c, a = learner_rng.random() * W, 0.0, K - 1
            for i, wi in enumerate(w):
                c += wi
                if u < c:
                    a = i
                    break
            total += losses[a]
            if name == "exp3":
                est[a] += losses[a] / (w[a] / W)
            else:
                n[a] += 1
                s[a] += 1.0 - losses[a]
        else:
            mixed = sum(wi * li for wi, li in zip(w, losses)) / W
            total += mixed
            if name in ("rm", "rm+"):
                reg = [r + mixed - li for r, li in zip(reg, losses)]
                if name == "rm+":
                    reg = [max(r, 0.0) for r in reg]
        L = [a_ + b_ for a_, b_ in zip(L, losses)]
    return total - min(L)


def check(rounds: int) -> list[str]:
    """The naive loops and ``run`` agree on seed 0 over ``rounds`` rounds (else exit 1)."""
    lines, ok = [], True
    for name in LEARNERS:
        mine = run(LEARNERS[name](K), adversary_for(name), rounds, seeds=[0], record=[rounds]).regret[0, -1]
        ref = naive(name, rounds)
        good = abs(mine - ref) <= 1e-9 * rounds
        ok &= good
        lines.append(f"{name}: run {mine:.9f}, naive {ref:.9f}, |diff| {abs(mine - ref):.1e}"
                     f" ({'ok' if good else 'MISMATCH'})")
    if not ok:
        print("\n".join(lines), file=sys.stderr)
        sys.exit(1)
    return lines


# --------------------------------------------------------------------------- measuring

def peak_rss_mib() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(name: str, horizon: int, seeds: int, workers: int) -> dict:
    record = sorted({min(10 ** k, horizon) for k in range(1, 7)} | {horizon})
    learner = LEARNERS[name](K)
    w0, c0 = time.perf_counter(), time.process_time()
    result = run(learner, adversary_for(name), horizon, seeds=range(seeds), record=record, workers=workers)
    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    final = result.regret[:, -1]
    path = "blocks" if learner.time_vectorised else "steps"
    return {"learner": name, "feedback": learner.feedback, "path": path, "rounds": horizon, "seeds": seeds,
            "workers": workers, "wall_s": wall, "cpu_s": cpu, "rate": horizon * seeds / wall,
            "peak_rss_mib": peak_rss_mib(), "regret_mean": float(final.mean()), "regret_sd": float(final.std()),
            "bound": bound(name, horizon)}


def measure_in_child(name: str, horizon: int, seeds: int, workers: int) -> dict:
    spec = json.dumps([name, horizon, seeds, workers])
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", spec],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def naive_rate(name: str, rounds: int) -> float:
    t0 = time.perf_counter()
    naive(name, rounds)
    return rounds / (time.perf_counter() - t0)


def machine_info() -> dict:
    """The machine, versions and commit, as ``benchmarks/contracts.py`` records them."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from contracts import machine_info as info
    finally:
        sys.path.pop(0)
    return info()


# --------------------------------------------------------------------------- output

HEADER = ["learner", "feedback", "path", "K", "rounds", "seeds", "workers", "wall (s)", "CPU (s)",
          "rounds x seeds / s", "vs naive", "peak RSS (MiB)", "regret at T: mean ± sd", "bound at T",
          "target", "met"]


def table_rows(results, naive_rates, quick):
    rows = []
    for r in results:
        target = r.get("target")
        rows.append([r["learner"], r["feedback"], r["path"], str(K), f"{r['rounds']:,}", str(r["seeds"]),
                     str(r["workers"]), f"{r['wall_s']:.2f}", f"{r['cpu_s']:.2f}", f"{r['rate']:,.0f}",
                     f"{r['rate'] / naive_rates[r['learner']]:,.0f}x", f"{r['peak_rss_mib']:.0f}",
                     f"{r['regret_mean']:,.1f} ± {r['regret_sd']:,.1f}", r["bound"],
                     "–" if target is None or quick else f"<= {target:g} s",
                     "–" if target is None or quick else ("yes" if r["wall_s"] <= target else "NO")])
    for name, rate in naive_rates.items():
        rows.append([f"{name}, naive Python loop", LEARNERS[name].feedback, "reference", str(K), "", "1", "1", "",
                     "", f"{rate:,.0f}", "1x", "", "", "", "–", "–"])
    return rows


def print_markdown(info, checks, rows, parent_peak):
    for k, v in info.items():
        print(f"- {k}: {v}")
    print()
    for line in checks:
        print(f"- check (2,000 rounds, seed 0): {line}")
    print()
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "|".join("---:" if h not in ("learner", "feedback", "path", "target", "met",
                                            "bound at T", "regret at T: mean ± sd") else "---"
                         for h in HEADER) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(f"- peak RSS of each row: VmHWM of its fresh subprocess; of this script: {parent_peak:.0f} MiB (ru_maxrss)")


def print_plain(info, checks, rows, parent_peak):
    print("  ".join(f"{k}={v}" for k, v in info.items()))
    for line in checks:
        print("check:", line)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(HEADER)]
    print("  ".join(h.rjust(w) for h, w in zip(HEADER, widths)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    print(f"peak RSS of this script (ru_maxrss): {parent_peak:.0f} MiB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="a markdown table (what docs/performance.md holds)")
    fmt.add_argument("--json", action="store_true", help="one JSON document")
    ap.add_argument("--quick", action="store_true", help="rounds / 100, 10 seeds: a smoke test")
    ap.add_argument("--in-process", action="store_true", help="run the rows in this process, not in subprocesses")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(measure(*json.loads(args.child))))
        return 0

    info = machine_info()
    checks = check(CHECK_ROUNDS)
    results = []
    for name, horizon, seeds, workers, target in ROWS:
        if args.quick:
            horizon, seeds = horizon // 100, 10
        go = measure if args.in_process else measure_in_child
        results.append({**go(name, horizon, seeds, workers), "target": target})
    naive_rates = {name: naive_rate(name, QUICK_NAIVE_ROUNDS if args.quick else NAIVE_ROUNDS) for name in LEARNERS}
    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    parent_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps({"machine": info, "checks": checks, "rows": results, "naive_rounds_per_s": naive_rates,
                          "peak_rss_mib_script": parent_peak}, indent=1))
    else:
        rows = table_rows(results, naive_rates, args.quick)
        (print_markdown if args.markdown else print_plain)(info, checks, rows, parent_peak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
