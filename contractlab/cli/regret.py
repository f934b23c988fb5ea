"""``contractlab regret``: run a no-regret learner against an adversary for many seeds and print
its regret at each horizon beside the learner's bound, the fitted log-log slope and the verdict
of the sublinearity test; ``--out`` writes the run (kind ``regret_run``), ``--plot`` a log-log
figure (PNG; needs the extra ``contractlab[plots]``).

With no arguments it runs Hedge with the tuned learning rate against ``punish-weighted`` (the
adaptive adversary that puts loss 1 on the action Hedge weights most, noise ``U[0, 0.5)`` on the
others), 10 actions, 30 seeds, horizons ``10^2 … 10^4`` (7, evenly spaced in log): a few seconds,
and the verdict is ``sublinear``.

Horizons, learning rates and the bound column
---------------------------------------------
Hedge's and EXP3's tuned learning rates depend on the horizon (``η = sqrt(8 ln K / T)``,
Cesa-Bianchi & Lugosi 2006, Thm 2.2; ``η = sqrt(2 ln K / (T K))``, Lattimore & Szepesvári 2020,
Thm 11.2), and their tuned bounds (``sqrt(T ln K / 2)``, ``sqrt(2 T K ln K)``) hold at the
horizon the rate was tuned for, not at the prefixes of a longer run. So for these two learners
without ``--eta`` every horizon ``T_j`` is a SEPARATE run of ``T_j`` rounds with ``η`` tuned to
``T_j`` (``runs: per_horizon``), and the bound column is the tuned bound at ``T_j``. The runs
use the same seeds, so an oblivious adversary deals each seed the same losses in every run (the
shorter runs see prefixes of the longest). This costs about ``Σ_j T_j`` rounds per seed (1.5x the
largest horizon for 7 horizons over 2 decades). It is not an anytime algorithm: that would need
a decreasing rate ``η_t``, which the package's Hedge does not implement.

Every other case is ONE run of the largest horizon recorded at each ``T_j`` (``runs: single``):
regret matching and RM+ (no parameter; ``Δ sqrt(K T)`` with ``Δ = 1`` holds at every ``T``),
UCB1 (no parameter; its bound is stated for every ``n``), follow-the-leader (no bound), and Hedge
or EXP3 with a fixed ``--eta`` (the general bounds ``ln K/η + η T/8`` and ``ln K/η + η T K/2``
hold at every ``T`` for a fixed ``η``, and those are the bounds printed).

Which regret, which bound (the bound is always the one that applies to the printed quantity):

- hedge, rm, rm+, ftl: the regret of the mixed strategies, ``Σ_t p_t·ℓ_t − min_i L_{T,i}``. Hedge's
  and RM's bounds are SURE (every seed, every loss sequence, adaptive ones too): a seed above
  the bound is reported on stderr and the exit code is 1.
- exp3: the realised regret of the played actions; its bound is on the EXPECTATION against an
  OBLIVIOUS adversary, so against ``punish-weighted`` / ``punish-last`` no bound is printed.
- ucb1: against a stochastic adversary (``bernoulli``, ``random``) the pseudo-regret
  ``Σ_t (μ_{A_t} − min_i μ_i)``, the quantity of Auer, Cesa-Bianchi & Fischer (2002), Thm 1, whose
  bound is on its expectation; against any other adversary the realised regret, with no bound.
- ftl: no bound (the negative control; linear regret on ``ftl-trap``).

The verdict is :func:`contractlab.proofs_checks.sublinearity.sublinearity_test` on the regrets of
the seeds (its exact rule is documented there). It needs at least 5 horizons over 2 decades and
20 seeds; a smaller run is still carried out and printed (the table is meaningful on its own),
with the verdict ``inconclusive`` and the reason, and exit code 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..theory.errors import InvalidInstanceError
from .common import (EXIT_FAILED, EXIT_OK, add_budget_options, apply_budget_options, check_distinct_outputs,
                     check_output, error_line, note, print_json, stderr_console, stdout_console, writing)
from .executors import add_options as add_executor_options
from .executors import executor, map_ordered

LEARNER_NAMES = ("hedge", "exp3", "ucb1", "rm", "rm+", "ftl")
ADVERSARY_NAMES = ("random", "bernoulli", "alternating", "switching", "ftl-trap", "punish-weighted", "punish-last")

#: The default run: Hedge (tuned) against the adaptive adversary that punishes its favourite action.
DEFAULT_LEARNER, DEFAULT_ADVERSARY, DEFAULT_ACTIONS, DEFAULT_SEEDS = "hedge", "punish-weighted", 10, 30
DEFAULT_HORIZONS = (100, 215, 464, 1000, 2154, 4642, 10000)
#: Defaults of the adversaries' parameters (``--noise``, ``--switch-prob``, ``--period``).
DEFAULT_NOISE, DEFAULT_SWITCH_PROB, DEFAULT_PERIOD = 0.5, 0.01, 1
#: ``--means`` when not given: mean losses evenly spaced from 0.2 (action 0, the best) to 0.8.
DEFAULT_MEANS_RANGE = (0.2, 0.8)
#: Largest horizon accepted (the rounds are counted in int64 and the run must end).
MAX_HORIZON = 10**12
#: Largest seed (seeds are int64).
MAX_SEED = 2**63 - 1
#: Level of the per-horizon intervals (the sublinearity test's own level).
LEVEL = 0.95
#: A sure bound counts as exceeded when a seed's regret is above ``bound + SURE_SLACK · T``
#: (the float sums of ``T`` rounds carry a rounding error of about ``T · 2^-52`` per unit loss).
SURE_SLACK = 1e-9

#: Options of each adversary's parameters (given with another adversary they are refused).
_ADVERSARY_OPTIONS = {"noise": ("punish-weighted", "punish-last"), "switch_prob": ("switching",),
                      "period": ("alternating",), "means": ("bernoulli",)}


def add_parser(sub) -> None:
    p = sub.add_parser("regret", help="run a no-regret learner against an adversary and test its regret for "
                                      "sublinearity against the learner's bound",
                       description="Run a no-regret learner against an adversary for many seeds; print the mean "
                                   "regret at each horizon with its 95% CI, the learner's bound and the ratio, the "
                                   "log-log slope and the sublinearity verdict. Hedge and EXP3 without --eta run "
                                   "each horizon separately with the learning rate tuned to it; everything else "
                                   "is one run of the largest horizon recorded at each horizon.")
    p.add_argument("--learner", choices=LEARNER_NAMES, default=DEFAULT_LEARNER,
                   help=f"the learner (default {DEFAULT_LEARNER})")
    p.add_argument("--adversary", choices=ADVERSARY_NAMES, default=DEFAULT_ADVERSARY,
                   help=f"the loss sequence (default {DEFAULT_ADVERSARY})")
    p.add_argument("--actions", type=int, metavar="K",
                   help=f"number of actions (default {DEFAULT_ACTIONS}; with --means, their number)")
    p.add_argument("--horizons", nargs="+", metavar="T",
                   help="increasing horizons, space- or comma-separated, e.g. 100 1000 10000 or 1e2,1e3,1e4 (default "
                        + ",".join(map(str, DEFAULT_HORIZONS)) + "); the test needs >= 5 over >= 2 decades")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, metavar="N",
                   help=f"independent runs (default {DEFAULT_SEEDS}; the test needs >= 20)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="first seed: the runs use S, S+1, …, S+N-1 "
                                                                    "(default 0)")
    p.add_argument("--eta", type=float, help="hedge, exp3: a fixed learning rate (default: tuned to each horizon)")
    p.add_argument("--noise", type=float, help=f"punish-weighted, punish-last: the other actions' losses are "
                                               f"U[0, noise) (default {DEFAULT_NOISE:g})")
    p.add_argument("--switch-prob", type=float, help=f"switching: probability of a new good action before each "
                                                     f"round (default {DEFAULT_SWITCH_PROB:g})")
    p.add_argument("--period", type=int, help=f"alternating: rounds between moves of the loss (default "
                                              f"{DEFAULT_PERIOD})")
    p.add_argument("--means", nargs="+", metavar="MU",
                   help="bernoulli: mean loss of each action (default: evenly spaced from "
                        f"{DEFAULT_MEANS_RANGE[0]:g} to {DEFAULT_MEANS_RANGE[1]:g})")
    p.add_argument("--out", metavar="FILE", help="write the run (JSON, kind regret_run) here")
    p.add_argument("--plot", metavar="PNG", help="draw regret against T on log-log axes with the bound "
                                                  "(needs contractlab[plots])")
    p.add_argument("--json", action="store_true", help="print the run as JSON on stdout instead of the table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it is drawn on stderr)")
    add_budget_options(p)
    add_executor_options(p)
    p.set_defaults(run=run)


# --------------------------------------------------------------------------- arguments

def _numbers(option: str, tokens) -> list[str]:
    """The values of a multi-valued option, separated by commas or white space."""
    out = [t for token in tokens for t in re.split(r"[,\s]+", str(token)) if t]
    if not out:
        raise InvalidInstanceError(option, "expected at least one value")
    return out


def parse_horizons(tokens) -> list[int]:
    """``--horizons``: positive, strictly increasing integers (``1e4`` is accepted as 10000)."""
    horizons = []
    for k, token in enumerate(_numbers("--horizons", tokens)):
        try:
            value = float(token)
        except ValueError:
            raise InvalidInstanceError("--horizons", f"not a number: {token.strip()[:30]!r}", k) from None
        if not math.isfinite(value) or value != int(value) or not 1 <= value <= MAX_HORIZON:
            raise InvalidInstanceError("--horizons", f"must be an integer in [1, {MAX_HORIZON:.0e}], got "
                                                     f"{token.strip()[:30]}", k)
        horizons.append(int(value))
        if k and horizons[k] <= horizons[k - 1]:
            raise InvalidInstanceError("--horizons", f"must be strictly increasing, got {horizons[k - 1]} then "
                                                     f"{horizons[k]}", k)
    return horizons


def _parse_means(tokens) -> tuple[float, ...]:
    means = []
    for k, token in enumerate(_numbers("--means", tokens)):
        try:
            value = float(token)
        except ValueError:
            raise InvalidInstanceError("--means", f"not a number: {token.strip()[:30]!r}", k) from None
        if not 0.0 <= value <= 1.0:
            raise InvalidInstanceError("--means", f"must lie in [0, 1], got {token.strip()[:30]}", k)
        means.append(value)
    return tuple(means)


@dataclass(frozen=True)
class Setup:
    """The checked arguments of a run."""

    learner: str
    adversary: str
    n_actions: int
    horizons: list
    seeds: range
    eta: float | None
    params: dict          # the adversary's parameters, as given to its class


def parse_setup(args) -> Setup:
    """Check every argument (before any work) and fill in the defaults; one
    :class:`InvalidInstanceError` naming the option otherwise."""
    for name, owners in _ADVERSARY_OPTIONS.items():
        if getattr(args, name) is not None and args.adversary not in owners:
            raise InvalidInstanceError("--" + name.replace("_", "-"),
                                       f"applies to --adversary {' / '.join(owners)} only, not {args.adversary}")
    if args.eta is not None and args.learner not in ("hedge", "exp3"):
        raise InvalidInstanceError("--eta", f"applies to --learner hedge / exp3 only ({args.learner} has no "
                                            "learning rate)")
    if args.eta is not None and not (math.isfinite(args.eta) and args.eta > 0):
        raise InvalidInstanceError("--eta", f"must be a finite number > 0, got {args.eta}")
    if args.seeds < 1:
        raise InvalidInstanceError("--seeds", f"must be >= 1, got {args.seeds}")
    if not 0 <= args.seed <= MAX_SEED - args.seeds + 1:
        raise InvalidInstanceError("--seed", f"must be in [0, {MAX_SEED} - N + 1] (N = --seeds), got {args.seed}")
    horizons = list(DEFAULT_HORIZONS) if args.horizons is None else parse_horizons(args.horizons)

    params: dict = {}
    if args.adversary == "bernoulli" and args.means is not None:
        means = _parse_means(args.means)
        if args.actions is not None and args.actions != len(means):
            raise InvalidInstanceError("--means", f"gives {len(means)} means but --actions is {args.actions}")
        n_actions = len(means)
    else:
        n_actions, means = DEFAULT_ACTIONS if args.actions is None else args.actions, None
    if n_actions < 2:
        raise InvalidInstanceError("--means" if args.means is not None else "--actions",
                                   f"needs at least 2 actions (with one there is no regret), got {n_actions}")
    _estimate_memory(args.seeds, n_actions, len(horizons))
    if args.adversary == "bernoulli":
        params["mean_losses"] = means or tuple(np.linspace(*DEFAULT_MEANS_RANGE, n_actions).tolist())
    elif args.adversary in ("punish-weighted", "punish-last"):
        noise = DEFAULT_NOISE if args.noise is None else args.noise
        if not (math.isfinite(noise) and 0.0 <= noise <= 1.0):
            raise InvalidInstanceError("--noise", f"must lie in [0, 1], got {noise}")
        params["noise"] = noise
    elif args.adversary == "switching":
        prob = DEFAULT_SWITCH_PROB if args.switch_prob is None else args.switch_prob
        if not (math.isfinite(prob) and 0.0 <= prob <= 1.0):
            raise InvalidInstanceError("--switch-prob", f"must lie in [0, 1], got {prob}")
        params["switch_prob"] = prob
    elif args.adversary == "alternating":
        period = DEFAULT_PERIOD if args.period is None else args.period
        if period < 1:
            raise InvalidInstanceError("--period", f"must be >= 1, got {period}")
        params["period"] = period
    seeds = range(args.seed, args.seed + args.seeds)          # lazy: nothing of size N before the estimate
    return Setup(args.learner, args.adversary, n_actions, horizons, seeds, args.eta, params)


# --------------------------------------------------------------------------- learner, adversary, bound

def make_learner(setup: Setup):
    """The learner object (for Hedge / EXP3 with ``eta=None`` the rate is tuned in each run)."""
    from ..learning.no_regret import LEARNERS
    cls = LEARNERS[setup.learner]
    if setup.learner in ("hedge", "exp3"):
        return cls(setup.n_actions, setup.eta)
    return cls(setup.n_actions)


def make_adversary(setup: Setup):
    """The adversary object named by ``--adversary`` with its parameters."""
    import importlib
    a = importlib.import_module("contractlab.learning.no_regret.adversaries")
    K, p = setup.n_actions, setup.params
    return {"random": lambda: a.IIDUniform(K),
            "bernoulli": lambda: a.Bernoulli(p["mean_losses"]),
            "alternating": lambda: a.Alternating(K, period=p["period"]),
            "switching": lambda: a.Switching(K, switch_prob=p["switch_prob"]),
            "ftl-trap": lambda: a.FTLTrap(K),
            "punish-weighted": lambda: a.PunishMostWeighted(K, p["noise"]),
            "punish-last": lambda: a.PunishLastAction(K, p["noise"])}[setup.adversary]()


def per_horizon(setup: Setup) -> bool:
    """``True`` when each horizon is a separate run (Hedge / EXP3 tuned to it; module docstring)."""
    return setup.learner in ("hedge", "exp3") and setup.eta is None


def quantity(setup: Setup, adversary) -> str:
    """``"pseudo_regret"`` for UCB1 against a stochastic adversary, else ``"regret"``."""
    return "pseudo_regret" if setup.learner == "ucb1" and adversary.means() is not None else "regret"


@dataclass(frozen=True)
class AppliedBound:
    """The bound that applies to the printed quantity: the registered sympy bound, how it holds,
    and its values at the horizons."""

    name: str
    expression: str
    source: str
    holds: str
    values: np.ndarray

    def to_json(self) -> dict:
        return {"name": self.name, "expression": self.expression, "source": self.source, "holds": self.holds,
                "values": self.values}


def applied_bound(setup: Setup, adversary) -> tuple[AppliedBound | None, str | None]:
    """``(bound, None)``, or ``(None, why no bound applies)``. Every bound comes from
    :mod:`contractlab.theory.regret_bounds`, evaluated exactly at each horizon."""
    from ..theory import regret_bounds as rb
    K, horizons = setup.n_actions, setup.horizons

    def at(bound, holds, **values):
        v = np.array([bound.evaluate(T=T, **values) for T in horizons])
        return AppliedBound(bound.name, str(bound.expression), bound.source, holds, v), None

    name = setup.learner
    if name == "ftl":
        return None, "follow-the-leader has no regret bound (the negative control)"
    if name == "hedge":
        return at(rb.HEDGE_TUNED, "surely", K=K) if setup.eta is None else at(rb.HEDGE, "surely", K=K, eta=setup.eta)
    if name in ("rm", "rm+"):
        bound = rb.REGRET_MATCHING if name == "rm" else rb.REGRET_MATCHING_PLUS
        return at(bound, "surely", K=K, Delta=1)          # losses in [0, 1]: spread Δ <= 1
    if name == "exp3":
        if adversary.adaptive:
            return None, (f"EXP3's bound (Lattimore & Szepesvari 2020, Thm 11.2) is for oblivious adversaries; "
                          f"{setup.adversary} reacts to the learner")
        if setup.eta is None:
            return at(rb.EXP3_TUNED, "in expectation", K=K)
        return at(rb.EXP3, "in expectation", K=K, eta=setup.eta)
    # ucb1
    means = adversary.means()
    if means is None:
        return None, (f"UCB1's bound (Auer, Cesa-Bianchi & Fischer 2002, Thm 1) is for i.i.d. losses; "
                      f"{setup.adversary} is not stochastic")
    gaps = rb.suboptimality_gaps(1.0 - np.asarray(means))          # on the rewards 1 - loss
    if gaps.size == 0:      # all arms equal: the pseudo-regret is 0, and so is the sum over no arm
        return AppliedBound(rb.UCB1.name, str(rb.UCB1.expression), rb.UCB1.source, "in expectation",
                            np.zeros(len(horizons))), None
    return at(rb.UCB1, "in expectation", Delta=gaps)


def _describe_rate(setup: Setup) -> str:
    if setup.learner == "hedge":
        return "tuned per horizon: sqrt(8 ln K / T)" if setup.eta is None else "fixed"
    if setup.learner == "exp3":
        return "tuned per horizon: sqrt(2 ln K / (T K))" if setup.eta is None else "fixed"
    return "none"


# --------------------------------------------------------------------------- the runs

def _estimate_memory(R: int, K: int, J: int) -> None:
    """Refuse a run of ``R`` seeds, ``K`` actions and ``J`` horizons whose arrays would not fit:
    blocks of about ``max(2^18, R K)`` entries (a few of them), the records ``R × J``, and two
    random generators per seed (about 2 KiB each)."""
    from ..learning.no_regret.run import BLOCK_ELEMENTS
    from ..theory.budget import check_memory
    nbytes = 8.0 * (8 * max(BLOCK_ELEMENTS, R * K) + 8 * R * J) + 4096.0 * R
    check_memory("--seeds" if R >= K else "--actions", nbytes, f"{R} seeds x {K} actions")


#: Seeds per task of ``--workers``/``--scheduler`` (at most; fewer so that every worker gets some).
SEEDS_PER_TASK = 16


def regret_task(setup: Setup, what: str, T: int, record: list, seeds: range) -> np.ndarray:
    """``(len(seeds), len(record))``: one run of ``T`` rounds for ``seeds``, with a fresh learner and
    adversary. Each seed draws from its own generator, so a seed's row does not depend on which
    seeds share the run (tests/test_distributed.py checks it): seeds can be split over tasks."""
    from ..learning.no_regret import run
    return getattr(run(make_learner(setup), make_adversary(setup), T, seeds, record=record), what)


def simulate_on(pool, setup: Setup, what: str, workers: int = 2) -> np.ndarray:
    """:func:`simulate` with one task per (run, chunk of seeds) on ``pool``; rows and columns are
    assembled in seed and horizon order, so the array equals the sequential one."""
    H, seeds = setup.horizons, setup.seeds
    runs = [(T, [T]) for T in H] if per_horizon(setup) else [(H[-1], H)]
    size = max(1, min(SEEDS_PER_TASK, -(-len(seeds) // max(1, workers))))
    chunks = [seeds[k:k + size] for k in range(0, len(seeds), size)]
    tasks = [(setup, what, T, record, c) for T, record in runs for c in chunks]
    parts = map_ordered(pool, regret_task, tasks)
    per_run = [np.concatenate(parts[j * len(chunks):(j + 1) * len(chunks)], axis=0) for j in range(len(runs))]
    return np.concatenate(per_run, axis=1)


def simulate(setup: Setup, learner, adversary, what: str, progress=None) -> np.ndarray:
    """``(N, J)``: each seed's ``what`` (``regret`` or ``pseudo_regret``) at each horizon; one run per
    horizon or one run in all (module docstring). ``progress(rounds × seeds)`` is called after each
    run (``run`` has no callback, so a single run advances the bar once, at its end)."""
    from ..learning.no_regret import run
    H, seeds = setup.horizons, setup.seeds
    runs = [(T, [T]) for T in H] if per_horizon(setup) else [(H[-1], H)]
    columns = []
    for T, record in runs:
        result = run(learner, adversary, T, seeds, record=record)
        columns.append(getattr(result, what))
        if progress is not None:
            progress(T * len(seeds))
    return np.concatenate(columns, axis=1)


def interval(regret: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-horizon means and the Student-t intervals ``m ± t_{(1+level)/2, n−1} s/sqrt(n)`` (the
    sublinearity test's intervals); ``None`` for a single seed."""
    from scipy import stats
    n = regret.shape[0]
    mean = regret.mean(axis=0)
    if n < 2:
        return mean, None
    half = stats.t.ppf((1 + level) / 2, n - 1) * regret.std(axis=0, ddof=1) / math.sqrt(n)
    return mean, np.stack([mean - half, mean + half], axis=1)


