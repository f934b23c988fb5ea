"""Agent-steps per second of the batched Coin Game core (:mod:`contractlab.theory.coin_game`).

    python benchmarks/coin_game.py [--grid 3] [--batches 1 100 1000 10000 100000] [--steps 200]
                                   [--repeats 3] [--exact]

For each batch size ``B``: ``B`` games are reset and stepped ``--steps`` times with actions drawn
in advance (uniform, from a seeded generator; drawing them is not timed), the respawns drawn
inside :meth:`CoinGame.step` from its generator (timed). Agent-steps per second is
``2 · B · steps / seconds``, the best of ``--repeats`` runs. Prints a Markdown table with the
machine and the command; the target of issue 14 is >= 1,000,000 agent-steps/s on 3x3.

``--exact`` adds the exact 3x3 answers (:mod:`contractlab.solvers.coin_game_exact`) for each
payoff convention and tie rule (``simultaneous``), with and without the *stay* action: the
optimal welfare ``W*`` per episode (expected over the start), the welfare of the selfish SPE
under both selections, the expected total payment of the paper's payments and of the
every-action payments (and as a share of ``W*``), the seconds to solve, and how many coins per
episode the welfare-optimal policy reaches with both agents at once (Monte Carlo).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.contracts import machine_info  # noqa: E402
from benchmarks.summary import with_flags  # noqa: E402
from contractlab.solvers import coin_game_exact as X  # noqa: E402
from contractlab.theory.budget import check_memory  # noqa: E402
from contractlab.theory.coin_game import CoinGame  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402


def run(game: CoinGame, batch: int, steps: int, repeats: int, seed: int = 0) -> float:
    """Best agent-steps per second over ``repeats`` runs."""
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, game.n_actions, size=(steps, batch, 2))
    best = 0.0
    for _ in range(repeats):
        state = game.reset(batch, rng)
        t0 = time.perf_counter()
        for k in range(steps):
            state, _, _ = game.step(state, actions[k], rng)
        dt = time.perf_counter() - t0
        best = max(best, 2 * batch * steps / dt)
    return best


def joint_pickups(tb, opt, episodes: int = 20_000, seed: int = 0) -> float:
    """Mean number of coins both agents reach at once per episode under ``π*`` (Monte Carlo in
    the core)."""
    g, acts = tb.game, opt.actions()
    rng = np.random.default_rng(seed)
    s, both = g.reset(episodes, rng), 0
    while not g.done(s):
        idx = g.index_of(s)
        new0 = g.move_table[s.pos[:, 0], acts[s.t, idx, 0]]
        new1 = g.move_table[s.pos[:, 1], acts[s.t, idx, 1]]
        both += int(((new0 == s.coin) & (new1 == s.coin)).sum())
        s, _, _ = g.step(s, acts[s.t, idx], rng)
    return both / episodes


def exact_table() -> None:
    """The exact 3x3 answers (module docstring), one Markdown row per game."""
    print()
    print("| payoff | simultaneous | stay | W* | selfish SPE welfare (best / worst selection) | mixed stage games "
          "| paper payments (share of W*) | every-action payments (share) | seconds "
          "| coins reached by both at once per episode under π* (MC, 20 000 episodes) |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    cases = [(p, sim, stay) for p in ("paper", "classic") for sim in ("both", "random") for stay in (True, False)]
    for payoff, sim, stay in cases:
        t0 = time.perf_counter()
        tb = X.tables(CoinGame(grid=3, payoff=payoff, stay=stay, simultaneous=sim))
        opt = X.welfare_optimum(tb)
        best, worst = X.selfish_equilibrium(tb, "best"), X.selfish_equilibrium(tb, "worst")
        pp, ea = X.paper_payments(tb, opt), X.every_action_payments(tb, opt)
        dt = time.perf_counter() - t0
        print(f"| {payoff} | {sim} | {stay} | {opt.value:.4f} | {best.welfare:.4f} / {worst.welfare:.4f} "
              f"| {best.n_mixed} "
              f"| {pp.total_payment:.4f} ({pp.total_payment / opt.value:.1%}) "
              f"| {ea.total_payment:.4f} ({ea.total_payment / opt.value:.1%}) | {dt:.1f} "
              f"| {joint_pickups(tb, opt):.2f} |", flush=True)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--grid", type=int, default=3)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 100, 1000, 10000, 100000])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--exact", action="store_true", help="also print the exact 3x3 answers")
    args = ap.parse_args(argv)
    try:
        game = with_flags(lambda: CoinGame(grid=args.grid), {"grid": "--grid"})
        for name in ("steps", "repeats"):
            if getattr(args, name) < 1:
                raise InvalidInstanceError(f"--{name}", f"must be >= 1, got {getattr(args, name)}")
        for i, B in enumerate(args.batches):
            if B < 1:
                raise InvalidInstanceError("--batches", f"must be >= 1, got {B}", i)
            # the actions drawn in advance (steps, B, 2) int64, and the batch's state and respawns
            try:
                check_memory("--batches", 16.0 * args.steps * B + 256.0 * B, f"{B} games of {args.steps} steps")
            except InvalidInstanceError as exc:
                raise InvalidInstanceError("--batches", exc.reason, i) from None
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    info = machine_info()
    command = " ".join(["python benchmarks/coin_game.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"Command: `{command}`")
    print(f"Machine: {info['cpu']}, {info['cpus_usable']} usable CPUs, load {info['load_average_1_5_15min']}, "
          f"Python {info['python']}, numpy {info['numpy']}, commit {info['git_commit']}, {info['date_utc']}")
    print()
    print("| grid | batch B | steps | agent-steps/s |")
    print("| ---: | ---: | ---: | ---: |")
    for B in args.batches:
        print(f"| {game.grid}x{game.grid} | {B} | {args.steps} | {run(game, B, args.steps, args.repeats):,.0f} |",
              flush=True)
    if args.exact:
        exact_table()


if __name__ == "__main__":
    main()
