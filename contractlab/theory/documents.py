"""Result documents: what ``contractlab ... --json`` prints and ``-o`` writes.

Each document is a JSON-ready dict with a ``kind`` and a ``version`` like the instance files
(:mod:`contractlab.theory.fileio`), so that a result written by one command is read back by
another (``contractlab solve tree.json -o spe.json`` then ``contractlab check tree.json
spe.json``) or by a user's script. The builders here take result objects (duck-typed: the
frozen dataclasses of :mod:`contractlab.solvers`) and only format them; they compute nothing
and import no solver, so the document layout lives in one place beside the file format.

Arrays stay numpy arrays in the dicts: :func:`contractlab.theory.fileio.save` writes large
ones to the ``.npz`` sibling without turning them into lists, and the CLI's JSON writer
serialises them directly.

Kinds
-----
``contract_solution`` (v1)
    The optimal contract, first best, best linear contract and the MIN-PAY table of a
    ``contract_problem``; optional ``exact`` part (fractions as ``"p/q"`` strings) and
    ``certificate`` parts.
``pamdp_solution`` (v2)
    The SPE (or the meta-algorithm's profile) of a ``pamdp``: values at the initial state and
    the policy in the columnar shape of ``contract_policy`` — ``action`` ``(S,)`` or ``(H, S)``,
    ``contract`` ``(S, K)`` or ``(H, S, K)``, ``expected_payment`` like ``action``. Version 1
    (a list of per-state objects) is no longer written. Registered as a file kind: it loads as
    a :class:`PAMDPSolution`, whose :attr:`PAMDPSolution.policy` is a ``ContractPolicy``.
``stackelberg_solution`` (v1), ``learning_curve`` (v1), ``verify_results`` (v1)
    As written by ``solve`` on a ``bimatrix_game``, ``learn --curve`` and ``verify --out``.
``regret_run`` (v1)
    A no-regret run as written by ``regret --out``: regret per seed and horizon, the bound that
    applies, the fitted slope and the sublinearity verdict; loads as a :class:`RegretRunResult`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .contract_policy import ContractPolicy
from .errors import InvalidFileError
from .validation import as_float_array

PAMDP_SOLUTION_VERSION = 2


def finite_or_none(x) -> float | None:
    """``float(x)``, or ``None`` for ``inf``/``nan`` (JSON has no infinities)."""
    x = float(x)
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------- contract problems

def _certificate(cert) -> dict:
    value = cert.exact_value
    return {"verdict": cert.verdict, "exact_value": None if value is None else str(value), "reason": cert.reason}


def contract_solution_document(problem, opt, fb, lin, backend: str, certificates=None) -> dict:
    """``kind: contract_solution`` from ``optimal_contract``, ``first_best`` and
    ``best_linear_contract`` results (``lin`` is ``None`` when rewards can be negative).

    ``certificates`` is ``(optimal_cert, linear_cert_or_None)`` from
    :func:`contractlab.solvers.certify.certify`; the optimal certificate's ``parts`` are the
    per-action MIN-PAY certificates.
    """
    label = problem.action_label
    doc: dict[str, Any] = {
        "kind": "contract_solution", "version": 1, "backend": backend,
        "optimal": {"action": int(opt.action), "action_name": label(opt.action), "contract": opt.contract,
                    "expected_payment": float(opt.expected_payment),
                    "principal_utility": float(opt.principal_utility), "agent_utility": float(opt.agent_utility)},
        "first_best": {"action": int(fb.action), "action_name": label(fb.action), "welfare": float(fb.welfare)},
        "min_pay": [{"action": int(r.action), "action_name": label(r.action), "implementable": bool(r.implementable),
                     "expected_payment": finite_or_none(r.expected_payment), "contract": r.contract,
                     "principal_utility": finite_or_none(u), "witness": r.witness}
                    for r, u in zip(opt.table, opt.principal_utilities)],
    }
    if lin is not None:
        doc["linear"] = {"alpha": float(lin.alpha), "action": int(lin.action), "action_name": label(lin.action),
                         "principal_utility": float(lin.principal_utility), "agent_utility": float(lin.agent_utility),
                         "critical_values": lin.critical_values, "induced_actions": lin.induced_actions}
    else:
        doc["linear"] = None
        doc["linear_note"] = "linear contracts need non-negative rewards (limited liability)"
    if certificates is not None:
        opt_cert, lin_cert = certificates
        doc["optimal"]["certificate"] = _certificate(opt_cert)
        for row, part in zip(doc["min_pay"], opt_cert.parts):
            row["certificate"] = _certificate(part)
        if doc["linear"] is not None and lin_cert is not None:
            doc["linear"]["certificate"] = _certificate(lin_cert)
    return doc


def exact_solution_document(problem, ex) -> dict:
    """The ``"exact"`` part of ``contractlab solve --exact``: fractions as strings ``"p/q"``."""
    def s(x):
        return None if x is None else str(x)

    def strs(xs):
        return None if xs is None else [str(x) for x in xs]

    return {"action": ex.action, "action_name": problem.action_label(ex.action), "contract": strs(ex.contract),
            "expected_payment": s(ex.expected_payment), "principal_utility": s(ex.principal_utility),
            "agent_utility": s(ex.agent_utility),
            "min_pay": [{"action": row.action, "implementable": row.implementable,
                         "expected_payment": s(row.expected_payment), "contract": strs(row.contract),
                         "witness": strs(row.witness), "principal_utility": s(u)}
                        for row, u in zip(ex.table, ex.principal_utilities)]}


# --------------------------------------------------------------------------- bimatrix games

def stackelberg_solution_document(res, backend: str) -> dict:
    """``kind: stackelberg_solution``: the leader's optimal commitment (Conitzer–Sandholm)."""
    return {"kind": "stackelberg_solution", "version": 1, "backend": backend,
            "leader_strategy": res.leader_strategy, "follower_action": int(res.follower_action),
            "leader_value": float(res.leader_value), "follower_value": float(res.follower_value)}


