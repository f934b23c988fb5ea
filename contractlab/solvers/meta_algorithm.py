"""The meta-algorithm of arXiv 2407.18074 (Algorithm 1) on finite-horizon and acyclic PA-MDPs.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*:
alternate (1) the agent's best response to the principal's current contract policy and
(2) the principal's optimisation given the agent. Step (2) is a backward pass in which, at
every state, the principal recommends the action with the best value to her and offers its
minimal implementing contract, written on the agent's truncated Q̄ — whose continuation is
the agent's value under its best response to the *previous* contract policy — while her own
continuation is her new value (:func:`principal_step`).

On a tree, a DAG or a finite horizon, after ``k`` iterations every state within ``k`` steps
of the end already plays its subgame-perfect contract (the agent's continuation there was
computed against SPE contracts one iteration earlier), so the iteration reaches the SPE after
at most ``depth`` iterations and one more confirms it: at most ``H + 1`` iterations.

Discounted cyclic instances (``γ < 1``, no horizon): the principal's step is the fixed point of
:func:`principal_operator` on her Q-function, ``(T q)(s, a) = Σ_o O(s,a,o)(r_p(s,o) − b*(s,a)(o)
+ γ E[max_a' q(s', a')])``, where ``b*(s, a)`` is the minimal contract implementing ``a`` on the
agent's Q̄ built from the given agent continuation values. For fixed agent values ``T`` is a
``γ``-contraction in the sup-norm, so it is iterated until the a-posteriori bound
``γ/(1−γ)·||q_{k+1} − q_k||_∞`` is below a tolerance (:func:`principal_fixed_point`, which reports
iterations and the bound). The outer alternation with the agent's best response is *not*
known to converge in general: :func:`meta_algorithm` reports ``converged`` and stops at
``max_iter``; when it converges, the profile can be certified with
:func:`contractlab.proofs_checks.spe_checks.spe_gap`.

Budgets. Reaching the bound ``tol`` takes about ``log(C/(tol·(1−γ)))/(1−γ)`` iterations of the
fixed point (and as many sweeps of the agent's value iteration), so as ``γ → 1`` the iterations
are unbounded (``γ = 1 − 1e-12``: ~10¹³; the caps of 10⁶ took ~36 s per principal step and
~20 s per agent best response on 5 states, times 200 outer iterations). Every iterative loop
here therefore stops at an iteration budget (``max_iter``, ``fixed_point_max_iter``,
``agent_max_iter``) and at one wall-time budget for the whole call (``time_limit``, default
:data:`TIME_LIMIT` seconds), and then *returns*: ``converged=False``, the a-posteriori bound
reached (:attr:`MetaAlgorithmResult.bound`), the reason (``"iteration budget"`` or
``"time budget"``) and the loop that was cut (:attr:`MetaAlgorithmResult.stage`). Nothing here
raises for non-convergence. The agent's best response
(:func:`~contractlab.solvers.pamdp_policy.agent_best_response`) is given the remaining time as
its own ``time_limit``, which its value iteration, policy iteration and Krylov solves check.
"""

from __future__ import annotations

import math
import numbers
import time
from dataclasses import dataclass

import numpy as np

from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP
from .pamdp_policy import VI_MAX_ITER, AgentResponse, _check_time_limit, agent_best_response
from .spe import TIE_TOL, _check_options, _rows, spe_backup

#: Two contract policies are the same when actions are equal and payments differ by at most this.
POLICY_TOL = 1e-12


@dataclass(frozen=True, eq=False)
class PrincipalStep:
    """The principal's optimisation given the agent's continuation values (step 2 of Algorithm 1)."""

    policy: ContractPolicy
    principal_value: np.ndarray      # her value of the new policy when the agent follows (S,) or (H, S)
    principal_q: np.ndarray          # value of recommending each action (−inf: not implementable)
    fixed_point: "PrincipalFixedPoint | None" = None   # discounted cyclic instances: the certificate


