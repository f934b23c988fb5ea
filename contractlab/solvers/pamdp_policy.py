"""Exact policy evaluation and the agent's best response in a principal-agent MDP
(Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*,
arXiv 2407.18074, Section 3).

The principal commits to a contract policy ``ρ`` (a contract ``b(s)`` and a recommended
action per state, or per step and state); the agent, who sees the contract, plays a policy
``π``. With ``a = π(s)`` the two parties' values are (Section 3, the Bellman equations of the
principal's and the agent's value functions under ``(ρ, π)``)::

    V_p(s) = Σ_o O(s, a, o) · ( r_p(s, o) − b(s, o) + γ · E[V_p(s') | s, o] )
    V_a(s) = r(s, a) + Σ_o O(s, a, o) · ( b(s, o) + γ · E[V_a(s') | s, o] )

and the agent's Q-function against ``ρ`` is
``Q_a(s, a) = r(s, a) + Σ_o O(s, a, o) · ( b(s, o) + γ · E[V_a(s') | s, o] )``; its best
response is ``π*(s) ∈ argmax_a Q_a*(s, a)`` (Section 3: the agent best-responds to the
principal's policy, and the principal's subgame-perfect policy anticipates this).

Three computation paths, chosen from the MDP:

* finite ``horizon`` ``H``: backward over the steps ``t = H−1, …, 0`` with all states at once;
  values have shape ``(H, S)`` (``V[t, s]``: value at state ``s`` with ``H − t`` steps left).
  The ``(H, S, …)`` arrays are estimated first and refused (:class:`InvalidInstanceError`,
  field ``"horizon"``) when they exceed the memory budget
  (:func:`contractlab.theory.budget.check_memory`);
* acyclic, no horizon: backward over :meth:`PrincipalAgentMDP.levels`, vectorised per level;
  values have shape ``(S,)``;
* cyclic and ``γ < 1``, no horizon: :func:`evaluate` solves ``(I − γ P_π) V = r_π`` (dense
  LU for stochastic ``transitions``; for a deterministic ``next_state`` a ``scipy.sparse``
  direct solve up to :data:`DIRECT_SOLVE_MAX_STATES` states, a Krylov solver with iterative
  refinement above, where sparse LU fill-in on random graphs becomes prohibitive). Every
  linear solve reports the a-posteriori bound ``||r_π − (I − γ P_π) V||_∞ / (1 − γ)`` on its
  error (``P_π`` is sub-stochastic, so ``||(I − γ P_π)^{-1}||_∞ <= 1/(1 − γ)``);
  :func:`agent_best_response` runs value iteration to a stated tolerance with the
  a-posteriori bound, then evaluates its policy with such a solve.

Budgets (cyclic discounted case only; the backward passes are exact and finite). Every iterative
loop — the agent's value-iteration sweeps (at most ``max_iter``, default :data:`VI_MAX_ITER`),
the principal-side policy iteration of the tie-break (at most :data:`PI_MAX_ITER` rounds) and the
Krylov solver's iterations and refinement rounds — also stops at a wall-time budget
``time_limit`` (seconds, default ``None``: no limit), checked with :func:`time.monotonic` every
sweep / round / Krylov iteration. A budget never raises and never goes unreported: the result
says ``converged=False``, ``reason`` (``"iteration budget"`` or ``"time budget"``) and the
a-posteriori bound reached. Direct (LU) solves are not interruptible, so a call may overrun its
time limit by about one direct solve.

Payments are transfers, so welfare ``V_p + V_a`` does not depend on the contract.
"""

from __future__ import annotations

import inspect
import math
import numbers
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse
import scipy.sparse.linalg

from ..theory.budget import check_memory
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP, _as_int_array, horizon_bytes

#: Two agent Q-values within this distance count as a tie (and so do two principal values
#: among the agent's tied actions).
TIE_TOL = 1e-9
TIE_BREAKS = ("principal", "adversarial")
#: Value iteration (cyclic, discounted) stops once the a-posteriori bound
#: ``γ/(1−γ)·||V_{k+1} − V_k||_∞`` on ``||V_{k+1} − V*||_∞`` is at most this.
VI_TOL = 1e-10
#: Value-iteration sweeps before giving up (reported as ``converged=False``, never silently).
VI_MAX_ITER = 1_000_000
#: Policy-iteration rounds for the principal-side tie-break in the cyclic case.
PI_MAX_ITER = 10_000
#: Why an iterative computation stopped (``reason`` of :class:`AgentResponse` and
#: :class:`PolicyEvaluation`).
REASONS = ("converged", "iteration budget", "time budget")

#: Deterministic cyclic instances with at most this many states use a sparse direct (LU) solve;
#: larger ones a Krylov solver (sparse LU fill-in on random graphs grows fast: ~30 s at 20k states).
DIRECT_SOLVE_MAX_STATES = 5_000
#: Relative residual asked of each Krylov solve, and the number of refinement rounds (each one
#: re-solves for the remaining residual) before the bound is reported as it stands.
KRYLOV_RTOL = 1e-13
KRYLOV_REFINE_ROUNDS = 6
LINEAR_SOLVERS = ("auto", "direct", "iterative")

