"""Subgame-perfect equilibria of principal-agent MDPs by backward induction.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*
(arXiv 2407.18074), Section 3: at state ``s`` the principal offers a contract ``b(s, ·) >= 0``
and recommends an action; the agent, who sees the contract, best-responds. Given the
continuation values of both players at the next states, one step of subgame-perfect
backward induction is (the paper's "minimal implementation" of an action through the
agent's *truncated* Q-function, which leaves out this step's payment):

    Q̄(s, a)   = r(s, a) + γ Σ_o O(s, a, o) E[V_agent(s') | s, o]
    MINPAY(s, a) = min_b Σ_o O(s, a, o) b(o)   s.t.  Q̄(s, a) + O(s, a)·b >= Q̄(s, a') + O(s, a')·b  ∀a',  b >= 0
    Q_p(s, a)  = Σ_o O(s, a, o) (r_p(s, o) + γ E[V_p(s') | s, o]) − MINPAY(s, a)     (−inf if not implementable)
    a*(s)      = argmax_a Q_p(s, a)
    V_p(s)     = Q_p(s, a*),   V_agent(s) = Q̄(s, a*) + O(s, a*)·b*(s)

MINPAY is the one-shot MIN-PAY LP with costs ``c = −Q̄(s, ·)`` (IC is written on Q̄; the
payment is made at this step, so it is not discounted). The agent breaks ties in the
principal's favour (weak IC); the principal breaks ties between actions whose values are
within :data:`TIE_TOL` (relative) towards the lowest index.

:func:`spe_backup` is this one step for a batch of states, given ANY continuation values
(it is reused by the discounted operator). :func:`solve_spe` runs it backward: by the
levels of an acyclic graph (:meth:`PrincipalAgentMDP.levels`, all states of a level in one
batched call), or over the steps ``t = H−1, …, 0`` of a finite horizon ``H`` (any graph;
time-indexed results of shape ``(H, S, …)``). A discounted cyclic instance without a
horizon has no last step: use the discounted solver.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError, SolverFailure
from ..theory.pamdp import PrincipalAgentMDP
from .lp import BACKENDS
from .min_pay_vertex import STATUS_NAMES, _all_actions, choose_method

#: The principal treats actions whose values ``Q_p(s, a)`` lie within
#: ``TIE_TOL * max(1, max_a |Q_p(s, a)|)`` of the best as tied and recommends the lowest index.
#: Default ``1e-9`` (as :data:`contractlab.solvers.optimal.OPTIMALITY_TOL`).
TIE_TOL = 1e-9

#: Sums over outcomes with at most this many outcomes are unrolled (a few elementwise
#: operations over the states are faster than ``einsum`` on tiny trailing axes).
_UNROLL_OUTCOMES = 8


@dataclass(frozen=True, eq=False)
class SPEBackup:
    """One step of backward induction at a batch of ``B`` states (read-only arrays).

    Attributes
    ----------
    states:
        ``(B,)`` the states backed up.
    action:
        ``(B,)`` the recommended action ``a*``.
    contract:
        ``(B, K)`` its min-pay contract ``b*`` (limited liability: ``>= 0``).
    expected_payment:
        ``(B,)`` ``O(s, a*)·b*``.
    principal_value, agent_value:
        ``(B,)`` ``V_p(s) = Q_p(s, a*)`` and ``V_agent(s) = Q̄(s, a*) + O(s, a*)·b*``.
    agent_q:
        ``(B, A)`` the truncated Q̄ (without this step's payment).
    principal_q:
        ``(B, A)`` ``Q_p`` (``−inf`` where the action cannot be implemented).
    implementable:
        ``(B, A)`` bool.
    min_pay:
        ``(B, A)`` ``MINPAY(s, a)`` (``inf`` where not implementable).
    method:
        ``"vertex"`` or ``"lp"``.
    """

    states: np.ndarray
    action: np.ndarray
    contract: np.ndarray
    expected_payment: np.ndarray
    principal_value: np.ndarray
    agent_value: np.ndarray
    agent_q: np.ndarray
    principal_q: np.ndarray
    implementable: np.ndarray
    min_pay: np.ndarray
    method: str


@dataclass(frozen=True, eq=False)
class SPEResult:
    """A subgame-perfect equilibrium with the tables that prove it (read-only arrays).

    Without a horizon the arrays are per state: ``(S,)``, ``(S, K)``, ``(S, A)``. With a finite
    horizon ``H`` they are per step and state: ``(H, S)``, ``(H, S, K)``, ``(H, S, A)``; step
    ``t`` is the decision at time ``t`` with ``H − t`` steps to go.

    Attributes
    ----------
    policy:
        :class:`ContractPolicy`: recommended action and its min-pay contract.
    expected_payment, principal_value, agent_value:
        As in :class:`SPEBackup`, for every state (and step).
    agent_q, principal_q, implementable, min_pay:
        The per-action tables of every backup.
    principal_value_initial, agent_value_initial:
        The values at ``mdp.initial_state`` (at step 0).
    method:
        ``"vertex"`` or ``"lp"``: how MIN-PAY was solved.
    backend:
        The LP backend (used only when ``method == "lp"``).
    """

    policy: ContractPolicy
    expected_payment: np.ndarray
    principal_value: np.ndarray
    agent_value: np.ndarray
    agent_q: np.ndarray
    principal_q: np.ndarray
    implementable: np.ndarray
    min_pay: np.ndarray
    principal_value_initial: float
    agent_value_initial: float
    method: str
    backend: str

    @property
    def time_indexed(self) -> bool:
        return self.policy.time_indexed


# --------------------------------------------------------------------------- helpers

def _rows(states: np.ndarray):
    """``slice(lo, hi)`` when ``states`` is a contiguous increasing range (indexing then copies
    nothing), else ``states`` itself."""
    n = len(states)
    if n and states[-1] - states[0] == n - 1 and (n == 1 or bool(np.all(np.diff(states) == 1))):
        return slice(int(states[0]), int(states[0]) + n)
    return states


def _weighted(O: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``Σ_o O[b, a, o] v[b, o]`` for ``O (B, A, K)``, ``v (B, K)``: shape ``(B, A)``."""
    K = O.shape[2]
    if K > _UNROLL_OUTCOMES:
        return np.einsum("bak,bk->ba", O, v)
    out = O[:, :, 0] * v[:, 0, None]
    for k in range(1, K):
        out += O[:, :, k] * v[:, k, None]
    return out


def continuation(mdp: PrincipalAgentMDP, states, values: np.ndarray) -> np.ndarray:
    """``E[values(s') | s, o]`` for every state of ``states`` and outcome ``o``: shape ``(B, K)``.

    Deterministic ``next_state``: ``values[next_state[s, o]]`` (0 where the episode ends,
    ``−1``), without building the dense successor matrix. Stochastic ``transitions``:
    ``transitions[s, o] @ values`` (an all-zero row, the end, gives 0).
    """
    if mdp.deterministic:
        ns = mdp.next_state[states]
        return values[ns] * (ns >= 0)          # values[-1] is read for ends and multiplied by 0
    T = mdp.transitions[states]
    B, K, S = T.shape
    return (T.reshape(B * K, S) @ values).reshape(B, K)


def _check_values(name: str, values, S: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (S,):
        raise InvalidInstanceError(name, f"has shape {v.shape}, expected (states,) = {(S,)}")
    bad = np.flatnonzero(~np.isfinite(v))
    if bad.size:
        raise InvalidInstanceError(name, f"value {float(v[bad[0]])!r} is not finite", int(bad[0]))
    return v


def _check_states(states, S: int) -> np.ndarray:
    st = np.asarray(states)
    if st.ndim != 1 or (st.size and st.dtype.kind not in "iu"):
        raise InvalidInstanceError("states", f"expected a 1-d array of state indices, got {st.dtype} {st.shape}")
    st = st.astype(np.int64, copy=False)
    bad = np.flatnonzero((st < 0) | (st >= S))
    if bad.size:
        raise InvalidInstanceError("states", f"state {int(st[bad[0]])} is out of range [0, {S})", int(bad[0]))
    return st


def _check_options(mdp, method: str, backend: str, tie_tol: float) -> str:
    if not isinstance(mdp, PrincipalAgentMDP):
        raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
    if backend not in BACKENDS + ("both",):
        raise InvalidInstanceError("backend", f"unknown backend {backend!r} (choose one of "
                                   f"{', '.join(BACKENDS + ('both',))})")
    if not (isinstance(tie_tol, (int, float, np.floating)) and np.isfinite(tie_tol) and tie_tol >= 0):
        raise InvalidInstanceError("tie_tol", f"must be a finite number >= 0, got {tie_tol!r}")
    return choose_method(mdp.n_actions, mdp.n_outcomes, method)


# --------------------------------------------------------------------------- one step

def spe_backup(mdp: PrincipalAgentMDP, states, principal_next, agent_next, method: str = "auto",
               backend: str = "highs", tie_tol: float = TIE_TOL) -> SPEBackup:
    """One subgame-perfect backup at ``states`` given continuation values (one batched call).

    Parameters
    ----------
    mdp:
        The principal-agent MDP (``O``, ``r``, ``r_p``, successors and ``γ`` are read).
    states:
        ``(B,)`` state indices to back up (any order, repeats allowed).
    principal_next, agent_next:
        ``(S,)`` values ``V_p`` and ``V_agent`` of every state as a *next* state (the
        continuation; how they were obtained does not matter). Entries of states that are
        not successors of ``states`` are never read.
    method:
        MIN-PAY by ``"vertex"`` enumeration, by the batched ``"lp"``, or ``"auto"``
        (vertex when :func:`~contractlab.solvers.min_pay_vertex.n_candidates` is at most
        :data:`~contractlab.solvers.min_pay_vertex.MAX_VERTEX_CANDIDATES`).
    backend:
        LP backend for ``method="lp"`` (``"highs"``, ``"cvxpy"``, or ``"both"``: an LP on which
        the two disagree raises :class:`~contractlab.theory.errors.SolverFailure`).
    tie_tol:
        Principal's tie tolerance (relative), :data:`TIE_TOL`.

    Returns
    -------
    SPEBackup
    """
    chosen = _check_options(mdp, method, backend, tie_tol)
    S = mdp.n_states
    st = _check_states(states, S)
    vp = _check_values("principal_next", principal_next, S)
    va = _check_values("agent_next", agent_next, S)
    return _backup(mdp, st, vp, va, chosen, backend, float(tie_tol))


def _backup(mdp, states, vp, va, method, backend, tie_tol) -> SPEBackup:
    rows = _rows(states)
    gamma = mdp.discount
    O = mdp.outcome_probs[rows]                                        # (B, A, K)
    B, A, _ = O.shape
    agent_q = mdp.agent_rewards[rows] + gamma * _weighted(O, continuation(mdp, rows, va))
    gross = _weighted(O, mdp.principal_rewards[rows] + gamma * continuation(mdp, rows, vp))
    mp = _all_actions(O, -agent_q, method, backend)     # inputs are validated MDP arrays: no re-check
    if method == "lp" and (mp.status_code > 1).any():
        b, a = (int(i) for i in np.argwhere(mp.status_code > 1)[0])
        raise SolverFailure(f"MIN-PAY at state {int(states[b])}, action {a}: LP solver status "
                           f"{STATUS_NAMES[mp.status_code[b, a]]!r}")
    principal_q = gross - mp.expected_payment                          # inf payment -> −inf
    best = principal_q.max(axis=1)
    threshold = best - tie_tol * np.maximum(1.0, np.abs(best))
    action = np.argmax(principal_q >= threshold[:, None], axis=1)     # first (lowest) tied action
    idx = np.arange(B)
    pay = mp.expected_payment[idx, action] + 0.0                       # + 0.0 turns -0.0 into 0.0
    out = SPEBackup(states=np.array(states), action=action, contract=mp.contract[idx, action] + 0.0,
                    expected_payment=pay,
                    principal_value=principal_q[idx, action], agent_value=agent_q[idx, action] + pay,
                    agent_q=agent_q, principal_q=principal_q, implementable=mp.implementable,
                    min_pay=mp.expected_payment, method=mp.method)
    for name in ("states", "action", "contract", "expected_payment", "principal_value", "agent_value",
                 "agent_q", "principal_q"):
        getattr(out, name).setflags(write=False)
    return out


# --------------------------------------------------------------------------- backward induction

class _Tables:
    """Preallocated result arrays of shape ``lead + (…)``, filled one backup at a time."""

    def __init__(self, lead: tuple, A: int, K: int):
        self.action = np.zeros(lead, dtype=np.int64)
        self.contract = np.zeros(lead + (K,))
        self.expected_payment = np.zeros(lead)
        self.principal_value = np.zeros(lead)
        self.agent_value = np.zeros(lead)
        self.agent_q = np.zeros(lead + (A,))
        self.principal_q = np.zeros(lead + (A,))
        self.implementable = np.zeros(lead + (A,), dtype=bool)
        self.min_pay = np.zeros(lead + (A,))

    def store(self, where, res: SPEBackup) -> None:
        for name in ("action", "contract", "expected_payment", "principal_value", "agent_value", "agent_q",
                     "principal_q", "implementable", "min_pay"):
            getattr(self, name)[where] = getattr(res, name)

    def result(self, mdp, method: str, backend: str, step0) -> SPEResult:
        s0 = mdp.initial_state
        for arr in vars(self).values():
            arr.setflags(write=False)
        policy = ContractPolicy(self.action, self.contract)
        return SPEResult(policy=policy, expected_payment=self.expected_payment,
                         principal_value=self.principal_value, agent_value=self.agent_value, agent_q=self.agent_q,
                         principal_q=self.principal_q, implementable=self.implementable, min_pay=self.min_pay,
                         principal_value_initial=float(self.principal_value[step0 + (s0,)]),
                         agent_value_initial=float(self.agent_value[step0 + (s0,)]), method=method,
                         backend=backend)


def solve_spe(mdp: PrincipalAgentMDP, method: str = "auto", backend: str = "highs",
              tie_tol: float = TIE_TOL) -> SPEResult:
    """The subgame-perfect equilibrium by backward induction (arXiv 2407.18074, Section 3).

    - ``mdp.horizon = H``: backward over ``t = H−1, …, 0``, every state at every step in one
      batched :func:`spe_backup` (the graph may have cycles); time-indexed results.
    - no horizon, acyclic graph: backward over :meth:`PrincipalAgentMDP.levels` (a level's
      successors are all in earlier levels), one batched backup per level; stationary results.
    - no horizon, cyclic graph (discount ``< 1``): raises :class:`InvalidInstanceError`
      (field ``"horizon"``); use the discounted solver.

    ``method``, ``backend`` and ``tie_tol`` are as in :func:`spe_backup`.
    """
    chosen = _check_options(mdp, method, backend, tie_tol)
    tie_tol = float(tie_tol)
    S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
    if mdp.horizon is not None:
        H = mdp.horizon
        tables = _Tables((H, S), A, K)
        states = np.arange(S)
        vp, va = np.zeros(S), np.zeros(S)
        for t in range(H - 1, -1, -1):
            res = _backup(mdp, states, vp, va, chosen, backend, tie_tol)
            tables.store(t, res)
            vp, va = tables.principal_value[t], tables.agent_value[t]
        return tables.result(mdp, chosen, backend, (0,))
    if not mdp.is_acyclic:
        raise InvalidInstanceError("horizon", "the instance has a cycle and no horizon, so backward induction has "
                                   "no last step; use the discounted solver for a discounted cyclic instance "
                                   "(or set a finite horizon)")
    tables = _Tables((S,), A, K)
    for level in mdp.levels():
        res = _backup(mdp, level, tables.principal_value, tables.agent_value, chosen, backend, tie_tol)
        tables.store(_rows(level), res)
    return tables.result(mdp, chosen, backend, ())