@dataclass(frozen=True, eq=False)
class MetaIterate:
    """One iteration: the agent's best response to the old policy, then the principal's new policy."""

    iteration: int
    agent_policy: np.ndarray
    agent_value: np.ndarray
    step: PrincipalStep
    changed: int                     # states (or step-state pairs) whose action or contract changed


#: Why :func:`meta_algorithm` / :func:`principal_fixed_point` stopped.
REASONS = ("converged", "iteration budget", "time budget")
#: Which loop a budget cut (:attr:`MetaAlgorithmResult.stage`).
STAGES = ("alternation", "agent best response", "principal fixed point")


@dataclass(frozen=True, eq=False)
class MetaAlgorithmResult:
    """The last contract policy, the agent's best response to it, and every iterate.

    Attributes
    ----------
    policy, agent_policy, principal_value, agent_value:
        The last contract policy, the agent's best response to it and both parties' values.
    iterations:
        Outer iterations done (at least 1).
    converged:
        ``True`` iff an iteration left the contract policy unchanged and every inner computation
        reached its tolerance; ``False`` when a budget stopped the call (see ``reason``).
    iterates:
        Every outer iteration, in order.
    bound:
        The a-posteriori error bound reached. Converged: the largest bound of the computations
        behind the result — the last principal fixed point's ``γ/(1−γ)·||q_{k+1} − q_k||_∞`` on
        ``||q − q*||_∞``, the final agent best response's value-iteration bound and the residual
        bound of its values (0.0 on trees, DAGs and finite horizons). Stopped inside an inner
        loop (``stage`` ``"principal fixed point"`` / ``"agent best response"``): that loop's
        bound (for the agent, :attr:`~contractlab.solvers.pamdp_policy.AgentResponse.bound`:
        its value-iteration bound or the residual bound of its values, whichever is larger;
        finite, or ``inf`` if it had none yet). Stopped by the alternation's own budget
        (``stage="alternation"``): ``inf`` — no bound on the distance to the alternation's limit
        is known (it is not known to converge).
    reason:
        ``"converged"``, ``"iteration budget"`` or ``"time budget"``.
    stage:
        ``None`` when converged; else the loop that was cut: ``"alternation"``,
        ``"agent best response"`` or ``"principal fixed point"``.
    wall_time:
        Seconds spent in the call.
    """

    policy: ContractPolicy
    agent_policy: np.ndarray
    principal_value: np.ndarray
    agent_value: np.ndarray
    iterations: int
    converged: bool
    iterates: tuple[MetaIterate, ...]
    initial_state: int = 0
    bound: float = 0.0
    reason: str = "converged"
    stage: str | None = None
    wall_time: float = 0.0

    @property
    def principal_value_initial(self) -> float:
        """The principal's value at the initial state (step 0)."""
        v = self.principal_value
        return float(v[self.initial_state] if v.ndim == 1 else v[0, self.initial_state])


#: A-posteriori error bound at which the principal's fixed-point iteration stops.
FIXED_POINT_TOL = 1e-11
#: Cap on the principal's fixed-point iterations (reported, never silent).
FIXED_POINT_MAX_ITER = 1_000_000
#: Default cap on the outer iterations for discounted cyclic instances.
DISCOUNTED_MAX_ITER = 200
#: Default wall-time budget, in seconds, of one :func:`meta_algorithm` call (all its loops).
TIME_LIMIT = 60.0


class _Clock:
    """A wall-time budget: ``time_limit`` seconds from construction (``None``: unlimited)."""

    def __init__(self, time_limit: float | None):
        self.start = time.monotonic()
        self.deadline = math.inf if time_limit is None else self.start + float(time_limit)

    @property
    def limited(self) -> bool:
        return math.isfinite(self.deadline)

    def remaining(self) -> float:
        """Seconds left (``inf`` when unlimited, 0.0 once expired)."""
        return max(0.0, self.deadline - time.monotonic()) if self.limited else math.inf

    def expired(self) -> bool:
        return self.limited and time.monotonic() >= self.deadline

    def elapsed(self) -> float:
        return time.monotonic() - self.start


