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
time-indexed results of shape ``(H, S, …)``, refused beforehand if they exceed the memory
budget). A discounted cyclic instance without a horizon has no last step: use the
discounted solver.

Scale: with two actions and deterministic successors the batch is cut into chunks of
:data:`CHUNK_STATES` states, and with two outcomes as well (the binary game tree of Appendix
D.1) each chunk runs through :func:`_backup_two_by_two`, on contiguous columns, straight into
the preallocated result tables. Both do exactly the floating-point operations of the batched
backup, so the results are the same to the last bit (``tests/test_spe.py`` checks this).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.budget import check_memory
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError, SolverFailure
from ..theory.pamdp import PrincipalAgentMDP, horizon_bytes
from .lp import BACKENDS
from .min_pay_vertex import STATUS_NAMES, _all_actions, _two_by_two, choose_method, two_action_min_pay

#: The principal treats actions whose values ``Q_p(s, a)`` lie within
#: ``TIE_TOL * max(1, max_a |Q_p(s, a)|)`` of the best as tied and recommends the lowest index.
#: Default ``1e-9`` (as :data:`contractlab.solvers.optimal.OPTIMALITY_TOL`).
TIE_TOL = 1e-9

#: Sums over outcomes with at most this many outcomes are unrolled (a few elementwise
#: operations over the states are faster than ``einsum`` on tiny trailing axes).
_UNROLL_OUTCOMES = 8

#: Two-action instances with a deterministic ``next_state`` are backed up in chunks of this
#: many states, written straight into the result tables: every temporary is then a few
#: hundred KiB (it stays in the cache) instead of an array over the largest level. Every
#: operation of that backup is elementwise over the states, so the chunking does not change
#: a single bit of the result.
CHUNK_STATES = 1 << 14


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


def _part(rows, lo: int, hi: int):
    """Entries ``lo:hi`` of ``rows`` (a slice or an index array), of the same kind."""
    if isinstance(rows, slice):
        return slice(rows.start + lo, rows.start + hi)
    return rows[lo:hi]


def _count(rows) -> int:
    return rows.stop - rows.start if isinstance(rows, slice) else len(rows)


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
        out = values[ns]                       # values[-1] is read for ends and multiplied by 0
        end = ns < 0
        if end.any():
            out *= ~end
        return out
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
    tables = _Tables((len(st),), mdp.n_actions, mdp.n_outcomes)
    _backup_into(tables, (), slice(0, len(st)), mdp, _rows(st), vp, va, chosen, backend, float(tie_tol))
    for arr in vars(tables).values():
        arr.setflags(write=False)
    st = np.array(st)
    st.setflags(write=False)
    return SPEBackup(states=st, action=tables.action, contract=tables.contract,
                     expected_payment=tables.expected_payment, principal_value=tables.principal_value,
                     agent_value=tables.agent_value, agent_q=tables.agent_q, principal_q=tables.principal_q,
                     implementable=tables.implementable, min_pay=tables.min_pay, method=chosen)


def _chunked(mdp, method: str) -> bool:
    """Whether :func:`_backup` may run on chunks of a level: only where all its operations are
    elementwise over the states (two actions in closed form, deterministic successors, sums
    over outcomes unrolled), so that the chunks give the same bits as one batched call."""
    return (method == "vertex" and mdp.n_actions == 2 and mdp.deterministic
            and mdp.n_outcomes <= _UNROLL_OUTCOMES)


def _backup_into(tables, lead: tuple, dest, mdp, rows, vp, va, method, backend, tie_tol) -> None:
    """Back up the states ``rows`` (a slice or index array) and store the results at
    ``lead + (dest,)`` of ``tables`` (``dest`` has as many entries as ``rows``): in chunks of
    :data:`CHUNK_STATES` where :func:`_chunked` allows, else in one batched call. With two
    outcomes too, :func:`_backup_two_by_two` writes into the tables directly where ``dest`` is
    a slice (no copy of the results)."""
    n = _count(rows)
    if not _chunked(mdp, method):
        tables.store(lead + (dest,), _backup(mdp, rows, vp, va, method, backend, tie_tol))
        return
    for lo in range(0, n, CHUNK_STATES):
        hi = min(n, lo + CHUNK_STATES)
        where, part = lead + (_part(dest, lo, hi),), _part(rows, lo, hi)
        if mdp.n_outcomes != 2:
            tables.store(where, _backup(mdp, part, vp, va, method, backend, tie_tol))
        elif isinstance(dest, slice):
            _backup_two_by_two(mdp, part, vp, va, tie_tol, tables.views(where))
        else:
            chunk = _Tables((hi - lo,), 2, 2)
            _backup_two_by_two(mdp, part, vp, va, tie_tol, chunk.views(()))
            tables.store(where, chunk.views(()))


def _columns(arr: np.ndarray) -> np.ndarray:
    """``(B, …)`` -> contiguous ``(…, B)``: one row per column, so that the elementwise work
    below runs over contiguous memory (about 3x faster than over strided columns)."""
    B = arr.shape[0]
    return np.ascontiguousarray(arr.reshape(B, -1).T)


