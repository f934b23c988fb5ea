"""Steering no-regret learners with payments: the mediator's budget against T, stag hunt vs prisoner's dilemma.

    python benchmarks/steering_games.py [--horizon 10000] [--seeds 20] [--plot PNG] [--json]

Each row is one call of :func:`contractlab.learning.steering.steer_game` (dominance payments with
the margin ``δ_t = 0.5 · t^(−1/3)`` unless the row says otherwise), sampled play, seeds
``0..seeds−1``, budgets recorded at 7 horizons from 10² to ``--horizon`` (prefixes of one run per
seed; Hedge and EXP3 are tuned to ``--horizon``). Columns:

* ``budget(T)``: the mediator's realised total payment after ``T`` rounds (mean over seeds, with
  the 95% Student-t half-width), and ``budget/T``;
* ``slope`` and ``verdict``: the log-log slope of the realised budget with its bootstrap 95% CI
  and the verdict of :func:`contractlab.proofs_checks.sublinearity.sublinearity_test` (the
  decision rule is in its docstring); ``verdict (expected)``: the same test on the expected budget;
* ``dist(T)``: the mean distance of play to the target at round ``T``, ``1 − p_T(d_1) q_T(d_2)``.

The last row is the control without a mediator (:func:`~contractlab.learning.no_regret.self_play`):
the distance to (stag, stag) of unsteered Hedge self-play. ``--plot`` writes the mean realised
budget against ``T`` (log-log, with the seeds' 95% band) for the Hedge and EXP3 rows of the stag
hunt and the prisoner's dilemma. The table goes to stdout (Markdown, or ``--json``); progress to
stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # the contractlab of this checkout, installed or not

from benchmarks.summary import seed_list  # noqa: E402
from contractlab.cli.common import check_output  # noqa: E402
from contractlab.cli.regret import MAX_HORIZON  # noqa: E402
from contractlab.learning.no_regret import Exp3, Hedge, RegretMatchingPlus, self_play  # noqa: E402
from contractlab.learning.steering import steer_game  # noqa: E402
from contractlab.proofs_checks.sublinearity import MIN_SEEDS, sublinearity_test  # noqa: E402
from contractlab.theory.bimatrix import BimatrixGame  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.game_families import prisoners_dilemma, stag_hunt  # noqa: E402

LEARNERS = {"Hedge": Hedge, "EXP3": Exp3, "RM+": RegretMatchingPlus}
#: A game whose (0, 0) is a weak equilibrium: both players are indifferent there.
WEAK = BimatrixGame([[1.0, 0.0], [1.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])


def experiments():
    """(label, game, target, learner name, margin kwargs)."""
    rows = []
    for game_name, game, target in (("stag hunt", stag_hunt(), ("stag", "stag")),
                                    ("prisoner's dilemma", prisoners_dilemma(), ("cooperate", "cooperate"))):
        for learner in LEARNERS:
            rows.append((game_name, game, target, learner, {}))
    rows.append(("weak equilibrium, constant δ = 0.5", WEAK, (0, 0), "Hedge", {"decay": 0.0}))
    rows.append(("weak equilibrium, δ_t = 0.5 t^(−1/3)", WEAK, (0, 0), "Hedge", {}))
    return rows


def _half_width(x: np.ndarray) -> float:
    return float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def run(horizon: int, n_seeds: int) -> tuple[list[dict], np.ndarray]:
    seeds = list(range(n_seeds))
    horizons = np.unique(np.round(np.logspace(2, math.log10(horizon), 7)).astype(int))
    out = []
    for label, game, target, learner, kw in experiments():
        t0 = time.perf_counter()
        L = LEARNERS[learner]
        r = steer_game(game, target, L(2), L(2), horizon, seeds, mode="sampled", record=horizons, **kw)
        seconds = time.perf_counter() - t0
        realised, expected = r.budget_curve(realised=True), r.budget_curve()
        res, res_exp = sublinearity_test(realised, r.horizons), sublinearity_test(expected, r.horizons)
        final = realised[:, -1]
        out.append({"game": label, "target": list(target), "learner": learner, "margin": r.margin, "decay": r.decay,
                    "horizons": r.horizons.tolist(), "mean_budget": realised.mean(axis=0).tolist(),
                    "budget_half_width": [_half_width(realised[:, j]) for j in range(realised.shape[1])],
                    "budget_T": float(final.mean()), "budget_T_hw": _half_width(final),
                    "per_round": float(final.mean() / horizon), "slope": res.slope, "slope_ci": list(res.slope_ci),
                    "verdict": res.verdict, "verdict_expected": res_exp.verdict,
                    "distance_T": float(r.distance[:, -1].mean()), "seconds": seconds})
        print(f"{label}, {learner}: {res.verdict} ({seconds:.1f} s)", file=sys.stderr, flush=True)
    sp = self_play(stag_hunt(), Hedge(2), Hedge(2), horizon, seeds, mode="sampled")
    # the control: Hedge's strategies at round T are not returned by self_play; the empirical frequency of
    # (stag, stag) over the run is (σ_T), so its complement is reported as the distance of the average play
    out.append({"game": "stag hunt, no mediator (control)", "target": ["stag", "stag"], "learner": "Hedge",
                "distance_T": float(1 - sp.joint[:, 0, 0].mean()), "control": True})
    return out, horizons


def markdown(rows: list[dict], horizon: int, n_seeds: int) -> str:
    lines = [f"| game, target | learners | budget(T) at T = {horizon} (±95%) | budget/T | slope (95% CI) | verdict "
             "(realised) | verdict (expected) | dist(T) |",
             "|---|---|---:|---:|---|---|---|---:|"]
    for r in rows:
        if r.get("control"):
            lines.append(f"| {r['game']} | {r['learner']} | — | — | — | — | — | {r['distance_T']:.3f} (1 − freq. of "
                         "(stag, stag)) |")
            continue
        lo, hi = r["slope_ci"]
        lines.append(f"| {r['game']}, ({', '.join(map(str, r['target']))}) | {r['learner']} | "
                     f"{r['budget_T']:.4g} ± {r['budget_T_hw']:.2g} | {r['per_round']:.4f} | {r['slope']:.3f} "
                     f"[{lo:.3f}, {hi:.3f}] | {r['verdict']} | {r['verdict_expected']} | {r['distance_T']:.4f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    styles = {"stag hunt": "tab:green", "prisoner's dilemma": "tab:red"}
    for r in rows:
        if r.get("control") or r["game"] not in styles or r["learner"] == "RM+":
            continue
        T, m, hw = np.array(r["horizons"]), np.array(r["mean_budget"]), np.array(r["budget_half_width"])
        ls = "-" if r["learner"] == "Hedge" else "--"
        ax.plot(T, m, ls, color=styles[r["game"]], marker="o", ms=3,
                label=f"{r['game']} → ({', '.join(r['target'])}), {r['learner']}: {r['verdict']}")
        ax.fill_between(T, np.maximum(m - hw, 1e-3), m + hw, color=styles[r["game"]], alpha=0.15)
    T = np.array(rows[0]["horizons"], dtype=float)
    ax.plot(T, T, ":", color="gray", lw=1, label="slope 1 (linear)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("rounds T")
    ax.set_ylabel("mediator's realised budget (mean over seeds)")
    ax.set_title("Steering with dominance payments, δ_t = 0.5 t^(−1/3)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, path)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--horizon", type=int, default=10_000)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--plot", type=Path, help="write the budget figure (PNG) here")
    ap.add_argument("--json", action="store_true", help="JSON rows instead of the Markdown table")
    args = ap.parse_args(argv)
    try:
        if not 10_000 <= args.horizon <= MAX_HORIZON:
            raise InvalidInstanceError("--horizon", f"must be in [10000 (2 decades from 100), {MAX_HORIZON:.0e}], "
                                                    f"got {args.horizon}")
        seed_list(args.seeds, MIN_SEEDS)            # the sublinearity test needs MIN_SEEDS seeds
        check_output("--plot", None if args.plot is None else str(args.plot))
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows, _ = run(args.horizon, args.seeds)
    if args.plot:
        plot(rows, args.plot)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        json.dump({"horizon": args.horizon, "seeds": args.seeds, "rows": rows}, sys.stdout, indent=1)
        print()
    else:
        print(markdown(rows, args.horizon, args.seeds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