def verdict(regret: np.ndarray, horizons) -> dict:
    """The sublinearity test's verdict, or — for a run too small for it — ``inconclusive`` with
    the reason and, given 2 horizons and positive means, the plain least-squares log-log slope."""
    from ..proofs_checks import sublinearity as sl
    T = np.asarray(horizons, dtype=float)
    short = []
    if T.size < sl.MIN_HORIZONS:
        short.append(f"{sl.MIN_HORIZONS} horizons (got {T.size})")
    if T.size < 2 or math.log10(T[-1] / T[0]) < sl.MIN_DECADES - 1e-9:
        short.append(f"horizons over {sl.MIN_DECADES:g} decades (got {math.log10(T[-1] / T[0]):.2f})")
    if regret.shape[0] < sl.MIN_SEEDS:
        short.append(f"{sl.MIN_SEEDS} seeds (got {regret.shape[0]})")
    if short:
        means = regret.mean(axis=0)
        slope = None
        if T.size >= 2 and np.all(means > 0):
            slope = float(np.polyfit(np.log(T), np.log(means), 1)[0])
        return {"verdict": "inconclusive", "criterion": None, "tested": False, "slope": slope, "slope_ci": None,
                "reason": "too small for the sublinearity test, which needs at least " + ", ".join(short)}
    res = sl.sublinearity_test(regret, T, level=LEVEL)
    return {"verdict": res.verdict, "criterion": res.criterion, "tested": True, "reason": res.reason,
            "slope": res.slope if math.isfinite(res.slope) else None, "slope_ci": list(res.slope_ci),
            "undefined_fraction": res.undefined_fraction}


