"""Nudging: follow rate and principal loss against the IC margin ξ and the estimation error E.

    python benchmarks/nudging.py [--depth 10] [--seeds 0 1 2] [--errors 0.001 0.01 0.05 0.1]
                                 [--factors 0 1 2 4] [--markdown | --json]

On the random binary game trees of arXiv 2407.18074, Appendix D.1
(``binary_game_tree(depth, seed)``, default depth 10: 1,023 decision states), for every
estimation error ``E`` and every margin ``ξ = factor · E``, the principal builds contracts by
backward induction on ``Q̂ = Q̄ + E·U[−1, 1]`` with IC margin ``ξ``
(:func:`contractlab.proofs_checks.nudging.nudging_experiment`, noise seed = instance seed) and
the true agent best-responds exactly (ties to the principal). Columns, each the mean over the
seeds (the worst seed in brackets where it matters):

* ``follow``: fraction of the states where the best-responding agent takes the recommended
  action; ``strict``: where the recommendation is its unique best response (margin > 1e-9);
* ``loss %``: ``(V*(s_0) − V(s_0)) / V*(s_0)``, the principal's loss against the SPE;
* ``min IC margin``: the smallest true IC margin over all states and seeds (theory: at least
  ``ξ − 2E``).

``ξ = 2E`` is the paper's choice: the agent then follows everywhere.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time


def run(depth: int, seeds, errors, factors) -> list[dict]:
    from contractlab.proofs_checks.nudging import nudging_sweep
    from contractlab.solvers.spe import solve_spe
    from contractlab.theory.pamdp_families import binary_game_tree

    instances = [(s, binary_game_tree(depth, s)) for s in seeds]
    spes = {s: solve_spe(m) for s, m in instances}
    rows = []
    for E in errors:
        per = {f: [] for f in factors}
        for s, m in instances:
            for f, r in zip(factors, nudging_sweep(m, E, [f * E for f in factors], s, spe=spes[s])):
                per[f].append(r)
        for f in factors:
            runs = per[f]
            rows.append({"error": E, "factor": f, "margin": f * E,
                         "follow": sum(r.follow_rate for r in runs) / len(runs),
                         "follow_worst": min(r.follow_rate for r in runs),
                         "strict": sum(r.strict_follow_rate for r in runs) / len(runs),
                         "loss_pct": 100 * sum(r.relative_loss for r in runs) / len(runs),
                         "loss_pct_worst": 100 * max(r.relative_loss for r in runs),
                         "min_ic_margin": min(float(r.ic_margin.min()) for r in runs),
                         "bound": f * E - 2 * E})
    return rows


def _factor(f: float) -> str:
    return "0" if f == 0 else ("E" if f == 1 else f"{f:g}E")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--depth", type=int, default=10)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--errors", type=float, nargs="+", default=[0.001, 0.01, 0.05, 0.1])
    p.add_argument("--factors", type=float, nargs="+", default=[0.0, 1.0, 2.0, 4.0])
    out = p.add_mutually_exclusive_group()
    out.add_argument("--markdown", action="store_true", help="a Markdown table")
    out.add_argument("--json", action="store_true", help="JSON rows")
    args = p.parse_args(argv)
    from contractlab.theory.errors import InvalidInstanceError
    try:
        for flag, values, what in (("--seeds", args.seeds, "an integer"), ("--errors", args.errors, "a finite number"),
                                   ("--factors", args.factors, "a finite number")):
            for i, v in enumerate(values):
                if not (math.isfinite(v) and v >= 0):
                    raise InvalidInstanceError(flag, f"must be {what} >= 0, got {v}", i)
        t0 = time.perf_counter()
        try:
            rows = run(args.depth, args.seeds, args.errors, args.factors)
        except InvalidInstanceError as exc:       # the depth is refused before the first tree is built
            if exc.field != "depth":
                raise
            raise InvalidInstanceError("--depth", exc.reason) from None
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - t0
    if args.json:
        json.dump({"depth": args.depth, "seeds": args.seeds, "seconds": seconds, "rows": rows}, sys.stdout, indent=1)
        print()
        return 0
    header = ["E", "ξ", "follow", "strict", "loss % (mean)", "loss % (worst)", "min IC margin", "ξ − 2E"]
    def follow(r) -> str:
        worst = "" if r["follow_worst"] == r["follow"] else f" [{100 * r['follow_worst']:.1f}%]"
        return f"{100 * r['follow']:.1f}%{worst}"

    body = [[f"{r['error']:g}", _factor(r["factor"]), follow(r),
             f"{100 * r['strict']:.1f}%", f"{r['loss_pct']:.3f}", f"{r['loss_pct_worst']:.3f}",
             f"{r['min_ic_margin']:+.4g}", f"{r['bound']:+.4g}"] for r in rows]
    title = (f"nudging on binary_game_tree({args.depth}, seeds {', '.join(map(str, args.seeds))}): "
             f"{len(rows) * len(args.seeds)} runs in {seconds:.1f} s")
    if args.markdown:
        print(f"**{title}**\n")
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join("---" if i < 2 else "---:" for i in range(len(header))) + "|")
        for row in body:
            print("| " + " | ".join(row) + " |")
        return 0
    from rich.console import Console
    from rich.table import Table
    table = Table(title=title)
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i < 2 else "right")
    for row in body:
        table.add_row(*row)
    Console().print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