def _backup_two_by_two(mdp, rows, vp, va, tie_tol, out: dict) -> None:
    """:func:`_backup` for two actions and two outcomes (vertex method, deterministic
    successors), on contiguous columns, written into the arrays of ``out`` (``(B, …)`` views of
    the result tables, as :meth:`_Tables.views`): the same floating-point operations in the same
    order (``_weighted`` unrolled, MIN-PAY by
    :func:`~contractlab.solvers.min_pay_vertex._two_by_two`, the choice and the chosen entries by
    comparisons and ``np.where``), so the same bits.

    With ``c = −Q̄``, ``d = c_0 − c_1`` is computed as ``Q̄_1 − Q̄_0``: IEEE subtraction is
    addition of the negation, so the two are the same number (signed zeros included).
    """
    g = mdp.discount
    F00, F01, F10, F11 = _columns(mdp.outcome_probs[rows])
    r0, r1 = _columns(mdp.agent_rewards[rows])
    rp0, rp1 = _columns(mdp.principal_rewards[rows])
    ns0, ns1 = _columns(mdp.next_state[rows])
    # as in continuation(): the value of state -1 (the last) is read for ends and multiplied by 0
    ca0, ca1, cp0, cp1 = (np.take(v, ns) for v in (va, vp) for ns in (ns0, ns1))
    if ns0.min() < 0 or ns1.min() < 0:
        for ns, ca, cp in ((ns0, ca0, cp0), (ns1, ca1, cp1)):
            ca *= ns >= 0
            cp *= ns >= 0
    q0 = F00 * ca0
    q0 += F01 * ca1
    q0 *= g
    q0 += r0                                                  # Q̄(s, 0) = r + γ Σ_o O E[V_agent]
    q1 = F10 * ca0
    q1 += F11 * ca1
    q1 *= g
    q1 += r1
    cp0 *= g
    cp0 += rp0                                                # r_p + γ E[V_p] per outcome
    cp1 *= g
    cp1 += rp1
    gross0 = F00 * cp0
    gross0 += F01 * cp1
    gross1 = F10 * cp0
    gross1 += F11 * cp1
    (on1_0, value0, pay0, ok0), (on1_1, value1, pay1, ok1) = _two_by_two(F00, F01, F10, F11, q1 - q0)
    if not ok0.all():
        pay0 = np.where(ok0, pay0, np.inf)
    if not ok1.all():
        pay1 = np.where(ok1, pay1, np.inf)
    pq0 = gross0 - pay0                                       # inf payment -> −inf
    pq1 = gross1 - pay1
    best = np.maximum(pq0, pq1)
    threshold = best - tie_tol * np.maximum(1.0, np.abs(best))
    second = pq1 >= threshold
    second &= ~(pq0 >= threshold)                             # the first (lowest) tied action is 1
    np.copyto(out["action"], second)
    pay = np.add(np.where(second, pay1, pay0), 0.0, out=out["expected_payment"])   # -0.0 -> 0.0
    value = np.where(second, value1, value0)
    first = ~second
    on1 = (second & on1_1) | (first & on1_0)                  # np.where on booleans, in bit operations
    contract = out["contract"]
    np.add(np.where(on1, 0.0, value), 0.0, out=contract[:, 0])
    np.add(np.where(on1, value, 0.0), 0.0, out=contract[:, 1])
    ok = (second & ok1) | (first & ok0)
    if not ok.all():                                          # no action implementable: NaN contract
        contract[~ok] = np.nan
    np.copyto(out["principal_value"], np.where(second, pq1, pq0))
    np.add(np.where(second, q1, q0), pay, out=out["agent_value"])
    np.stack([q0, q1], axis=1, out=out["agent_q"])
    np.stack([pq0, pq1], axis=1, out=out["principal_q"])
    np.stack([ok0, ok1], axis=1, out=out["implementable"])
    np.stack([pay0, pay1], axis=1, out=out["min_pay"])


