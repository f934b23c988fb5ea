"""Designer iterations per second: the meta-gradient incentive designer and its baselines.

    python benchmarks/metagrad.py [--games pd,stag-hunt,er32,er52] [--seconds 1] [--max-exact-seconds 2]
                                  [--n-episodes 64] [--seed 0] [--json]

What is measured
----------------
One "designer iteration" is one call of the loop body of
:func:`contractlab.learning.meta_gradient.train` (the agents' lookahead, the designer's update, the
agents' step, and the recorded welfare / incentives, including the exact (DP) values of the updated
agents that ``train`` computes for small games and, for the meta-gradient designer, the check that the
agents' step equals the lookahead, ``check_update=True``, the default) or of
:func:`contractlab.learning.incentive_baselines.train_baseline`. Designers:

* ``metagrad tabular``: tabular agents, tabular incentives ``b·σ(φ[o, a_i])``;
* ``metagrad mlp``: MLP agents (hidden 8) and the MLP incentive function (hidden 8);
* ``dual-rl``, ``amd``, ``fixed`` (the default table: dominant-kind LP incentives plus a margin, built
  before timing), ``none``: tabular agents (tabular incentives for dual-RL and AMD);

each in ``exact`` mode (expectations by dynamic programming) and ``sampled`` mode (batches of
``--n-episodes`` episodes). Games: the prisoner's dilemma and the stag hunt (normal form, one step),
Escape Room ER(3, 2) and ER(5, 2) (5 steps; 27 and 243 joint states).

Each line runs ``train`` / ``train_baseline`` with a callback that stops after ``--seconds`` of wall
time; the rate is ``(k - 1) / (t_k - t_1)`` over the iterations after the first (the first carries the
setup: tensors of the game, initial parameters). A line whose first iteration takes more than
``--max-exact-seconds`` is reported as too slow and not timed further (exact mode is "fast enough"
only below that). Times are wall clock (``time.perf_counter``), torch on one thread (as ``train``
sets it). A table goes to stdout (``--json``: one JSON document with the same numbers, the command,
the machine and the wall time); progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.summary import with_flags  # noqa: E402
from contractlab.learning import incentive_baselines as ib  # noqa: E402
from contractlab.learning import meta_gradient as mg  # noqa: E402
from contractlab.learning.pg_agents import AgentConfig  # noqa: E402
from contractlab.theory.budget import check_memory  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.escape_room import escape_room_game  # noqa: E402
from contractlab.theory.incentive_games import prisoners_dilemma, stag_hunt  # noqa: E402

GAMES = {
    "pd": ("prisoner's dilemma", lambda: prisoners_dilemma().as_markov_game()),
    "stag-hunt": ("stag hunt", lambda: stag_hunt().as_markov_game()),
    "er32": ("ER(3, 2)", lambda: escape_room_game(3, 2)),
    "er52": ("ER(5, 2)", lambda: escape_room_game(5, 2)),
}
DESIGNERS = ("metagrad tabular", "metagrad mlp", "dual-rl", "amd", "fixed", "none")


def machine_info() -> dict:
    """The machine, versions and commit, as ``benchmarks/contracts.py`` records them."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from contracts import machine_info as info
    finally:
        sys.path.pop(0)
    return info()


def _config(designer: str, mode: str, n_episodes: int) -> mg.DesignerConfig:
    if designer == "metagrad mlp":
        return mg.DesignerConfig(incentive="mlp", mode=mode, n_episodes=n_episodes, cost_weight=0.1,
                                 agents=AgentConfig(kind="mlp", init_scale=1.0))
    incentive = "none" if designer == "none" else "tabular"
    return mg.DesignerConfig(incentive=incentive, mode=mode, n_episodes=n_episodes, cost_weight=0.1)