# --------------------------------------------------------------------------- principal-agent MDPs

@dataclass(frozen=True, eq=False)
class PAMDPSolution:
    """A ``pamdp_solution`` document read back: the values and the contract policy.

    ``extra`` holds the descriptive fields (``solution_concept``, ``backend``, ``method``,
    ``converged``, ...), kept as read.
    """

    principal_value: float
    agent_value: float
    initial_state: int
    policy: ContractPolicy
    expected_payment: np.ndarray
    extra: dict

    @property
    def action(self) -> np.ndarray:
        return self.policy.action

    @property
    def contract(self) -> np.ndarray:
        return self.policy.contract


#: Fields of a ``pamdp_solution`` besides kind and version, and the ones that may be arrays.
_PAMDP_SOLUTION_FIELDS = {"solution_concept", "backend", "method", "initial_state", "principal_value",
                          "agent_value", "time_indexed", "action", "contract", "expected_payment", "converged",
                          "iterations", "spe_gap", "bound", "reason", "stage", "n_states", "trace"}
#: The per-iteration lists of a meta-algorithm ``trace`` (values at the initial state).
TRACE_FIELDS = ("changed", "principal_value", "agent_value")
PAMDP_SOLUTION_ARRAYS = ("action", "contract", "expected_payment")


def pamdp_solution_document(mdp, policy: ContractPolicy, expected_payment: np.ndarray, principal_value: float,
                            agent_value: float, method: str, backend: str, **extra) -> dict:
    """``kind: pamdp_solution`` (version 2, columnar): see the module docstring."""
    doc = {"kind": "pamdp_solution", "version": PAMDP_SOLUTION_VERSION,
           "solution_concept": "subgame-perfect equilibrium", "backend": backend, "method": method,
           "n_states": int(mdp.n_states), "initial_state": int(mdp.initial_state),
           "principal_value": finite_or_none(principal_value), "agent_value": finite_or_none(agent_value),
           "time_indexed": bool(policy.time_indexed), "action": policy.action, "contract": policy.contract,
           "expected_payment": np.asarray(expected_payment, dtype=np.float64)}
    doc.update(extra)
    return doc