def sure_bound_violations(result) -> list[str]:
    """For a sure bound: the horizons where some seed's regret exceeds it (with the float slack
    ``SURE_SLACK · T``)."""
    if result.bound is None or result.bound["holds"] != "surely":
        return []
    worst = result.regret.max(axis=0)
    limit = result.bound["values"] + SURE_SLACK * result.horizons
    return [f"T={T}: regret {w:.6g} > bound {b:.6g}"
            for T, w, b, over in zip(result.horizons, worst, result.bound["values"], worst > limit) if over]


def build_result(setup: Setup, progress=None, pool=None, workers: int = 2):
    """Run everything and gather it in a :class:`~contractlab.theory.documents.RegretRunResult`
    (on ``pool``, an executor of :mod:`.executors`, if given)."""
    from ..theory.documents import RegretRunResult
    learner, adversary = make_learner(setup), make_adversary(setup)
    what = quantity(setup, adversary)
    bound, bound_note = applied_bound(setup, adversary)
    if pool is not None:
        regret = simulate_on(pool, setup, what, workers)
    else:
        regret = simulate(setup, learner, adversary, what, progress)
    mean, ci = interval(regret)
    ratio = None
    if bound is not None and np.all(bound.values > 0):
        ratio = mean / bound.values
    adversary_doc = {"name": setup.adversary, "n_actions": setup.n_actions}
    adversary_doc.update({k: list(v) if isinstance(v, tuple) else v for k, v in setup.params.items()})
    return RegretRunResult(
        learner={"name": setup.learner, "eta": setup.eta, "learning_rate": _describe_rate(setup)},
        adversary=adversary_doc, runs="per_horizon" if per_horizon(setup) else "single", quantity=what,
        seeds=np.array(setup.seeds, dtype=np.int64), horizons=np.array(setup.horizons, dtype=np.int64),
        regret=regret, level=LEVEL, mean_regret=mean, ci=ci, bound=None if bound is None else bound.to_json(),
        bound_note=bound_note, ratio=ratio, sublinearity=verdict(regret, setup.horizons))


