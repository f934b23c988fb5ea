"""Exact welfare benchmarks of an MDP with stateful externalities: the welfare-optimal policy and
value, the minimal transfers that implement it, and the welfare of the agent's selfish policy.

The model is :class:`~contractlab.theory.externality.ExternalityMDP`, a finite-horizon
principal-agent MDP (Ivanov et al., arXiv 2407.18074, Section 3) whose principal reward is the
externality ``e(s, o)``; a plain :class:`~contractlab.theory.pamdp.PrincipalAgentMDP` with a
finite horizon is accepted too (its principal reward is then read as the externality). The
benchmarks are those the two-phase mechanism of Helou (arXiv 2601.03451; abstract only) is
measured against; the definitions below are ours.

Welfare-optimal policy (:func:`welfare_optimum`)
    Transfers cancel, so social welfare is the value of ``r(s, a) + e(s, o)``. Backward over
    ``t = H − 1, …, 0`` (``W_H = 0``)::

        Q_W(t, s, a) = r(s, a) + Σ_o O(s, a, o) (e(s, o) + γ E[W_{t+1}(s') | s, o])
        π*(t, s)     = the lowest a with Q_W(t, s, a) >= max_a Q_W − tie_tol · max(1, |max_a Q_W|)
        W_t(s)       = Q_W(t, s, π*(t, s))

    ``W* = W_0(s_0)``. (The first-best: the planner chooses the actions herself.)

Minimal implementing transfers (:func:`implement_policy`)
    For a target policy ``π`` (``(H, S)``), backward over ``t`` with the agent's and the
    principal's values ``V_a, V_p`` of the *implemented* continuation, every state at once: one
    subgame-perfect backup (:func:`~contractlab.solvers.spe.spe_backup`) gives the agent's
    truncated ``Q̄(t, s, a) = r(s, a) + γ Σ_o O(s, a, o) E[V_a,t+1(s') | s, o]`` and MIN-PAY for
    every action with costs ``−Q̄`` (implementable or not); the contract of the target action is
    the MIN-PAY solution of the same problem (:func:`~contractlab.solvers.min_pay_vertex.min_pay_batch`,
    same method), and ``V_a,t = Q̄(·, π) + pay``, ``V_p,t = Σ_o O (e + γ E[V_p,t+1]) − pay``.
    This is the SPE recursion with the recommended action *fixed* to the target instead of chosen
    by the principal. The agent breaks ties in the principal's favour (weak IC), as everywhere in
    the toolkit.

    *Minimality.* The transfers are the cheapest at every ``(t, s)`` given the continuation, and
    therefore also minimise the expected (discounted) total transfer from every ``(t, s)`` among
    all limited-liability outcome-contingent transfer policies under which ``π`` is a best
    response at every ``(t, s)``: by induction, if another scheme gives the agent continuation
    values ``V_a + Δ`` with ``Δ >= 0``, its contract ``b`` plus ``γ E[Δ | o]`` is a feasible
    MIN-PAY contract at ``(t, s)``, so it pays at least as much; and expected total transfer =
    agent value − value of the private rewards of ``π``, which is fixed. (``tests/test_welfare.py``
    checks this against one joint LP over all transfers.)

    *Implementability of the welfare-optimal target.* Given a common continuation, an action
    ``i`` is not implementable iff some mixture ``λ`` of the other actions has the same outcome
    distribution and a strictly higher ``Q̄`` (Farkas; limited liability does not matter because
    the IC rows sum to zero over outcomes). The welfare of an action is ``Q̄`` plus a term linear in
    its outcome distribution, so that mixture also has strictly higher welfare, and some action in
    it too: **a welfare-optimal action is always implementable.** The report still records the
    implementability of every target action (``target_implementable``) and, should one fail (only
    through the solvers' tolerances, e.g. two outcome rows within ``PROB_DIFF_TOL``, or for a
    target that is not welfare-optimal), implements instead the welfare-best implementable action
    at that ``(t, s)`` given the implemented continuation. The *benchmark* is then the policy so
    implemented (``implementation.policy``, welfare ``benchmark_welfare``), built backward this
    way; it equals ``π*`` whenever every target action is implementable.

Selfish policy (:func:`selfish_play`)
    The agent's best response to zero transfers
    (:func:`~contractlab.solvers.pamdp_policy.agent_best_response`; its ties broken in the
    others' favour by default, so the selfish welfare is the best the agent's indifference allows
    and the gap the smallest), and its welfare by exact policy evaluation
    (:func:`~contractlab.solvers.pamdp_policy.evaluate`).

:func:`welfare_benchmarks` computes all three: ``W*``, the benchmark welfare, ``W_selfish``, the
gap ``benchmark − W_selfish`` (the inefficiency the mechanism must remove), the minimal transfers
and their expected total from ``s_0``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.budget import check_memory
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError, SolverFailure
from ..theory.externality import ExternalityMDP
from ..theory.pamdp import PrincipalAgentMDP, _as_int_array, horizon_bytes
from .min_pay_vertex import min_pay_batch
from .pamdp_policy import TIE_BREAKS, agent_best_response, evaluate
from .spe import continuation, spe_backup

#: Welfare values within ``TIE_TOL · max(1, |best|)`` of the best count as tied; the lowest action
#: index wins (as the principal's ties in :mod:`contractlab.solvers.spe`). Default ``1e-9``.
TIE_TOL = 1e-9


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


def as_pamdp(model) -> PrincipalAgentMDP:
    """The principal-agent MDP of ``model`` (an :class:`ExternalityMDP`, or a finite-horizon
    :class:`PrincipalAgentMDP` taken as it is). Raises :class:`InvalidInstanceError` (field
    ``"model"`` or ``"horizon"``) otherwise."""
    if isinstance(model, ExternalityMDP):
        return model.to_pamdp()
    if not isinstance(model, PrincipalAgentMDP):
        raise InvalidInstanceError("model", f"expected an ExternalityMDP or a PrincipalAgentMDP, "
                                            f"got {type(model).__name__}")
    if model.horizon is None:
        raise InvalidInstanceError("horizon", "the welfare benchmarks need a finite horizon")
    return model


def _check_tie_tol(tie_tol) -> float:
    if isinstance(tie_tol, bool) or not isinstance(tie_tol, (int, float, np.floating)) or not np.isfinite(tie_tol) \
            or tie_tol < 0:
        raise InvalidInstanceError("tie_tol", f"must be a finite number >= 0, got {tie_tol!r}")
    return float(tie_tol)


def _lowest_best(q: np.ndarray, allowed: np.ndarray | None, tie_tol: float) -> np.ndarray:
    """Per row of ``q`` (``(S, A)``), the lowest action within ``tie_tol · max(1, |best|)`` of the
    best among the ``allowed`` ones (all if ``None``)."""
    score = q if allowed is None else np.where(allowed, q, -np.inf)
    best = score.max(axis=1)
    return np.argmax(score >= (best - tie_tol * np.maximum(1.0, np.abs(best)))[:, None], axis=1)


def _expected(O: np.ndarray, per_outcome: np.ndarray) -> np.ndarray:
    """``Σ_o O[s, a, o] x[s, o]``: shape ``(S, A)``."""
    return np.einsum("sak,sk->sa", O, per_outcome)


# --------------------------------------------------------------------------- the first-best

@dataclass(frozen=True, eq=False)
class WelfareOptimum:
    """The welfare-optimal policy by dynamic programming (module docstring).

    Attributes
    ----------
    policy:
        ``(H, S)`` ``π*(t, s)``.
    value:
        ``(H, S)`` ``W_t(s)``, the optimal welfare from state ``s`` at step ``t``.
    q:
        ``(H, S, A)`` ``Q_W(t, s, a)``.
    initial_state:
        ``s_0``.
    """

    policy: np.ndarray
    value: np.ndarray
    q: np.ndarray
    initial_state: int

    @property
    def welfare(self) -> float:
        """``W* = W_0(s_0)``."""
        return float(self.value[0, self.initial_state])


def welfare_optimum(model, tie_tol: float = TIE_TOL) -> WelfareOptimum:
    """The welfare-optimal policy and value by backward induction over the horizon (module
    docstring; ties to the lowest action index within ``tie_tol``, relative)."""
    mdp = as_pamdp(model)
    tie_tol = _check_tie_tol(tie_tol)
    S, A, H, g = mdp.n_states, mdp.n_actions, mdp.horizon, mdp.discount
    check_memory("horizon", horizon_bytes(H, S, 8 * (A + 2)), "the welfare-optimal policy over this horizon")
    O, r, e = mdp.outcome_probs, mdp.agent_rewards, mdp.principal_rewards
    q = np.empty((H, S, A))
    value = np.empty((H, S))
    policy = np.empty((H, S), dtype=np.int64)
    W = np.zeros(S)
    everything = np.arange(S)
    for t in range(H - 1, -1, -1):
        q[t] = r + _expected(O, e + g * continuation(mdp, everything, W))
        policy[t] = _lowest_best(q[t], None, tie_tol)
        W = value[t] = q[t, everything, policy[t]]
    return WelfareOptimum(policy=_readonly(policy), value=_readonly(value), q=_readonly(q),
                          initial_state=mdp.initial_state)


# --------------------------------------------------------------------------- implementation

@dataclass(frozen=True, eq=False)
class Implementation:
    """The minimal transfers implementing a target policy, step by step (module docstring).

    All arrays are per step and state (``(H, S)``, ``(H, S, A)``, ``(H, S, K)``), read-only.

    Attributes
    ----------
    target:
        The target policy as asked for.
    policy:
        The policy implemented: the target wherever ``target_implementable``, else the
        welfare-best implementable action given the implemented continuation.
    contract_policy:
        :class:`ContractPolicy` (time-indexed): ``policy`` and its MIN-PAY contracts.
    expected_payment:
        ``Σ_o O(s, π, o) b(t, s, o)``, the minimal expected transfer at ``(t, s)``.
    target_implementable:
        Whether the target action is implementable at ``(t, s)`` given the continuation.
    implementable, min_pay, agent_q:
        For every action: implementability, MIN-PAY (``inf`` where not implementable) and the
        agent's truncated ``Q̄`` given the implemented continuation.
    welfare_q:
        ``(H, S, A)`` welfare of each action followed by the implemented continuation.
    agent_value, principal_value:
        Both parties' values (transfers included) when ``policy`` is implemented by the contracts.
    transfer_value:
        The expected (discounted) total transfer from ``(t, s)`` on.
    initial_state, method:
        ``s_0``; ``"vertex"`` or ``"lp"`` (how MIN-PAY was solved).
    """

    target: np.ndarray
    policy: np.ndarray
    contract_policy: ContractPolicy
    expected_payment: np.ndarray
    target_implementable: np.ndarray
    implementable: np.ndarray
    min_pay: np.ndarray
    agent_q: np.ndarray
    welfare_q: np.ndarray
    agent_value: np.ndarray
    principal_value: np.ndarray
    transfer_value: np.ndarray
    initial_state: int
    method: str

    @property
    def contract(self) -> np.ndarray:
        """``(H, S, K)`` the minimal transfers ``b(t, s, o)``."""
        return self.contract_policy.contract

    @property
    def all_implementable(self) -> bool:
        """Whether the target is implementable at every step and state."""
        return bool(self.target_implementable.all())

    @property
    def welfare_value(self) -> np.ndarray:
        """``V_a + V_p``: the welfare of the implemented policy (transfers cancel)."""
        return self.agent_value + self.principal_value

    @property
    def welfare(self) -> float:
        return float(self.welfare_value[0, self.initial_state])

    @property
    def total_transfer(self) -> float:
        """The expected total transfer of an episode from ``s_0``."""
        return float(self.transfer_value[0, self.initial_state])

    @property
    def agent_start(self) -> float:
        return float(self.agent_value[0, self.initial_state])

    @property
    def principal_start(self) -> float:
        return float(self.principal_value[0, self.initial_state])


def _check_target(mdp: PrincipalAgentMDP, target) -> np.ndarray:
    """A target policy ``(S,)`` (stationary; repeated over the steps) or ``(H, S)``, actions in range."""
    ndim = np.ndim(target)
    if ndim not in (1, 2):
        raise InvalidInstanceError("target_policy", f"expected a (S,) or (H, S) array of actions, got {ndim}-d")
    pol = _as_int_array("target_policy", target, ndim)
    H, S = mdp.horizon, mdp.n_states
    expected = (S,) if ndim == 1 else (H, S)
    if pol.shape != expected:
        raise InvalidInstanceError("target_policy", f"has shape {pol.shape}, expected {expected}")
    bad = np.argwhere((pol < 0) | (pol >= mdp.n_actions))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise InvalidInstanceError("target_policy", f"action {int(pol[idx])} is out of range [0, {mdp.n_actions})",
                                   idx)
    return np.broadcast_to(pol, (H, S))


def implement_policy(model, target_policy, method: str = "auto", backend: str = "highs",
                     tie_tol: float = TIE_TOL) -> Implementation:
    """The minimal transfers that implement ``target_policy`` at every step and state, by the
    SPE backup with the action fixed to the target (module docstring).

    Parameters
    ----------
    model:
        An :class:`ExternalityMDP` or a finite-horizon :class:`PrincipalAgentMDP`.
    target_policy:
        ``(H, S)`` actions, or ``(S,)`` for the same action at every step.
    method, backend:
        How MIN-PAY is solved (:func:`~contractlab.solvers.spe.spe_backup`).
    tie_tol:
        Ties of the welfare-best implementable fallback (and of the SPE backup), :data:`TIE_TOL`.
    """
    mdp = as_pamdp(model)
    target = _check_target(mdp, target_policy)
    tie_tol = _check_tie_tol(tie_tol)
    S, A, K, H, g = mdp.n_states, mdp.n_actions, mdp.n_outcomes, mdp.horizon, mdp.discount
    check_memory("horizon", horizon_bytes(H, S, 8 * (4 * A + K + 6) + 2 * A),
                 "the implementing transfers over this horizon")
    O, e = mdp.outcome_probs, mdp.principal_rewards
    everything = np.arange(S)
    policy = np.empty((H, S), dtype=np.int64)
    contract = np.empty((H, S, K))
    pay = np.empty((H, S))
    target_ok = np.empty((H, S), dtype=bool)
    implementable = np.empty((H, S, A), dtype=bool)
    min_pay = np.empty((H, S, A))
    agent_q = np.empty((H, S, A))
    welfare_q = np.empty((H, S, A))
    va, vp, vt = (np.empty((H, S)) for _ in range(3))
    va_next, vp_next, vt_next = np.zeros(S), np.zeros(S), np.zeros(S)
    chosen_method = None
    for t in range(H - 1, -1, -1):
        backup = spe_backup(mdp, everything, vp_next, va_next, method=method, backend=backend, tie_tol=tie_tol)
        chosen_method = backup.method
        gross = _expected(O, e + g * continuation(mdp, everything, vp_next))          # principal, before pay
        welfare_q[t] = backup.agent_q + gross
        ok = backup.implementable[everything, target[t]]
        fallback = _lowest_best(welfare_q[t], backup.implementable, tie_tol)
        a = policy[t] = np.where(ok, target[t], fallback)
        solved = min_pay_batch(O, -backup.agent_q, a, method=backup.method, backend=backend)
        if not solved.implementable.all():
            s = int(np.flatnonzero(~solved.implementable)[0])
            raise SolverFailure(f"MIN-PAY at step {t}, state {s}, action {int(a[s])}: the SPE backup found it "
                                "implementable, the second solve did not")
        contract[t] = solved.contract + 0.0                                         # -0.0 -> 0.0
        pay[t] = np.einsum("sk,sk->s", O[everything, a], contract[t])
        va[t] = backup.agent_q[everything, a] + pay[t]
        vp[t] = gross[everything, a] - pay[t]
        vt[t] = pay[t] + g * np.einsum("sk,sk->s", O[everything, a], continuation(mdp, everything, vt_next))
        target_ok[t], implementable[t], min_pay[t], agent_q[t] = ok, backup.implementable, backup.min_pay, \
            backup.agent_q
        va_next, vp_next, vt_next = va[t], vp[t], vt[t]
    policy, contract = _readonly(policy), _readonly(contract)
    return Implementation(target=_readonly(target), policy=policy, contract_policy=ContractPolicy(policy, contract),
                          expected_payment=_readonly(pay), target_implementable=_readonly(target_ok),
                          implementable=_readonly(implementable), min_pay=_readonly(min_pay),
                          agent_q=_readonly(agent_q), welfare_q=_readonly(welfare_q), agent_value=_readonly(va),
                          principal_value=_readonly(vp), transfer_value=_readonly(vt),
                          initial_state=mdp.initial_state, method=chosen_method)


# --------------------------------------------------------------------------- the selfish agent

@dataclass(frozen=True, eq=False)
class SelfishPlay:
    """The agent's best response to zero transfers and its welfare.

    Attributes
    ----------
    policy:
        ``(H, S)`` the selfish policy.
    agent_value, externality_value, welfare_value:
        ``(H, S)`` the agent's private value, the others' (the externality), and their sum.
    tie_break:
        How the agent's ties were broken (``"principal"``: in the others' favour).
    initial_state:
        ``s_0``.
    """

    policy: np.ndarray
    agent_value: np.ndarray
    externality_value: np.ndarray
    welfare_value: np.ndarray
    tie_break: str
    initial_state: int

    @property
    def welfare(self) -> float:
        return float(self.welfare_value[0, self.initial_state])


def zero_transfers(model) -> ContractPolicy:
    """The time-indexed contract policy that pays nothing (recommending action 0 everywhere)."""
    mdp = as_pamdp(model)
    H, S, K = mdp.horizon, mdp.n_states, mdp.n_outcomes
    check_memory("horizon", horizon_bytes(H, S, 8 * (K + 1)), "the zero-transfer policy over this horizon")
    return ContractPolicy(np.zeros((H, S), dtype=np.int64), np.zeros((H, S, K)))


def selfish_play(model, tie_break: str = "principal") -> SelfishPlay:
    """The agent's best response to zero transfers and its exact welfare (module docstring)."""
    mdp = as_pamdp(model)
    if tie_break not in TIE_BREAKS:
        raise InvalidInstanceError("tie_break", f"must be one of {TIE_BREAKS}, got {tie_break!r}")
    zero = zero_transfers(mdp)
    response = agent_best_response(mdp, zero, tie_break=tie_break)
    values = evaluate(mdp, zero, response.policy)
    return SelfishPlay(policy=response.policy, agent_value=values.agent_value,
                       externality_value=values.principal_value, welfare_value=values.welfare,
                       tie_break=tie_break, initial_state=mdp.initial_state)