# Columns of the stacked value arrays used internally.
_PRINCIPAL, _AGENT, _PAYMENT = 0, 1, 2


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


# --- results ---------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class PolicyEvaluation:
    """Exact values of both parties under a contract policy and an agent policy.

    Arrays have shape ``(S,)``, or ``(H, S)`` for an MDP with a finite horizon (``[t, s]``: at
    state ``s`` at step ``t``).

    Attributes
    ----------
    principal_value, agent_value:
        ``V_p`` and ``V_a`` (arXiv 2407.18074, Section 3).
    welfare:
        ``V_p + V_a`` (payments cancel: it is the value of ``r + r_p`` under the agent's policy).
    expected_payment:
        The immediate expected payment ``Σ_o O(s, π(s), o) b(s, o)`` at each state (and step).
    payment_value:
        The discounted expected sum of all payments from each state on.
    agent_policy:
        The agent policy evaluated (as given: ``(S,)`` or ``(H, S)``).
    method:
        ``"backward_horizon"``, ``"backward_levels"``, ``"linear_solve"`` (direct) or
        ``"linear_solve_iterative"`` (Krylov).
    error_bound:
        ``0.0`` for backward induction (exact up to float round-off); for a linear solve the
        a-posteriori bound ``||r_π − (I − γ P_π) V||_∞ / (1 − γ)`` on ``||V − V_exact||_∞``,
        the largest over the value columns.
    converged, reason:
        ``False`` / ``"time budget"`` only when ``time_limit`` cut the Krylov solver (its values
        are then the last iterate, and ``error_bound`` still bounds their error); otherwise
        ``True`` / ``"converged"`` (direct solves and backward passes always run to the end;
        a Krylov solve that ends its refinement rounds at the float floor reports its accuracy
        in ``error_bound``).
    """

    principal_value: np.ndarray
    agent_value: np.ndarray
    welfare: np.ndarray
    expected_payment: np.ndarray
    payment_value: np.ndarray
    agent_policy: np.ndarray
    method: str
    initial_state: int
    error_bound: float = 0.0
    converged: bool = True
    reason: str = "converged"

    @property
    def bound(self) -> float:
        """Alias of :attr:`error_bound`."""
        return self.error_bound

    def _start(self, values: np.ndarray) -> float:
        return float(values[0, self.initial_state] if values.ndim == 2 else values[self.initial_state])

    @property
    def principal_start(self) -> float:
        """``V_p(s_0)`` (at step 0 with a horizon)."""
        return self._start(self.principal_value)

    @property
    def agent_start(self) -> float:
        """``V_a(s_0)`` (at step 0 with a horizon)."""
        return self._start(self.agent_value)

    @property
    def welfare_start(self) -> float:
        return self._start(self.welfare)


@dataclass(frozen=True, eq=False)
class AgentResponse:
    """The agent's best response to a contract policy, with the evidence of its optimality.

    Attributes
    ----------
    policy:
        The agent's action per state ``(S,)``, or per step and state ``(H, S)``.
    q:
        The agent's Q-function of ``policy`` against the contract policy, ``(S, A)`` or
        ``(H, S, A)``; for an optimal policy this is ``Q_a*``.
    agent_value, principal_value:
        Both parties' values when the agent plays ``policy`` (exact; see ``method``).
    follow:
        Boolean mask, ``policy == recommended action`` of the contract policy.
    tie_break, tol:
        How ties were broken, and the tie tolerance used.
    method:
        ``"backward_horizon"``, ``"backward_levels"`` (exact backward induction) or
        ``"value_iteration"`` (cyclic, discounted).
    iterations:
        Backward steps (levels or horizon steps), or value-iteration sweeps.
    error_bound:
        ``0.0`` for backward induction; for value iteration the a-posteriori bound
        ``γ/(1−γ)·||V_{k+1} − V_k||_∞`` on the distance of the last iterate to ``V_a*``.
    converged:
        ``False`` only if a budget stopped the computation before its tolerance: value
        iteration hit ``max_iter`` sweeps, the principal-side policy iteration hit
        :data:`PI_MAX_ITER` rounds, or ``time_limit`` ran out in any of them (or in a Krylov
        solve). The answer is then the best one at hand — the tie-broken greedy policy of the
        last iterate and its values from a linear solve (error within ``value_error_bound``),
        with ``policy_gap`` certifying it — and ``reason`` says why it stopped.
    reason:
        ``"converged"``, ``"iteration budget"`` or ``"time budget"`` (:data:`REASONS`).
    policy_gap:
        ``max_s (max_a q(s, a) − q(s, policy(s)))``: the largest one-step improvement left for
        the agent. ``policy`` is optimal up to ``policy_gap`` per step, i.e. up to
        ``policy_gap/(1−γ)`` in value when ``γ < 1`` (``H · policy_gap`` with a horizon).
    value_error_bound:
        ``0.0`` for backward induction; in the cyclic case the residual bound of the linear
        solve that computed ``agent_value`` and ``principal_value`` (see
        :attr:`PolicyEvaluation.error_bound`).
    """

    policy: np.ndarray
    q: np.ndarray
    agent_value: np.ndarray
    principal_value: np.ndarray
    follow: np.ndarray
    tie_break: str
    tol: float
    method: str
    iterations: int
    error_bound: float
    converged: bool
    policy_gap: float
    initial_state: int
    value_error_bound: float = 0.0
    reason: str = "converged"

    @property
    def bound(self) -> float:
        """The a-posteriori error bound reached: ``max(error_bound, value_error_bound)`` (the
        value-iteration bound on ``||V_k − V_a*||_∞`` and the residual bound of the final values;
        ``0.0`` for backward induction). The principal-side policy iteration has no numerical
        bound: when it is the loop that was cut, ``policy_gap`` still certifies the agent's
        policy."""
        return max(self.error_bound, self.value_error_bound)

    @property
    def principal_start(self) -> float:
        v = self.principal_value
        return float(v[0, self.initial_state] if v.ndim == 2 else v[self.initial_state])

    @property
    def agent_start(self) -> float:
        v = self.agent_value
        return float(v[0, self.initial_state] if v.ndim == 2 else v[self.initial_state])