def _check_budget(name: str, value) -> int:
    """An iteration budget: an integer ``>= 1``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise InvalidInstanceError(name, f"must be an integer >= 1, got {value!r}")
    return int(value)


def _cyclic(mdp: PrincipalAgentMDP) -> bool:
    return mdp.horizon is None and not mdp.is_acyclic


@dataclass(frozen=True, eq=False)
class PrincipalFixedPoint:
    """The fixed point of :func:`principal_operator` for fixed agent values, with its certificate.

    ``error_bound`` is the a-posteriori bound ``γ/(1−γ)·||q_k − q_{k−1}||_∞ >= ||q_k − q*||_∞``
    of the last iterate (Banach; ``T`` is a ``γ``-contraction); ``reason`` is ``"converged"``
    (bound ``<= tol``), ``"iteration budget"`` or ``"time budget"``.
    """

    q: np.ndarray
    iterations: int
    error_bound: float
    converged: bool
    reason: str = "converged"

    @property
    def bound(self) -> float:
        """Alias of :attr:`error_bound`."""
        return self.error_bound


def _min_pay_table(mdp: PrincipalAgentMDP, agent_value, method, backend, tie_tol) -> tuple[np.ndarray, np.ndarray]:
    """``(R, M)``: expected principal reward ``Σ_o O r_p`` and MINPAY (``inf``: not implementable) per (s, a)."""
    S = mdp.n_states
    va = np.asarray(agent_value, dtype=float)
    if va.shape != (S,):
        raise InvalidInstanceError("agent_value", f"has shape {va.shape}, expected {(S,)}")
    res = spe_backup(mdp, np.arange(S), np.zeros(S), va, method, backend, tie_tol)
    R = np.einsum("sak,sk->sa", mdp.outcome_probs, mdp.principal_rewards)
    return R, res.min_pay


def principal_operator(mdp: PrincipalAgentMDP, q, agent_value, method: str = "auto", backend: str = "highs",
                       tie_tol: float = TIE_TOL) -> np.ndarray:
    """``T q`` for any principal Q-table ``q`` (S, A) given the agent's continuation values (S,).

    ``(T q)(s, a) = Σ_o O(s,a,o)(r_p(s,o) + γ E[max_a' q(s', a')]) − MINPAY(s, a)``; actions that
    cannot be implemented get ``−inf``. ``max_a' q`` ignores ``−inf`` entries. For fixed agent
    values, ``||T q − T q'||_∞ <= γ ||q − q'||_∞`` on the finite entries.
    """
    _check_options(mdp, method, backend, tie_tol)
    q = np.asarray(q, dtype=float)
    if q.shape != (mdp.n_states, mdp.n_actions):
        raise InvalidInstanceError("q", f"has shape {q.shape}, expected {(mdp.n_states, mdp.n_actions)}")
    R, M = _min_pay_table(mdp, agent_value, method, backend, tie_tol)
    return _apply(mdp, R, M, q)


def _apply(mdp, R, M, q) -> np.ndarray:
    from .spe import continuation
    S = mdp.n_states
    V = np.max(np.where(np.isfinite(q), q, -np.inf), axis=1)
    V = np.where(np.isfinite(V), V, 0.0)
    nxt = np.einsum("sak,sk->sa", mdp.outcome_probs, continuation(mdp, np.arange(S), V))
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(M), R + mdp.discount * nxt - np.where(np.isfinite(M), M, 0.0), -np.inf)


def principal_fixed_point(mdp: PrincipalAgentMDP, agent_value, tol: float = FIXED_POINT_TOL,
                          max_iter: int = FIXED_POINT_MAX_ITER, method: str = "auto", backend: str = "highs",
                          tie_tol: float = TIE_TOL, time_limit: float | None = None) -> PrincipalFixedPoint:
    """Iterate :func:`principal_operator` from ``q = 0`` until ``γ/(1−γ)·||q_{k+1} − q_k||_∞ <= tol``
    (the principal's step of Algorithm 1 of arXiv 2407.18074 on a discounted cyclic instance; the
    fixed point of the ``γ``-contraction ``T`` of Section 3.2).

    Budgets: at most ``max_iter`` iterations (default :data:`FIXED_POINT_MAX_ITER`) and
    ``time_limit`` seconds (default ``None``: no limit; the min-pay LPs computed first count
    too). At least one iteration is always done. When a budget stops it, the result has
    ``converged=False``, the bound reached and ``reason`` ``"iteration budget"`` /
    ``"time budget"``; it never raises for non-convergence.
    """
    _check_options(mdp, method, backend, tie_tol)
    if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
        raise InvalidInstanceError("tol", f"must be a number >= 0, got {tol!r}")
    max_iter = _check_budget("max_iter", max_iter)
    clock = _Clock(_check_time_limit(time_limit))
    g = mdp.discount
    if not g < 1.0:
        raise InvalidInstanceError("discount", "the fixed-point iteration needs a discount below 1")
    R, M = _min_pay_table(mdp, agent_value, method, backend, tie_tol)
    q = np.where(np.isfinite(M), 0.0, -np.inf)
    bound, k, reason = math.inf, 0, "iteration budget"
    while k < max_iter:
        k += 1
        nq = _apply(mdp, R, M, q)
        step = np.abs(np.where(np.isfinite(nq), nq - np.where(np.isfinite(q), q, 0.0), 0.0)).max(initial=0.0)
        q = nq
        bound = g / (1.0 - g) * step if g > 0 else 0.0
        if bound <= tol:
            reason = "converged"
            break
        if clock.expired():
            reason = "time budget"
            break
    q.setflags(write=False)
    return PrincipalFixedPoint(q, k, float(bound), reason == "converged", reason)


def principal_step(mdp: PrincipalAgentMDP, agent_value: np.ndarray, method: str = "auto", backend: str = "highs",
                   tie_tol: float = TIE_TOL, *, fixed_point_max_iter: int = FIXED_POINT_MAX_ITER,
                   time_limit: float | None = None) -> PrincipalStep:
    """The principal's best contract policy when the agent's continuation values are ``agent_value``.

    ``agent_value`` has shape ``(S,)`` (acyclic) or ``(H, S)`` (horizon ``H``): the agent's value
    at every state (and step) under its best response to the previous contract policy. The pass
    goes backward; at every state it is :func:`~contractlab.solvers.spe.spe_backup` with the agent's
    continuation from ``agent_value`` and the principal's continuation from this pass.

    On a discounted cyclic instance it is :func:`principal_fixed_point` with the budgets
    ``fixed_point_max_iter`` and ``time_limit`` (seconds, ``None``: none); see
    ``fixed_point.converged`` / ``fixed_point.reason`` of the result.
    """
    _check_options(mdp, method, backend, tie_tol)
    S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
    va = np.asarray(agent_value, dtype=float)
    if _cyclic(mdp):
        fp = principal_fixed_point(mdp, va, max_iter=fixed_point_max_iter, method=method, backend=backend,
                                   tie_tol=tie_tol, time_limit=time_limit)
        V = np.max(fp.q, axis=1)
        res = spe_backup(mdp, np.arange(S), V, va, method, backend, tie_tol)
        vp = np.array(res.principal_value)
        vp.setflags(write=False)
        return PrincipalStep(ContractPolicy(res.action, res.contract), vp, fp.q, fp)
    if mdp.horizon is not None:
        H = mdp.horizon
        if va.shape != (H, S):
            raise InvalidInstanceError("agent_value", f"has shape {va.shape}, expected {(H, S)}")
        action, contract = np.zeros((H, S), dtype=np.int64), np.zeros((H, S, K))
        vp, q = np.zeros((H, S)), np.zeros((H, S, A))
        states = np.arange(S)
        for t in range(H - 1, -1, -1):
            nxt_p = vp[t + 1] if t + 1 < H else np.zeros(S)
            nxt_a = va[t + 1] if t + 1 < H else np.zeros(S)
            res = spe_backup(mdp, states, nxt_p, nxt_a, method, backend, tie_tol)
            action[t], contract[t], vp[t], q[t] = res.action, res.contract, res.principal_value, res.principal_q
    else:
        if va.shape != (S,):
            raise InvalidInstanceError("agent_value", f"has shape {va.shape}, expected {(S,)}")
        action, contract = np.zeros(S, dtype=np.int64), np.zeros((S, K))
        vp, q = np.zeros(S), np.zeros((S, A))
        for level in mdp.levels():
            res = spe_backup(mdp, level, vp, va, method, backend, tie_tol)
            rows = _rows(level)
            action[rows], contract[rows], vp[rows], q[rows] = (res.action, res.contract, res.principal_value,
                                                              res.principal_q)
    for arr in (vp, q):
        arr.setflags(write=False)
    return PrincipalStep(ContractPolicy(action, contract), vp, q, None)


def _changed(a: ContractPolicy, b: ContractPolicy) -> int:
    diff = (a.action != b.action) | (np.abs(a.contract - b.contract).max(axis=-1) > POLICY_TOL)
    return int(diff.sum())


def default_initial_policy(mdp: PrincipalAgentMDP) -> ContractPolicy:
    """Recommend action 0 and pay nothing, everywhere (time-indexed when there is a horizon)."""
    lead = (mdp.horizon, mdp.n_states) if mdp.horizon is not None else (mdp.n_states,)
    return ContractPolicy(np.zeros(lead, dtype=np.int64), np.zeros(lead + (mdp.n_outcomes,)))


def _agent_response(mdp: PrincipalAgentMDP, policy: ContractPolicy, clock: _Clock,
                    max_sweeps: int) -> tuple[AgentResponse, str | None]:
    """The agent's best response to ``policy`` (step 1 of Algorithm 1) within the budgets:
    ``(response, None)``, or ``(response, reason)`` when a budget cut it (``response.converged``
    is then ``False``, ``response.reason`` the same reason and ``response.bound`` the bound it
    reached).

    Trees, DAGs and finite horizons: exact backward induction, no budget needed. Discounted
    cyclic instances: at most ``max_sweeps`` value-iteration sweeps and the clock's remaining
    time as :func:`~contractlab.solvers.pamdp_policy.agent_best_response`'s ``time_limit``.
    """
    if not _cyclic(mdp):
        return agent_best_response(mdp, policy), None
    remaining = clock.remaining()
    response = agent_best_response(mdp, policy, max_iter=max_sweeps,
                                   time_limit=None if math.isinf(remaining) else remaining)
    return response, None if response.converged else response.reason


def meta_algorithm(mdp: PrincipalAgentMDP, initial_policy: ContractPolicy | None = None,
                   max_iter: int | None = None, method: str = "auto", backend: str = "highs",
                   tie_tol: float = TIE_TOL, *, time_limit: float | None = TIME_LIMIT,
                   fixed_point_max_iter: int = FIXED_POINT_MAX_ITER,
                   agent_max_iter: int = VI_MAX_ITER) -> MetaAlgorithmResult:
    """Algorithm 1 of arXiv 2407.18074: alternate agent best responses and principal steps.

    Stops when an iteration leaves the contract policy unchanged (``converged=True``) or when a
    budget runs out (``converged=False``, with :attr:`MetaAlgorithmResult.bound`, ``reason`` and
    ``stage``; it never raises for non-convergence and never stops silently). Every iterate is
    recorded, and there is always at least one.

    Budgets
    -------
    max_iter:
        Outer iterations (default: the number of steps to the end plus one, plus one more;
        for discounted cyclic instances :data:`DISCOUNTED_MAX_ITER`).
    time_limit:
        Wall-time budget of the whole call in seconds (default :data:`TIME_LIMIT` = 60; ``None``:
        none). Checked between outer iterations, in every fixed-point iteration, and passed as
        the remaining time to every agent best response (``time_limit`` of
        :func:`~contractlab.solvers.pamdp_policy.agent_best_response`, checked every
        value-iteration sweep), so a call overruns it by at most about the min-pay LPs of one
        principal step and a few direct linear solves. At least one outer iteration is always
        done.
    fixed_point_max_iter:
        Iterations of each principal fixed point on discounted cyclic instances (default
        :data:`FIXED_POINT_MAX_ITER`).
    agent_max_iter:
        Value-iteration sweeps of each agent best response on discounted cyclic instances
        (default :data:`~contractlab.solvers.pamdp_policy.VI_MAX_ITER`).

    On trees, DAGs and finite horizons the inner computations are exact backward passes, so only
    ``max_iter`` and ``time_limit`` (between outer iterations) apply.
    """
    _check_options(mdp, method, backend, tie_tol)
    clock = _Clock(_check_time_limit(time_limit))
    if max_iter is None:
        if _cyclic(mdp):
            max_iter = DISCOUNTED_MAX_ITER
        else:
            max_iter = (mdp.horizon if mdp.horizon is not None else len(mdp.levels())) + 2
    max_iter = _check_budget("max_iter", max_iter)
    fixed_point_max_iter = _check_budget("fixed_point_max_iter", fixed_point_max_iter)
    agent_max_iter = _check_budget("agent_max_iter", agent_max_iter)
    policy = default_initial_policy(mdp) if initial_policy is None else initial_policy
    policy.check_fits(mdp)
    if mdp.horizon is not None and not policy.time_indexed:
        policy = ContractPolicy(np.broadcast_to(policy.action, (mdp.horizon, mdp.n_states)).copy(),
                                np.broadcast_to(policy.contract, (mdp.horizon,) + policy.contract.shape).copy())
    iterates: list[MetaIterate] = []
    reason, stage, bound = "iteration budget", "alternation", math.inf
    for k in range(1, max_iter + 1):
        if iterates and clock.expired():
            reason = "time budget"
            break
        response, cut = _agent_response(mdp, policy, clock, agent_max_iter)
        if cut is not None and iterates:
            reason, stage, bound = cut, "agent best response", response.bound
            break
        remaining = clock.remaining()
        step = principal_step(mdp, response.agent_value, method, backend, tie_tol,
                              fixed_point_max_iter=fixed_point_max_iter,
                              time_limit=None if math.isinf(remaining) else remaining)
        changed = _changed(step.policy, policy)
        iterates.append(MetaIterate(k, response.policy, response.agent_value, step, changed))
        policy = step.policy
        fp = step.fixed_point
        if cut is not None:
            reason, stage, bound = cut, "agent best response", response.bound
            break
        if fp is not None and not fp.converged:
            reason, stage, bound = fp.reason, "principal fixed point", fp.error_bound
            break
        if changed == 0:
            reason, stage = "converged", None
            break
    final, cut = _agent_response(mdp, policy, clock, agent_max_iter)
    if reason == "converged":
        if cut is not None:
            reason, stage, bound = cut, "agent best response", final.bound
        else:
            fp = iterates[-1].step.fixed_point
            bound = max(0.0 if fp is None else fp.error_bound, final.bound)
    return MetaAlgorithmResult(policy, final.policy, final.principal_value, final.agent_value, len(iterates),
                               reason == "converged", tuple(iterates), mdp.initial_state, float(bound), reason,
                               stage, clock.elapsed())
