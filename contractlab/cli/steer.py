"""``contractlab steer [ENV]``: the two-phase mechanism (or none) against a learning agent in an
MDP with externalities, for many seeds and several numbers of episodes; prints the welfare regret
at each horizon with its CI, the phase lengths and the transfers, the fitted log-log slope and the
verdict of the sublinearity test. ``--out`` writes the run (JSON, kind ``steering_run``, with the
transfers the principal paid), ``--plot`` a log-log figure (PNG; needs ``contractlab[plots]``).

``ENV`` is an ``externality_mdp`` file (``contractlab generate pollution -o p.json``) or the name
of a family of :mod:`contractlab.theory.externality_families` (``pollution``, ``insurance``,
``random_pollution``, ``random_insurance``, ``random_externality``) built with its defaults and
the options ``--levels``, ``--steps`` (the episode length) and, for the pollution environment,
``--damage``. Without ``ENV`` it runs the default: pollution control with 3 stock levels, 2 steps
and damage scale 0.1 (selfish play loses 0.25 welfare per episode), a Hedge agent, 20 seeds and
horizons ``200 … 20000`` (5, evenly spaced in log), about 10 s per mechanism, and the verdict is
``sublinear``; ``--mechanism none`` on the same says ``linear``.

Each horizon ``T`` is a separate run of ``T`` episodes (the phase lengths depend on ``T``: Phase 1
lasts ``H · probes · L(T)`` episodes, :class:`contractlab.learning.two_phase.TwoPhase`). The welfare
regret of a run is ``Σ_n (W* − E[W_n])``: ``W*`` the exact optimum
(:func:`contractlab.solvers.welfare.welfare_optimum`), ``E[W_n]`` the exact expected welfare of the
agent's policy in episode ``n``.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..theory.errors import InvalidInstanceError
from .common import (EXIT_OK, add_budget_options, apply_budget_options, check_distinct_outputs, check_output,
                     error_line, note, print_json, stderr_console, stdout_console)

DEFAULT_HORIZONS = (200, 632, 2000, 6325, 20000)
DEFAULT_SEEDS = 20
DEFAULT_AGENT = "hedge"
#: The default environment: pollution control, small enough that the regret separates by 2·10^4 episodes.
DEFAULT_ENV = {"n_levels": 3, "horizon": 2, "damage_scale": 0.1}
LEVEL = 0.95
#: Largest number of episodes of one run, and of seeds (the per-episode records are (seeds, T) floats).
MAX_EPISODES = 10**8
MAX_SEED = 2**63 - 1


def add_parser(sub) -> None:
    from ..learning.externality_agents import AGENTS
    from ..learning.two_phase import MECHANISMS, OBSERVE
    p = sub.add_parser("steer", help="steer a learning agent to the welfare optimum of an MDP with externalities "
                                     "(two-phase mechanism) and test the welfare regret for sublinearity",
                       description="Run the two-phase steering mechanism (or none) against a learning agent for "
                                   "many seeds; print the welfare regret at each horizon with its 95% CI, the "
                                   "Phase-1 length, the transfers paid, the log-log slope and the sublinearity "
                                   "verdict.")
    p.add_argument("env", nargs="?", help="an externality_mdp file, or a family: pollution, insurance, "
                                          "random_pollution, random_insurance, random_externality (default: "
                                          "pollution with --levels 3 --steps 2 --damage 0.1)")
    p.add_argument("--mechanism", choices=MECHANISMS, default="two-phase", help="default two-phase")
    p.add_argument("--agent", choices=AGENTS, default=DEFAULT_AGENT, help=f"the learning agent (default {DEFAULT_AGENT})")
    p.add_argument("--horizons", nargs="+", metavar="T",
                   help="increasing numbers of episodes, e.g. 200 2000 20000 (default "
                        + ",".join(map(str, DEFAULT_HORIZONS)) + "); the test needs >= 5 over >= 2 decades")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, metavar="N", help=f"runs (default {DEFAULT_SEEDS})")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="first seed (runs use S … S+N-1; default 0)")
    p.add_argument("--levels", type=int, help="family: number of stock levels")
    p.add_argument("--steps", type=int, help="family: steps per episode (the MDP's horizon)")
    p.add_argument("--damage", type=float, help="pollution family: damage scale")
    p.add_argument("--instance-seed", type=int, help="random families: the seed of the instance (default 0)")
    p.add_argument("--probes", type=int, help="probes per step (default 8)")
    p.add_argument("--margin", type=float, help="IC margin of the Phase-2 transfers (default 0.1)")
    p.add_argument("--block-scale", type=float, help="L(T) = ceil(scale · T^(1/3)) episodes per probe (default 4)")
    p.add_argument("--observe", choices=OBSERVE, help="how Phase 1 reads responses (default actions: audited)")
    p.add_argument("--out", metavar="FILE", help="write the run (JSON, kind steering_run, with the transfers paid)")
    p.add_argument("--plot", metavar="PNG", help="draw welfare regret against T (log-log; needs contractlab[plots])")
    p.add_argument("--json", action="store_true", help="print the run as JSON on stdout instead of the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on stderr)")
    add_budget_options(p)
    p.set_defaults(run=run)


# --------------------------------------------------------------------------- arguments


def _family_kwargs(args, family: str) -> dict:
    """The generator arguments of a family from ``--levels/--steps/--damage/--instance-seed``."""
    from ..theory.externality_families import SEEDED
    kw: dict = {}
    if args.levels is not None:
        kw["n_states" if family == "random_externality" else "n_levels"] = args.levels
    if args.steps is not None:
        kw["horizon"] = args.steps
    if args.damage is not None:
        if family != "pollution":
            raise InvalidInstanceError("--damage", f"applies to the pollution family only, not {family}")
        kw["damage_scale"] = args.damage
    if args.instance_seed is not None:
        if family not in SEEDED:
            raise InvalidInstanceError("--instance-seed", f"applies to the random families only, not {family}")
        kw["seed"] = args.instance_seed
    return kw


def load_environment(args):
    """The :class:`ExternalityMDP` named by ``ENV`` (file or family) and a short description."""
    from ..theory import fileio
    from ..theory.externality import ExternalityMDP
    from ..theory.externality_families import FAMILIES, pollution_control
    if args.env is None:
        kw = {"n_levels": 3, "horizon": 2, "damage_scale": 0.1}
        if any(v is not None for v in (args.levels, args.steps, args.damage)):
            kw.update({k: v for k, v in _family_kwargs(args, "pollution").items()})
        if args.instance_seed is not None:
            raise InvalidInstanceError("--instance-seed", "applies to the random families only, not pollution")
        return pollution_control(**kw), "pollution " + ", ".join(f"{k}={v}" for k, v in kw.items())
    if args.env in FAMILIES:
        kw = _family_kwargs(args, args.env)
        return FAMILIES[args.env](**kw), args.env + (" " + ", ".join(f"{k}={v}" for k, v in kw.items()) if kw else "")
    for option in ("levels", "steps", "damage", "instance_seed"):
        if getattr(args, option) is not None:
            raise InvalidInstanceError("--" + option.replace("_", "-"), "applies to a family name, not to a file")
    if not os.path.exists(args.env):
        raise InvalidInstanceError("env", f"{args.env[:120]!r} is neither a file nor a family "
                                          f"({', '.join(FAMILIES)})")
    model = fileio.load(args.env)
    if not isinstance(model, ExternalityMDP):
        raise InvalidInstanceError("kind", f"expected 'externality_mdp', got a {type(model).__name__}")
    return model, os.path.basename(args.env)


def make_config(args):
    from ..learning.two_phase import TwoPhase
    kw = {name: getattr(args, name) for name in ("probes", "margin", "block_scale", "observe")
          if getattr(args, name) is not None}
    try:
        return TwoPhase(**kw)
    except InvalidInstanceError as exc:
        raise InvalidInstanceError("--" + exc.field.replace("_", "-"), exc.reason) from None


def check_run_size(seeds: int, horizons: list[int]) -> None:
    """Refuse before any work a run whose per-episode records would not fit (6 arrays of
    ``seeds × T`` floats for the largest ``T``)."""
    from ..theory.budget import check_memory
    check_memory("--seeds", 6 * 8.0 * seeds * horizons[-1], f"{seeds} seeds x {horizons[-1]} episodes")


# --------------------------------------------------------------------------- running


def build_result(model, env_name: str, agent_name: str, mechanism: str, config, horizons, seeds, progress=None) -> dict:
    """Run every horizon and gather the ``steering_run`` document (arrays as numpy)."""
    from ..learning.externality_agents import make_agent
    from ..learning.two_phase import steer
    from ..solvers.welfare import welfare_benchmarks
    from ..theory.documents import steering_run_document
    from .regret import interval, verdict
    agent = make_agent(agent_name)
    bench = welfare_benchmarks(model)
    regret, transfer, phase_one, blocks = [], [], [], []
    last = None
    for T in horizons:
        last = steer(model, agent, T, seeds=seeds, mechanism=mechanism, config=config,
                     progress=None if progress is None else (lambda n, T=T: progress(T, n)))
        regret.append(last.welfare_regret()[:, -1])
        transfer.append(last.transfer.sum(axis=1))
        phase_one.append(last.phase_one_length)
        blocks.append(last.block_length)
    R = np.array(regret).T
    _, ci = interval(R, LEVEL)
    return steering_run_document(
        environment=env_name, mechanism=mechanism, agent=agent_name,
        config={k: getattr(config, k) for k in config.__dataclass_fields__}, seeds=seeds, horizons=horizons,
        benchmarks=bench, phase_one_length=phase_one, block_length=blocks, welfare_regret=R, level=LEVEL, ci=ci,
        transfer_paid=np.array(transfer).T, last_run=last, sublinearity=verdict(R, horizons))


# --------------------------------------------------------------------------- output


def _fmt(x) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.4g}"


def print_table(doc: dict) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .regret import print_verdict
    console = stdout_console()
    console.print(escape(f"contractlab steer — {doc['mechanism']} vs {doc['agent']} agent on {doc['environment']} "
                         f"({doc['seeds'].size} seeds)"), highlight=False)
    table = Table()
    for col in ("T", "Phase 1", "mean welfare regret", f"{doc['level']:.0%} CI", "regret / T", "transfer / episode"):
        table.add_column(col, justify="right")
    for j, T in enumerate(doc["horizons"]):
        ci = "—" if doc["ci"] is None else f"[{_fmt(doc['ci'][j, 0])}, {_fmt(doc['ci'][j, 1])}]"
        table.add_row(str(T), str(doc["phase_one_length"][j]), _fmt(doc["mean_regret"][j]), ci,
                      _fmt(doc["mean_regret"][j] / T), _fmt(doc["transfer_paid"][:, j].mean() / T))
    console.print(table)
    console.print(escape(f"exact: W* = {doc['optimal_welfare']:.6g}, selfish welfare {doc['selfish_welfare']:.6g} "
                         f"(gap {doc['gap']:.4g} per episode), minimal transfer {doc['exact_total_transfer']:.4g} "
                         "per episode"), highlight=False)
    if doc["mechanism"] == "two-phase" and doc["phase_two_transfer_mean"] is not None:
        ratio = (doc["phase_two_transfer_mean"] / doc["exact_total_transfer"]
                 if doc["exact_total_transfer"] > 0 else float("nan"))
        console.print(escape(f"Phase-2 transfer per episode at T = {doc['transfers']['horizon']}: "
                             f"{doc['phase_two_transfer_mean']:.4g} ({_fmt(ratio)} x the exact minimum); "
                             f"contracts posted at {int(doc['transfers']['implemented'].sum())} of "
                             f"{doc['transfers']['implemented'].size} (run, step, state)"), highlight=False)
    print_verdict(console, doc["sublinearity"], doc["level"], "some mean regret <= 0")


def write_plot(doc: dict, path: str) -> None:
    """Mean welfare regret (with its CI) against ``T`` on log-log axes, the selfish line ``gap · T``
    dashed; written atomically as PNG."""
    from .regret import _plot_module, finish_loglog
    plt = _plot_module()
    T, mean = doc["horizons"], doc["mean_regret"]
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    if doc["ci"] is not None:
        ax.fill_between(T, np.maximum(doc["ci"][:, 0], 1e-9), doc["ci"][:, 1], alpha=0.25, label=f"{doc['level']:.0%} CI")
    ax.plot(T, mean, "o-", label=f"{doc['mechanism']}: mean welfare regret")
    if doc["gap"] > 0:
        ax.plot(T, doc["gap"] * T, "k--", label="selfish policy: gap · T")
    low = float(mean.min())
    finish_loglog(plt, fig, ax, path, low, f"{doc['mechanism']} vs {doc['agent']} on {doc['environment']}",
                  doc["sublinearity"], "", "T (episodes)", "welfare regret")


def run(args) -> int:
    from .regret import _plot_module, parse_horizons
    apply_budget_options(args)
    check_output("--out", args.out, sibling_npz=True)
    check_output("--plot", args.plot)
    check_distinct_outputs(("--out", args.out), ("--plot", args.plot))
    if args.seeds < 1:
        raise InvalidInstanceError("--seeds", f"must be >= 1, got {args.seeds}")
    if not 0 <= args.seed <= MAX_SEED - args.seeds + 1:
        raise InvalidInstanceError("--seed", f"must be in [0, {MAX_SEED} - N + 1] (N = --seeds), got {args.seed}")
    horizons = list(DEFAULT_HORIZONS) if args.horizons is None else parse_horizons(args.horizons)
    if horizons[-1] > MAX_EPISODES:
        raise InvalidInstanceError("--horizons", f"at most {MAX_EPISODES:.0e} episodes per run, got {horizons[-1]}")
    check_run_size(args.seeds, horizons)
    config = make_config(args)
    model, env_name = load_environment(args)
    if args.plot is not None:
        _plot_module()
    seeds = range(args.seed, args.seed + args.seeds)

    if args.no_progress:
        doc = build_result(model, env_name, args.agent, args.mechanism, config, horizons, seeds)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=stderr_console(), transient=True) as bar:
            task = bar.add_task(f"steer ({args.mechanism} vs {args.agent})", total=sum(horizons))
            def progress(T, n):
                bar.update(task, completed=sum(h for h in horizons if h < T) + n)
            doc = build_result(model, env_name, args.agent, args.mechanism, config, horizons, seeds, progress)
    _write_outputs(args, doc)
    if args.json:
        shown = dict(doc)
        shown["transfers"] = {k: v for k, v in doc["transfers"].items() if k != "per_episode"}
        print_json(shown)                       # the per-episode transfers are in --out only
    else:
        print_table(doc)
    for path in (args.out, args.plot):
        if path is not None:
            note(f"wrote {path}")
    if doc["neutrality_error"] > 1e-9 * max(1.0, abs(doc["optimal_welfare"])) * model.horizon:
        error_line(f"transfers are not welfare-neutral: error {doc['neutrality_error']:.3g}", "check failed")
        return 1
    return EXIT_OK


def _write_outputs(args, doc: dict) -> None:
    """The figure, then the document (its per-episode transfers in the ``.npz`` sibling when large)."""
    from ..theory.fileio import save
    from .regret import write_figure_then_document
    flat = dict(doc)
    transfers = flat.pop("transfers")
    flat.update({"transfers_horizon": transfers["horizon"], "contract": transfers["contract"],
                 "implemented": transfers["implemented"].astype(np.int8),
                 "transfer_per_episode": transfers["per_episode"]})
    write_figure_then_document(args.plot, lambda path: write_plot(doc, path), args.out,
                               lambda path: save(flat, path, npz_threshold=4096))
