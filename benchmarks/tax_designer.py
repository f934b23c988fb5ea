"""The taxed economy: the meta-gradient tax designer against no taxes, the US-like schedule, a
Saez-style top rate and the planner's exact grid optimum (and its refinement), every value recomputed
exactly at the equilibrium of the schedule; plus the designer's sensitivity to the agents' step α.

    python benchmarks/tax_designer.py                 # both objectives, seeds 0-4, α sweep
    python benchmarks/tax_designer.py --quick         # one seed, no sweep

Tables on stdout, timings on stderr.
"""

from __future__ import annotations

import argparse
import sys
import time

from contractlab.learning.tax_designer import compare, format_rows, train_tax_designer
from contractlab.theory.tax_economy import default_economy


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one seed and no α sweep")
    args = ap.parse_args()
    seeds = (0,) if args.quick else tuple(range(5))
    economy = default_economy()
    for objective in ("equality_productivity", "utilitarian"):
        t = time.perf_counter()
        rows, _ = compare(economy, objective, seeds=seeds)
        print(f"## objective: {objective}\n")
        print(format_rows(rows))
        print()
        print(f"{objective}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if not args.quick:
        print("## equality x productivity: the agents' step α (seed 0; exact value at equilibrium)\n")
        print(f"{'α':>6s} {'400 iterations':>16s} {'1000 iterations':>16s}")
        for alpha in (0.05, 0.15, 0.3):
            v = [train_tax_designer(economy, agent_lr=alpha, seed=0, iterations=n).exact_value for n in (400, 1000)]
            print(f"{alpha:6.2f} {v[0]:16.5f} {v[1]:16.5f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