def _pamdp_solution_from_dict(data: dict) -> PAMDPSolution:
    from .fileio import require_fields
    require_fields(data, ("action", "contract", "expected_payment", "principal_value", "agent_value",
                          "initial_state"), {"kind", "version"} | _PAMDP_SOLUTION_FIELDS)
    policy = ContractPolicy(action=data["action"], contract=data["contract"])
    pay = as_float_array("expected_payment", data["expected_payment"], policy.action.ndim)
    if pay.shape != policy.action.shape:
        raise InvalidFileError("expected_payment", f"has shape {pay.shape}, expected {policy.action.shape} "
                                                   "(the shape of action)")
    values = {}
    for name in ("principal_value", "agent_value"):
        v = data[name]
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            raise InvalidFileError(name, "expected a finite number or null")
        values[name] = math.nan if v is None else float(v)
    s0 = data["initial_state"]
    if isinstance(s0, bool) or not isinstance(s0, int) or s0 < 0:
        raise InvalidFileError("initial_state", "expected an integer >= 0")
    extra = {k: v for k, v in data.items() if k in _PAMDP_SOLUTION_FIELDS and k not in PAMDP_SOLUTION_ARRAYS}
    if "trace" in extra:
        extra["trace"] = _check_trace(extra["trace"])
    return PAMDPSolution(values["principal_value"], values["agent_value"], int(s0), policy,
                         pay, extra)


def meta_trace(iterates, initial_state: int) -> dict:
    """The ``trace`` of a meta-algorithm run for a ``pamdp_solution`` document: per outer iteration,
    the states (or step-state pairs) whose action or contract changed, the principal's value of the
    new policy and the agent's best-response value, both at the initial state (step 0)."""
    def at_start(v):
        v = np.asarray(v)
        x = float(v[initial_state] if v.ndim == 1 else v[0, initial_state])
        return x if math.isfinite(x) else None

    return {"changed": [int(it.changed) for it in iterates],
            "principal_value": [at_start(it.step.principal_value) for it in iterates],
            "agent_value": [at_start(it.agent_value) for it in iterates]}


def _check_trace(trace) -> dict:
    if not isinstance(trace, dict) or set(trace) != set(TRACE_FIELDS):
        raise InvalidFileError("trace", f"expected an object with the lists {', '.join(TRACE_FIELDS)}")
    n = None
    for name in TRACE_FIELDS:
        values = trace[name]
        if not isinstance(values, list) or (n is not None and len(values) != n):
            raise InvalidFileError(f"trace.{name}", "expected a list, one entry per iteration")
        n = len(values)
        for i, v in enumerate(values):
            if name == "changed":
                ok = not isinstance(v, bool) and isinstance(v, int) and v >= 0
            else:
                ok = v is None or (not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v))
            if not ok:
                raise InvalidFileError(f"trace.{name}", "expected " + ("an integer >= 0" if name == "changed"
                                                                      else "a finite number or null"), (i,))
    return trace


def _pamdp_solution_to_dict(sol: PAMDPSolution) -> dict:
    doc = {"kind": "pamdp_solution", "version": PAMDP_SOLUTION_VERSION}
    doc.update({k: v for k, v in sol.extra.items() if k not in ("principal_value", "agent_value", "initial_state")})
    doc.update({"initial_state": sol.initial_state, "principal_value": finite_or_none(sol.principal_value),
                "agent_value": finite_or_none(sol.agent_value), "action": sol.action, "contract": sol.contract,
                "expected_payment": sol.expected_payment})
    return doc


def load_contract_policy(path) -> ContractPolicy:
    """A ``ContractPolicy`` from a ``contract_policy`` file or the policy of a ``pamdp_solution``."""
    from .fileio import load
    obj = load(path)
    if isinstance(obj, ContractPolicy):
        return obj
    if isinstance(obj, PAMDPSolution):
        return obj.policy
    from .fileio import kind_of
    raise InvalidFileError("kind", f"expected 'contract_policy' or 'pamdp_solution', got {kind_of(obj)!r}")


@dataclass(frozen=True, eq=False)
class AgentPolicy:
    """An ``agent_policy`` file: the action the agent plays at each state (``(S,)``) or step and
    state (``(H, S)``), for ``contractlab check --agent-policy``."""

    action: np.ndarray

    def __post_init__(self) -> None:
        from .pamdp import _as_int_array
        action = self.action
        if isinstance(action, np.ndarray):
            ndim = action.ndim
        else:
            ndim, v = 0, action
            while isinstance(v, list):
                ndim, v = ndim + 1, (v[0] if v else None)
        if ndim not in (1, 2):
            raise InvalidFileError("action", f"expected a 1-d (S,) or 2-d (H, S) array of actions, got {ndim}-d")
        object.__setattr__(self, "action", _as_int_array("action", action, ndim))


def _agent_policy_from_dict(data: dict) -> AgentPolicy:
    from .fileio import require_fields
    require_fields(data, ("action",), {"kind", "version", "action"})
    return AgentPolicy(data["action"])


