"""``contractlab design [GAME]``: train an incentive designer (the meta-gradient designer of Yang et
al. 2022, or a baseline) with learning agents over several seeds, and print what it reached against
the exact references: the welfare optimum ``W*`` (DP) and the minimal incentives that make it an
equilibrium (LP, :mod:`contractlab.solvers.incentive_optimum`).

``GAME`` is ``prisoners-dilemma`` (default), ``stag-hunt``, ``public-goods`` (``--players``,
``--multiplier``), ``escape-room`` (``--agents``, ``--lever``, ``--max-steps``), or a file of kind
``normal_form_game`` or ``escape_room``. ``--designer`` takes one or more of ``metagrad``, ``dual-rl``,
``amd``, ``fixed`` (the LP-minimal dominant incentives plus a margin of 0.5 that makes the
equilibrium strict, paid to learning agents) and ``none`` (or ``all``);
with several, the table also gives each one's difference to the first in net welfare, paired by seed,
with its Student-t interval.

Every reported number of a run is exact for its final agents: welfare and incentives paid per
episode by dynamic programming over the game (:func:`contractlab.theory.markov_game.evaluate`); the
net welfare is ``welfare − incentives paid``. A net welfare above ``W*`` would be a bug: the command
checks it and fails (exit 1) if it ever happens. ``--out`` writes the runs (kind ``design_run``, with
the learning curves), ``--plot`` a learning-curve figure (PNG; needs ``contractlab[plots]``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..theory.errors import InvalidInstanceError
from .common import (EXIT_FAILED, EXIT_OK, add_budget_options, apply_budget_options, check_distinct_outputs,
                     check_output, error_line, note, print_json, stderr_console, stdout_console)
from .executors import add_options as add_executor_options
from .executors import executor, submit_all

GAMES = ("prisoners-dilemma", "stag-hunt", "public-goods", "escape-room")
DESIGNERS = ("metagrad", "dual-rl", "amd", "fixed", "none")
DEFAULT_GAME = "prisoners-dilemma"
DEFAULT_SEEDS = 10
DEFAULT_ITERATIONS = 100
LEVEL = 0.95
#: Relative tolerance of the check "net welfare <= W*" (the values are DP sums of floats).
OPTIMUM_TOL = 1e-9
MAX_SEED = 2**63 - 1
MAX_ITERATIONS = 10**7


#: The choices of ``--mode``, ``--incentive`` and ``--agent`` (those of :mod:`contractlab.learning.meta_gradient`
#: and :mod:`contractlab.learning.pg_agents`, written here because those modules need torch and the parser
#: must build without it; a test checks that they agree).
MODES = ("exact", "sampled")
INCENTIVES = ("tabular", "mlp")
AGENT_KINDS = ("tabular", "mlp")


def add_parser(sub) -> None:
    p = sub.add_parser("design", help="train an incentive designer (meta-gradient or a baseline) with learning "
                                      "agents and compare it with the exact optimum and minimal incentives",
                       description="Train incentive designers with policy-gradient agents over several seeds; print "
                                   "welfare, incentives paid and net welfare of the final agents (exact, by DP) "
                                   "against the exact welfare optimum W* and the LP-minimal incentives.")
    p.add_argument("game", nargs="?", default=None,
                   help="prisoners-dilemma (default), stag-hunt, public-goods, escape-room, or a file of kind "
                        "normal_form_game / escape_room")
    p.add_argument("--designer", nargs="+", default=["metagrad"], metavar="NAME",
                   help="one or more of " + ", ".join(DESIGNERS) + ", or all (default metagrad)")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, metavar="N", help=f"runs (default {DEFAULT_SEEDS})")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="first seed (runs use S … S+N-1; default 0)")
    p.add_argument("--iterations", type=int, default=DEFAULT_ITERATIONS, metavar="K",
                   help=f"designer iterations per run (default {DEFAULT_ITERATIONS})")
    p.add_argument("--mode", choices=MODES, default="exact",
                   help="exact expectations (DP) or sampled episodes, for the agents and the designer (default exact)")
    p.add_argument("--incentive", choices=INCENTIVES, default="tabular",
                   help="the designer's incentive function (default tabular: 2·sigmoid per observation and action)")
    p.add_argument("--agent", choices=AGENT_KINDS, default="tabular", help="the agents' policies (default tabular)")
    p.add_argument("--lr", type=float, default=3.0, help="the designer's step size β (default 3)")
    p.add_argument("--agent-lr", type=float, default=1.0, help="the agents' step size α (default 1)")
    p.add_argument("--cost-weight", type=float, default=0.1,
                   help="weight of the incentives paid in the designer's objective (default 0.1)")
    p.add_argument("--init-scale", type=float, default=1.0,
                   help="scale of the agents' random initial logits, drawn per seed (default 1; 0: uniform policies)")
    p.add_argument("--episodes", type=int, default=64, help="sampled mode: episodes per batch (default 64)")
    p.add_argument("--players", type=int, help="public-goods: number of players (default 3)")
    p.add_argument("--multiplier", type=float, help="public-goods: multiplier of the pot (default 1.5)")
    p.add_argument("--agents", type=int, help="escape-room: N (default 3)")
    p.add_argument("--lever", type=int, help="escape-room: M, the agents needed at the lever (default 2)")
    p.add_argument("--max-steps", type=int, help="escape-room: episode length (default 5)")
    p.add_argument("--out", metavar="FILE", help="write the runs (JSON, kind design_run, with learning curves)")
    p.add_argument("--plot", metavar="PNG", help="draw the learning curves (needs contractlab[plots])")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="keep every finished (designer, seed) run here; the same command resumes from it after "
                        "Ctrl-C or a kill, and ends with the output of an uninterrupted run")
    p.add_argument("--json", action="store_true", help="print the runs as JSON on stdout instead of the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on stderr)")
    add_budget_options(p)
    add_executor_options(p)
    p.set_defaults(run=run)


# --------------------------------------------------------------------------- arguments


def designers(names: list[str]) -> list[str]:
    """The designers asked for, in order, without repeats (``all`` expands)."""
    out: list[str] = []
    for raw in names:
        for name in raw.split(","):
            name = name.strip()
            for d in (DESIGNERS if name == "all" else (name,)):
                if d not in DESIGNERS:
                    raise InvalidInstanceError("--designer", f"unknown designer {d[:40]!r} (choose from "
                                                             f"{', '.join(DESIGNERS)} or all)")
                if d not in out:
                    out.append(d)
    return out


def _reject_options(args, options: tuple[str, ...], what: str) -> None:
    for option in options:
        if getattr(args, option) is not None:
            raise InvalidInstanceError("--" + option.replace("_", "-"), f"does not apply to {what}")


_FAMILY_OPTIONS = ("players", "multiplier", "agents", "lever", "max_steps")


#: The option that sets each field of a family's model (for error lines that name the option).
_FAMILY_FIELDS = {"n_agents": "--agents", "min_at_lever": "--lever", "max_steps": "--max-steps", "n": "--players",
                  "multiplier": "--multiplier"}
#: The option that sets each field of the designer's configuration.
_CONFIG_FIELDS = {"n_episodes": "--episodes", "lr": "--lr", "cost_weight": "--cost-weight", "agent.lr": "--agent-lr",
                  "agent.init_scale": "--init-scale", "incentive": "--incentive", "mode": "--mode",
                  "agent.kind": "--agent"}


def load_game(args):
    """``(name, TabularMarkovGame)`` of the ``GAME`` argument (a family with its options, or a file); an
    invalid family option is reported under its option name."""
    try:
        return _load_game(args)
    except InvalidInstanceError as exc:
        if (args.game or DEFAULT_GAME) in GAMES and exc.field in _FAMILY_FIELDS:
            raise InvalidInstanceError(_FAMILY_FIELDS[exc.field], exc.reason) from None
        raise


def _load_game(args):
    from ..theory import fileio
    from ..theory.escape_room import EscapeRoom
    from ..theory.incentive_games import NormalFormGame, prisoners_dilemma, public_goods, stag_hunt
    name = args.game or DEFAULT_GAME
    if name in ("prisoners-dilemma", "stag-hunt"):
        _reject_options(args, _FAMILY_OPTIONS, name)
        game = prisoners_dilemma() if name == "prisoners-dilemma" else stag_hunt()
        return name, game.as_markov_game()
    if name == "public-goods":
        _reject_options(args, ("agents", "lever", "max_steps"), name)
        n = 3 if args.players is None else args.players
        mult = 1.5 if args.multiplier is None else args.multiplier
        return f"public-goods(n={n}, multiplier={mult:g})", public_goods(n, mult).as_markov_game()
    if name == "escape-room":
        _reject_options(args, ("players", "multiplier"), name)
        room = EscapeRoom(3 if args.agents is None else args.agents, 2 if args.lever is None else args.lever,
                          5 if args.max_steps is None else args.max_steps)
        return f"ER({room.n_agents}, {room.min_at_lever})", room.as_markov_game()
    _reject_options(args, _FAMILY_OPTIONS, "a file")
    if not os.path.exists(name):
        raise InvalidInstanceError("game", f"{name[:120]!r} is neither a file nor a game ({', '.join(GAMES)})")
    obj = fileio.load(name)
    if isinstance(obj, NormalFormGame):
        return os.path.basename(name), obj.as_markov_game()
    if isinstance(obj, EscapeRoom):
        return f"ER({obj.n_agents}, {obj.min_at_lever}) from {os.path.basename(name)}", obj.as_markov_game()
    raise InvalidInstanceError("kind", f"expected 'normal_form_game' or 'escape_room', got {fileio.kind_of(obj)!r}")


def require_deep() -> None:
    """One line naming the extra when torch is missing (the designers are written in torch)."""
    import importlib.util
    if importlib.util.find_spec("torch") is None:
        raise InvalidInstanceError("torch", "contractlab design needs torch, which is not installed: "
                                            "pip install 'contractlab[deep]'")


def make_config(args):
    """The :class:`~contractlab.learning.meta_gradient.DesignerConfig` of the options."""
    require_deep()
    from ..learning.meta_gradient import DesignerConfig
    from ..learning.pg_agents import AgentConfig
    for option, value in (("--lr", args.lr), ("--agent-lr", args.agent_lr), ("--cost-weight", args.cost_weight),
                          ("--init-scale", args.init_scale)):
        if not (math.isfinite(value) and value >= 0):
            raise InvalidInstanceError(option, f"must be a finite number >= 0, got {value}")
    try:
        agents = AgentConfig(kind=args.agent, lr=args.agent_lr, init_scale=args.init_scale)
        return DesignerConfig(incentive=args.incentive, mode=args.mode, lr=args.lr, cost_weight=args.cost_weight,
                              n_episodes=args.episodes, agents=agents)
    except InvalidInstanceError as exc:
        raise InvalidInstanceError(_CONFIG_FIELDS.get(exc.field, exc.field), exc.reason) from None


def check_counts(args) -> None:
    if not 1 <= args.seeds <= 10**6:
        raise InvalidInstanceError("--seeds", f"must be in [1, 1000000], got {args.seeds}")
    if not 0 <= args.seed <= MAX_SEED - args.seeds:
        raise InvalidInstanceError("--seed", f"must be in [0, {MAX_SEED - args.seeds}], got {args.seed}")
    if not 1 <= args.iterations <= MAX_ITERATIONS:
        raise InvalidInstanceError("--iterations", f"must be in [1, {MAX_ITERATIONS}], got {args.iterations}")


# --------------------------------------------------------------------------- running


def exact_references(game) -> dict:
    """``W*``, its policy's returns, and the minimal Nash and dominant incentives implementing it."""
    from ..solvers.incentive_optimum import min_incentives, welfare_optimum
    opt = welfare_optimum(game)
    nash = min_incentives(game, opt.policy, kind="nash")
    dominant = min_incentives(game, opt.policy, kind="dominant")
    return {"optimum": opt, "nash": nash, "dominant": dominant}


