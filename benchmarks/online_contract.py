"""Online linear contracts: the regret of the grid + UCB1 learner against T, with its fitted slope.

    python benchmarks/online_contract.py [--instance effort|four-action|near-tie] [--seeds N]
                                         [--horizons T1,T2,...] [--quick] [--json] [--plot PATH]

What is measured
----------------
:func:`contractlab.learning.online_contract.learn_linear_contract` (Zhu et al., arXiv 2211.05732:
``K = ⌈T^{1/3}⌉`` shares ``k/K`` and UCB1 on the utility scaled by ``r_max``) is run for each
horizon ``T`` with seeds ``0..N−1`` (one run per horizon: the grid depends on ``T``). For each ``T``
the table gives the grid size ``K``, the mean pseudo-regret ``Σ_t (U(α*) − U(α_t))`` against the
exact best linear contract (``solvers/linear.py``) with its 95% Student-t interval, the part
``T·disc`` that no learner on that grid can avoid (``disc = U(α*) − max_k U(α_k)``), ``R/T``, and
the bound ``T·disc + r_max·B`` of ``online_contract.ucb_expected_regret``. Below it: the
sublinearity test of ``proofs_checks/sublinearity.py`` (log-log slope, bootstrap CI over seeds,
verdict). The default horizons are 32, 64, 512, 4096, 32768, 262144 (``K = 4, 4, 8, 16, 32, 64``):
nested grids, so the discretisation error cannot grow with ``T`` (see ``docs/online_contracts.md``);
``--quick`` drops the last one and uses 20 seeds (what ``tests/test_online_contract.py`` runs).

Instances (``--instance``)
--------------------------
* ``effort`` (default): shirk (success w.p. 0.1, free) or work (0.95, cost 0.2), success worth 1;
  ``α* = 4/17``.
* ``four-action``: outcomes worth 0, 0.5, 1; four actions, each induced on a segment of [0, 1]
  (``α* = 3/8``).
* ``near-tie``: outcomes worth 0, 0.5, 1; ``U(α)`` has two peaks 0.0024 apart (0.1944 at
  ``α* = 4/9``, 0.1920 at 0.68), both small against ``r_max = 1``: UCB1 cannot tell the arms near
  them apart within these horizons, and the regret looks linear there (``Θ̃(T^{2/3})`` is a rate for
  large ``T``).

stdout: the table (or one JSON document with ``--json``); progress on stderr. ``--plot PATH``
writes a log-log PNG of the mean regret with its CI, ``T·disc`` and a ``T^{2/3}`` reference line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # the contractlab of this checkout, installed or not

from benchmarks.summary import seed_list, with_flags  # noqa: E402
from contractlab.cli.common import check_output  # noqa: E402
from contractlab.learning.online_contract import BYTES_PER_ROUND, learn_linear_contract  # noqa: E402
from contractlab.proofs_checks.sublinearity import (LEVEL, MIN_SEEDS, sublinearity_test,  # noqa: E402
                                                   validate_design)
from contractlab.proofs_checks.theorems_online_contract import ucb_grid_bound  # noqa: E402
from contractlab.theory.budget import check_memory  # noqa: E402
from contractlab.theory.contract_problem import ContractProblem  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402

INSTANCES = {
    "effort": (np.array([[0.9, 0.1], [0.05, 0.95]]), np.array([0.0, 0.2]), np.array([0.0, 1.0])),
    "four-action": (np.array([[0.9, 0.1, 0.0], [0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.05, 0.15, 0.8]]),
                     np.array([0.0, 0.05, 0.2, 0.4]), np.array([0.0, 0.5, 1.0])),
    "near-tie": (np.array([[0.8, 0.15, 0.05], [0.5, 0.3, 0.2], [0.2, 0.4, 0.4], [0.05, 0.25, 0.7]]),
                 np.array([0.0, 0.1, 0.27, 0.45]), np.array([0.0, 0.5, 1.0])),
}
DEFAULT_HORIZONS = [32, 64, 512, 4096, 32768, 262144]       # K = 4, 4, 8, 16, 32, 64: nested grids
QUICK_HORIZONS = DEFAULT_HORIZONS[:5]
DEFAULT_SEEDS, QUICK_SEEDS = 30, 20


def measure(problem: ContractProblem, horizons: list[int], n_seeds: int) -> dict:
    rows, regret = [], []
    for T in horizons:
        t0 = time.perf_counter()
        run = learn_linear_contract(problem, T, range(n_seeds))
        wall = time.perf_counter() - t0
        final = run.final_regret
        half = stats.t.ppf((1 + LEVEL) / 2, n_seeds - 1) * final.std(ddof=1) / math.sqrt(n_seeds)
        bound = T * run.discretisation_error + run.scale * ucb_grid_bound(run.grid_gaps / run.scale, T)
        rows.append({"T": T, "K": run.n_arms, "mean_regret": float(final.mean()),
                     "ci": [float(final.mean() - half), float(final.mean() + half)],
                     "T_disc": T * run.discretisation_error, "ratio": float(final.mean()) / T,
                     "bound": bound, "wall_s": wall})
        regret.append(final)
        print(f"T = {T}: K = {run.n_arms}, mean regret {final.mean():.2f} ({wall:.1f} s)", file=sys.stderr)
    res = sublinearity_test(np.stack(regret, axis=1), horizons)
    return {"alpha_star": run.best.alpha, "U_star": run.best_utility, "rows": rows,
            "sublinearity": {"verdict": res.verdict, "slope": res.slope, "slope_ci": list(res.slope_ci),
                             "reason": res.reason}}


def print_table(name: str, n_seeds: int, out: dict) -> None:
    print(f"instance {name}: alpha* = {out['alpha_star']:.6f}, U(alpha*) = {out['U_star']:.6f}, {n_seeds} seeds")
    print()
    print("| T | K | mean regret | 95% CI | T·disc | R/T | bound T·disc + r_max·B | wall (s) |")
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in out["rows"]:
        print(f"| {r['T']:,} | {r['K']} | {r['mean_regret']:,.2f} | [{r['ci'][0]:,.2f}, {r['ci'][1]:,.2f}] | "
              f"{r['T_disc']:,.2f} | {r['ratio']:.4f} | {r['bound']:,.1f} | {r['wall_s']:.1f} |")
    s = out["sublinearity"]
    print()
    print(f"fitted log-log slope {s['slope']:.3f}, 95% CI [{s['slope_ci'][0]:.3f}, {s['slope_ci'][1]:.3f}]; "
          f"verdict {s['verdict']} ({s['reason']})")


def write_plot(name: str, n_seeds: int, out: dict, path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = out["rows"]
    T = np.array([r["T"] for r in rows], dtype=float)
    mean = np.array([r["mean_regret"] for r in rows])
    ci = np.array([r["ci"] for r in rows])
    disc = np.array([r["T_disc"] for r in rows])
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    ax.fill_between(T, np.maximum(ci[:, 0], 1e-9), ci[:, 1], alpha=0.25, label=f"{LEVEL:.0%} CI")
    ax.plot(T, mean, "o-", label="mean pseudo-regret")
    pos = disc > 0
    ax.plot(T[pos], disc[pos], "s:", color="tab:green", label="T·disc (grid's own loss)")
    mid = len(T) // 2                  # the reference line passes through the middle point
    ax.plot(T, mean[mid] * (T / T[mid]) ** (2 / 3), "k--", label="∝ T^(2/3)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    s = out["sublinearity"]
    ax.set_title(f"grid + UCB1, linear contracts, instance '{name}' ({n_seeds} seeds)\n"
                 f"{s['verdict']}, slope {s['slope']:.3f} [{s['slope_ci'][0]:.3f}, {s['slope_ci'][1]:.3f}]",
                 fontsize=9)
    ax.set_xlabel("T (rounds); K = ⌈T^(1/3)⌉ arms")
    ax.set_ylabel("regret vs the best linear contract")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png", metadata={"Software": None})
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)


def parse_horizons(text: str) -> list[int]:
    """``--horizons 32,64,...`` as integers >= 1, refused naming the flag and the index."""
    out = []
    for i, word in enumerate(text.split(",")):
        try:
            T = int(word)
        except ValueError:
            raise InvalidInstanceError("--horizons", f"expected an integer, got {word[:40]!r}", i) from None
        if T < 1:
            raise InvalidInstanceError("--horizons", f"must be >= 1, got {T}", i)
        out.append(T)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--instance", choices=sorted(INSTANCES), default="effort")
    ap.add_argument("--seeds", type=int, default=None, help=f"seeds 0..N-1 (default {DEFAULT_SEEDS})")
    ap.add_argument("--horizons", default=None, help="comma-separated horizons (default 32,64,512,4096,32768,262144)")
    ap.add_argument("--quick", action="store_true", help="horizons 32..32768 and 20 seeds")
    ap.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    ap.add_argument("--plot", metavar="PATH", help="write a log-log PNG of regret against T")
    args = ap.parse_args(argv)
    try:
        horizons = (parse_horizons(args.horizons) if args.horizons is not None
                    else QUICK_HORIZONS if args.quick else DEFAULT_HORIZONS)
        n_seeds = len(seed_list(args.seeds if args.seeds is not None else QUICK_SEEDS if args.quick
                                else DEFAULT_SEEDS, MIN_SEEDS))   # the sublinearity test needs MIN_SEEDS seeds
        # what the test will ask of the horizons (at least 5, increasing, 2 decades), before any learning
        with_flags(lambda: validate_design(np.zeros((n_seeds, len(horizons))), horizons),
                   {"horizons": "--horizons"})
        try:                                        # the runs come one at a time: the last horizon is the largest
            check_memory("--horizons", float(n_seeds) * horizons[-1] * BYTES_PER_ROUND,
                         f"recording {n_seeds} seeds x {horizons[-1]} rounds")
        except InvalidInstanceError as exc:
            raise InvalidInstanceError("--horizons", exc.reason, len(horizons) - 1) from None
        check_output("--plot", args.plot)
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    F, c, r = INSTANCES[args.instance]
    out = measure(ContractProblem(F, c, r), horizons, n_seeds)
    if args.json:
        print(json.dumps({"instance": args.instance, "seeds": n_seeds, **out}, indent=1))
    else:
        print_table(args.instance, n_seeds, out)
    if args.plot:
        write_plot(args.instance, n_seeds, out, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