def load_agent_actions(path) -> np.ndarray:
    """The agent's actions from an ``agent_policy`` file, or the recommended actions of a
    ``contract_policy`` / ``pamdp_solution`` file."""
    from .fileio import kind_of, load
    obj = load(path)
    if isinstance(obj, AgentPolicy):
        return obj.action
    if isinstance(obj, ContractPolicy):
        return obj.action
    if isinstance(obj, PAMDPSolution):
        return obj.action
    raise InvalidFileError("kind", f"expected 'agent_policy', 'contract_policy' or 'pamdp_solution', "
                                   f"got {kind_of(obj)!r}")


# --------------------------------------------------------------------------- learning and verify

def learning_curve_document(learner_kind: str, seed: int, iterations, principal_value) -> dict:
    """``kind: learning_curve``: the greedy policy's exact value against iterations."""
    return {"kind": "learning_curve", "version": 1, "learner": learner_kind, "seed": int(seed),
            "iterations": np.asarray(iterations), "principal_value": np.asarray(principal_value, dtype=np.float64)}


def verify_results_document(version: str, seed: int, count: int, reports) -> dict:
    """``kind: verify_results``: one entry per theorem (``TheoremReport.to_json``)."""
    return {"kind": "verify_results", "version": 1, "contractlab": version, "seed": int(seed), "count": int(count),
            "passed": all(r.passed for r in reports), "theorems": [r.to_json() for r in reports]}


def _register() -> None:
    from .fileio import FileKind, register_kind
    register_kind(FileKind("pamdp_solution", PAMDP_SOLUTION_VERSION, PAMDPSolution, _pamdp_solution_from_dict,
                           _pamdp_solution_to_dict, array_fields=PAMDP_SOLUTION_ARRAYS))
    register_kind(FileKind("agent_policy", 1, AgentPolicy, _agent_policy_from_dict,
                           lambda p: {"kind": "agent_policy", "version": 1, "action": p.action},
                           array_fields=("action",)))


_register()


# --------------------------------------------------------------------------- no-regret runs

#: Version of the ``regret_run`` kind.
REGRET_RUN_VERSION = 1
#: Fields of a ``regret_run`` that may sit in the ``.npz`` sibling.
REGRET_RUN_ARRAYS = ("seeds", "horizons", "regret")
_REGRET_RUN_FIELDS = {"learner", "adversary", "runs", "quantity", "seeds", "horizons", "regret", "level",
                      "mean_regret", "ci", "bound", "bound_note", "ratio", "sublinearity"}
_REGRET_RUNS = ("per_horizon", "single")
_REGRET_QUANTITIES = ("regret", "pseudo_regret")
_REGRET_VERDICTS = ("sublinear", "linear", "inconclusive")


@dataclass(frozen=True, eq=False)
class RegretRunResult:
    """A ``regret_run`` document (version 1): what ``contractlab regret`` prints with ``--json``
    and writes with ``--out``; ``fileio.load`` reads it back as this object.

    ``learner``: ``{"name", "eta", "learning_rate"}`` (``eta`` null when tuned to the horizon;
    ``learning_rate`` says how it was set). ``adversary``: ``{"name", "n_actions", ...}`` with the
    adversary's parameters. ``runs``: ``"per_horizon"`` (one run of each horizon ``T_j``, the
    learner tuned to it) or ``"single"`` (one run of the largest horizon, recorded at every
    ``T_j``). ``quantity``: ``"regret"`` (regret against the best fixed action in hindsight: of
    the mixed strategies with full information, of the played actions with bandit feedback) or
    ``"pseudo_regret"`` (UCB1 on a stochastic adversary). ``regret[seed, j]``: the quantity of each
    seed at ``horizons[j]``; ``mean_regret`` and ``ci`` (``(J, 2)``, Student-t at ``level``; null
    for a single seed) summarise it. ``bound``: ``{"name", "expression", "source", "holds",
    "values"}`` (``holds`` is ``"surely"`` or ``"in expectation"``, ``values`` the bound at each
    horizon) or null with ``bound_note`` saying why no bound applies; ``ratio``: ``mean_regret /
    bound`` (null without a positive bound). ``sublinearity``: ``{"verdict", "criterion",
    "reason", "slope", "slope_ci", "tested"}`` from
    :func:`contractlab.proofs_checks.sublinearity.sublinearity_test` (``tested`` false when the
    run is too small for the test: the verdict is then ``"inconclusive"`` and ``reason`` says
    why; ``slope`` may still be the plain least-squares fit, ``slope_ci`` null).
    """

    learner: dict
    adversary: dict
    runs: str
    quantity: str
    seeds: np.ndarray
    horizons: np.ndarray
    regret: np.ndarray
    level: float
    mean_regret: np.ndarray
    ci: np.ndarray | None
    bound: dict | None
    bound_note: str | None
    ratio: np.ndarray | None
    sublinearity: dict

    @property
    def verdict(self) -> str:
        return self.sublinearity["verdict"]


