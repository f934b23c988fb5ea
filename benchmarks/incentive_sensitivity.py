"""Sensitivity of the meta-gradient incentive designer to its hyperparameters, one factor at a time.

    python benchmarks/incentive_sensitivity.py [--quick] [--seeds 10] [--games pd,sh,er32,er21,er52]
                                               [--sweeps base,rec,init,cost,beta,alpha] [--jobs 2] [--plot DIR]

The designer is :func:`contractlab.learning.meta_gradient.designer_iteration` (Yang, Wang, Trivedi,
Zhao, Zha, *Adaptive Incentive Design with Multi-Agent Meta-Gradient Reinforcement Learning*, AAMAS
2022, arXiv 2112.10859, Section 4, Algorithm 1) in exact mode, with tabular incentives
``η_i(o, a_i) = 2σ(φ_i[o, a_i])`` and tabular softmax policy-gradient agents
(:mod:`contractlab.learning.pg_agents`). Around the base setting :data:`BASE` each sweep changes one
factor (:data:`FACTORS`):

* ``init``: the agents' initial logits, ``θ ~ N(0, s²)`` for ``s`` in 0, 0.5, 1, 2, and
  ``pessimistic``: ``θ ~ N(0, s_base²)`` plus :data:`PESSIMISTIC_BIAS` on every observation's
  *selfish* action (:func:`selfish_actions`: the action with the largest own reward in that state
  against uniformly random others, averaged over the states of the observation — defect in the
  prisoner's dilemma, hare in the stag hunt, mostly "door" in Escape Room);
* ``cost``: the cost weight ``c`` of the designer's objective ``F = W(θ̂) − c · paid(θ̂, φ)``;
* ``beta``: the designer's step ``β``;
* ``alpha``: the agents' step ``α`` (the same ``α`` in the agents' update and in the lookahead).

Games: the prisoner's dilemma ``pd`` and stag hunt ``sh``
(:mod:`contractlab.theory.incentive_games`, default payoffs), Escape Room ``er32`` = ER(3, 2) (every
sweep), and ER(2, 1) ``er21`` and ER(5, 2) ``er52`` at the base setting only
(:mod:`contractlab.theory.escape_room`, 5 steps). Iterations per game: :data:`ITERATIONS`
(``--quick``: :data:`QUICK_ITERATIONS`, 3 seeds, base and one value per factor off the base).

Every cell runs ``--seeds`` seeds (0, 1, ...) and reports for the *final* agents, exactly (by DP,
:func:`contractlab.learning.meta_gradient.exact_values`, the final incentive table as in
:func:`~contractlab.learning.meta_gradient.train`): the welfare ``W``, the incentives paid ``P``
(expected per episode, summed over agents) and the net welfare ``W − P``, each as the mean and 95%
Student-t interval over the seeds; ``W/W*`` and ``net/W*`` (``W*`` the welfare optimum,
:func:`~contractlab.solvers.incentive_optimum.welfare_optimum`), ``P/LPmin`` (``LPmin`` =
``min_incentives(game, welfare_optimum(game).policy, kind="nash").expected_cost``; ``—`` when it
is 0, as in the stag hunt, whose optimum is already an equilibrium); ``collapsed``: the fraction
of seeds with ``P <`` :data:`COLLAPSE_TOL`; ``≤ none``: the fraction of seeds whose welfare does not
exceed by more than :data:`BEAT_TOL` the welfare of the no-incentive learners of the same seed, the
same initial logits, the same ``α`` and iterations (``incentive="none"``); ``none W``: their mean
welfare.

The script reproduces :func:`~contractlab.learning.meta_gradient.train` itself (it needs its own
loop for the pessimistic start, as ``train`` draws the initial ``θ`` itself and has no hook for
it); at start it runs ``train`` on seed 0 of each game's base cell and asserts that the final
agents are bit for bit those of its own loop. Tables (Markdown) go to stdout, one per game, with
the wall time of every sweep; progress to stderr. ``--plot DIR`` writes
``DIR/incentive_sensitivity_<game>.png`` (net welfare / W* and P / LPmin against every factor)
and ``DIR/incentive_sensitivity_curves.png`` (mean exact net welfare per iteration at the base
setting of every game).
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # the contractlab of this checkout, installed or not

from benchmarks.summary import seed_list  # noqa: E402
from contractlab.cli.common import check_output  # noqa: E402
from contractlab.cli.design import MAX_ITERATIONS  # noqa: E402
from contractlab.cli.executors import MAX_WORKERS  # noqa: E402
from contractlab.learning import pg_agents as pg  # noqa: E402
from contractlab.learning.game_torch import GameTensors  # noqa: E402
from contractlab.learning.meta_gradient import (DesignerConfig, run_generators, designer_iteration,  # noqa: E402
                                                exact_values, incentive_table, init_phi, train)
from contractlab.solvers.incentive_optimum import min_incentives, welfare_optimum  # noqa: E402
from contractlab.theory.budget import check_memory  # noqa: E402
from contractlab.theory.errors import InvalidInstanceError  # noqa: E402
from contractlab.theory.escape_room import EscapeRoom  # noqa: E402
from contractlab.theory.incentive_games import prisoners_dilemma, stag_hunt  # noqa: E402

torch = pg.torch

#: The base setting (the sweeps change one entry at a time).
BASE = {"init": "1", "cost": 0.1, "beta": 3.0, "alpha": 1.0}
#: The values of each factor (``init``: the scale ``s`` of ``θ ~ N(0, s²)``, or ``pessimistic``).
FACTORS = {
    "init": ["0", "0.5", "1", "2", "pessimistic"],
    "cost": [0.0, 0.03, 0.1, 0.3, 1.0],
    "beta": [0.3, 1.0, 3.0, 10.0, 30.0],
    "alpha": [0.1, 0.3, 1.0, 3.0, 10.0],
}
#: A setting to try with ``contractlab design --lr β --agent-lr α --cost-weight c`` per game (the
#: ``rec`` row of each table): hand-picked combinations of values that did well in the one-factor
#: sweeps; the script measures them, it does not search for them (the effects are not additive: in
#: the prisoner's dilemma α = 3 alone collapses, with c = 0.03 it is the best cell). Escape Room
#: takes ER(3, 2)'s.
RECOMMENDED = {
    "pd": {"init": "1", "cost": 0.03, "beta": 3.0, "alpha": 3.0},
    "sh": {"init": "1", "cost": 0.1, "beta": 30.0, "alpha": 1.0},
    "er32": {"init": "1", "cost": 0.03, "beta": 30.0, "alpha": 0.3},
}
RECOMMENDED["er21"] = RECOMMENDED["er52"] = RECOMMENDED["er32"]
#: ``--quick``: the values of each factor that are run besides the base.
QUICK_FACTORS = {"init": ["pessimistic"], "cost": [1.0], "beta": [30.0], "alpha": [10.0]}
GAME_NAMES = {"pd": "prisoner's dilemma", "sh": "stag hunt", "er21": "ER(2, 1)", "er32": "ER(3, 2)",
              "er52": "ER(5, 2)"}
#: Games of the full sweeps; the others run the base setting only.
SWEEP_GAMES = ("pd", "sh", "er32")
#: Designer iterations per run.
ITERATIONS = {"pd": 200, "sh": 200, "er21": 200, "er32": 200, "er52": 50}
QUICK_ITERATIONS = {"pd": 50, "sh": 50, "er21": 50, "er32": 50, "er52": 10}
QUICK_SEEDS = 3
#: Added to the selfish action's initial logit in the pessimistic start (``e^3 ≈ 20``: the selfish
#: action has probability ≈ 0.95 with 2 actions, ≈ 0.91 with 3, before the random part).
PESSIMISTIC_BIAS = 3.0
#: A seed's incentives have "collapsed" when the expected incentives paid per episode (all agents)
#: are below this (the LP-minimal incentives are 2 in the prisoner's dilemma and ER(3, 2)).
COLLAPSE_TOL = 0.05
#: A seed "beats" the no-incentive learners when its welfare exceeds theirs by more than this.
BEAT_TOL = 1e-6
LEVEL = 0.95


def make_game(key: str):
    if key == "pd":
        return prisoners_dilemma().as_markov_game()
    if key == "sh":
        return stag_hunt().as_markov_game()
    n, m = {"er21": (2, 1), "er32": (3, 2), "er52": (5, 2)}[key]
    return EscapeRoom(n, m).as_markov_game()


def selfish_actions(game) -> list[np.ndarray]:
    """Per agent, ``(n_observations(i),)``: the action with the largest own reward against uniformly
    random others, averaged over the states of each observation (ties: the lowest index)."""
    acts = game.joint_actions()
    out = []
    for i in range(game.n_agents):
        K = game.n_actions[i]
        own = np.zeros((game.n_states, K))
        np.add.at(own, (slice(None), acts[:, i]), game.rewards[:, :, i])     # Σ over joint actions with a_i = k
        obs = np.asarray(game.observations[i])
        per_obs = np.zeros((game.n_observations(i), K))
        np.add.at(per_obs, obs, own)
        out.append(per_obs.argmax(axis=1))
    return out


def br_gain(game, policies: list[np.ndarray], eta: np.ndarray | None) -> float:
    """``Σ_i (BR_i − V_i)``: how much the agents together could gain by best-responding (each alone,
    with a time-dependent policy, by backward DP) to the others' final policies, in the game with
    the final incentives ``r + η``. Near 0: the final agents are an approximate Nash equilibrium of
    the incentivised game; large: the outcome is transient (learning agents still moving)."""
    acts = game.joint_actions()
    R = game.rewards if eta is None else game.rewards + eta
    probs = [p[np.asarray(game.observations[j])][:, acts[:, j]] for j, p in enumerate(policies)]   # (S, A)
    nxt = np.asarray(game.next_state)
    alive = nxt >= 0
    total = 0.0
    for i in range(game.n_agents):
        others = np.ones_like(probs[0])
        for j, pj in enumerate(probs):
            if j != i:
                others = others * pj
        onehot = np.eye(game.n_actions[i])[acts[:, i]]                   # (A, K_i)
        V = np.zeros(game.n_states)
        U = np.zeros(game.n_states)
        for _ in range(game.horizon):
            qV = R[:, :, i] + np.where(alive, V[np.maximum(nxt, 0)], 0.0)
            qU = R[:, :, i] + np.where(alive, U[np.maximum(nxt, 0)], 0.0)
            V = (probs[i] * others * qV).sum(axis=1)
            U = ((others * qU) @ onehot).max(axis=1)
        total += float(U[game.initial_state] - V[game.initial_state])
    return total


def config_of(cell: dict) -> DesignerConfig:
    init = cell["init"]
    scale = float(BASE["init"]) if init == "pessimistic" else float(init)
    return DesignerConfig(lr=float(cell["beta"]), cost_weight=float(cell["cost"]), check_update=False,
                          agents=pg.AgentConfig(lr=float(cell["alpha"]), init_scale=scale))


_CACHE: dict = {}


def _game_data(key: str):
    if key not in _CACHE:
        game = make_game(key)
        _CACHE[key] = (game, GameTensors.of(game), selfish_actions(game))
    return _CACHE[key]


def run_one(key: str, cell: dict, seed: int, iterations: int, incentive: str = "tabular") -> dict:
    """One run: the loop of :func:`~contractlab.learning.meta_gradient.train` (same seeding, same
    order of draws), with the pessimistic bias added to the initial ``θ`` if asked. Returns the
    final exact welfare and incentives and the per-iteration exact curves."""
    torch.set_num_threads(1)
    game, gt, selfish = _game_data(key)
    cfg = replace(config_of(cell), incentive=incentive)
    gen, rng = run_generators(seed)
    theta = pg.init_params(game, cfg.agents, gen)
    phi = init_phi(game, cfg, gen)
    if cell["init"] == "pessimistic":
        with torch.no_grad():
            for ps, sa in zip(theta, selfish):
                ps[0][np.arange(sa.size), sa] += PESSIMISTIC_BIAS
    W, P = np.empty(iterations), np.empty(iterations)
    for it in range(iterations):
        theta, phi, info = designer_iteration(gt, cfg, theta, phi, rng)
        W[it], P[it] = info.welfare, info.incentives
    with torch.no_grad():
        eta = incentive_table(gt, cfg, phi)
    eta_np = None if eta is None else eta.numpy().copy()
    policies = pg.probabilities_numpy(cfg.agents, theta)
    fw, fp = exact_values(game, policies, eta_np)
    return {"welfare": fw, "paid": fp, "br_gain": br_gain(game, policies, eta_np), "curve_w": W, "curve_p": P, "theta": pg.to_numpy(theta)}


def check_against_train(key: str, iterations: int) -> None:
    """Assert that :func:`run_one` at the base cell, seed 0, is :func:`train` bit for bit."""
    game = make_game(key)
    mine = run_one(key, dict(BASE), 0, iterations)
    ref = train(game, config_of(BASE), 0, iterations)
    same = all(np.array_equal(a, b) for sa, sb in zip(mine["theta"], ref.theta) for a, b in zip(sa, sb))
    if not (same and mine["welfare"] == ref.final_exact_welfare and mine["paid"] == ref.final_exact_incentives):
        raise AssertionError(f"{key}: the script's loop differs from meta_gradient.train")


def _task(args):
    return run_one(*args)


def summarise(v) -> tuple[float, float, float]:
    v = np.asarray(v, dtype=float)
    m = float(v.mean())
    if v.size < 2:
        return m, math.nan, math.nan
    half = float(stats.t.ppf((1 + LEVEL) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return m, m - half, m + half


def fmt(x, digits=3) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def fmt_ci(s) -> str:
    m, lo, hi = s
    if not math.isfinite(lo):
        return fmt(m)
    return f"{fmt(m)} [{fmt(lo)}, {fmt(hi)}]"


def cells_of(sweeps: list[str], quick: bool, key: str) -> list[tuple[str, str, dict]]:
    """``(sweep, label, cell)``; the base cell once, under ``base``; the recommended one under ``rec``."""
    out = []
    if "base" in sweeps:
        out.append(("base", "base", dict(BASE)))
    if "rec" in sweeps:
        rec = RECOMMENDED[key]
        out.append(("rec", "rec: " + ", ".join(f"{k} = {rec[k]}" for k in ("beta", "alpha", "cost", "init")), dict(rec)))
    for factor in [s for s in sweeps if s not in ("base", "rec")]:
        for v in (QUICK_FACTORS if quick else FACTORS)[factor]:
            if str(v) == str(BASE[factor]) or v == BASE[factor]:
                continue            # the base cell
            out.append((factor, f"{factor} = {v}", {**BASE, factor: v}))
    return out


def row_of(label: str, runs: list[dict], none_runs: list[dict], w_star: float, lp_min: float) -> dict:
    W = np.array([r["welfare"] for r in runs])
    P = np.array([r["paid"] for r in runs])
    N = W - P
    W0 = np.array([r["welfare"] for r in none_runs])
    finite = np.isfinite(W) & np.isfinite(P)
    return {
        "label": label, "W": summarise(W), "P": summarise(P), "net": summarise(N),
        "W_ratio": float(W.mean()) / w_star, "net_ratio": float(N.mean()) / w_star,
        "P_ratio": float(P.mean()) / lp_min if lp_min > 0 else math.nan,
        "collapsed": float(np.mean(P < COLLAPSE_TOL)), "not_beat": float(np.mean(~(W > W0 + BEAT_TOL))),
        "none_W": float(W0.mean()), "br_gain": float(np.mean([r["br_gain"] for r in runs])), "nonfinite": int((~finite).sum()),
        "curve_net": np.mean([r["curve_w"] - r["curve_p"] for r in runs], axis=0),
    }


HEADER = ("| cell | welfare W (95% CI) | W/W* | incentives P (95% CI) | P/LPmin | net W−P (95% CI) | net/W* "
          "| collapsed | ≤ none | none W | BR gain |\n|---|---|---|---|---|---|---|---|---|---|---|")


def row_line(r: dict) -> str:
    return (f"| {r['label']} | {fmt_ci(r['W'])} | {fmt(r['W_ratio'])} | {fmt_ci(r['P'])} | {fmt(r['P_ratio'])} "
            f"| {fmt_ci(r['net'])} | {fmt(r['net_ratio'])} | {r['collapsed']:.1f} | {r['not_beat']:.1f} "
            f"| {fmt(r['none_W'])} | {fmt(r['br_gain'], 2)} |")


def plot_game(key: str, rows: dict, path: Path, lp_min: float) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    factors = [f for f in FACTORS if any(k[0] == f for k in rows)]
    fig, axes = plt.subplots(1, len(factors), figsize=(3.2 * len(factors), 3.2), squeeze=False)
    base = rows.get(("base", "base"))
    for ax, factor in zip(axes[0], factors):
        pts = []
        for v in FACTORS[factor]:
            r = base if (str(v) == str(BASE[factor]) or v == BASE[factor]) else rows.get((factor, f"{factor} = {v}"))
            if r is not None:
                pts.append((str(v), r))
        x = np.arange(len(pts))
        w_star = rows["_w_star"]
        for key_, lab, scale in (("net", "net welfare / W*", w_star), ("W", "welfare / W*", w_star)):
            m = np.array([p[1][key_][0] for p in pts]) / scale
            lo = np.array([p[1][key_][1] for p in pts]) / scale
            hi = np.array([p[1][key_][2] for p in pts]) / scale
            ax.errorbar(x, m, yerr=[np.nan_to_num(m - lo), np.nan_to_num(hi - m)], marker="o", capsize=3, label=lab)
        if lp_min > 0:
            m = np.array([p[1]["P"][0] for p in pts]) / lp_min
            ax.plot(x, m, "s--", color="grey", label="incentives / LPmin")
        ax.axhline(1.0, color="k", lw=0.8, ls=":")
        ax.set_xticks(x, [p[0] for p in pts], fontsize=7)
        ax.set_xlabel({"init": "initial logits", "cost": "cost weight c", "beta": "designer step β",
                       "alpha": "agents' step α"}[factor])
        ax.grid(True, alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"meta-gradient designer, {GAME_NAMES[key]}: final exact values, mean and 95% t-interval "
                 f"over seeds", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def plot_curves(curves: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for key, (curve, w_star) in curves.items():
        ax.plot(np.arange(1, curve.size + 1), curve / w_star, label=GAME_NAMES[key])
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("designer iteration")
    ax.set_ylabel("net welfare / W* (mean over seeds)")
    ax.set_title("meta-gradient designer at the base setting", fontsize=9)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: few seeds, iterations and cells")
    ap.add_argument("--seeds", type=int, help="seeds per cell (default 10; --quick: 3)")
    ap.add_argument("--games", default="pd,sh,er32,er21,er52", help="comma-separated: pd, sh, er32, er21, er52")
    ap.add_argument("--sweeps", default="base,rec,init,cost,beta,alpha",
                    help="comma-separated: base, rec (the recommended setting), init, cost, beta, alpha "
                         "(er21/er52 run base and rec only)")
    ap.add_argument("--iterations", type=int, help="override the iterations of every game")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--plot", type=Path, metavar="DIR", help="write the figures into DIR")
    args = ap.parse_args(argv)
    games = [g.strip() for g in args.games.split(",") if g.strip()]
    sweeps = [s.strip() for s in args.sweeps.split(",") if s.strip()]
    try:
        for flag, names in (("--games", games), ("--sweeps", sweeps)):
            if not names:
                raise InvalidInstanceError(flag, "names nothing to run (a comma-separated list is expected)")
        for i, g in enumerate(games):
            if g not in GAME_NAMES:
                raise InvalidInstanceError("--games", f"unknown game {g!r}", i)
        for i, s in enumerate(sweeps):
            if s not in ("base", "rec") and s not in FACTORS:
                raise InvalidInstanceError("--sweeps", f"unknown sweep {s!r}", i)
        seeds = seed_list(args.seeds if args.seeds is not None else (QUICK_SEEDS if args.quick else 10))
        if args.iterations is not None:
            if not 1 <= args.iterations <= MAX_ITERATIONS:
                raise InvalidInstanceError("--iterations", f"must be in [1, {MAX_ITERATIONS}], got {args.iterations}")
            # a sweep holds two float64 curves per run: its cells' and the no-incentive runs', every seed
            check_memory("--iterations", 16.0 * args.iterations * len(seeds) * 2 * max(map(len, FACTORS.values())),
                         f"{args.iterations} iterations of {len(seeds)} seeds")
        if not 1 <= args.jobs <= MAX_WORKERS:
            raise InvalidInstanceError("--jobs", f"must be in [1, {MAX_WORKERS}], got {args.jobs}")
        if args.plot is not None:
            try:
                args.plot.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InvalidInstanceError("--plot", f"cannot make the folder: {exc.strerror}") from None
            check_output("--plot", str(args.plot / "incentive_sensitivity.png"))
    except InvalidInstanceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    print(f"`python benchmarks/incentive_sensitivity.py {shlex.join(sys.argv[1:] if argv is None else argv)}`\n")
    print(f"base: {BASE}; seeds {seeds[0]}..{seeds[-1]}; collapsed: P < {COLLAPSE_TOL}; ≤ none: W ≤ W(none) + "
          f"{BEAT_TOL}; exact mode, tabular incentives and agents\n")
    curves = {}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for key in games:
            iters = args.iterations or (QUICK_ITERATIONS if args.quick else ITERATIONS)[key]
            game = make_game(key)
            opt = welfare_optimum(game)
            lp_min = float(min_incentives(game, opt.policy, kind="nash").expected_cost)
            w_star = float(opt.value)
            game_sweeps = sweeps if key in SWEEP_GAMES else [s for s in sweeps if s in ("base", "rec")]
            if not game_sweeps:
                continue
            t0 = time.perf_counter()
            check_against_train(key, min(iters, 20))
            print(f"### {GAME_NAMES[key]}: W* = {w_star:g}, LPmin = {lp_min:g}, {iters} iterations, "
                  f"{len(seeds)} seeds\n")
            rows: dict = {"_w_star": w_star}
            none_cache: dict = {}
            timings = []
            for sweep in game_sweeps:
                ts = time.perf_counter()
                cells = cells_of([sweep], args.quick, key)
                todo = []
                for _, label, cell in cells:
                    nk = (cell["init"], cell["alpha"])
                    if nk not in none_cache:
                        none_cache[nk] = None
                        todo += [("none", nk, (key, cell, s, iters, "none")) for s in seeds]
                    todo += [("cell", label, (key, cell, s, iters)) for s in seeds]
                results = list(pool.map(_task, [t[2] for t in todo]))
                grouped: dict = {}
                for (kind, name, _), res in zip(todo, results):
                    grouped.setdefault((kind, name), []).append(res)
                for (kind, name), res in grouped.items():
                    if kind == "none":
                        none_cache[name] = res
                for _, label, cell in cells:
                    r = row_of(label, grouped[("cell", label)], none_cache[(cell["init"], cell["alpha"])],
                               w_star, lp_min)
                    rows[(sweep, label)] = r
                secs = time.perf_counter() - ts
                timings.append((sweep, secs))
                print(f"{GAME_NAMES[key]}: sweep {sweep} done in {secs:.1f} s", file=sys.stderr)
            print(HEADER)
            for k, r in rows.items():
                if k != "_w_star":
                    print(row_line(r))
            print("\nwall time per sweep: " + ", ".join(f"{s} {t:.1f} s" for s, t in timings)
                  + f" (game total {time.perf_counter() - t0:.1f} s, with the check against train)\n")
            if ("base", "base") in rows:
                curves[key] = (rows[("base", "base")]["curve_net"], w_star)
            if args.plot is not None and key in SWEEP_GAMES and len(rows) > 2:
                path = args.plot / f"incentive_sensitivity_{key}.png"
                plot_game(key, rows, path, lp_min)
                print(f"wrote {path}", file=sys.stderr)
    if args.plot is not None and curves:
        path = args.plot / "incentive_sensitivity_curves.png"
        plot_curves(curves, path)
        print(f"wrote {path}", file=sys.stderr)
    print(f"total wall time {time.perf_counter() - t_start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