def time_designer(game, designer: str, mode: str, args, fixed_eta=None) -> dict:
    """Run one designer until ``args.seconds`` have passed; returns the rate of iterations."""
    stamps = []
    t_call = time.perf_counter()

    def callback(it, total, metrics):
        now = time.perf_counter()
        stamps.append(now)
        if it == 1 and now - t_call > args.max_exact_seconds:
            return True
        return now - stamps[0] >= args.seconds and it >= 3

    cfg = _config(designer, mode, args.n_episodes)
    if designer.startswith("metagrad"):
        mg.train(game, cfg, args.seed, 10 ** 9, callback)
    else:
        ib.train_baseline(game, designer, cfg, args.seed, 10 ** 9, callback,
                          fixed_eta=fixed_eta if designer == "fixed" else None)
    first = stamps[0] - t_call
    row = {"designer": designer, "mode": mode, "first_iteration_s": first}
    if len(stamps) < 2:
        row.update(iterations=1, wall_s=first, iterations_per_s=None, too_slow=True)
    else:
        wall = stamps[-1] - stamps[0]
        row.update(iterations=len(stamps) - 1, wall_s=wall, iterations_per_s=(len(stamps) - 1) / wall, too_slow=False)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--games", default="pd,stag-hunt,er32,er52", help=f"comma-separated, from {list(GAMES)}")
    ap.add_argument("--designers", default=",".join(DESIGNERS), help=f"comma-separated, from {list(DESIGNERS)}")
    ap.add_argument("--modes", default="exact,sampled")
    ap.add_argument("--seconds", type=float, default=1.0, help="timed wall seconds per line (default 1)")
    ap.add_argument("--max-exact-seconds", type=float, default=2.0,
                    help="a line whose first iteration takes longer is reported as too slow (default 2)")
    ap.add_argument("--n-episodes", type=int, default=64, help="episodes per batch in sampled mode (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON document on stdout instead of the table")
    args = ap.parse_args(argv)
    games = [g for g in args.games.split(",") if g]
    designers = [d for d in args.designers.split(",") if d]
    modes = [m for m in args.modes.split(",") if m]
    try:
        for bad, known, what in ((games, GAMES, "game"), (designers, DESIGNERS, "designer"), (modes, mg.MODES, "mode")):
            if not bad:
                raise InvalidInstanceError(f"--{what}s", f"names no {what} (choose from {list(known)})")
            unknown = [x for x in bad if x not in known]
            if unknown:
                raise InvalidInstanceError(f"--{what}s", f"unknown {what} {unknown[0]!r} (choose from {list(known)})",
                                           bad.index(unknown[0]))
        for flag, value in (("--seconds", args.seconds), ("--max-exact-seconds", args.max_exact_seconds)):
            if not (math.isfinite(value) and value > 0):
                raise InvalidInstanceError(flag, f"must be a finite number > 0, got {value}")
        with_flags(lambda: mg.DesignerConfig(n_episodes=args.n_episodes), {"n_episodes": "--n-episodes"})
        # a sampled batch: about 256 bytes per (episode, step, agent) in arrays, tensors and the autograd graph,
        # and ER(5, 2) has 5 agents and 5 steps
        check_memory("--n-episodes", 256.0 * args.n_episodes * 5 * 5, f"batches of {args.n_episodes} episodes")
        if args.seed < 0:
            raise InvalidInstanceError("--seed", f"must be >= 0, got {args.seed}")
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    rows = []
    for key in games:
        label, make = GAMES[key]
        game = make()
        fixed = None
        if "fixed" in designers:
            t0 = time.perf_counter()
            fixed = ib.lp_incentives(game, "dominant", ib.DEFAULT_LP_MARGIN)
            print(f"{label}: LP incentives in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
        for designer in designers:
            for mode in modes:
                print(f"{label}: {designer}, {mode} ...", file=sys.stderr)
                row = time_designer(game, designer, mode, args, fixed)
                row.update(game=label, states=game.n_states, joint_actions=game.n_joint_actions, horizon=game.horizon)
                rows.append(row)
    record = {
        "command": shlex.join(["python", "benchmarks/metagrad.py", *(sys.argv[1:] if argv is None else argv)]),
        "n_episodes": args.n_episodes,
        "max_exact_seconds": args.max_exact_seconds,
        "rows": rows,
        "machine": machine_info(),
        "wall_s": time.perf_counter() - t_start,
    }
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Designer iterations per second (sampled mode: batches of {args.n_episodes} episodes)")
    for col in ("game", "S x A, H", "designer", "mode", "first it. (s)", "iterations timed", "wall (s)",
                "iterations/s"):
        table.add_column(col, justify="left" if col in ("game", "designer", "mode") else "right")
    for r in rows:
        rate = ("too slow (first iteration > " + f"{args.max_exact_seconds:g} s)") if r["too_slow"] \
            else f"{r['iterations_per_s']:,.1f}"
        table.add_row(r["game"], f"{r['states']} x {r['joint_actions']}, {r['horizon']}", r["designer"], r["mode"],
                      f"{r['first_iteration_s']:.3f}", f"{r['iterations']:,}", f"{r['wall_s']:.2f}", rate)
    console = Console(width=160)
    console.print(table)
    m = record["machine"]
    console.print(f"command: {record['command']}")
    console.print(f"machine: {m['cpu']}, {m['cpus_usable']} usable CPUs, load {m['load_average_1_5_15min']}, "
                  f"Python {m['python']}, numpy {m['numpy']}, commit {m['git_commit']}, {m['date_utc']}")
    console.print(f"wall time: {record['wall_s']:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
