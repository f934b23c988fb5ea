"""The tabular Coin Game principal on 3x3 against the exact answers, with its baselines.

    python benchmarks/coin_principal.py [--seeds 5] [--simultaneous random both]
                                        [--principal-iterations 600] [--agent-iterations 600]
                                        [--nudge 0.05] [--minimum lp] [--quick]

For each tie rule (``CoinGame(grid=3, simultaneous=...)``, ``H = 20``, 1458 states) and each
seed: the principal of :mod:`contractlab.learning.coin_principal` is trained (``α = 0.1``), then
frozen and validated by two fresh selfish tabular Q-learners trained from scratch, paid only
when they follow; the baselines of :mod:`contractlab.learning.coin_baselines` (selfish,
cooperative, constant proportion with the budget matched to that seed's validation payment
share) are trained with the same learners and budget. A reference row validates, with the same
learners and seeds, the exact counterpart of the learned principal: ``π*`` with the paper's
payments on the exact Q plus the same nudge ``ξ``, which separates the principal's learning
error from what independent Q-learners make of even exact payments. Everything reported is exact (the greedy
joint policy after training evaluated on the exact tables: welfare by ``coin_game_exact.evaluate``,
payments and follow rate on the exact state distribution of that play), averaged over seeds with
a 95% Student-t interval. Exact references: ``W*`` (``welfare_optimum``), the paper's payments
for ``π*`` (``paper_payments``), the exact minimum-payment reference
(``coin_principal.minimum_payment_reference``: the LP minimum of ``solvers/coin_game_lp.py``, the
least payments that make following weakly optimal against every current action of the other;
``--minimum every-action`` takes the greedy upper bound instead), the selfish SPE
(``selfish_equilibrium``, best and worst stage selection).

Columns: welfare as a fraction of ``W*``; expected payments per episode; payments as a share of
welfare; payments over the minimum reference's payments; follow rate (the fraction of steps at
which an agent plays the principal's recommendation, both agents, on the play's own state
distribution; for the baselines, the recommendation of the same seed's principal, which they
are not asked to follow). A second table gives the principal's own diagnostics with both agents
following: the learned payments against the paper's payments on the exact Q for the same
recommendation and nudge, and the IC gap (an agent's exact best-response value minus its value
of following, per agent and episode; <= 0 means following is a best response).

``--quick``: 2 seeds, 40 iterations each, the every-action minimum (a smoke run; not converged).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.contracts import machine_info  # noqa: E402
from benchmarks.summary import ci, log, parse_args_quick, seed_list, with_flags  # noqa: E402
from contractlab.learning import coin_baselines as cb  # noqa: E402
from contractlab.learning import coin_principal as cp  # noqa: E402
from contractlab.learning.coin_agents import AgentConfig  # noqa: E402
from contractlab.solvers import coin_game_exact as X  # noqa: E402
from contractlab.theory.coin_game import CoinGame  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402


def run_rule(simultaneous: str, seeds: list[int], pcfg: cp.PrincipalConfig, acfg: AgentConfig,
             minimum: str = "lp") -> dict:
    game = CoinGame(grid=3, simultaneous=simultaneous)
    tb = X.tables(game)
    opt = X.welfare_optimum(tb)
    paper = X.paper_payments(tb, opt)
    t0 = time.perf_counter()
    min_name, min_pay = cp.minimum_payment_reference(tb, opt, minimum)
    log(f"  {simultaneous}: minimum reference ({min_name}) {min_pay:.4f} in {time.perf_counter() - t0:.0f} s")
    spe = {sel: X.selfish_equilibrium(tb, sel) for sel in ("best", "worst")}
    rows = {k: [] for k in ("principal", "validation", "validation_exact", "selfish", "cooperative",
                            "constant_proportion")}
    diag = []
    # the reference principal: π* with the paper's payments on the exact Q, raised by the same nudge
    exact_pol = cp.CoinPrincipal(game=game, recommendation=opt.policy,
                                 payments=cp.exact_payments_for(tb, opt.policy, pcfg.nudge),
                                 agent_q=np.zeros((2, game.horizon, game.n_states, game.n_actions)),
                                 alpha=pcfg.alpha, nudge=pcfg.nudge, seed=0, iteration=0)
    for s in seeds:
        t0 = time.perf_counter()
        pol = cp.train(game, pcfg, seed=s)
        pm = cp.evaluate_principal(pol, tb, opt)
        t1 = time.perf_counter()
        val = cp.validate(pol, acfg, seed=1000 + s, tables=tb)
        rec = pol.actions()
        p = cb.matched_proportion(val.play)
        base = {kind: cb.train_baseline(game, kind, acfg, seed=seed0 + s, proportion=p, recommendation=rec, tables=tb)
                for kind, seed0 in (("selfish", 2000), ("cooperative", 3000), ("constant_proportion", 4000))}
        rows["principal"].append(pm.play)
        rows["validation"].append(val.play)
        rows["validation_exact"].append(cp.validate(exact_pol, acfg, seed=1000 + s, tables=tb).play)
        for kind, run in base.items():
            rows[kind].append(run.play)
        diag.append((pm.welfare_fraction, pm.play.total_payment, float(pm.exact_payment.sum()), pm.ic_gap.max(),
                     pm.objective, p, t1 - t0, time.perf_counter() - t1))
        log(f"  {simultaneous} seed {s}: principal W/W* {pm.welfare_fraction:.3f}, payments "
            f"{pm.play.total_payment:.3f} (exact {pm.exact_payment.sum():.3f}), IC gap {pm.ic_gap.round(3)}; "
            f"validation W/W* {val.play.welfare / opt.value:.3f}, follow {val.play.follow_rate.mean():.3f}, "
            f"share {val.play.payment_share:.3f}; selfish {base['selfish'].play.welfare / opt.value:.3f}, "
            f"coop {base['cooperative'].play.welfare / opt.value:.3f}, const-prop "
            f"{base['constant_proportion'].play.welfare / opt.value:.3f} "
            f"({t1 - t0:.0f} s + {time.perf_counter() - t1:.0f} s)")
    return {"game": game, "opt": opt, "paper": paper, "min": (min_name, min_pay), "spe": spe, "rows": rows,
            "diag": np.array(diag)}


LABELS = {
    "principal": "learned principal, both agents follow",
    "validation": "validation: fresh selfish learners vs frozen principal",
    "validation_exact": "reference: the same validation vs π* with exact paper payments + ξ",
    "selfish": "baseline: selfish learners",
    "cooperative": "baseline: cooperative learners (maximise welfare, unpaid)",
    "constant_proportion": "baseline: constant proportion p (matched share)",
}


def print_rule(res: dict) -> None:
    W, (min_name, min_pay) = res["opt"].value, res["min"]
    g = res["game"]
    print(f"\n### `CoinGame(grid=3, simultaneous={g.simultaneous!r})`: W* = {W:.4f}, "
          f"paper payments for π* = {res['paper'].total_payment:.4f} ({res['paper'].total_payment / W:.1%} of W*), "
          f"minimum reference ({min_name}) = {min_pay:.4f} ({min_pay / W:.1%})\n")
    print("| run | welfare / W* | payments | payments / welfare | payments / minimum | follow rate |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for key, plays in res["rows"].items():
        w = [m.welfare / W for m in plays]
        pay = [m.total_payment for m in plays]
        share = [m.payment_share for m in plays]
        rel = [m.total_payment / min_pay for m in plays]
        fol = [float(np.mean(m.follow_rate)) for m in plays]
        label = LABELS[key]
        if key == "constant_proportion":
            label += f" (p = {ci(res['diag'][:, 5])})"
        no_pay = key in ("selfish", "cooperative")
        print(f"| {label} | {ci(w)} | {'0' if no_pay else ci(pay)} | {'0' if no_pay else ci(share)} "
              f"| {'0' if no_pay else ci(rel)} | {ci(fol)} |")
    pp = res["paper"]
    print(f"| exact: π* with the paper's payments | 1 | {pp.total_payment:.3f} | {pp.total_payment / W:.3f} "
          f"| {pp.total_payment / min_pay:.3f} | 1 |")
    print(f"| exact: π* with the minimum reference ({min_name}) | 1 | {min_pay:.3f} | {min_pay / W:.3f} | 1 | 1 |")
    for sel, e in res["spe"].items():
        print(f"| exact: selfish SPE ({sel} stage selection) | {e.welfare / W:.3f} | 0 | 0 | 0 | — |")
    d = res["diag"]
    print("\n| principal (both follow, exact) | welfare / W* | learned payments "
          "| paper's payments on the exact Q (same recommendation, same ξ) | max IC gap per agent "
          "| objective W/α − P | train s | validation + baselines s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(f"| mean ± 95% t | {ci(d[:, 0])} | {ci(d[:, 1])} | {ci(d[:, 2])} | {ci(d[:, 3])} | {ci(d[:, 4])} "
          f"| {d[:, 6].mean():.1f} | {d[:, 7].mean():.1f} |")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--simultaneous", nargs="+", default=["random", "both"], choices=["random", "both"])
    ap.add_argument("--principal-iterations", type=int, default=cp.PrincipalConfig().iterations)
    ap.add_argument("--agent-iterations", type=int, default=AgentConfig().iterations)
    ap.add_argument("--nudge", type=float, default=cp.PrincipalConfig().nudge)
    ap.add_argument("--minimum", choices=cp.MINIMUM_REFERENCES, default="lp",
                    help="the exact minimum-payment reference (default lp; every-action: the greedy upper bound)")
    ap.add_argument("--quick", action="store_true", help="2 seeds, 40 iterations, every-action minimum: a smoke run")
    args = parse_args_quick(ap, argv, seeds=2, principal_iterations=40, agent_iterations=40, minimum="every-action")
    try:
        seeds = seed_list(args.seeds, minimum=1)
        pcfg = with_flags(lambda: cp.PrincipalConfig(iterations=args.principal_iterations, nudge=args.nudge),
                          {"iterations": "--principal-iterations", "nudge": "--nudge"})
        acfg = with_flags(lambda: AgentConfig(iterations=args.agent_iterations), {"iterations": "--agent-iterations"})
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    start = time.perf_counter()
    results = [run_rule(sim, seeds, pcfg, acfg, args.minimum) for sim in args.simultaneous]
    wall = time.perf_counter() - start
    info = machine_info()
    command = " ".join(["python benchmarks/coin_principal.py",
                        *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    print(f"Command: `{command}` — wall time {wall:.0f} s")
    print(f"Machine: {info['cpu']}, {info['cpus_usable']} usable CPUs, load {info['load_average_1_5_15min']}, "
          f"Python {info['python']}, numpy {info['numpy']}, commit {info['git_commit']}, {info['date_utc']}")
    print(f"\nSeeds {seeds}; principal {pcfg.to_dict()}; agents {acfg.to_dict()}; mean ± 95% Student-t half-width.")
    for res in results:
        print_rule(res)


if __name__ == "__main__":
    main()