# --------------------------------------------------------------------------- output

def _plot_module():
    """``matplotlib.pyplot`` with the Agg backend, or one line telling how to install it."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InvalidInstanceError("--plot", "needs matplotlib, which is not installed: "
                                             "pip install 'contractlab[plots]'") from None
    return plt


def _title(result) -> str:
    a = result.adversary
    extra = ", ".join(f"{k} {v}" for k, v in a.items() if k not in ("name", "n_actions", "mean_losses"))
    rate = result.learner["learning_rate"]
    eta = f"η = {result.learner['eta']:g}" if result.learner["eta"] is not None else (
        "η tuned per horizon" if rate.startswith("tuned") else "")
    parts = [f"K = {a['n_actions']}", extra, f"{result.seeds.size} seed" + ("s" if result.seeds.size != 1 else ""), eta]
    return f"{result.learner['name']} vs {a['name']} ({', '.join(p for p in parts if p)})"


def write_plot(result, path: str) -> None:
    """Mean regret (with its CI) against ``T`` on log-log axes, the bound dashed; written
    atomically as PNG. Non-positive means cannot sit on a log axis: the axis is then symlog."""
    plt = _plot_module()
    T, mean = result.horizons, result.mean_regret
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=100)
    label = "mean pseudo-regret" if result.quantity == "pseudo_regret" else "mean regret"
    if result.ci is not None:
        ax.fill_between(T, result.ci[:, 0], result.ci[:, 1], alpha=0.25, label=f"{result.level:.0%} CI")
    ax.plot(T, mean, "o-", label=label)
    if result.bound is not None:
        ax.plot(T, result.bound["values"], "k--", label=f"bound ({result.bound['name']}, {result.bound['holds']})")
    low = min(mean.min(), result.ci[:, 0].min() if result.ci is not None else mean.min())
    nobound = "" if result.bound is not None else "; no bound applies"
    finish_loglog(plt, fig, ax, path, low, f"{_title(result)}", result.sublinearity, nobound, "T (rounds)", "regret")


def finish_loglog(plt, fig, ax, path: str, low: float, title: str, sub: dict, note: str, xlabel: str,
                  ylabel: str) -> None:
    """Log ``x``; log ``y`` if every plotted value is positive (else symlog); the title with the
    verdict and slope, labels, grid, legend; written atomically as PNG and closed."""
    from ..theory.fileio import write_atomic
    ax.set_xscale("log")
    if low > 0:
        ax.set_yscale("log")
    else:
        ax.set_yscale("symlog", linthresh=1.0)
    slope = "" if sub.get("slope") is None else f", slope {sub['slope']:.3f}"
    ax.set_title(f"{title}\n{sub['verdict']}{slope}{note}", fontsize=9)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, format="png", metadata={"Software": None}), binary=True)
    finally:
        plt.close(fig)


def _fmt(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.4g}"


def print_table(result) -> None:
    from rich.markup import escape
    from rich.table import Table
    console = stdout_console()
    what = "pseudo-regret" if result.quantity == "pseudo_regret" else "regret"
    console.print(escape(f"contractlab regret — {_title(result)}"), highlight=False)
    table = Table()
    for col in ("T", f"mean {what}", f"{result.level:.0%} CI", "bound", "ratio to bound"):
        table.add_column(col, justify="right")
    for j, T in enumerate(result.horizons):
        ci = "—" if result.ci is None else f"[{_fmt(result.ci[j, 0])}, {_fmt(result.ci[j, 1])}]"
        bound = "—" if result.bound is None else _fmt(result.bound["values"][j])
        ratio = "—" if result.ratio is None else f"{result.ratio[j]:.3f}"
        table.add_row(str(T), _fmt(result.mean_regret[j]), ci, bound, ratio)
    console.print(table)
    if result.bound is not None:
        console.print(escape(f"bound: {result.bound['name']} = {result.bound['expression']}, holds "
                             f"{result.bound['holds']} [{result.bound['source']}]"), highlight=False)
    else:
        console.print(escape(f"bound: — ({result.bound_note})"), highlight=False)
    runs = ("each horizon a separate run, the learning rate tuned to it" if result.runs == "per_horizon"
            else "one run of the largest horizon, recorded at each horizon")
    console.print(escape(f"runs: {runs}"), highlight=False)
    why = "one horizon" if len(result.horizons) < 2 else "some mean regret <= 0"
    print_verdict(console, result.sublinearity, result.level, why)


def print_verdict(console, sub: dict, level: float, no_slope: str) -> None:
    """The fitted slope (with its bootstrap CI when the test ran) and the coloured verdict."""
    from rich.markup import escape
    if sub.get("slope") is None:
        slope = f"slope: — ({no_slope})"
    elif sub.get("slope_ci") is not None:
        lo, hi = sub["slope_ci"]
        slope = (f"slope: {sub['slope']:.3f} (log-log; {level:.0%} CI [{_fmt(lo)}, {_fmt(hi)}], "
                 "bootstrap over seeds)")
    else:
        slope = f"slope: {sub['slope']:.3f} (log-log least squares; no CI)"
    console.print(escape(slope), highlight=False)
    colour = {"sublinear": "green", "linear": "red"}.get(sub["verdict"], "yellow")
    console.print(f"verdict: [bold {colour}]{sub['verdict']}[/bold {colour}] — {escape(sub['reason'])}",
                  highlight=False)


def write_figure_then_document(plot: str | None, draw, out: str | None, save_document) -> None:
    """Write the figure (``draw(path)``), then the document (``save_document(path)``); if the
    document cannot be written, a figure this run created is removed again, so a failure leaves
    nothing new behind. Shared by ``regret`` and ``steer``."""
    import os

    plot_existed = plot is not None and os.path.exists(plot)
    if plot is not None:
        writing("--plot", plot, lambda: draw(plot))
    try:
        if out is not None:
            writing("--out", out, lambda: save_document(out))
    except BaseException:
        if plot is not None and not plot_existed:
            try:
                os.unlink(plot)
            except OSError:
                pass
        raise


def _write_outputs(args, result) -> None:
    from ..theory.fileio import save
    write_figure_then_document(args.plot, lambda path: write_plot(result, path), args.out,
                               lambda path: save(result, path))


def run(args) -> int:
    from ..theory.documents import regret_run_document

    apply_budget_options(args)
    check_output("--out", args.out)
    check_output("--plot", args.plot)
    check_distinct_outputs(("--out", args.out), ("--plot", args.plot))
    setup = parse_setup(args)
    if args.plot is not None:
        _plot_module()

    if args.workers is not None and args.scheduler is not None:
        raise InvalidInstanceError("--scheduler", "give either --workers or --scheduler, not both")
    if args.workers not in (None, 1) or args.scheduler is not None:
        with executor(args.workers, args.scheduler, args.scheduler_timeout) as pool:
            result = build_result(setup, pool=pool, workers=args.workers or 2)
    elif args.no_progress:
        result = build_result(setup)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
        H, n = setup.horizons, len(setup.seeds)
        total = (sum(H) if per_horizon(setup) else H[-1]) * n
        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=stderr_console(), transient=True) as bar:
            task = bar.add_task(f"regret ({setup.learner} vs {setup.adversary})", total=total)
            result = build_result(setup, lambda done: bar.advance(task, done))

    doc = regret_run_document(result)
    _write_outputs(args, result)
    if args.json:
        print_json(doc)
    else:
        print_table(result)
    for path in (args.out, args.plot):
        if path is not None:
            note(f"wrote {path}")
    violations = sure_bound_violations(result)
    if violations:
        error_line(f"{result.bound['name']} is a sure bound and some seed exceeds it: " + "; ".join(violations),
                   "check failed")
        return EXIT_FAILED
    return EXIT_OK