# --- validation --------------------------------------------------------------------------

def check_profile_inputs(mdp, contract_policy) -> None:
    """Refuse anything but a PrincipalAgentMDP and a ContractPolicy whose shapes fit it."""
    if not isinstance(mdp, PrincipalAgentMDP):
        raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
    if not isinstance(contract_policy, ContractPolicy):
        raise InvalidInstanceError("contract_policy",
                                   f"expected a ContractPolicy, got {type(contract_policy).__name__}")
    contract_policy.check_fits(mdp)


def _check_agent_policy(mdp: PrincipalAgentMDP, agent_policy) -> np.ndarray:
    """Validate an agent policy: ints in ``[0, A)``, shape ``(S,)`` or (with a horizon) ``(H, S)``."""
    ndim = np.ndim(agent_policy)
    if ndim not in (1, 2):
        raise InvalidInstanceError("agent_policy", f"expected a 1-d (S,) or 2-d (H, S) array, got {ndim}-d")
    pol = _as_int_array("agent_policy", agent_policy, ndim)
    S = mdp.n_states
    if ndim == 2 and mdp.horizon is None:
        raise InvalidInstanceError("agent_policy", "a time-indexed (H, S) policy needs an MDP with a finite horizon")
    expected = (S,) if ndim == 1 else (mdp.horizon, S)
    if pol.shape != expected:
        raise InvalidInstanceError("agent_policy", f"has shape {pol.shape}, expected {expected}")
    bad = np.argwhere((pol < 0) | (pol >= mdp.n_actions))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise InvalidInstanceError("agent_policy", f"action {int(pol[idx])} is out of range [0, {mdp.n_actions})",
                                   idx)
    return pol


def _check_horizon_memory(mdp: PrincipalAgentMDP, per_entry: int, what: str) -> None:
    """Refuse, before allocating, a time-indexed computation whose ``(H, S, …)`` arrays
    (``per_entry`` bytes per step and state) exceed the memory budget (field ``"horizon"``)."""
    check_memory("horizon", horizon_bytes(mdp.horizon, mdp.n_states, per_entry), what)