def run_designer(game, name: str, config, seed: int, iterations: int, references: dict, callback=None):
    """One run of designer ``name``: the meta-gradient designer, or a baseline of
    :mod:`contractlab.learning.incentive_baselines` (``fixed`` pays the LP-minimal dominant incentives
    plus a margin of 0.5, :func:`~contractlab.learning.incentive_baselines.lp_incentives`)."""
    from dataclasses import replace

    from ..learning import meta_gradient
    if name == "metagrad":
        return meta_gradient.train(game, config, seed, iterations, callback=callback)
    if name == "none":
        return meta_gradient.train(game, replace(config, incentive="none"), seed, iterations, callback=callback)
    from ..learning import incentive_baselines
    return incentive_baselines.train_baseline(game, name, config, seed, iterations, callback=callback)


def summarise(values: np.ndarray, level: float = LEVEL) -> dict:
    """Mean and Student-t interval of per-seed values (no interval for one seed)."""
    from scipy import stats
    v = np.asarray(values, dtype=float)
    mean = float(v.mean())
    if v.size < 2:
        return {"mean": mean, "ci": None}
    half = float(stats.t.ppf((1 + level) / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return {"mean": mean, "ci": [mean - half, mean + half]}


@dataclass(frozen=True, eq=False)
class RunRecord:
    """What the ``design_run`` document takes from a finished run (a
    :class:`~contractlab.learning.meta_gradient.MetaGradResult`, or the same read back from a checkpoint)."""

    welfare: np.ndarray
    incentives: np.ndarray
    exact_welfare: np.ndarray | None
    exact_incentives: np.ndarray | None
    final_exact_welfare: float
    final_exact_incentives: float
    max_update_mismatch: float

    @classmethod
    def of(cls, r) -> "RunRecord":
        return cls(r.welfare, r.incentives, r.exact_welfare, r.exact_incentives, r.final_exact_welfare,
                   r.final_exact_incentives, r.max_update_mismatch)

    def arrays(self, key: str) -> dict[str, np.ndarray]:
        out = {f"{key}|welfare": self.welfare, f"{key}|incentives": self.incentives,
               f"{key}|final": np.array([self.final_exact_welfare, self.final_exact_incentives,
                                         self.max_update_mismatch])}
        if self.exact_welfare is not None:
            out[f"{key}|exact_welfare"] = self.exact_welfare
            out[f"{key}|exact_incentives"] = self.exact_incentives
        return out

    @classmethod
    def from_arrays(cls, arrays: dict, key: str) -> "RunRecord":
        final = arrays[f"{key}|final"]
        return cls(arrays[f"{key}|welfare"], arrays[f"{key}|incentives"], arrays.get(f"{key}|exact_welfare"),
                   arrays.get(f"{key}|exact_incentives"), float(final[0]), float(final[1]), float(final[2]))


def game_fingerprint(game) -> str:
    """SHA-256 of everything that defines a :class:`~contractlab.theory.markov_game.TabularMarkovGame`."""
    import hashlib
    h = hashlib.sha256(repr((game.n_actions, game.initial_state, game.horizon)).encode())
    for arr in (game.next_state, game.rewards, game.observations):
        h.update(repr(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def run_identity(game, names, config, seeds, iterations) -> dict:
    """What a checkpoint must match to be resumed (the same game, designers, settings, seeds)."""
    from dataclasses import asdict
    return {"game": game_fingerprint(game), "designers": list(names), "config": asdict(config),
            "seeds": [int(x) for x in seeds], "iterations": int(iterations)}


def load_finished(path: str | None, identity: dict) -> dict:
    """The finished runs of ``--checkpoint`` (``{(designer, seed): RunRecord}``), or ``{}`` if it does not
    exist yet; a checkpoint of another run is refused."""
    from ..learning.checkpoint import load_checkpoint
    from ..theory.errors import InvalidFileError
    if path is None or not os.path.lexists(path):
        return {}
    arrays, meta = load_checkpoint(path, kind="design_run")
    if meta.get("identity") != identity:
        raise InvalidFileError("--checkpoint", "was written by a different run (game, designers, options, seeds or "
                                               "iterations differ); remove it or use another file")
    done = {}
    for name, seed in meta.get("done", []):
        try:
            done[(name, int(seed))] = RunRecord.from_arrays(arrays, f"{name}|{int(seed)}")
        except KeyError:
            raise InvalidFileError("--checkpoint", f"run ({name}, {seed}) is listed but its arrays are missing") from None
    return done


def save_finished(path: str, identity: dict, done: dict) -> None:
    from ..learning.checkpoint import save_checkpoint
    arrays = {}
    for (name, seed), rec in done.items():
        arrays.update(rec.arrays(f"{name}|{seed}"))
    save_checkpoint(path, arrays, {"kind": "design_run", "identity": identity,
                                   "done": [[name, seed] for (name, seed) in done]})


def build_document(game_name: str, game, names: list[str], config, seeds: list[int], iterations: int,
                   progress=None, checkpoint: str | None = None, pool=None) -> dict:
    """Run every designer on every seed (skipping the runs already in ``checkpoint``, and adding each
    finished one to it) and gather the ``design_run`` document. ``pool`` (an executor of
    :mod:`.executors`): one task per missing (designer, seed) run, collected in run order."""
    from ..theory.documents import design_run_document
    refs = exact_references(game)
    identity = run_identity(game, names, config, seeds, iterations)
    done = load_finished(checkpoint, identity)
    futures = {}
    if pool is not None:
        missing = [(name, seed) for name in names for seed in seeds if (name, seed) not in done]
        submitted = submit_all(pool, design_task, [(game, name, config, seed, iterations, refs) for name, seed in missing])
        futures = dict(zip(missing, submitted))
    runs = {}
    for name in names:
        results = []
        for seed in seeds:
            if (name, seed) in futures:
                done[(name, seed)] = futures[(name, seed)].result()
                if checkpoint is not None:
                    save_finished(checkpoint, identity, done)
            elif (name, seed) not in done:
                cb = None if progress is None else (lambda it, total, m, name=name, seed=seed: progress(name, seed, it))
                done[(name, seed)] = RunRecord.of(run_designer(game, name, config, seed, iterations, refs, callback=cb))
                if checkpoint is not None:
                    save_finished(checkpoint, identity, done)
            elif progress is not None:
                progress(name, seed, iterations)
            results.append(done[(name, seed)])
        runs[name] = results
    return design_run_document(game_name=game_name, game=game, config=config, seeds=seeds, iterations=iterations,
                               references=refs, runs=runs, level=LEVEL, summarise=summarise)


def design_task(game, name: str, config, seed: int, iterations: int, references: dict) -> "RunRecord":
    """One (designer, seed) run, a task of ``--workers``/``--scheduler`` (each run is seeded by its seed alone)."""
    return RunRecord.of(run_designer(game, name, config, seed, iterations, references))


def optimum_violations(doc: dict) -> list[str]:
    """Designers whose net welfare exceeds ``W*`` on some seed (never, unless there is a bug)."""
    w = doc["exact"]["optimal_welfare"]
    bad = []
    for name, run in doc["designers"].items():
        net = np.asarray(run["final_net_welfare"], dtype=float)
        worst = float(np.nanmax(net))
        if worst > w + OPTIMUM_TOL * max(1.0, abs(w)):
            bad.append(f"{name}: net welfare {worst:.10g} > W* = {w:.10g}")
    return bad


# --------------------------------------------------------------------------- output


def _fmt(x) -> str:
    return "—" if x is None or not (isinstance(x, (int, float)) and math.isfinite(x)) else f"{x:.4g}"


def _ci(s: dict) -> str:
    return "—" if s["ci"] is None else f"[{_fmt(s['ci'][0])}, {_fmt(s['ci'][1])}]"


def print_table(doc: dict) -> None:
    from rich.markup import escape
    from rich.table import Table
    console = stdout_console()
    ex = doc["exact"]
    console.print(escape(f"contractlab design — {doc['game']} ({len(doc['seeds'])} seeds, {doc['iterations']} "
                         f"iterations, {doc['config']['mode']} gradients)"), highlight=False)
    console.print(escape(f"exact: W* = {ex['optimal_welfare']:.6g}; minimal incentives implementing it: "
                         f"{ex['min_incentives_nash']:.6g} (Nash), {ex['min_incentives_dominant']:.6g} (dominant); "
                         f"net welfare of that design {ex['net_welfare_of_min_incentives']:.6g}"), highlight=False)
    table = Table()
    for col in ("designer", f"welfare ({doc['level']:.0%} CI)", "÷ W*", "incentives paid", "÷ LP min",
                f"net welfare ({doc['level']:.0%} CI)", "÷ W*"):
        table.add_column(col, justify="right")
    for name, run in doc["designers"].items():
        s = run["summary"]
        table.add_row(name, f"{_fmt(s['welfare']['mean'])} {_ci(s['welfare'])}", _fmt(s["welfare_ratio"]),
                      _fmt(s["incentives"]["mean"]), _fmt(s["incentive_ratio"]),
                      f"{_fmt(s['net_welfare']['mean'])} {_ci(s['net_welfare'])}", _fmt(s["net_welfare_ratio"]))
    console.print(table)
    if doc["differences"]:
        first = next(iter(doc["designers"]))
        diff = Table(title=f"net welfare: {first} minus each other designer (paired by seed)")
        for col in ("designer", "difference", f"{doc['level']:.0%} CI", "verdict"):
            diff.add_column(col, justify="right")
        for name, d in doc["differences"].items():
            diff.add_row(name, _fmt(d["mean"]), _ci(d), d["verdict"])
        console.print(diff)


def draw_curves(doc: dict, path: str) -> None:
    """Mean exact welfare and net welfare per iteration for every designer, with ``W*`` and the net
    welfare of the LP-minimal design as lines."""
    from ..theory.fileio import write_atomic
    from .regret import _plot_module
    plt = _plot_module()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    x = np.arange(1, doc["iterations"] + 1)
    for name, run in doc["designers"].items():
        for ax, key in zip(axes, ("welfare_curve", "net_welfare_curve")):
            curve = np.asarray(run[key], dtype=float)
            m = np.nanmean(curve, axis=0)
            line, = ax.plot(x[:m.size], m, label=name)
            if curve.shape[0] > 1:
                lo, hi = np.nanpercentile(curve, [10, 90], axis=0)
                ax.fill_between(x[:m.size], lo, hi, color=line.get_color(), alpha=0.15)
    ex = doc["exact"]
    for ax, title in zip(axes, ("welfare", "net welfare (welfare − incentives paid)")):
        ax.axhline(ex["optimal_welfare"], color="k", ls="--", lw=1, label="W* (exact)")
        ax.axhline(ex["net_welfare_of_min_incentives"], color="grey", ls=":", lw=1, label="W* − LP-minimal incentives")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("designer iteration")
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{doc['game']}: mean over {len(doc['seeds'])} seeds (band: 10–90th percentile)", fontsize=9)
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, format="png", metadata={"Software": None}), binary=True)
    finally:
        plt.close(fig)


def run(args) -> int:
    from ..theory import fileio
    from .regret import write_figure_then_document

    apply_budget_options(args)
    names = designers(args.designer)
    check_counts(args)
    check_output("--out", args.out)
    check_output("--plot", args.plot)
    check_output("--checkpoint", args.checkpoint)
    check_distinct_outputs(("--out", args.out), ("--plot", args.plot), ("--checkpoint", args.checkpoint))
    if args.plot:
        from .regret import _plot_module
        _plot_module()
    game_name, game = load_game(args)
    config = make_config(args)
    seeds = list(range(args.seed, args.seed + args.seeds))
    total = len(names) * len(seeds) * args.iterations

    if args.workers is not None and args.scheduler is not None:
        raise InvalidInstanceError("--scheduler", "give either --workers or --scheduler, not both")
    if args.workers not in (None, 1) or args.scheduler is not None:
        with executor(args.workers, args.scheduler, args.scheduler_timeout, len(names) * len(seeds)) as pool:
            doc = build_document(game_name, game, names, config, seeds, args.iterations, checkpoint=args.checkpoint,
                                 pool=pool)
    elif args.no_progress:
        doc = build_document(game_name, game, names, config, seeds, args.iterations, checkpoint=args.checkpoint)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeRemainingColumn(), console=stderr_console(), transient=True) as bar:
            task = bar.add_task("design", total=total)
            done = {}

            def progress(name, seed, it):
                done[(name, seed)] = it
                bar.update(task, completed=sum(done.values()), description=f"{name} seed {seed}")

            doc = build_document(game_name, game, names, config, seeds, args.iterations, progress=progress,
                                 checkpoint=args.checkpoint)

    write_figure_then_document(args.plot, lambda p: draw_curves(doc, p), args.out,
                               lambda p: fileio.save(doc, p))
    if args.plot:
        note(f"wrote {args.plot}")
    if args.out:
        note(f"wrote {args.out}")
    if args.json:
        print_json(doc)
    else:
        print_table(doc)
    bad = optimum_violations(doc)
    if bad:
        for line in bad:
            error_line(line, prefix="check failed")
        return EXIT_FAILED
    return EXIT_OK