# --------------------------------------------------------------------------- the report

@dataclass(frozen=True, eq=False)
class WelfareBenchmarks:
    """Every exact benchmark of one instance (module docstring).

    Attributes
    ----------
    optimum:
        :class:`WelfareOptimum`, the first-best ``π*`` and ``W*``.
    implementation:
        :class:`Implementation` of ``π*``: the minimal transfers, and the implementability of every
        target action.
    selfish:
        :class:`SelfishPlay`.
    """

    optimum: WelfareOptimum
    implementation: Implementation
    selfish: SelfishPlay

    @property
    def optimal_welfare(self) -> float:
        """``W*``."""
        return self.optimum.welfare

    @property
    def first_best_implementable(self) -> bool:
        return self.implementation.all_implementable

    @property
    def benchmark_welfare(self) -> float:
        """The welfare of the implemented benchmark policy (``W*`` when ``π*`` is implementable)."""
        return self.implementation.welfare

    @property
    def selfish_welfare(self) -> float:
        return self.selfish.welfare

    @property
    def gap(self) -> float:
        """``benchmark_welfare − selfish_welfare``: the inefficiency the mechanism must remove."""
        return self.benchmark_welfare - self.selfish_welfare

    @property
    def total_transfer(self) -> float:
        """Expected total minimal transfer of an episode from ``s_0``."""
        return self.implementation.total_transfer

    def summary(self) -> dict:
        """The scalars, JSON-ready."""
        return {"optimal_welfare": self.optimal_welfare, "benchmark_welfare": self.benchmark_welfare,
                "selfish_welfare": self.selfish_welfare, "gap": self.gap,
                "first_best_implementable": self.first_best_implementable,
                "total_transfer": self.total_transfer,
                "agent_value": self.implementation.agent_start,
                "principal_value": self.implementation.principal_start,
                "selfish_tie_break": self.selfish.tie_break, "method": self.implementation.method}


def welfare_benchmarks(model, method: str = "auto", backend: str = "highs", tie_tol: float = TIE_TOL,
                       tie_break: str = "principal") -> WelfareBenchmarks:
    """``W*`` and ``π*``, the minimal transfers implementing ``π*``, and the selfish policy's
    welfare (module docstring). ``tie_break`` is the selfish agent's."""
    optimum = welfare_optimum(model, tie_tol)
    return WelfareBenchmarks(optimum=optimum,
                             implementation=implement_policy(model, optimum.policy, method, backend, tie_tol),
                             selfish=selfish_play(model, tie_break))


__all__ = ["TIE_TOL", "WelfareOptimum", "Implementation", "SelfishPlay", "WelfareBenchmarks", "as_pamdp",
           "welfare_optimum", "implement_policy", "zero_transfers", "selfish_play", "welfare_benchmarks"]