def _check_tol(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)) or not np.isfinite(value) \
            or value < 0:
        raise InvalidInstanceError(name, f"must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_count(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise InvalidInstanceError(name, f"must be an integer >= 1, got {value!r}")
    return int(value)


def _check_time_limit(value) -> float | None:
    """``None`` (no limit) or a number of seconds ``>= 0`` (``inf`` allowed)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise InvalidInstanceError("time_limit", f"must be a number of seconds >= 0 or None, got {value!r}")
    return float(value)


def _deadline(time_limit: float | None) -> float:
    """The :func:`time.monotonic` instant at which ``time_limit`` (validated) runs out (``inf``: never)."""
    return math.inf if time_limit is None else time.monotonic() + time_limit


def _expired(deadline: float) -> bool:
    return deadline != math.inf and time.monotonic() >= deadline


class _OutOfTime(Exception):
    """Raised from a Krylov callback to stop the solver when the deadline has passed."""


# --- shared kernels ---------------------------------------------------------------------

def _continuation(mdp: PrincipalAgentMDP, V: np.ndarray, rows=slice(None)) -> np.ndarray:
    """``E[V(s') | s, o]`` for the states ``rows``: shape ``(len(rows), K) + V.shape[1:]``.

    ``V`` has shape ``(S,)`` or ``(S, c)`` (several value columns at once); an ending
    transition (``next_state = −1`` or an all-zero ``transitions`` row) contributes 0.
    """
    if mdp.deterministic:
        V_ext = np.concatenate([V, np.zeros((1,) + V.shape[1:])])   # index −1 -> the appended 0
        return V_ext[mdp.next_state[rows]]
    return np.tensordot(mdp.transitions[rows], V, axes=([2], [0]))


def _stage_terms(mdp: PrincipalAgentMDP, rows, actions: np.ndarray, contract: np.ndarray):
    """Per-state and per-outcome rewards of the three value columns (principal, agent, payment).

    Returns ``(probs, state_rew, outcome_rew)`` with shapes ``(n, K)``, ``(n, 3)``, ``(n, K, 3)``
    for the states ``rows`` under agent ``actions`` (shape ``(n,)``) and ``contract`` ``(n, K)``.
    """
    idx = np.arange(mdp.n_states)[rows]
    probs = mdp.outcome_probs[idx, actions]
    state_rew = np.zeros((idx.size, 3))
    state_rew[:, _AGENT] = mdp.agent_rewards[idx, actions]
    outcome_rew = np.stack([mdp.principal_rewards[idx] - contract, contract, contract], axis=-1)
    return probs, state_rew, outcome_rew


def _bellman_rows(mdp, rows, actions, contract, V_next) -> np.ndarray:
    """One Bellman backup of the three value columns at the states ``rows`` (Section 3)."""
    probs, state_rew, outcome_rew = _stage_terms(mdp, rows, actions, contract)
    cont = _continuation(mdp, V_next, rows)
    return state_rew + np.einsum("nk,nkc->nc", probs, outcome_rew + mdp.discount * cont)


def _policy_matrix(mdp: PrincipalAgentMDP, probs: np.ndarray):
    """``P_π[s, s'] = Σ_o O(s, π(s), o) P(s' | s, o)``; sparse (CSC) for deterministic ``next_state``."""
    S = mdp.n_states
    if mdp.deterministic:
        s, k = np.nonzero(mdp.next_state >= 0)
        return scipy.sparse.csc_matrix((probs[s, k], (s, mdp.next_state[s, k])), shape=(S, S))
    return np.einsum("sk,skt->st", probs, mdp.transitions)


_RTOL_KW = "rtol" if "rtol" in inspect.signature(scipy.sparse.linalg.bicgstab).parameters else "tol"


def _krylov(M, rhs: np.ndarray, deadline: float = math.inf) -> tuple[np.ndarray, bool]:
    """Solve ``M X = rhs`` column by column with BiCGSTAB (GMRES if it breaks down) and
    iterative refinement on the residual.

    Returns ``(X, cut)``: ``cut`` is ``True`` when the ``deadline`` (a :func:`time.monotonic`
    instant) passed first — checked after every Krylov iteration (GMRES: every restart cycle)
    and before every refinement round but the first, so each column gets at least one
    iteration; ``X`` is then the last iterate (any ``X`` is valid for the a-posteriori residual
    bound of :func:`_linear_solve`)."""
    X = np.zeros_like(rhs)
    scale = max(1.0, float(np.max(np.abs(rhs))))
    limited = deadline != math.inf
    last: list[np.ndarray] = []

    def watch(xk):
        if time.monotonic() >= deadline:
            last.append(np.array(xk, dtype=float, copy=True))
            raise _OutOfTime

    def solve(method, b, **kw):
        """``(dx, info, cut)`` of one Krylov solve, stopped by the deadline if it passes."""
        last.clear()
        if limited:
            kw["callback"] = watch
        try:
            dx, info = method(M, b, atol=0.0, **{_RTOL_KW: KRYLOV_RTOL}, **kw)
            return dx, info, False
        except _OutOfTime:
            return last[0], 0, True

    for round_ in range(KRYLOV_REFINE_ROUNDS):
        res = rhs - M @ X
        if float(np.max(np.abs(res))) <= KRYLOV_RTOL * scale:
            break
        if round_ and _expired(deadline):
            return X, True
        cut_any = False
        for c in range(rhs.shape[1]):
            if not np.any(res[:, c]):
                continue
            dx, info, cut = solve(scipy.sparse.linalg.bicgstab, res[:, c], maxiter=10 * M.shape[0])
            if not cut and (info != 0 or not np.all(np.isfinite(dx))):
                extra = {"callback_type": "x"} if limited else {}
                dx, _, cut = solve(scipy.sparse.linalg.gmres, res[:, c], restart=50, maxiter=1000, **extra)
            X[:, c] += dx
            cut_any = cut_any or cut
        if cut_any:
            return X, True
    return X, False


def _linear_solve(mdp: PrincipalAgentMDP, actions: np.ndarray, contract: np.ndarray,
                  solver: str = "auto", deadline: float = math.inf) -> tuple[np.ndarray, float, str, bool]:
    """Solve ``(I − γ P_π) V = r_π`` for the three value columns (cyclic, ``γ < 1``).

    Returns ``(V, bound, method, cut)`` with the a-posteriori bound
    ``||r_π − (I − γ P_π) V||_∞ / (1 − γ)`` on ``||V − V_exact||_∞`` (valid because ``P_π`` is
    sub-stochastic, so the Neumann series of ``(I − γ P_π)^{-1}`` has ∞-norm ``<= 1/(1 − γ)``),
    valid for any ``V``; ``cut`` is ``True`` when the ``deadline`` stopped the Krylov solver
    (direct solves are not interrupted).
    """
    S = mdp.n_states
    probs, state_rew, outcome_rew = _stage_terms(mdp, slice(None), actions, contract)
    rhs = state_rew + np.einsum("sk,skc->sc", probs, outcome_rew)
    P = _policy_matrix(mdp, probs)
    method, cut = "linear_solve", False
    if scipy.sparse.issparse(P):
        M = (scipy.sparse.identity(S, format="csc") - mdp.discount * P).tocsc()
        if solver == "direct" or (solver == "auto" and S <= DIRECT_SOLVE_MAX_STATES):
            V = np.asarray(scipy.sparse.linalg.spsolve(M, rhs)).reshape(S, 3)
        else:
            V, cut = _krylov(M, rhs, deadline)
            method = "linear_solve_iterative"
    else:
        M = np.eye(S) - mdp.discount * P
        V = np.linalg.solve(M, rhs)
    bound = float(np.max(np.abs(rhs - M @ V))) / (1.0 - mdp.discount)
    return V, bound, method, cut


# --- evaluation -------------------------------------------------------------------------

def evaluate(mdp: PrincipalAgentMDP, contract_policy: ContractPolicy, agent_policy,
             linear_solver: str = "auto", *, time_limit: float | None = None) -> PolicyEvaluation:
    """Exact values of both parties when the principal plays ``contract_policy`` and the agent
    plays ``agent_policy`` (int array ``(S,)``, or ``(H, S)`` with a horizon).

    arXiv 2407.18074, Section 3: ``V_p(s) = Σ_o O(s,a,o)(r_p(s,o) − b(s,o) + γ E[V_p(s')])`` and
    ``V_a(s) = r(s,a) + Σ_o O(s,a,o)(b(s,o) + γ E[V_a(s')])`` with ``a = π(s)``. The agent's
    action need not be the recommended one. See the module docstring for the three paths.

    ``linear_solver`` (cyclic discounted MDPs with a deterministic ``next_state`` only):
    ``"direct"`` (sparse LU), ``"iterative"`` (Krylov with refinement) or ``"auto"`` (direct up
    to :data:`DIRECT_SOLVE_MAX_STATES` states). The bound on the solve's error is reported as
    ``error_bound``.

    ``time_limit`` (seconds, default ``None``: no limit) stops the Krylov solver (the only
    iterative path) when it runs out, checked every Krylov iteration: the result then has
    ``converged=False``, ``reason="time budget"`` and the bound of the last iterate in
    ``error_bound``; it never raises for this. Backward passes and direct solves ignore it.

    Raises :class:`InvalidInstanceError` (naming field and index) on shapes that do not fit or
    actions out of range.
    """
    check_profile_inputs(mdp, contract_policy)
    pol = _check_agent_policy(mdp, agent_policy)
    if linear_solver not in LINEAR_SOLVERS:
        raise InvalidInstanceError("linear_solver", f"must be one of {LINEAR_SOLVERS}, got {linear_solver!r}")
    deadline = _deadline(_check_time_limit(time_limit))
    S = mdp.n_states
    bound, cut = 0.0, False
    if mdp.horizon is not None:
        H = mdp.horizon
        # values (H + 1, S, 3), payments, and the contiguous copies of the value columns and welfare
        _check_horizon_memory(mdp, 8 * (3 + 1 + 3 + 1), "evaluating this horizon")
        values = np.zeros((H + 1, S, 3))
        payment = np.zeros((H, S))
        for t in range(H - 1, -1, -1):
            actions = pol[t] if pol.ndim == 2 else pol
            contract = contract_policy.at_step(t)[1]
            values[t] = _bellman_rows(mdp, slice(None), actions, contract, values[t + 1])
            payment[t] = np.einsum("sk,sk->s", mdp.outcome_probs[np.arange(S), actions], contract)
        values = values[:H]
        method = "backward_horizon"
    else:
        contract = contract_policy.contract
        payment = np.einsum("sk,sk->s", mdp.outcome_probs[np.arange(S), pol], contract)
        if mdp.is_acyclic:
            values = np.zeros((S, 3))
            for level in mdp.levels():
                values[level] = _bellman_rows(mdp, level, pol[level], contract[level], values)
            method = "backward_levels"
        else:
            values, bound, method, cut = _linear_solve(mdp, pol, contract, linear_solver, deadline)
    vp, va, vpay = values[..., _PRINCIPAL], values[..., _AGENT], values[..., _PAYMENT]
    return PolicyEvaluation(principal_value=_readonly(vp), agent_value=_readonly(va), welfare=_readonly(vp + va),
                            expected_payment=_readonly(payment), payment_value=_readonly(vpay),
                            agent_policy=pol, method=method, initial_state=mdp.initial_state, error_bound=bound,
                            converged=not cut, reason="time budget" if cut else "converged")


# --- best response ----------------------------------------------------------------------

def _agent_and_principal_q(mdp, rows, contract: np.ndarray, V_next: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both parties' Q-tables ``(n, A)`` at the states ``rows`` given next values ``V_next``
    (columns principal, agent): ``Q_a(s,a) = r(s,a) + Σ_o O(s,a,o)(b(s,o) + γ E[V_a(s')])`` and
    ``Q_p(s,a) = Σ_o O(s,a,o)(r_p(s,o) − b(s,o) + γ E[V_p(s')])`` (Section 3)."""
    O = mdp.outcome_probs[rows]
    cont = _continuation(mdp, V_next, rows)                      # (n, K, 2)
    g = mdp.discount
    qa = mdp.agent_rewards[rows] + np.einsum("nak,nk->na", O, contract + g * cont[..., _AGENT])
    qp = np.einsum("nak,nk->na", O, mdp.principal_rewards[rows] - contract + g * cont[..., _PRINCIPAL])
    return qa, qp


def _break_ties(agent_best: np.ndarray, qp: np.ndarray, tie_break: str, tol: float) -> np.ndarray:
    """Per row: among the actions in ``agent_best`` pick the best (``"principal"``) or worst
    (``"adversarial"``) for the principal; principal values within ``tol`` tie too, and the
    remaining ties go to the lowest index."""
    score = qp if tie_break == "principal" else -qp
    score = np.where(agent_best, score, -np.inf)
    top = score >= score.max(axis=-1, keepdims=True) - tol
    return np.argmax(top, axis=-1)


def _pick(qa: np.ndarray, qp: np.ndarray, tie_break: str, tol: float) -> np.ndarray:
    """The tie-broken argmax of the agent's Q-table ``qa`` (rows are states)."""
    agent_best = qa >= qa.max(axis=-1, keepdims=True) - tol
    return _break_ties(agent_best, qp, tie_break, tol)


def _gap(q: np.ndarray, policy: np.ndarray) -> float:
    chosen = np.take_along_axis(q, policy[..., None], axis=-1)[..., 0]
    return float(np.max(q.max(axis=-1) - chosen))


def agent_best_response(mdp: PrincipalAgentMDP, contract_policy: ContractPolicy, tie_break: str = "principal",
                        tol: float = TIE_TOL, vi_tol: float = VI_TOL, max_iter: int = VI_MAX_ITER, *,
                        time_limit: float | None = None) -> AgentResponse:
    """The agent's optimal policy against ``contract_policy`` (arXiv 2407.18074, Section 3).

    Parameters
    ----------
    tie_break:
        ``"principal"`` (default, ``DESIGN.md``): among the agent's optimal actions (within
        ``tol`` of ``max_a Q_a``) take the one best for the principal; ``"adversarial"``: the one
        worst for the principal. Principal values within ``tol`` also tie; the remaining ties go
        to the lowest action index.
    tol:
        Tie tolerance (absolute, on Q-values); default :data:`TIE_TOL`.
    vi_tol, max_iter:
        Cyclic discounted case only: value iteration stops when the a-posteriori bound
        ``γ/(1−γ)·||V_{k+1} − V_k||_∞ <= vi_tol`` (default :data:`VI_TOL`) or after
        ``max_iter`` sweeps (default :data:`VI_MAX_ITER`; then ``converged=False``,
        ``reason="iteration budget"``; it never stops silently).
    time_limit:
        Cyclic discounted case only: wall-time budget in seconds for the whole call (default
        ``None``: no limit). Checked with :func:`time.monotonic` after every value-iteration
        sweep (at least one sweep is always done), every round of the principal-side policy
        iteration and every Krylov iteration; when it runs out the call *returns* with
        ``converged=False``, ``reason="time budget"`` and the bounds reached (``error_bound``,
        ``value_error_bound``, :attr:`AgentResponse.bound`) — it never raises for this. Direct
        linear solves are not interrupted, so the call may overrun the limit by a few of them.
        Horizon and acyclic MDPs are exact, finite backward passes and ignore it.

    Horizon and acyclic MDPs are solved exactly by backward induction, in which the principal's
    value of the agent's choice is computed in the same pass, so the tie-break at a state sees
    the principal's value of the (tie-broken) continuation.

    Cyclic discounted MDPs: value iteration gives ``V_k`` with ``||V_k − V_a*|| <= ε`` (the
    reported ``error_bound``); then ``|Q_k − Q_a*| <= γ ε``, so every action within ``tol`` of
    optimal lies in ``{a: Q_k(s,a) >= max Q_k(s,·) − tol − 2γε}``: this is the agent's tied set.
    Among the tied sets the principal's best (``"principal"``) or worst (``"adversarial"``)
    stationary choice is found by exact policy iteration on her value (linear solves; a switch
    needs an improvement above ``tol``), then the ties left are resolved to the lowest index.
    Both values of the final policy come from a linear solve (its residual bound is
    ``value_error_bound``), ``q`` is the agent's Q-function of that policy, and ``policy_gap``
    certifies the policy's optimality. When a budget stops value iteration, the same steps run
    on its last iterate (with the window widened by its bound); when the clock has run out, the
    policy iteration stops at its first check and the tie-break ends there (``reason`` says so).
    """
    check_profile_inputs(mdp, contract_policy)
    if tie_break not in TIE_BREAKS:
        raise InvalidInstanceError("tie_break", f"must be one of {TIE_BREAKS}, got {tie_break!r}")
    tol = _check_tol("tol", tol)
    vi_tol = _check_tol("vi_tol", vi_tol)
    max_iter = _check_count("max_iter", max_iter)
    deadline = _deadline(_check_time_limit(time_limit))
    if mdp.horizon is not None:
        return _best_response_horizon(mdp, contract_policy, tie_break, tol)
    if mdp.is_acyclic:
        return _best_response_levels(mdp, contract_policy, tie_break, tol)
    return _best_response_cyclic(mdp, contract_policy, tie_break, tol, vi_tol, max_iter, deadline)


def _best_response_horizon(mdp, contract_policy, tie_break, tol) -> AgentResponse:
    """Backward induction over the steps ``t = H−1, …, 0``, all states at once."""
    S, A, H = mdp.n_states, mdp.n_actions, mdp.horizon
    # V (H + 1, S, 2), q (H, S, A), policy and recommendation (int64), follow, the value columns'
    # contiguous copies and the temporaries of the policy gap (3 float64 per step and state)
    _check_horizon_memory(mdp, 16 + 8 * A + 16 + 1 + 16 + 24, "the agent's best response over this horizon")
    V = np.zeros((H + 1, S, 2))
    q = np.zeros((H, S, A))
    policy = np.zeros((H, S), dtype=np.int64)
    rec = np.zeros((H, S), dtype=np.int64)
    states = np.arange(S)
    for t in range(H - 1, -1, -1):
        rec[t], contract = contract_policy.at_step(t)
        qa, qp = _agent_and_principal_q(mdp, slice(None), contract, V[t + 1])
        policy[t] = _pick(qa, qp, tie_break, tol)
        q[t] = qa
        V[t, :, _PRINCIPAL] = qp[states, policy[t]]
        V[t, :, _AGENT] = qa[states, policy[t]]
    return AgentResponse(policy=_readonly(policy), q=_readonly(q), agent_value=_readonly(V[:H, :, _AGENT]),
                         principal_value=_readonly(V[:H, :, _PRINCIPAL]), follow=_readonly(policy == rec),
                         tie_break=tie_break, tol=tol, method="backward_horizon", iterations=H, error_bound=0.0,
                         converged=True, policy_gap=_gap(q, policy), initial_state=mdp.initial_state)


def _best_response_levels(mdp, contract_policy, tie_break, tol) -> AgentResponse:
    """Backward induction over :meth:`PrincipalAgentMDP.levels`, vectorised per level."""
    S, A = mdp.n_states, mdp.n_actions
    V = np.zeros((S, 2))
    q = np.zeros((S, A))
    policy = np.zeros(S, dtype=np.int64)
    contract = contract_policy.contract
    levels = mdp.levels()
    for level in levels:
        qa, qp = _agent_and_principal_q(mdp, level, contract[level], V)
        pick = _pick(qa, qp, tie_break, tol)
        rows = np.arange(level.size)
        policy[level] = pick
        q[level] = qa
        V[level, _PRINCIPAL] = qp[rows, pick]
        V[level, _AGENT] = qa[rows, pick]
    return AgentResponse(policy=_readonly(policy), q=_readonly(q), agent_value=_readonly(V[:, _AGENT]),
                         principal_value=_readonly(V[:, _PRINCIPAL]),
                         follow=_readonly(policy == contract_policy.action), tie_break=tie_break, tol=tol,
                         method="backward_levels", iterations=len(levels), error_bound=0.0, converged=True,
                         policy_gap=_gap(q, policy), initial_state=mdp.initial_state)


def _value_iteration(mdp, contract, vi_tol, max_iter, deadline=math.inf) -> tuple[np.ndarray, int, float, str]:
    """Agent value iteration ``V_{k+1}(s) = max_a Q_a(s, a; V_k)``; returns the last iterate,
    the number of sweeps, the a-posteriori bound ``γ/(1−γ)·||V_{k+1} − V_k||_∞`` and the reason
    it stopped: ``"converged"`` (the bound reached ``vi_tol``), ``"iteration budget"``
    (``max_iter`` sweeps) or ``"time budget"`` (the ``deadline`` passed; checked after every
    sweep, so at least one is done)."""
    S, g = mdp.n_states, mdp.discount
    O, r = mdp.outcome_probs, mdp.agent_rewards
    V = np.zeros(S)
    bound = np.inf
    limited = deadline != math.inf
    for k in range(1, max_iter + 1):
        V_new = (r + np.einsum("sak,sk->sa", O, contract + g * _continuation(mdp, V))).max(axis=1)
        diff = float(np.max(np.abs(V_new - V)))
        V = V_new
        bound = g / (1.0 - g) * diff
        if bound <= vi_tol:
            return V, k, bound, "converged"
        if limited and time.monotonic() >= deadline:
            return V, k, bound, "time budget"
    return V, max_iter, bound, "iteration budget"


def _principal_policy_iteration(mdp, contract, allowed, tie_break, tol, deadline=math.inf):
    """Exact policy iteration on the principal's value over the agent's tied sets ``allowed``
    (``(S, A)`` mask): maximise it (``"principal"``) or minimise it (``"adversarial"``).

    Returns ``(policy, values, bound, reason)`` with the values of the last policy solved;
    ``reason`` is ``"converged"``, ``"iteration budget"`` (:data:`PI_MAX_ITER` rounds) or
    ``"time budget"`` (the ``deadline`` passed, checked every round and inside Krylov solves;
    the policy is then the last one solved)."""
    sign = 1.0 if tie_break == "principal" else -1.0
    states = np.arange(mdp.n_states)
    policy = np.argmax(allowed, axis=1)
    for _ in range(PI_MAX_ITER):
        V, bound, _, cut = _linear_solve(mdp, policy, contract, deadline=deadline)
        if cut:
            return policy, V, bound, "time budget"
        _, qp = _agent_and_principal_q(mdp, slice(None), contract, V[:, :2])
        score = np.where(allowed, sign * qp, -np.inf)
        improve = score.max(axis=1) > score[states, policy] + tol
        if not improve.any():
            return policy, V, bound, "converged"
        if _expired(deadline):
            return policy, V, bound, "time budget"
        policy = np.where(improve, np.argmax(score, axis=1), policy)
    V, bound, _, cut = _linear_solve(mdp, policy, contract, deadline=deadline)
    return policy, V, bound, "time budget" if cut else "iteration budget"


def _best_response_cyclic(mdp, contract_policy, tie_break, tol, vi_tol, max_iter,
                          deadline=math.inf) -> AgentResponse:
    """Value iteration + principal-side policy iteration (see :func:`agent_best_response`)."""
    contract, g = contract_policy.contract, mdp.discount
    V_vi, sweeps, bound, vi_reason = _value_iteration(mdp, contract, vi_tol, max_iter, deadline)
    V2 = np.stack([np.zeros_like(V_vi), V_vi], axis=1)
    qa_vi, _ = _agent_and_principal_q(mdp, slice(None), contract, V2)
    window = tol + 2.0 * g * (bound if np.isfinite(bound) else 0.0)
    allowed = qa_vi >= qa_vi.max(axis=1, keepdims=True) - window
    reasons = [vi_reason]
    if np.all(allowed.sum(axis=1) == 1):          # no ties anywhere: nothing for the principal to choose
        policy = np.argmax(allowed, axis=1)
        V, value_bound, _, cut = _linear_solve(mdp, policy, contract, deadline=deadline)
    else:
        policy, V, value_bound, pi_reason = _principal_policy_iteration(mdp, contract, allowed, tie_break, tol,
                                                                        deadline)
        reasons.append(pi_reason)
        cut = False
        # Remaining ties (principal values within tol) go to the lowest index; when the clock
        # stopped the policy iteration, its last policy is kept with the values solved for it.
        _, qp = _agent_and_principal_q(mdp, slice(None), contract, V[:, :2])
        lowest = _break_ties(allowed, qp, tie_break, tol)
        if pi_reason != "time budget" and not np.array_equal(lowest, policy):
            policy = lowest
            V, value_bound, _, cut = _linear_solve(mdp, policy, contract, deadline=deadline)
    if cut:
        reasons.append("time budget")
    # The first budget that stopped a loop is the reason (value iteration's comes first).
    reason = next((r for r in reasons if r != "converged"), "converged")
    qa, _ = _agent_and_principal_q(mdp, slice(None), contract, V[:, :2])
    return AgentResponse(policy=_readonly(policy), q=_readonly(qa), agent_value=_readonly(V[:, _AGENT]),
                         principal_value=_readonly(V[:, _PRINCIPAL]),
                         follow=_readonly(policy == contract_policy.action), tie_break=tie_break, tol=tol,
                         method="value_iteration", iterations=sweeps, error_bound=float(bound),
                         converged=reason == "converged", policy_gap=_gap(qa, policy),
                         initial_state=mdp.initial_state, value_error_bound=value_bound, reason=reason)


__all__ = ["evaluate", "agent_best_response", "PolicyEvaluation", "AgentResponse", "TIE_TOL", "TIE_BREAKS",
           "VI_TOL", "VI_MAX_ITER", "PI_MAX_ITER", "REASONS", "DIRECT_SOLVE_MAX_STATES", "LINEAR_SOLVERS"]
