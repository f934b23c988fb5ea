"""Exact references for incentive design in a finite-horizon deterministic Markov game: the
welfare-optimal joint policy, and the cheapest incentives that make a joint policy an equilibrium.

The designer of Yang, Wang, Trivedi, Zhao, Zha, *Adaptive Incentive Design with Multi-Agent
Meta-Gradient Reinforcement Learning* (AAMAS 2022, arXiv 2112.10859, Section 3) pays each agent
``i`` an incentive ``eta[t, s, a, i] >= 0`` on top of its reward ``r_i(s, a)`` when the joint action
``a`` is played in state ``s`` at step ``t``, and is judged by welfare minus the incentives paid. The
two results here bound that from above: no designer can reach more welfare than the optimum, and
none can make the optimum an equilibrium for less than the minimal incentives. The game is a
:class:`~contractlab.theory.markov_game.TabularMarkovGame` (``H`` steps, ``S`` states, ``A`` joint
actions, ``n`` agents; a normal-form game is ``S = H = 1``). Policies are deterministic and
time-dependent: ``policy[t, s]`` is a joint-action index.

Welfare optimum (:func:`welfare_optimum`)
    Backward dynamic programming over (step, state) on the joint state space (Puterman, *Markov
    Decision Processes*, 1994, Section 4.5): ``Q(t, s, a) = Σ_i r_i(s, a) + W(t+1, s')`` with
    ``s' = next_state[s, a]`` and ``W(t+1, -1) = W(H, ·) = 0``; ``W(t, s) = max_a Q(t, s, a)``, ties to
    the lowest joint-action index within :data:`TIE_TOL` (relative). Work ``O(H·S·A·n)``; no trajectory
    is enumerated.

Minimal incentives (:func:`min_incentives`)
    Notation: ``π`` the given policy, ``dev_i(t, s, b)`` the joint action ``(b, π_{-i}(t, s))``,
    ``R_i(t, s)`` agent ``i``'s return from ``(t, s)`` when everyone follows ``π`` (no incentives),
    ``V^η_i(t, s)`` the same with the incentives, and ``s_0, s_1, ...`` the policy's own trajectory.
    The objective is the expected total incentive paid along that trajectory,
    ``Σ_t Σ_i eta[t, s_t, π(t, s_t), i]`` (the policy is deterministic: the trajectory is one path).
    Each agent's constraints involve only its own incentives, so the LP splits into one LP per agent,
    solved as one batch through :mod:`contractlab.solvers.lp` (both backends, KKT verification).

    ``kind="nash"``: following ``π`` is a best response of agent ``i`` to the others following it:
    ``V^η_i(0, s_0) >= U_i(0, s_0)``, where ``U_i`` is agent ``i``'s best-response value against
    ``π_{-i}`` with the incentives, written with value variables and Bellman inequalities
    ``U_i(t, s) >= r_i(s, dev) + eta[t, s, dev, i] + U_i(t+1, next_state[s, dev])`` for every action ``b``
    of agent ``i`` (``dev = dev_i(t, s, b)``), at every ``(t, s)`` that agent ``i`` can reach by
    deviating alone (others following ``π``; the only states its best response visits). The least
    such ``U_i`` is the best-response value, so the inequalities are exact.

    ``kind="dominant"``: at every reachable ``(t, s)`` (reachable from ``s_0`` under some sequence of
    joint actions) and for every action profile ``a_{-i}`` of the others, agent ``i``'s recommended
    action ``π_i(t, s)`` maximises ``r_i(s, a) + eta[t, s, a, i] + V^η_i(t+1, next_state[s, a])`` over
    its actions — one-shot-deviation dominance at every stage, with the continuation of everyone
    following ``π`` afterwards, incentives included. For a normal-form game this is exactly
    dominant-strategy incentive compatibility.

    Incentives on non-recommended actions are 0 without loss: ``eta[t, s, a, i]`` with
    ``a ≠ π(t, s)`` (nash) or ``a_i ≠ π_i(t, s)`` (dominant) is never paid on the trajectory (not in the
    objective), enters no other agent's constraint, and enters agent ``i``'s constraints only on the
    deviation side, where lowering it only helps. So the variables are, per agent, nash: the
    incentives on the trajectory ``x_t = eta[t, s_t, π(t, s_t), i]`` (off the trajectory an incentive on
    ``π`` only raises ``U_i``) and ``U_i``; dominant: ``eta[t, s, a, i]`` with ``a_i = π_i(t, s)``, where
    ``V^η_i`` is substituted as ``R_i`` plus the incentives on ``π`` along ``π``'s path, so that each
    constraint is one row over the incentives on ``π`` (coefficients in {-1, 0, 1}).

    Two exact reductions keep the dominant LP small (ER(5, 2): at most 1 + 3 + 9 + 27 + 81 = 121 of its
    5 x 243 (step, state) pairs per agent, since only agent ``i``'s three actions branch).
    (1) For ``a_{-i} ≠ π_{-i}(t, s)`` the incentive ``eta[t, s, (π_i, a_{-i}), i]`` appears in its own
    constraints only, never in the objective or in ``V^η``: it is a slack, set after the LP to the least
    value its constraints allow, ``max(0, max_b Q_i(t, s, (b, a_{-i})) − Q_i(t, s, (π_i, a_{-i})))`` with
    ``Q_i = r_i + V^η_i(t+1, ·)``. (2) The remaining constraints at ``(t, s)`` involve the incentives on
    ``π`` at the states ``dev_i`` leads to; so the LP is solved on the states agent ``i`` reaches by
    deviating alone (closed under ``dev_i``), and at every other ``(t, s)`` (backwards) the incentive on
    ``π`` is set to its least feasible value ``max(0, max_b Q_i(t, s, dev_i(t, s, b)) − Q_i(t, s, π))``,
    which changes nothing the LP sees. With ``max_incentive = M`` every incentive must be at most
    ``M``; reduction (1) then leaves the row ``gain <= M`` for each off-profile incentive, and the
    dominant LP is solved on every reachable ``(t, s)`` (much larger: refused for ER(5, 2)).

    Both kinds cost the same: ``min cost = Σ_i (BR_i(0, s_0) − R_i(0, s_0))``, the sum of the agents'
    best-response gains against ``π`` without incentives. Lower bound: the Bellman inequalities give
    ``V^η_i >= U_i >= BR_i`` (incentives are non-negative), and the cost is ``V^η_i(0, s_0) − R_i(0, s_0)``
    in both kinds (per-stage dominance at profile ``π_{-i}`` is the Bellman inequality of ``V^η_i``).
    Attained: the backward choice above gives ``V^η_i = BR_i`` and is dominant, hence Nash
    (one-shot-deviation principle). Dominance needs promises off the path (never paid), Nash does not;
    for a normal-form game this is the observation of Monderer & Tennenholtz (*k-Implementation*,
    JAIR 21, 2004) that implementing one profile in dominant strategies costs its Nash deviation gains.
    The LPs are the certificates (duals included); :func:`normal_form_closed_form` is the closed form.

Sizes: the LP batch is dense (``n`` agents x rows x variables); it is estimated before anything is
allocated and refused above :data:`MAX_LP_ENTRIES` with an :class:`InvalidInstanceError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.budget import check_memory
from ..theory.errors import InvalidInstanceError, SolverFailure
from ..theory.incentive_games import NormalFormGame
from ..theory.markov_game import TabularMarkovGame
from ..theory.validation import as_float_array, check_real
from .lp import LPBatch, solve_lp_batch

#: Joint actions whose welfare ``Q`` is within ``TIE_TOL · max(1, |best|)`` of the best count as tied;
#: the lowest joint-action index wins (as :data:`contractlab.solvers.welfare.TIE_TOL`).
TIE_TOL = 1e-9

#: Largest dense LP batch (``n`` agents x rows x variables, padded to the largest agent) that
#: :func:`min_incentives` builds: 4e6 entries, 32 MB per copy (the LP layer holds a few copies).
MAX_LP_ENTRIES = 4_000_000

KINDS = ("nash", "dominant")


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)
    return arr


def _check_game(game) -> TabularMarkovGame:
    if isinstance(game, NormalFormGame):
        return game.as_markov_game()
    if not isinstance(game, TabularMarkovGame):
        raise InvalidInstanceError("game", f"expected a TabularMarkovGame or a NormalFormGame, got {type(game).__name__}")
    return game


def check_policy(game: TabularMarkovGame, policy) -> np.ndarray:
    """A deterministic joint policy: ``(H, S)`` joint-action indices, or ``(S,)`` (the same at every
    step); returned as a read-only ``(H, S)`` int64 array. Raises :class:`InvalidInstanceError`."""
    H, S, A = game.horizon, game.n_states, game.n_joint_actions
    pol = np.asarray(policy)
    if pol.ndim not in (1, 2) or not np.issubdtype(pol.dtype, np.integer):
        if pol.ndim in (1, 2) and np.issubdtype(pol.dtype, np.floating) and np.isfinite(pol).all() \
                and (pol == np.round(pol)).all():
            pol = pol.astype(np.int64)
        else:
            raise InvalidInstanceError("policy", f"expected integer joint-action indices of shape ({H}, {S}) or "
                                                 f"({S},), got {pol.dtype} of shape {pol.shape}")
    want = (S,) if pol.ndim == 1 else (H, S)
    if pol.shape != want:
        raise InvalidInstanceError("policy", f"has shape {pol.shape}, expected {want}")
    bad = np.argwhere((pol < 0) | (pol >= A))
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        raise InvalidInstanceError("policy", f"joint action {int(pol[idx])} is out of range [0, {A})", idx)
    return _readonly(np.broadcast_to(pol.astype(np.int64), (H, S)))


def _check_eta(game: TabularMarkovGame, eta) -> np.ndarray | None:
    """``None``, or finite incentives of shape ``(H, S, A, n)``."""
    if eta is None:
        return None
    arr = as_float_array("eta", eta, 4)
    want = (game.horizon, game.n_states, game.n_joint_actions, game.n_agents)
    if arr.shape != want:
        raise InvalidInstanceError("eta", f"has shape {arr.shape}, expected {want}")
    return arr


def _lookup(values: np.ndarray, states: np.ndarray) -> np.ndarray:
    """``values[s']`` for successor states ``s'`` (``-1``: the episode ended, value 0)."""
    out = values[np.maximum(states, 0)]
    ok = states >= 0
    return np.where(ok.reshape(ok.shape + (1,) * (out.ndim - ok.ndim)), out, 0.0)


# --------------------------------------------------------------------------- policies: paths and values

def trajectory(game: TabularMarkovGame, policy) -> np.ndarray:
    """``(H,)``: the state at every step when everyone follows ``policy`` from the initial state
    (``-1`` once the episode has ended). A forward pass."""
    game = _check_game(game)
    return _trajectory(game, check_policy(game, policy))


def _trajectory(game: TabularMarkovGame, pol: np.ndarray) -> np.ndarray:
    path = np.full(game.horizon, -1, dtype=np.int64)
    s = game.initial_state
    for t in range(game.horizon):
        if s < 0:
            break
        path[t] = s
        s = int(game.next_state[s, pol[t, s]])
    return path


def policy_values(game: TabularMarkovGame, policy, eta: np.ndarray | None = None) -> np.ndarray:
    """``(H + 1, S, n)``: every agent's return from ``(t, s)`` when everyone follows ``policy``, with the
    incentives ``eta (H, S, A, n)`` added if given (row ``H`` is 0). Backward evaluation."""
    game = _check_game(game)
    return _policy_values(game, check_policy(game, policy), _check_eta(game, eta))


def _policy_values(game: TabularMarkovGame, pol: np.ndarray, eta: np.ndarray | None = None) -> np.ndarray:
    H, S, n = game.horizon, game.n_states, game.n_agents
    everything = np.arange(S)
    V = np.zeros((H + 1, S, n))
    for t in range(H - 1, -1, -1):
        a = pol[t]
        r = game.rewards[everything, a]
        if eta is not None:
            r = r + eta[t, everything, a]
        V[t] = r + _lookup(V[t + 1], game.next_state[everything, a])
    return V


def deviations(game: TabularMarkovGame, policy, agent: int) -> np.ndarray:
    """``(H, S, K_i)``: the joint action ``(b, π_{-i}(t, s))`` for every action ``b`` of agent ``agent``."""
    game = _check_game(game)
    return _deviations(game, check_policy(game, policy), agent)


def _deviations(game: TabularMarkovGame, pol: np.ndarray, agent: int) -> np.ndarray:
    stride = int(np.prod(game.n_actions[agent + 1:], dtype=np.int64))
    own = (pol // stride) % game.n_actions[agent]
    base = pol - own * stride
    return base[..., None] + stride * np.arange(game.n_actions[agent])


def best_response_values(game: TabularMarkovGame, policy, agent: int, eta: np.ndarray | None = None) -> np.ndarray:
    """``(H + 1, S)``: agent ``agent``'s best-response value against the others following ``policy``
    (rewards plus ``eta`` if given), by backward induction; row ``H`` is 0."""
    game = _check_game(game)
    if isinstance(agent, bool) or not isinstance(agent, (int, np.integer)) or not 0 <= agent < game.n_agents:
        raise InvalidInstanceError("agent", f"must be an agent index in [0, {game.n_agents}), got {agent!r}")
    return _br_values(game, check_policy(game, policy), int(agent), _check_eta(game, eta))


def _br_values(game: TabularMarkovGame, pol: np.ndarray, agent: int, eta: np.ndarray | None = None) -> np.ndarray:
    dev = _deviations(game, pol, agent)
    H, S = game.horizon, game.n_states
    everything = np.arange(S)[:, None]
    U = np.zeros((H + 1, S))
    for t in range(H - 1, -1, -1):
        q = game.rewards[everything, dev[t], agent]
        if eta is not None:
            q = q + eta[t, everything, dev[t], agent]
        U[t] = (q + _lookup(U[t + 1], game.next_state[everything, dev[t]])).max(axis=1)
    return U


def _reachable(game: TabularMarkovGame, moves: np.ndarray) -> np.ndarray:
    """``(H, S)`` bool: the ``(t, s)`` reachable from ``(0, s_0)`` when the joint actions at ``(t, s)`` are
    ``moves[t, s, :]`` (``(H, S, m)``)."""
    H, S = game.horizon, game.n_states
    reach = np.zeros((H, S), dtype=bool)
    reach[0, game.initial_state] = True
    for t in range(H - 1):
        states = np.flatnonzero(reach[t])
        nxt = game.next_state[states[:, None], moves[t, states]]
        reach[t + 1, nxt[nxt >= 0]] = True
    return reach


# --------------------------------------------------------------------------- welfare optimum

@dataclass(frozen=True, eq=False)
class WelfareOptimum:
    """The welfare-maximising deterministic joint policy (module docstring).

    Attributes
    ----------
    policy:
        ``(H, S)`` joint-action indices.
    value:
        ``W(0, s_0)``, the optimal expected welfare (sum of the agents' returns).
    values:
        ``(H, S)`` ``W(t, s)``.
    q:
        ``(H, S, A)`` ``Q(t, s, a)``: the evidence (``value = q[0, s_0].max()`` up to ties).
    returns:
        ``(n,)`` each agent's return when everyone follows ``policy`` (a forward pass).
    path:
        ``(H,)`` the policy's trajectory (``-1`` after the end).
    """

    policy: np.ndarray
    value: float
    values: np.ndarray
    q: np.ndarray
    returns: np.ndarray
    path: np.ndarray


def welfare_optimum(game, tie_tol: float = TIE_TOL) -> WelfareOptimum:
    """The welfare optimum of ``game`` (a :class:`TabularMarkovGame` or :class:`NormalFormGame`) by
    backward DP over (step, state) (module docstring)."""
    game = _check_game(game)
    tie_tol = check_real("tie_tol", tie_tol, 0.0)
    H, S, A = game.horizon, game.n_states, game.n_joint_actions
    check_memory("game", 8.0 * H * S * (A + 3), "the welfare DP")
    w = game.rewards.sum(axis=2)
    everything = np.arange(S)
    q = np.empty((H, S, A))
    values = np.empty((H, S))
    policy = np.empty((H, S), dtype=np.int64)
    W = np.zeros(S)
    for t in range(H - 1, -1, -1):
        q[t] = w + _lookup(W, game.next_state)
        best = q[t].max(axis=1)
        policy[t] = np.argmax(q[t] >= (best - tie_tol * np.maximum(1.0, np.abs(best)))[:, None], axis=1)
        W = values[t] = q[t, everything, policy[t]]
    path = _trajectory(game, policy)
    alive = np.flatnonzero(path >= 0)
    returns = game.rewards[path[alive], policy[alive, path[alive]]].sum(axis=0)
    return WelfareOptimum(policy=_readonly(policy), value=float(values[0, game.initial_state]),
                          values=_readonly(values), q=_readonly(q), returns=_readonly(returns), path=_readonly(path))


# --------------------------------------------------------------------------- minimal incentives

@dataclass(frozen=True, eq=False)
class MinIncentives:
    """The cheapest incentives making ``policy`` an equilibrium of kind ``kind`` (module docstring).

    Attributes
    ----------
    kind, policy, max_incentive, backend:
        As asked (``policy`` as ``(H, S)``).
    feasible:
        False when some agent's LP is infeasible (only possible with ``max_incentive``); then
        ``eta`` and ``ic_slack`` are NaN and the costs ``inf``.
    eta:
        ``(H, S, A, n)`` the incentives (zero where they are zero without loss).
    expected_cost:
        ``Σ_t Σ_i eta[t, s_t, π(t, s_t), i]`` along the policy's trajectory.
    cost_per_agent:
        ``(n,)`` the same per agent (each agent's LP optimum).
    ic_slack:
        nash: ``(n,)`` ``V^η_i(0, s_0) − U_i(0, s_0)`` (following value minus best-response value, both
        with the incentives, recomputed from ``eta``); dominant: ``(H, S, A, n)``
        ``Q^η_i(t, s, (π_i, a_{-i})) − Q^η_i(t, s, a)`` for every joint action ``a``, where
        ``Q^η_i = r_i + eta_i + V^η_i(t+1, ·)`` (0 where ``a_i = π_i``; NaN at unreachable ``(t, s)``). The
        constraints hold when the slack is ``>= 0`` (up to the LP tolerance).
    reachable:
        ``(H, S)`` the ``(t, s)`` reachable from ``s_0`` under some joint actions (where dominance is required).
    status:
        ``(n,)`` each agent's LP status (:data:`contractlab.solvers.lp.STATUSES`).
    lp_objective:
        ``(n,)`` each agent's LP optimum.
    duals:
        One array per agent: the duals ``y >= 0`` of its LP's rows (:mod:`contractlab.solvers.lp` convention).
    lp_states:
        ``(n,)`` how many ``(t, s)`` each agent's LP covers.
    lp_shape:
        ``(rows, variables)`` of the padded batch.
    """

    kind: str
    policy: np.ndarray
    max_incentive: float | None
    backend: str
    feasible: bool
    eta: np.ndarray
    expected_cost: float
    cost_per_agent: np.ndarray
    ic_slack: np.ndarray
    reachable: np.ndarray
    status: np.ndarray
    lp_objective: np.ndarray
    duals: tuple
    lp_states: np.ndarray
    lp_shape: tuple[int, int]


@dataclass
class _AgentLP:
    nodes: np.ndarray        # (N, 2) (t, s) covered
    index: np.ndarray        # (H, S) node index or -1
    A: np.ndarray            # (rows, vars)
    b: np.ndarray            # (rows,)
    c: np.ndarray            # (vars,)


def _node_index(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nodes = np.argwhere(mask)
    index = np.full(mask.shape, -1, dtype=np.int64)
    index[nodes[:, 0], nodes[:, 1]] = np.arange(len(nodes))
    return nodes, index


def _succ_index(game: TabularMarkovGame, index: np.ndarray, t: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Node index of ``(t + 1, next_state[s, a])``, ``-1`` where the episode ends or the horizon is reached."""
    nxt = game.next_state[s, a]
    ok = (nxt >= 0) & (t + 1 < game.horizon)
    return np.where(ok, index[np.minimum(t + 1, game.horizon - 1), np.maximum(nxt, 0)], -1)


def _succ_value(game: TabularMarkovGame, values: np.ndarray, t: np.ndarray, s: np.ndarray, a: np.ndarray) -> np.ndarray:
    """``values[t + 1, next_state[s, a]]`` (``values`` of shape ``(H + 1, S)``; 0 where the episode ends)."""
    nxt = game.next_state[s, a]
    return np.where(nxt >= 0, values[t + 1, np.maximum(nxt, 0)], 0.0)


def _sizes(game: TabularMarkovGame, kind: str, nodes: int, agent: int, bounded: bool) -> tuple[int, int]:
    """``(rows, variables)`` of one agent's LP on ``nodes`` states."""
    K, A, H = game.n_actions[agent], game.n_joint_actions, game.horizon
    if kind == "nash":
        return nodes * K + 1 + (H if bounded else 0), nodes + H
    if bounded:
        return nodes * (A - A // K + 1), nodes
    return nodes * (K - 1), nodes


def _nash_lp(game, pol, path, agent, mask, R, m, bound) -> _AgentLP:
    """Variables ``[x_0 .. x_{H-1}, U'(nodes)]`` with ``U = U' + m`` (``m`` the best-response value without
    incentives, a lower bound of every feasible ``U``); rows: the Bellman inequalities, the IC row, bounds."""
    H = game.horizon
    nodes, index = _node_index(mask)
    N, K = len(nodes), game.n_actions[agent]
    dev = _deviations(game, pol, agent)
    t, s = nodes[:, 0], nodes[:, 1]
    A = np.zeros((N * K + 1 + (H if bound is not None else 0), H + N))
    b = np.zeros(A.shape[0])
    r = 0
    for k in range(K):
        a = dev[t, s, k]
        nxt = _succ_index(game, index, t, s, a)
        rr = np.arange(r, r + N)
        A[rr, H + np.arange(N)] += 1.0
        live = nxt >= 0
        A[rr[live], H + nxt[live]] -= 1.0
        paid = (path[t] == s) & (a == pol[t, s])
        A[rr[paid], t[paid]] -= 1.0
        b[rr] = game.rewards[s, a, agent] + _succ_value(game, m, t, s, a) - m[t, s]
        r += N
    alive = path >= 0
    A[r, np.flatnonzero(alive)] = 1.0
    A[r, H + index[0, game.initial_state]] = -1.0
    b[r] = m[0, game.initial_state] - R[0, game.initial_state]
    r += 1
    if bound is not None:
        A[r + np.arange(H), np.arange(H)] = -1.0
        b[r:r + H] = -bound
    c = np.zeros(H + N)
    c[np.flatnonzero(alive)] = 1.0
    return _AgentLP(nodes, index, A, b, c)


def _dominant_lp(game, pol, path, agent, mask, R, bound) -> _AgentLP:
    """Variables: the incentives on ``π`` at the nodes. ``V^η(t, s) = R(t, s) + P[node] · η`` with ``P`` the
    indicator of ``π``'s path from the node; one row per deviation (module docstring)."""
    H = game.horizon
    nodes, index = _node_index(mask)
    N, K = len(nodes), game.n_actions[agent]
    P = np.zeros((N + 1, N))                      # row N: "no node" (the episode ended), all zero
    for t in range(H - 1, -1, -1):
        here = np.flatnonzero(nodes[:, 0] == t)
        s = nodes[here, 1]
        nxt = _succ_index(game, index, np.full(len(here), t), s, pol[t, s])
        P[here] = P[np.where(nxt >= 0, nxt, N)]
        P[here, here] += 1.0
    t, s = nodes[:, 0], nodes[:, 1]
    own = np.arange(N)
    p = pol[t, s]
    stride = int(np.prod(game.n_actions[agent + 1:], dtype=np.int64))
    pi_i = (p // stride) % K
    rows_A, rows_b = [], []
    if bound is None:
        candidates = _deviations(game, pol, agent)[t, s]                     # (N, K): profile π_{-i}
        for k in range(K):
            keep = pi_i != k
            d = candidates[keep, k]
            rec = p[keep]
            rows_A.append(_dominance_rows(game, index, P, own[keep], t[keep], s[keep], rec, d, True, N))
            rows_b.append(game.rewards[s[keep], d, agent] + _succ_value(game, R, t[keep], s[keep], d)
                          - game.rewards[s[keep], rec, agent] - _succ_value(game, R, t[keep], s[keep], rec))
    else:
        acts = np.arange(game.n_joint_actions)
        a_i = (acts // stride) % K
        for node in range(N):                                               # every profile a_{-i}
            d = acts[a_i != pi_i[node]]
            rec = d + (pi_i[node] - a_i[a_i != pi_i[node]]) * stride
            tt, ss = np.full(len(d), t[node]), np.full(len(d), s[node])
            on = rec == p[node]
            rows_A.append(_dominance_rows(game, index, P, np.full(len(d), node), tt, ss, rec, d, on, N))
            rows_b.append(game.rewards[ss, d, agent] + _succ_value(game, R, tt, ss, d)
                          - game.rewards[ss, rec, agent] - _succ_value(game, R, tt, ss, rec) - np.where(on, 0.0, bound))
        rows_A.append(-np.eye(N))
        rows_b.append(np.full(N, -bound))
    A = np.concatenate(rows_A) if rows_A else np.zeros((0, N))
    b = np.concatenate(rows_b) if rows_b else np.zeros(0)
    c = np.zeros(N)
    on_path = path[t] == s
    c[on_path] = 1.0
    return _AgentLP(nodes, index, A, b, c)


def _dominance_rows(game, index, P, own, t, s, rec, dev, on, N) -> np.ndarray:
    """``[rec = π] e_node + P[succ(rec)] − P[succ(dev)]`` per row."""
    n_rec = _succ_index(game, index, t, s, rec)
    n_dev = _succ_index(game, index, t, s, dev)
    rows = P[np.where(n_rec >= 0, n_rec, N)] - P[np.where(n_dev >= 0, n_dev, N)]
    on = np.broadcast_to(on, own.shape)
    rows[np.flatnonzero(on), own[on]] += 1.0
    return rows


def _complete_dominant(game, pol, agent, lp: _AgentLP, x: np.ndarray, bound) -> np.ndarray:
    """``(H, S, A)`` agent ``agent``'s incentives: the LP's on ``π`` at its nodes, the least feasible
    elsewhere (backwards), and the least feasible off-profile ones (module docstring, reductions)."""
    H, S, Kn = game.horizon, game.n_states, game.n_actions
    K = Kn[agent]
    everything = np.arange(S)
    dev = _deviations(game, pol, agent)
    eta = np.zeros((H, S, game.n_joint_actions))
    V = np.zeros((H + 1, S))
    r = game.rewards[:, :, agent]
    for t in range(H - 1, -1, -1):
        Q = r + _lookup(V[t + 1], game.next_state)                           # (S, A), no incentive
        p = pol[t]
        Qd = Q[everything[:, None], dev[t]]                                  # (S, K)
        rec = np.maximum(Qd.max(axis=1) - Q[everything, p], 0.0)
        if bound is not None:
            rec = np.minimum(rec, bound)
        here = lp.index[t] >= 0
        rec[here] = np.maximum(x[lp.index[t, here]], 0.0)
        V[t] = Q[everything, p] + rec
        # off-profile: gain of the best own action against each a_{-i}, at a = (π_i, a_{-i})
        Qk = np.moveaxis(Q.reshape((S,) + Kn), agent + 1, -1)                # (S, ..., K)
        gain = np.moveaxis(Qk.max(axis=-1, keepdims=True) - Qk, -1, agent + 1).reshape(S, -1)
        stride = int(np.prod(Kn[agent + 1:], dtype=np.int64))
        a_i = (np.arange(game.n_joint_actions) // stride) % K
        pi_i = (p // stride) % K
        mask = a_i[None, :] == pi_i[:, None]
        off = np.where(mask, np.maximum(gain, 0.0), 0.0)
        if bound is not None:
            off = np.minimum(off, bound)
        off[everything, p] = rec
        eta[t] = off
    return eta


def _check_bound(max_incentive) -> float | None:
    return check_real("max_incentive", max_incentive, 0.0, allow_none=True)


def min_incentives(game, policy, kind: str = "nash", max_incentive: float | None = None,
                   backend: str = "highs") -> MinIncentives:
    """The cheapest non-negative incentives making ``policy`` (``(H, S)`` or ``(S,)`` joint actions) an
    equilibrium of ``kind`` (``"nash"`` or ``"dominant"``), each incentive at most ``max_incentive``
    if given (module docstring). ``backend``: ``"highs"``, ``"cvxpy"`` or ``"both"``
    (:func:`contractlab.solvers.lp.solve_lp_batch`).

    Raises :class:`InvalidInstanceError` for a bad game, policy, kind or bound, or an LP above
    :data:`MAX_LP_ENTRIES`; :class:`SolverFailure` if an LP cannot be vouched for.
    """
    game = _check_game(game)
    if kind not in KINDS:
        raise InvalidInstanceError("kind", f"must be one of {KINDS}, got {kind!r}")
    bound = _check_bound(max_incentive)
    pol = check_policy(game, policy)
    H, S, A, n = game.horizon, game.n_states, game.n_joint_actions, game.n_agents
    check_memory("game", 8.0 * H * S * A * (2 * n + 4), "the incentive tables (H x S x A x n)")
    path = _trajectory(game, pol)
    all_moves = np.broadcast_to(np.arange(A), (H, S, A))
    reach_all = _reachable(game, all_moves)
    masks = []
    for i in range(n):
        if kind == "dominant" and bound is not None:
            masks.append(reach_all)
        else:
            masks.append(_reachable(game, _deviations(game, pol, i)))
    sizes = [_sizes(game, kind, int(mk.sum()), i, bound is not None) for i, mk in enumerate(masks)]
    rows, nv = max(sz[0] for sz in sizes), max(sz[1] for sz in sizes)
    # the dominant LP also builds the (N + 1) x N path-indicator matrix of each agent
    entries = max(float(n) * rows * nv, max(float(mk.sum()) + 1 for mk in masks) ** 2 if kind == "dominant" else 0.0)
    if entries > MAX_LP_ENTRIES:
        raise InvalidInstanceError("game", f"the {kind} incentive LP would have {rows} rows x {nv} variables for each "
                                           f"of {n} agents ({entries:.3g} dense entries, limit "
                                           f"{MAX_LP_ENTRIES:.3g}); the game is too large")
    R = _policy_values(game, pol)                                     # (H + 1, S, n)
    lps = []
    for i in range(n):
        if kind == "nash":
            m = _br_values(game, pol, i)
            lps.append(_nash_lp(game, pol, path, i, masks[i], R[..., i], m, bound))
        else:
            lps.append(_dominant_lp(game, pol, path, i, masks[i], R[..., i], bound))
    c = np.zeros((n, nv))
    A_ge = np.zeros((n, rows, nv))
    b_ge = np.zeros((n, rows))
    for i, lp in enumerate(lps):
        r_i, v_i = lp.A.shape
        A_ge[i, :r_i, :v_i] = lp.A
        b_ge[i, :r_i] = lp.b
        c[i, :v_i] = lp.c
    batch = LPBatch(c, A_ge, b_ge, np.zeros((n, 0, nv)), np.zeros((n, 0)))
    sol = solve_lp_batch(batch, backend=backend)
    status = np.array([str(x) for x in sol.status], dtype=object)
    bad = [i for i in range(n) if status[i] not in ("optimal", "infeasible")]
    if bad:
        raise SolverFailure(f"min_incentives ({kind}): the LP of agent {bad[0]} ended {status[bad[0]]!r}")
    duals = tuple(_readonly(sol.y_ge[i, :lps[i].A.shape[0]]) for i in range(n))
    feasible = bool((status == "optimal").all())
    if not feasible:
        nan = np.full((H, S, A, n), np.nan)
        slack = np.full(n, np.nan) if kind == "nash" else nan
        return MinIncentives(kind, pol, bound, sol.backend, False, _readonly(nan), float("inf"),
                             _readonly(np.full(n, np.inf)), _readonly(slack), _readonly(reach_all),
                             _readonly(status), _readonly(np.where(status == "optimal", sol.objective, np.inf)),
                             duals, _readonly(np.array([len(lp.nodes) for lp in lps])), (rows, nv))
    eta = np.zeros((H, S, A, n))
    for i, lp in enumerate(lps):
        x = sol.x[i, :lp.A.shape[1]]
        if kind == "nash":
            alive = np.flatnonzero(path >= 0)
            eta[alive, path[alive], pol[alive, path[alive]], i] = np.maximum(x[alive], 0.0)
        else:
            eta[..., i] = _complete_dominant(game, pol, i, lp, x, bound)
    eta += 0.0                                                               # -0.0 -> 0.0
    alive = np.flatnonzero(path >= 0)
    cost_per_agent = eta[alive, path[alive], pol[alive, path[alive]]].sum(axis=0)
    slack = _ic_slack(game, pol, eta, kind, reach_all)
    return MinIncentives(kind, pol, bound, sol.backend, True, _readonly(eta), float(cost_per_agent.sum()),
                         _readonly(cost_per_agent), _readonly(slack), _readonly(reach_all), _readonly(status),
                         _readonly(sol.objective.copy()), duals, _readonly(np.array([len(lp.nodes) for lp in lps])),
                         (rows, nv))


def _ic_slack(game: TabularMarkovGame, pol: np.ndarray, eta: np.ndarray, kind: str, reach: np.ndarray) -> np.ndarray:
    """The slack of every IC constraint, recomputed from ``eta`` (see :class:`MinIncentives`)."""
    V = _policy_values(game, pol, eta)
    n, s0 = game.n_agents, game.initial_state
    if kind == "nash":
        return np.array([V[0, s0, i] - _br_values(game, pol, i, eta)[0, s0] for i in range(n)])
    H, S, A, Kn = game.horizon, game.n_states, game.n_joint_actions, game.n_actions
    slack = np.full((H, S, A, n), np.nan)
    for t in range(H):
        cont = np.stack([_lookup(V[t + 1, :, i], game.next_state) for i in range(n)], axis=-1)   # (S, A, n)
        Q = game.rewards + eta[t] + cont
        for i in range(n):
            stride = int(np.prod(Kn[i + 1:], dtype=np.int64))
            a_i = (np.arange(A) // stride) % Kn[i]
            pi_i = (pol[t] // stride) % Kn[i]
            rec = np.arange(A)[None, :] + (pi_i[:, None] - a_i[None, :]) * stride       # (π_i, a_{-i})
            slack[t, :, :, i] = np.take_along_axis(Q[:, :, i], rec, axis=1) - Q[:, :, i]
        slack[t, ~reach[t]] = np.nan
    return slack


# --------------------------------------------------------------------------- closed forms

@dataclass(frozen=True, eq=False)
class NormalFormIncentives:
    """Closed-form minimal incentives for a pure profile ``a*`` of a normal-form game.

    ``nash_gain (n,)``: ``max(0, max_{a_i} r_i(a_i, a*_{-i}) − r_i(a*))``; ``nash_cost``: their sum.
    ``dominant_eta (n, K_0, ..., K_{n-1})``: ``eta_i(a) = max(0, max_b r_i(b, a_{-i}) − r_i(a))`` where
    ``a_i = a*_i``, 0 elsewhere; ``dominant_cost = Σ_i eta_i(a*)``.
    """

    profile: tuple[int, ...]
    nash_gain: np.ndarray
    nash_cost: float
    dominant_eta: np.ndarray
    dominant_cost: float


def normal_form_closed_form(game: NormalFormGame, profile) -> NormalFormIncentives:
    """The closed forms of :class:`NormalFormIncentives` (module docstring; Monderer & Tennenholtz 2004)."""
    if not isinstance(game, NormalFormGame):
        raise InvalidInstanceError("game", f"expected a NormalFormGame, got {type(game).__name__}")
    prof = tuple(int(a) for a in np.asarray(profile).reshape(-1))
    if len(prof) != game.n_players or any(not 0 <= a < k for a, k in zip(prof, game.n_actions)):
        raise InvalidInstanceError("profile", f"expected one action per player within {game.n_actions}, got {prof}")
    n = game.n_players
    gains = np.empty(n)
    eta = np.zeros((n,) + game.n_actions)
    for i in range(n):
        gap = np.maximum(game.best_response_payoffs(i) - game.payoffs[i], 0.0)
        gains[i] = gap[prof]
        sl = [slice(None)] * n
        sl[i] = prof[i]
        eta[(i,) + tuple(sl)] = gap[tuple(sl)]
    return NormalFormIncentives(prof, _readonly(gains), float(gains.sum()), _readonly(eta),
                                float(sum(eta[(i,) + prof] for i in range(n))))


def best_response_gaps(game, policy) -> np.ndarray:
    """``(n,)`` ``BR_i(0, s_0) − R_i(0, s_0)``: each agent's gain from its best response to the others
    following ``policy`` (no incentives); their sum is the minimal cost of both kinds (module docstring)."""
    game = _check_game(game)
    pol = check_policy(game, policy)
    R = _policy_values(game, pol)
    s0 = game.initial_state
    return np.array([_br_values(game, pol, i)[0, s0] - R[0, s0, i] for i in range(game.n_agents)])


__all__ = ["TIE_TOL", "MAX_LP_ENTRIES", "KINDS", "WelfareOptimum", "welfare_optimum", "MinIncentives",
           "min_incentives", "NormalFormIncentives", "normal_form_closed_form", "best_response_gaps", "trajectory",
           "policy_values", "best_response_values", "deviations", "check_policy"]