def _backup(mdp, rows, vp, va, method, backend, tie_tol) -> dict:
    """The backup at the states ``rows`` (a slice or an index array): the arrays of
    :class:`SPEBackup` (without ``states`` and ``method``) as a dict.

    With two actions the principal's choice and the entries of the chosen action are selected
    elementwise (``np.where``) instead of by ``argmax`` and fancy indexing: the same values."""
    gamma = mdp.discount
    O = mdp.outcome_probs[rows]                                        # (B, A, K)
    B, A, _ = O.shape
    agent_q = mdp.agent_rewards[rows] + gamma * _weighted(O, continuation(mdp, rows, va))
    gross = _weighted(O, mdp.principal_rewards[rows] + gamma * continuation(mdp, rows, vp))
    if method == "vertex" and A == 2:
        contract, min_pay, implementable = two_action_min_pay(O, -agent_q)
    else:
        mp = _all_actions(O, -agent_q, method, backend)  # inputs are validated MDP arrays: no re-check
        if method == "lp" and (mp.status_code > 1).any():
            b, a = (int(i) for i in np.argwhere(mp.status_code > 1)[0])
            raise SolverFailure(f"MIN-PAY at state {int(np.arange(mdp.n_states)[rows][b])}, action {a}: LP "
                                f"solver status {STATUS_NAMES[mp.status_code[b, a]]!r}")
        contract, min_pay, implementable = mp.contract, mp.expected_payment, mp.implementable
    principal_q = gross - min_pay                                      # inf payment -> −inf
    if A == 2:
        best = np.maximum(principal_q[:, 0], principal_q[:, 1])
    else:
        best = principal_q.max(axis=1)
    threshold = best - tie_tol * np.maximum(1.0, np.abs(best))
    tied = principal_q >= threshold[:, None]
    if A == 2:
        second = ~tied[:, 0] & tied[:, 1]                              # the first (lowest) tied action is 1

        def chosen(x):
            return np.where(second.reshape((B,) + (1,) * (x.ndim - 2)), x[:, 1], x[:, 0])
        action = second.astype(np.int64)
    else:
        action = np.argmax(tied, axis=1)                               # first (lowest) tied action
        idx = np.arange(B)

        def chosen(x):
            return x[idx, action]
    pay = chosen(min_pay) + 0.0                                        # + 0.0 turns -0.0 into 0.0
    return dict(action=action, contract=chosen(contract) + 0.0, expected_payment=pay,
                principal_value=chosen(principal_q), agent_value=chosen(agent_q) + pay, agent_q=agent_q,
                principal_q=principal_q, implementable=implementable, min_pay=min_pay)


# --------------------------------------------------------------------------- backward induction

def _table_bytes(A: int, K: int) -> int:
    """Bytes per (step, state) of the result tables of :class:`_Tables`: the action (int64), the
    contract, three values, three ``(A,)`` float tables and ``implementable``."""
    return 8 + 8 * K + 3 * 8 + 3 * 8 * A + A


class _Tables:
    """Result arrays of shape ``lead + (…)``, filled one backup at a time (:meth:`store`).

    Every entry is written by the backups; only the value tables start at 0, because
    :func:`continuation` reads the value of state ``S − 1`` (times 0) for ending outcomes.
    """

    def __init__(self, lead: tuple, A: int, K: int):
        self.action = np.empty(lead, dtype=np.int64)
        self.contract = np.empty(lead + (K,))
        self.expected_payment = np.empty(lead)
        self.principal_value = np.zeros(lead)
        self.agent_value = np.zeros(lead)
        self.agent_q = np.empty(lead + (A,))
        self.principal_q = np.empty(lead + (A,))
        self.implementable = np.empty(lead + (A,), dtype=bool)
        self.min_pay = np.empty(lead + (A,))

    def store(self, where, res: dict) -> None:
        for name, value in res.items():
            getattr(self, name)[where] = value

    def views(self, where: tuple) -> dict:
        """The tables at ``where`` (integers and slices only: views, not copies), by name."""
        return {name: arr[where] for name, arr in vars(self).items()}

    def result(self, mdp, method: str, backend: str, step0) -> SPEResult:
        s0 = mdp.initial_state
        for arr in vars(self).values():
            arr.setflags(write=False)
        policy = ContractPolicy(self.action, self.contract)     # read-only and owning their data: not copied
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
      batched :func:`spe_backup` (the graph may have cycles); time-indexed results. The
      ``(H, S, …)`` tables are estimated first and refused with
      :class:`InvalidInstanceError` (field ``"horizon"``) when they exceed the memory budget
      (:func:`contractlab.theory.budget.check_memory`).
    - no horizon, acyclic graph: backward over :meth:`PrincipalAgentMDP.levels`, one batched
      backup per level (:meth:`PrincipalAgentMDP.level_rows`: a level that is a range of
      states is read through slices, without copying); stationary results.
    - no horizon, cyclic graph (discount ``< 1``): raises :class:`InvalidInstanceError`
      (field ``"horizon"``); use the discounted solver.

    ``method``, ``backend`` and ``tie_tol`` are as in :func:`spe_backup`.
    """
    chosen = _check_options(mdp, method, backend, tie_tol)
    tie_tol = float(tie_tol)
    S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
    if mdp.horizon is not None:
        H = mdp.horizon
        check_memory("horizon", horizon_bytes(H, S, _table_bytes(A, K)), "solving this horizon")
        tables = _Tables((H, S), A, K)
        everything = slice(0, S)
        vp, va = np.zeros(S), np.zeros(S)
        for t in range(H - 1, -1, -1):
            _backup_into(tables, (t,), everything, mdp, everything, vp, va, chosen, backend, tie_tol)
            vp, va = tables.principal_value[t], tables.agent_value[t]
        return tables.result(mdp, chosen, backend, (0,))
    if not mdp.is_acyclic:
        raise InvalidInstanceError("horizon", "the instance has a cycle and no horizon, so backward induction has "
                                   "no last step; use the discounted solver for a discounted cyclic instance "
                                   "(or set a finite horizon)")
    levels = mdp.level_rows()                     # before the tables: its temporaries are gone by then
    tables = _Tables((S,), A, K)
    for level in levels:
        _backup_into(tables, (), level, mdp, level, tables.principal_value, tables.agent_value, chosen, backend,
                     tie_tol)
    return tables.result(mdp, chosen, backend, ())