def regret_run_document(result: RegretRunResult) -> dict:
    """``kind: regret_run`` (see :class:`RegretRunResult`); non-finite numbers become null."""
    bound = None
    if result.bound is not None:
        bound = dict(result.bound)
        bound["values"] = np.asarray(bound["values"], dtype=np.float64)
    sub = dict(result.sublinearity)
    sub["slope"] = None if sub.get("slope") is None else finite_or_none(sub["slope"])
    if sub.get("slope_ci") is not None:
        sub["slope_ci"] = [finite_or_none(x) for x in sub["slope_ci"]]
    return {"kind": "regret_run", "version": REGRET_RUN_VERSION, "learner": dict(result.learner),
            "adversary": dict(result.adversary), "runs": result.runs, "quantity": result.quantity,
            "seeds": np.asarray(result.seeds, dtype=np.int64), "horizons": np.asarray(result.horizons, dtype=np.int64),
            "regret": np.asarray(result.regret, dtype=np.float64), "level": float(result.level),
            "mean_regret": np.asarray(result.mean_regret, dtype=np.float64),
            "ci": None if result.ci is None else np.asarray(result.ci, dtype=np.float64),
            "bound": bound, "bound_note": result.bound_note,
            "ratio": None if result.ratio is None else np.asarray(result.ratio, dtype=np.float64),
            "sublinearity": sub}


def _int_vector(field: str, value) -> np.ndarray:
    """A 1-d array of integers (written as integers or integral floats)."""
    arr = as_float_array(field, value, 1)
    bad = np.nonzero(arr != np.round(arr))[0]
    if bad.size:
        raise InvalidFileError(field, f"expected an integer, got {arr[bad[0]]!r}", int(bad[0]))
    return arr.astype(np.int64)


def _text(data: dict, field: str, choices: tuple[str, ...] | None = None, optional: bool = False) -> str | None:
    value = data.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or (choices is not None and value not in choices):
        want = "a string" if choices is None else "one of " + ", ".join(repr(c) for c in choices)
        raise InvalidFileError(field, f"expected {want}")
    return value


def _regret_run_from_dict(data: dict) -> RegretRunResult:
    from .fileio import require_fields
    require_fields(data, ("learner", "adversary", "runs", "quantity", "seeds", "horizons", "regret", "level",
                          "mean_regret", "sublinearity"), {"kind", "version"} | _REGRET_RUN_FIELDS)
    for name in ("learner", "adversary", "sublinearity"):
        if not isinstance(data[name], dict):
            raise InvalidFileError(name, "expected an object")
    for name in ("learner", "adversary"):
        _text(data[name], "name")
    seeds = _int_vector("seeds", data["seeds"])
    horizons = _int_vector("horizons", data["horizons"])
    if np.any(horizons < 1) or np.any(np.diff(horizons) <= 0):
        raise InvalidFileError("horizons", "must be positive and strictly increasing")
    shape = (seeds.size, horizons.size)
    regret = as_float_array("regret", data["regret"], 2)
    if regret.shape != shape:
        raise InvalidFileError("regret", f"has shape {regret.shape}, expected {shape} (seeds x horizons)")
    mean = as_float_array("mean_regret", data["mean_regret"], 1)
    if mean.shape != (horizons.size,):
        raise InvalidFileError("mean_regret", f"has {mean.size} entries, expected {horizons.size} (one per horizon)")
    ci = None if data.get("ci") is None else as_float_array("ci", data["ci"], 2)
    if ci is not None and ci.shape != (horizons.size, 2):
        raise InvalidFileError("ci", f"has shape {ci.shape}, expected {(horizons.size, 2)}")
    level = data["level"]
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 1:
        raise InvalidFileError("level", "expected a number in (0, 1)")
    bound = data.get("bound")
    if bound is not None:
        if not isinstance(bound, dict):
            raise InvalidFileError("bound", "expected an object or null")
        for name in ("name", "expression", "source", "holds"):
            _text(bound, name)
        values = as_float_array("bound.values", bound.get("values"), 1)
        if values.shape != (horizons.size,):
            raise InvalidFileError("bound.values", f"has {values.size} entries, expected {horizons.size}")
        bound = dict(bound, values=values)
    ratio = None if data.get("ratio") is None else as_float_array("ratio", data["ratio"], 1)
    if ratio is not None and ratio.shape != (horizons.size,):
        raise InvalidFileError("ratio", f"has {ratio.size} entries, expected {horizons.size}")
    sub = data["sublinearity"]
    _text(sub, "verdict", _REGRET_VERDICTS)
    _text(sub, "reason")
    return RegretRunResult(dict(data["learner"]), dict(data["adversary"]), _text(data, "runs", _REGRET_RUNS),
                           _text(data, "quantity", _REGRET_QUANTITIES), seeds, horizons, regret, float(level),
                           mean, ci, bound, _text(data, "bound_note", optional=True), ratio, dict(sub))


