"""The exact welfare benchmarks of the externality environments, as the Markdown table of
``docs/externalities.md``.

    python benchmarks/welfare_table.py [--seeds 0 1 2]

Rows: the pollution and insurance environments with their defaults
(:func:`~contractlab.theory.externality_families.pollution_control`,
:func:`~contractlab.theory.externality_families.insurance`), then
:func:`~contractlab.theory.externality_families.random_pollution` and
:func:`~contractlab.theory.externality_families.random_insurance` with their default sizes for
each ``--seeds`` value. Columns: ``W*`` (the welfare optimum), the welfare of the selfish policy
(the agent's best response to zero transfers, ties to the others), the gap ``W* − selfish``, and
the expected total minimal transfer that implements the optimum from the initial state, all from
:func:`~contractlab.solvers.welfare.welfare_benchmarks`, printed to 6 significant digits; plus
whether the first best is implementable at every step and state. For one instance the same
numbers are printed by ``contractlab generate pollution -o p.json && contractlab solve p.json``.
"""

from __future__ import annotations

import argparse
import sys

from contractlab.solvers.welfare import welfare_benchmarks
from contractlab.theory.externality_families import insurance, pollution_control, random_insurance, random_pollution


def rows(seeds: list[int]) -> list[tuple[str, object]]:
    """(label, instance) in the order of the table."""
    out = [("`pollution` (defaults)", pollution_control()), ("`insurance` (defaults)", insurance())]
    out += [(f"`random_pollution --seed {s}`", random_pollution(s)) for s in seeds]
    out += [(f"`random_insurance --seed {s}`", random_insurance(s)) for s in seeds]
    return out


def table(seeds: list[int]) -> str:
    lines = ["| instance | states | horizon | W* | selfish welfare | gap | total minimal transfer | first best "
             "implementable |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for label, m in rows(seeds):
        b = welfare_benchmarks(m)
        lines.append(f"| {label} | {m.n_states} | {m.horizon} | {b.optimal_welfare:.6g} | {b.selfish_welfare:.6g} | "
                     f"{b.gap:.6g} | {b.total_transfer:.6g} | {'yes' if b.first_best_implementable else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds of the random families")
    seeds = p.parse_args().seeds
    bad = [i for i, s in enumerate(seeds) if s < 0]
    if bad:
        print(f"error: --seeds[{bad[0]}]: must be an integer >= 0, got {seeds[bad[0]]}", file=sys.stderr)
        raise SystemExit(2)
    print(table(seeds))


if __name__ == "__main__":
    main()
