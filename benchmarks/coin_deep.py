"""The deep (torch) Coin Game principal on the paper's 7x7 grid (``H = 50``), with its validation
and baselines, beside the figures Ivanov et al. report (arXiv 2407.18074, Section 5, Fig. 2).

    python benchmarks/coin_deep.py [--seeds 3] [--principal-iterations N] [--agent-iterations N]
                                   [--n-envs 32] [--episodes 1024] [--nudge 0.01] [--grid 7]
                                   [--simultaneous both] [--quick] [--out results.json]

For each seed: the principal of :mod:`contractlab.learning.coin_deep` is trained (``α = 0.1``),
frozen, and measured with both agents following; then validated by two fresh selfish DQN
learners trained from scratch, paid only when they follow; then the baselines of
:mod:`contractlab.learning.coin_baselines` are trained with the same deep learners and budget:
selfish, cooperative (each learns from the welfare, unpaid) and constant proportion with ``p``
matched to that seed's validation payment share. There is no exact optimum on 7x7: every number
is a Monte Carlo mean of the greedy play over ``--episodes`` games (a fixed evaluation seed), and
the table gives the mean over seeds ± a 95% Student-t half-width. A reference row gives uniformly
random play (the scale of an untrained policy).

Columns: welfare per episode; payments per episode; payments as a share of welfare; follow rate
(the fraction of steps at which an agent plays the recommendation of the same seed's
principal; the baselines are not asked to). The paper's Fig. 2 (7x7) reports near-optimal
welfare, payments near 30% of welfare and 80–90% of recommendations followed, after 10⁶ updates
per network.

Defaults: 12 000 lockstep steps of 32 games for the principal (one gradient step per network
each; the paper has 10⁶) and 5400 for each validation / baseline run: 18 minutes for 3 seeds,
425 MB peak, on the shared 2-core machine at load ~3 (a third of this budget took 20 minutes at
load ~8, so on a busier machine the defaults may take about an hour).

``--quick``: 2 seeds, 60 iterations each, 128 evaluation episodes (a smoke run, < 1 minute;
nothing converges). ``--out``: the numbers as JSON (written atomically; the path is checked
before any work). Progress goes to stderr, the table to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.contracts import machine_info  # noqa: E402
from contractlab.cli.common import check_output  # noqa: E402
from contractlab.learning import coin_baselines as cb  # noqa: E402
from contractlab.learning import coin_deep as cd  # noqa: E402
from contractlab.learning.coin_deep_agents import DeepAgentConfig, play_greedy  # noqa: E402
from contractlab.theory.coin_game import CoinGame  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.fileio import write_atomic  # noqa: E402

LEVEL = 0.95
ROWS = {
    "principal": "learned principal, both agents follow",
    "validation": "validation: fresh selfish DQNs vs frozen principal (paid iff they follow)",
    "selfish": "baseline: selfish DQNs",
    "cooperative": "baseline: cooperative DQNs (maximise welfare, unpaid)",
    "constant_proportion": "baseline: constant proportion p (matched share)",
    "random": "reference: uniformly random play",
}


def ci(values) -> str:
    v = np.asarray(values, dtype=float)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return "—"
    if v.size < 2:
        return f"{v.mean():.3f}"
    half = float(stats.t.ppf((1 + LEVEL) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return f"{v.mean():.3f} ± {half:.3f}"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def progress(label: str, every: int):
    start = time.perf_counter()
    count = [0]

    def cb_(iteration, total, metrics):
        count[0] += 1
        if count[0] % every == 0:
            log(f"    {label}: {iteration}/{total} welfare/episode {metrics['welfare']:.2f} "
                f"({time.perf_counter() - start:.0f} s)")
        return False

    return cb_


def record(play) -> dict:
    return {"welfare": play.welfare, "payments": play.total_payment, "payment_share": play.payment_share,
            "follow_rate": float(np.mean(play.follow_rate)), "returns": play.returns.tolist()}


def run_seed(game: CoinGame, seed: int, pcfg: cd.DeepPrincipalConfig, acfg: DeepAgentConfig, episodes: int,
             every: int) -> dict:
    out, times = {}, {}
    t0 = time.perf_counter()
    pol = cd.train(game, pcfg, seed=seed, callback=progress(f"seed {seed} principal", every))
    times["principal"] = time.perf_counter() - t0
    out["principal"] = pol.follow(episodes, seed=10_000 + seed)
    t0 = time.perf_counter()
    val = cd.validate(pol, acfg, seed=1000 + seed, episodes=episodes, eval_seed=10_000 + seed,
                      callback=progress(f"seed {seed} validation", every))
    times["validation"] = time.perf_counter() - t0
    out["validation"] = val.play
    p = cb.matched_proportion(val.play) if val.play.welfare > 0 else 0.0
    for kind, seed0 in (("selfish", 2000), ("cooperative", 3000), ("constant_proportion", 4000)):
        t0 = time.perf_counter()
        run = cd.train_baseline(game, kind, acfg, seed=seed0 + seed, proportion=p, principal=pol, episodes=episodes,
                                eval_seed=10_000 + seed, callback=progress(f"seed {seed} {kind}", every))
        times[kind] = time.perf_counter() - t0
        out[kind] = run.play
    rng = np.random.default_rng(20_000 + seed)
    out["random"] = play_greedy(game, lambda s, t, r: rng.integers(0, game.n_actions, size=(s.batch, 2)), episodes,
                                10_000 + seed, context=pol.context, pay_followers=False)
    log(f"  seed {seed}: " + ", ".join(f"{k} W {m.welfare:.2f} P {m.total_payment:.2f} follow "
                                      f"{np.mean(m.follow_rate):.2f}" for k, m in out.items())
        + f"; p = {p:.3f}; times " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    return {"plays": out, "proportion": p, "times": times}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--grid", type=int, default=7)
    ap.add_argument("--simultaneous", choices=["both", "random"], default="both")
    ap.add_argument("--principal-iterations", type=int, default=12_000,
                    help="lockstep steps of the principal's training (each: n-envs transitions, one update per network)")
    ap.add_argument("--agent-iterations", type=int, default=5_400,
                    help="lockstep steps of each validation / baseline training")
    ap.add_argument("--n-envs", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=1024, help="Monte Carlo evaluation episodes")
    ap.add_argument("--nudge", type=float, default=cd.DeepPrincipalConfig().nudge)
    ap.add_argument("--quick", action="store_true", help="2 seeds, 60 iterations, 128 episodes: a smoke run")
    ap.add_argument("--out", help="write the numbers as JSON here")
    args = ap.parse_args(argv)
    try:
        check_output("--out", args.out)
        if args.quick:
            args.seeds, args.principal_iterations, args.agent_iterations, args.episodes = 2, 60, 60, 128
        game = CoinGame(grid=args.grid, simultaneous=args.simultaneous)
        pcfg = cd.DeepPrincipalConfig(iterations=args.principal_iterations, n_envs=args.n_envs, nudge=args.nudge)
        acfg = DeepAgentConfig(iterations=args.agent_iterations, n_envs=args.n_envs)
        for opt in ("seeds", "episodes"):
            if getattr(args, opt) < 1:
                raise InvalidInstanceError(f"--{opt}", f"must be >= 1, got {getattr(args, opt)}")
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    every = max(1, args.principal_iterations // game.horizon // 5)
    seeds = list(range(args.seeds))
    start = time.perf_counter()
    results = []
    for s in seeds:
        log(f"seed {s} ({time.perf_counter() - start:.0f} s elapsed)")
        results.append(run_seed(game, s, pcfg, acfg, args.episodes, every))
    wall = time.perf_counter() - start
    info = machine_info()
    command = " ".join(["python benchmarks/coin_deep.py", *map(shlex.quote, argv if argv is not None else sys.argv[1:])])
    print(f"Command: `{command}` — wall time {wall:.0f} s")
    print(f"Machine: {info['cpu']}, {info['cpus_usable']} usable CPUs, load {info['load_average_1_5_15min']}, "
          f"Python {info['python']}, numpy {info['numpy']}, commit {info['git_commit']}, {info['date_utc']}")
    print(f"\n`CoinGame(grid={game.grid}, horizon={game.horizon}, simultaneous={game.simultaneous!r})`; seeds {seeds}; "
          f"{args.episodes} evaluation episodes per run; mean ± 95% Student-t half-width over seeds.")
    print(f"Principal {pcfg.to_dict()}\nAgents {acfg.to_dict()}\n")
    print("| run | welfare / episode | payments / episode | payments / welfare | follow rate |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for key, label in ROWS.items():
        plays = [r["plays"][key] for r in results]
        if key == "constant_proportion":
            label += f" (p = {ci([r['proportion'] for r in results])})"
        paid = key in ("principal", "validation", "constant_proportion")
        print(f"| {label} | {ci([m.welfare for m in plays])} | {ci([m.total_payment for m in plays]) if paid else '0'} "
              f"| {ci([m.payment_share for m in plays]) if paid else '0'} "
              f"| {ci([float(np.mean(m.follow_rate)) for m in plays])} |")
    print("| paper, Fig. 2 (7x7, 10⁶ updates): principal after validation | near-optimal | — | ≈ 0.30 | 0.80–0.90 |")
    times = {k: float(np.mean([r["times"][k] for r in results])) for k in results[0]["times"]}
    print("\nMean seconds per seed: " + ", ".join(f"{k} {v:.0f}" for k, v in times.items()))
    if args.out:
        doc = {"kind": "coin_deep_benchmark", "version": 1, "command": command, "wall_seconds": wall,
               "machine": info, "game": {"grid": game.grid, "horizon": game.horizon,
                                         "simultaneous": game.simultaneous},
               "principal_config": pcfg.to_dict(), "agent_config": acfg.to_dict(), "episodes": args.episodes,
               "seeds": [{"seed": s, "proportion": r["proportion"], "seconds": r["times"],
                          **{k: record(m) for k, m in r["plays"].items()}} for s, r in zip(seeds, results)]}
        write_atomic(args.out, lambda fh: json.dump(doc, fh, indent=1, allow_nan=True))
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