def _register_regret_run() -> None:
    from .fileio import FileKind, register_kind
    register_kind(FileKind("regret_run", REGRET_RUN_VERSION, RegretRunResult, _regret_run_from_dict,
                           regret_run_document, array_fields=REGRET_RUN_ARRAYS))


_register_regret_run()


# --------------------------------------------------------------------------- welfare and steering

#: Version of the ``welfare_benchmarks`` kind (``contractlab solve`` on an ``externality_mdp``).
WELFARE_BENCHMARKS_VERSION = 1


def welfare_benchmarks_document(model, benchmarks, backend: str) -> dict:
    """``kind: welfare_benchmarks``: the scalars of
    :meth:`~contractlab.solvers.welfare.WelfareBenchmarks.summary` and the time-indexed optimal,
    selfish and implemented policies ``(H, S)``, the minimal transfers ``(H, S, K)``, their expected
    payments ``(H, S)`` and whether the target is implementable ``(H, S)``."""
    impl = benchmarks.implementation
    return {"kind": "welfare_benchmarks", "version": WELFARE_BENCHMARKS_VERSION, "environment": model.environment,
            "horizon": model.horizon, "discount": model.discount, "initial_state": model.initial_state,
            **benchmarks.summary(), "backend": backend,
            "optimal_policy": benchmarks.optimum.policy, "selfish_policy": benchmarks.selfish.policy,
            "implemented_policy": impl.policy, "transfers": impl.contract,
            "expected_payment": impl.expected_payment, "target_implementable": impl.target_implementable}


#: Version of the ``steering_run`` kind (``contractlab steer``).
STEERING_RUN_VERSION = 1


def steering_run_document(*, environment: str, mechanism: str, agent: str, config: dict, seeds, horizons,
                          benchmarks, phase_one_length, block_length, welfare_regret, level: float, ci,
                          transfer_paid, last_run, sublinearity: dict) -> dict:
    """``kind: steering_run``: ``welfare_regret[seed, j]`` (``Σ_n (W* − E[W_n])`` of the run of
    ``horizons[j]`` episodes), its means and Student-t ``ci`` at ``level``, the Phase-1 length and
    probe-block length of each run, the total transfer each seed paid in each run, the exact
    benchmarks (``optimal_welfare``, ``selfish_welfare``, ``gap``, ``exact_total_transfer``), the
    sublinearity verdict, and for the largest run (``transfers``): its Phase-2 schedule
    ``contract (seeds, H, S, K)``, where one is posted (``implemented``) and the transfer paid in each
    episode (``per_episode``, ``(seeds, T)``)."""
    R = np.ascontiguousarray(welfare_regret, dtype=np.float64)
    phase_two = last_run.phase_two_transfer()
    sub = dict(sublinearity)
    sub["slope"] = None if sub.get("slope") is None else finite_or_none(sub["slope"])
    if sub.get("slope_ci") is not None:
        sub["slope_ci"] = [finite_or_none(x) for x in sub["slope_ci"]]
    return {
        "kind": "steering_run", "version": STEERING_RUN_VERSION, "environment": environment,
        "mechanism": mechanism, "agent": agent,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()},
        "seeds": np.asarray(seeds, dtype=np.int64), "horizons": np.asarray(horizons, dtype=np.int64),
        "optimal_welfare": benchmarks.optimal_welfare, "selfish_welfare": benchmarks.selfish_welfare,
        "gap": benchmarks.gap, "exact_total_transfer": benchmarks.total_transfer,
        "phase_one_length": np.asarray(phase_one_length, dtype=np.int64),
        "block_length": np.asarray(block_length, dtype=np.int64), "welfare_regret": R,
        "mean_regret": R.mean(axis=0), "ci": ci, "level": float(level),
        "transfer_paid": np.ascontiguousarray(transfer_paid, dtype=np.float64),
        "phase_two_transfer_mean": float(np.nanmean(phase_two)) if np.isfinite(phase_two).any() else None,
        "transfers": {"horizon": int(np.asarray(horizons)[-1]), "contract": last_run.contract,
                      "implemented": last_run.implemented, "per_episode": last_run.transfer},
        "neutrality_error": last_run.neutrality_error(), "sublinearity": sub}


