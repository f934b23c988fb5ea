"""Why validation falls short on 3x3: fresh selfish Q-learners against the exact optimum ``π*``
under three exact payment rules, one of them dominant.

    python benchmarks/coin_validation.py [--seeds 5] [--simultaneous random both]
                                         [--agent-iterations 600] [--nudge 0.05] [--lp] [--quick]

``benchmarks/coin_principal.py`` shows that fresh selfish learners trained against even the
exact optimum with the paper's payments reach only about 0.885 of ``W*`` under
``simultaneous="random"``. Those payments (``coin_game_exact.paper_payments``, Section 5) make
following a best response *when the other agent follows*; during learning the other does not.
This benchmark validates ``π*`` (``coin_game_exact.welfare_optimum``) with the same learners
(:func:`contractlab.learning.coin_principal.validate`, tabular Q-learning, paid iff they follow)
and seeds under each rule, every payment raised by the same nudge ``ξ``:

* ``paper``: the paper's payments on the exact Q (following a best response against a follower);
* ``every-action``: ``coin_game_exact.every_action_payments``, which make following weakly
  optimal against every current action of the other (the paper's Eq. (5)), chosen greedily
  backwards (milliseconds);
* ``LP minimum`` (``--lp``; minutes): the least expected payments with the same dominance
  property (``solvers/coin_game_lp.py``).

Every number is exact: the learners' final greedy play evaluated on the exact tables
(``coin_agents.exact_play``), mean ± 95% Student-t half-width over seeds. Columns: welfare over
``W*``; expected payments per episode of that play; payments over welfare; follow rate; and the
exact payments of the rule when both follow (without ``ξ``). ``--quick``: 2 seeds, 40 iterations
(a smoke run). Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.contracts import machine_info  # noqa: E402
from benchmarks.summary import ci, log, parse_args_quick, seed_list, with_flags  # noqa: E402
from contractlab.learning import coin_principal as cp  # noqa: E402
from contractlab.learning.coin_agents import AgentConfig  # noqa: E402
from contractlab.solvers import coin_game_exact as X  # noqa: E402
from contractlab.theory.coin_game import CoinGame  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402


def rules(tb: X.CoinTables, opt: X.WelfareOptimum, lp: bool) -> dict:
    """``name -> RecommendationPayments`` of ``π*`` under each payment rule."""
    out = {"paper": X.paper_payments(tb, opt), "every-action": X.every_action_payments(tb, opt)}
    if lp:
        from contractlab.solvers.coin_game_lp import min_payments_lp
        out["LP minimum"] = min_payments_lp(tb, opt).payments
    return out


def run_rule(simultaneous: str, seeds: list[int], acfg: AgentConfig, nudge: float, lp: bool) -> dict:
    game = CoinGame(grid=3, simultaneous=simultaneous)
    tb = X.tables(game)
    opt = X.welfare_optimum(tb)
    t0 = time.perf_counter()
    payments = rules(tb, opt, lp)
    log(f"{simultaneous}: W* = {opt.value:.4f}; payment rules in {time.perf_counter() - t0:.0f} s")
    out = {}
    for name, rp in payments.items():
        pol = cp.CoinPrincipal(game=game, recommendation=opt.policy, payments=np.moveaxis(rp.paid, 0, 2) + nudge,
                               agent_q=np.zeros((2, game.horizon, game.n_states, game.n_actions)),
                               alpha=cp.PAPER_ALPHA, nudge=nudge, seed=0, iteration=0)
        plays = []
        for s in seeds:
            plays.append(cp.validate(pol, acfg, seed=1000 + s, tables=tb).play)
            log(f"  {simultaneous} {name} seed {s}: W/W* {plays[-1].welfare / opt.value:.3f}, "
                f"follow {np.mean(plays[-1].follow_rate):.3f}, paid {plays[-1].total_payment:.3f}")
        out[name] = (float(rp.total_payment), plays)
    return {"game": game, "W": opt.value, "rows": out}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--simultaneous", nargs="+", choices=["random", "both"], default=["random", "both"])
    ap.add_argument("--agent-iterations", type=int, default=AgentConfig().iterations)
    ap.add_argument("--nudge", type=float, default=cp.PrincipalConfig().nudge)
    ap.add_argument("--lp", action="store_true", help="also the LP minimum (minutes per tie rule)")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 40 iterations: a smoke run")
    args = parse_args_quick(ap, argv, seeds=2, agent_iterations=40)
    try:
        seeds = seed_list(args.seeds)
        if not (math.isfinite(args.nudge) and args.nudge >= 0):
            raise InvalidInstanceError("--nudge", f"must be a finite number >= 0, got {args.nudge}")
        acfg = with_flags(lambda: AgentConfig(iterations=args.agent_iterations), {"iterations": "--agent-iterations"})
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    start = time.perf_counter()
    results = [run_rule(sim, seeds, acfg, args.nudge, args.lp) for sim in args.simultaneous]
    wall = time.perf_counter() - start
    info = machine_info()
    command = " ".join(["python benchmarks/coin_validation.py", *map(shlex.quote, argv if argv is not None
                                                                        else sys.argv[1:])])
    print(f"Command: `{command}` — wall time {wall:.0f} s")
    print(f"Machine: {info['cpu']}, {info['cpus_usable']} usable CPUs, load {info['load_average_1_5_15min']}, "
          f"Python {info['python']}, numpy {info['numpy']}, commit {info['git_commit']}, {info['date_utc']}")
    print(f"\nFresh selfish tabular Q-learners ({acfg.iterations} iterations of {acfg.n_envs} episodes) against π*, "
          f"paid the rule's payment + ξ = {args.nudge} iff they follow; seeds {seeds}; exact evaluation; "
          f"mean ± 95% Student-t half-width.\n")
    for res in results:
        g, W = res["game"], res["W"]
        print(f"`CoinGame(grid=3, horizon={g.horizon}, simultaneous={g.simultaneous!r})`, W* = {W:.3f}\n")
        print("| payments for following π* | welfare / W* | payments | payments / welfare | follow rate "
              "| the rule's payments when both follow (no ξ) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, (exact, plays) in res["rows"].items():
            print(f"| {name} | {ci([p.welfare / W for p in plays])} | {ci([p.total_payment for p in plays])} "
                  f"| {ci([p.payment_share for p in plays])} | {ci([float(np.mean(p.follow_rate)) for p in plays])} "
                  f"| {exact:.3f} |")
        print()


if __name__ == "__main__":
    main()
