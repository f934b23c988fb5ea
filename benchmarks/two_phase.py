"""The two-phase steering mechanism against learning agents: welfare regret, phase lengths and
transfers, for the results page docs/two_phase.md.

    python benchmarks/two_phase.py [--seeds 20] [--plot docs/figures/two_phase_regret.png] [--quick]

Every case runs the horizons ``200 … 20000`` (5, log-spaced; each horizon a separate run of that
many episodes, since the phase lengths depend on it) for ``--seeds`` seeds on pollution control
with 3 stock levels, 2 steps and damage scale 0.1 (the default of ``contractlab steer``), and
prints one Markdown row per case: the welfare regret at the largest horizon, the sublinearity
verdict and slope with its CI, the Phase-2 transfer per episode as a multiple of the exact minimal
transfer, and the case's wall time. Then the phase lengths of the default configuration for
``T = 10^2 … 10^7``. Cases whose assumption is broken (an agent that never explores; probe blocks
of 2 episodes; responses read from outcomes only) are marked as such.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.summary import seed_list  # noqa: E402
from contractlab.cli.common import check_output  # noqa: E402
from contractlab.learning.externality_agents import QLearningAgent, make_agent  # noqa: E402
from contractlab.learning.two_phase import TwoPhase, steer  # noqa: E402
from contractlab.proofs_checks.sublinearity import MIN_SEEDS, sublinearity_test  # noqa: E402
from contractlab.solvers.welfare import welfare_benchmarks  # noqa: E402
from contractlab.theory.budget import check_memory  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.externality_families import pollution_control  # noqa: E402

HORIZONS = [200, 632, 2000, 6325, 20000]
DEFAULT = TwoPhase()
SHORT = TwoPhase(block_scale=1e-9, min_block=2, min_visits=1)
OUTCOMES = TwoPhase(observe="outcomes")

#: (label, agent, mechanism, config, assumption broken?)
CASES = [
    ("two-phase, Hedge", lambda: make_agent("hedge"), "two-phase", DEFAULT, ""),
    ("two-phase, RM+", lambda: make_agent("rm+"), "two-phase", DEFAULT, ""),
    ("two-phase, EXP3", lambda: make_agent("exp3"), "two-phase", DEFAULT, ""),
    ("two-phase, Q-learning", lambda: make_agent("q-learning"), "two-phase", DEFAULT, ""),
    ("none, Hedge", lambda: make_agent("hedge"), "none", DEFAULT, ""),
    ("none, Q-learning", lambda: make_agent("q-learning"), "none", DEFAULT, ""),
    ("two-phase, greedy Q (never explores)", lambda: QLearningAgent(explore=0.0), "two-phase", DEFAULT,
     "agent regret linear"),
    ("two-phase, Hedge, blocks of 2 episodes", lambda: make_agent("hedge"), "two-phase", SHORT, "blocks too short"),
    ("two-phase, Hedge, outcomes only", lambda: make_agent("hedge"), "two-phase", OUTCOMES, "no audit"),
]
QUICK = {"two-phase, Hedge", "none, Hedge", "two-phase, greedy Q (never explores)"}


def run_case(model, make, mechanism, config, seeds):
    t0 = time.perf_counter()
    R, last = [], None
    for T in HORIZONS:
        last = steer(model, make(), T, seeds=seeds, mechanism=mechanism, config=config)
        R.append(last.welfare_regret()[:, -1])
    R = np.array(R).T
    return R, last, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--plot", metavar="PNG", help="welfare regret against T, every case (log-log)")
    p.add_argument("--quick", action="store_true", help="three cases only")
    args = p.parse_args(argv)
    try:
        seeds = seed_list(args.seeds, MIN_SEEDS)    # the sublinearity test needs MIN_SEEDS seeds
        # a run keeps 5 float64 records per (seed, episode); the previous run is alive while the next one runs
        check_memory("--seeds", 2 * 5 * 8.0 * len(seeds) * HORIZONS[-1],
                     f"{len(seeds)} seeds x {HORIZONS[-1]} episodes")
        check_output("--plot", args.plot)
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    model = pollution_control(n_levels=3, horizon=2, damage_scale=0.1)
    bench = welfare_benchmarks(model)
    print(f"pollution control, 3 levels, 2 steps, damage 0.1: W* = {bench.optimal_welfare:.4g}, selfish "
          f"{bench.selfish_welfare:.4g} (gap {bench.gap:.4g}/episode), minimal transfer "
          f"{bench.total_transfer:.4g}/episode; {args.seeds} seeds, T = {HORIZONS}\n")
    print("| case | assumption broken | regret at T = 20000 | verdict | slope (95% CI) | Phase-2 transfer / minimum | seconds |")
    print("|---|---|---:|---|---|---:|---:|")
    curves = []
    for label, make, mechanism, config, broken in CASES:
        if args.quick and label not in QUICK:
            continue
        R, last, secs = run_case(model, make, mechanism, config, seeds)
        res = sublinearity_test(R, HORIZONS)
        ratio = np.nanmean(last.phase_two_transfer()) / bench.total_transfer if mechanism == "two-phase" else 0.0
        print(f"| {label} | {broken or '—'} | {R[:, -1].mean():.1f} | {res.verdict} | {res.slope:.3f} "
              f"[{res.slope_ci[0]:.3f}, {res.slope_ci[1]:.3f}] | {ratio:.2f} | {secs:.1f} |", flush=True)
        curves.append((label, R.mean(axis=0)))
    print("\nPhase lengths of the default configuration (H = 2 steps, 8 probes, L(T) = max(10, ceil(4 T^(1/3)))):\n")
    print("| T | L(T) | T_1 = H · probes · L | T_1 / T |")
    print("|---:|---:|---:|---:|")
    for T in (10**2, 10**3, 10**4, 10**5, 10**6, 10**7):
        T1 = DEFAULT.phase_one_length(T, model.horizon)
        print(f"| {T:.0e} | {DEFAULT.block_length(T)} | {T1} | {T1 / T:.3f} |")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7.0, 4.8), dpi=100)
        for label, mean in curves:
            ax.plot(HORIZONS, np.maximum(mean, 1e-3), "o-", label=label)
        ax.plot(HORIZONS, bench.gap * np.array(HORIZONS), "k--", label="selfish policy: gap · T")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("T (episodes)")
        ax.set_ylabel("mean welfare regret")
        ax.set_title(f"two-phase steering, pollution (3 levels, 2 steps), {args.seeds} seeds", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot, metadata={"Software": None})
        print(f"wrote {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