# --------------------------------------------------------------------------- incentive design

#: Version of the ``incentive_optimum`` kind (``contractlab solve`` on a game with incentives).
INCENTIVE_OPTIMUM_VERSION = 1
#: Version of the ``design_run`` kind (``contractlab design``).
DESIGN_RUN_VERSION = 1


def _listed(values) -> list:
    """A float array as nested lists with ``None`` for non-finite entries (JSON has no NaN)."""
    arr = np.asarray(values, dtype=float)
    out = arr.astype(object)
    out[~np.isfinite(arr)] = None
    return out.tolist()


def incentive_optimum_document(game_name: str, game, optimum, nash, dominant) -> dict:
    """``kind: incentive_optimum``: the welfare optimum ``W*`` of a game with incentives (DP), the agents'
    returns under it, its time-indexed joint policy ``(H, S)`` and trajectory, and for each equilibrium
    kind (``nash``, ``dominant``) the minimal incentives implementing it (LP): the total expected cost,
    per agent, and the incentives paid on the trajectory ``(H, n)`` (``eta`` at each step's state and
    joint action)."""
    def kind_doc(res) -> dict:
        paid = np.zeros((game.horizon, game.n_agents))
        for t, s in enumerate(optimum.path):
            if s >= 0:
                paid[t] = res.eta[t, s, optimum.policy[t, s]]
        return {"feasible": bool(res.feasible), "expected_cost": finite_or_none(res.expected_cost),
                "cost_per_agent": [finite_or_none(c) for c in res.cost_per_agent], "paid_on_path": paid,
                "status": [str(s) for s in res.status]}
    actions = game.joint_actions()
    path_actions = [[int(a) for a in actions[optimum.policy[t, s]]] if s >= 0 else None
                    for t, s in enumerate(optimum.path)]
    return {"kind": "incentive_optimum", "version": INCENTIVE_OPTIMUM_VERSION, "game": game_name,
            "n_agents": game.n_agents, "n_actions": list(game.n_actions), "n_states": game.n_states,
            "horizon": game.horizon, "optimal_welfare": float(optimum.value),
            "returns": [float(r) for r in optimum.returns], "policy": optimum.policy,
            "path": [int(s) for s in optimum.path], "path_actions": path_actions,
            "nash": kind_doc(nash), "dominant": kind_doc(dominant),
            "net_welfare_of_min_incentives": float(optimum.value - nash.expected_cost)}


def design_run_document(*, game_name: str, game, config, seeds, iterations: int, references: dict, runs: dict,
                        level: float, summarise) -> dict:
    """``kind: design_run``: the exact references (``W*``, minimal Nash and dominant incentives, the
    net welfare of the LP-minimal design), and per designer the final agents' exact welfare,
    incentives paid and net welfare per seed, their means and Student-t intervals at ``level``, the
    ratios to ``W*`` and to the LP-minimal incentives, the learning curves ``(seeds, iterations)``
    (exact DP values of the agents after each iteration; ``None`` where not computed) and the largest
    difference between the designer's lookahead and the agents' own step; and the paired
    differences in net welfare between the first designer and each other one."""
    from dataclasses import asdict
    opt, nash, dom = references["optimum"], references["nash"], references["dominant"]
    w_star = float(opt.value)
    p_min = float(nash.expected_cost)
    designers, finals = {}, {}
    for name, results in runs.items():
        W = np.array([r.final_exact_welfare for r in results], dtype=float)
        P = np.array([r.final_exact_incentives for r in results], dtype=float)
        N = W - P
        finals[name] = N
        curve_w = [r.exact_welfare if r.exact_welfare is not None else r.welfare for r in results]
        curve_p = [r.exact_incentives if r.exact_incentives is not None else r.incentives for r in results]
        sw, sp, sn = summarise(W, level), summarise(P, level), summarise(N, level)
        designers[name] = {
            "final_welfare": W, "final_incentives": P, "final_net_welfare": N,
            "summary": {"welfare": sw, "incentives": sp, "net_welfare": sn,
                        "welfare_ratio": finite_or_none(sw["mean"] / w_star) if w_star else None,
                        "incentive_ratio": finite_or_none(sp["mean"] / p_min) if p_min > 0 else None,
                        "net_welfare_ratio": finite_or_none(sn["mean"] / w_star) if w_star else None},
            "welfare_curve": _listed(np.array(curve_w, dtype=float)),
            "net_welfare_curve": _listed(np.array(curve_w, dtype=float) - np.array(curve_p, dtype=float)),
            "max_update_mismatch": finite_or_none(max((r.max_update_mismatch for r in results), default=math.nan)),
        }
    differences = {}
    names = list(runs)
    for name in names[1:]:
        d = summarise(finals[names[0]] - finals[name], level)
        lo, hi = d["ci"] if d["ci"] is not None else (math.nan, math.nan)
        d["verdict"] = (f"{names[0]} better" if lo > 0 else f"{name} better" if hi < 0 else "no significant difference"
                        ) if d["ci"] is not None else "one seed: no interval"
        differences[name] = d
    cfg = asdict(config)
    return {"kind": "design_run", "version": DESIGN_RUN_VERSION, "game": game_name, "n_agents": game.n_agents,
            "n_actions": list(game.n_actions), "n_states": game.n_states, "horizon": game.horizon,
            "config": cfg, "seeds": [int(s) for s in seeds], "iterations": int(iterations), "level": level,
            "exact": {"optimal_welfare": w_star, "min_incentives_nash": p_min,
                      "min_incentives_dominant": float(dom.expected_cost),
                      "net_welfare_of_min_incentives": w_star - p_min},
            "designers": designers, "differences": differences}


COIN_GAME_SOLUTION_VERSION = 1


def coin_game_solution_document(game: dict, optimum, best_responses, selfish: dict, payments: dict,
                                alpha: float) -> dict:
    """``kind: coin_game_solution``: the exact answer on a small Coin Game
    (``solvers/coin_game_exact.py``, arXiv 2407.18074 Section 5). ``game`` the instance's fields;
    ``optimum`` the welfare optimum ``W*`` (its joint policy ``(H, S)`` and each agent's return
    when both follow it); ``best_responses`` each agent's best response to the other following
    ``π*`` (value and gain over following); ``selfish`` the subgame-perfect equilibria without a
    principal under the best- and worst-welfare stage selections (their welfare brackets that of
    every pure-stage SPE); ``payments`` for each exact rule paying followers of ``π*`` (``paper``:
    a best response when the other follows; ``every_action``: dominant, step by step; ``lp``: the
    least dominant payments) the expected payment per agent, the total, its share of ``W*`` and
    the principal's objective ``W*/α − payments``."""
    W = float(optimum.value)
    brs = [{"agent": int(b.agent), "value": float(b.value),
            "gain_over_following": float(b.value - optimum.agent_value[i])} for i, b in enumerate(best_responses)]
    sel = {k: {"welfare": float(e.welfare), "fraction_of_optimum": float(e.welfare / W) if W else None,
               "values": [float(v) for v in e.value], "stage_games_with_several_equilibria": int(e.n_multiple),
               "stage_games_mixed": int(e.n_mixed)} for k, e in selfish.items()}
    pay = {}
    for k, (per_agent, extra) in payments.items():
        total = float(np.sum(per_agent))
        pay[k] = {"per_agent": [float(x) for x in per_agent], "total": total,
                  "share_of_welfare": total / W if W else None, "principal_objective": W / alpha - total, **extra}
    return {"kind": "coin_game_solution", "version": COIN_GAME_SOLUTION_VERSION, "game": game,
            "n_states": int(optimum.tables.n_states), "horizon": int(optimum.tables.game.horizon), "alpha": alpha,
            "optimal_welfare": W, "returns": [float(v) for v in optimum.agent_value], "policy": optimum.policy,
            "best_responses": brs, "selfish": sel, "payments": pay}
