"""Exact answers for the small Coin Game: the welfare optimum, best responses, the paper's
recommendation payments and the selfish subgame-perfect equilibrium, by backward induction over
the full joint state space.

The game is :class:`~contractlab.theory.coin_game.CoinGame` (Ivanov et al., *Principal-Agent
Reinforcement Learning*, arXiv 2407.18074, Section 5 and Appendix D.2). A state is the index of
:meth:`~contractlab.theory.coin_game.CoinGame.state_index` (positions, coin cell, colour; 1458
states on 3x3); ``t = 0, …, H − 1`` counts the steps taken, so ``H − t`` steps are to go. A joint
action is ``a = a0 · n + a1`` (``n`` actions per agent). The respawn of a coin is in every
expectation: after a pick-up the next state is uniform over the free cells (:func:`tables`).
Everything is undiscounted (the episodes are finite), vectorised over states; grids up to
``MAX_EXACT_GRID`` (the table has ``S · n² · (C − 1)`` entries).

Welfare optimum (:func:`welfare_optimum`)
    ``Q_W(t, s, a) = w(s, a) + E[W(t + 1, s') | s, a]``, ``W(H, ·) = 0``, ``w = r_0 + r_1``;
    ``π*(t, s)`` the lowest joint action within ``TIE_TOL · max(1, |max Q_W|)`` of the max.
    The per-agent values of ``π*`` (own reward only) come with it.

Best response (:func:`best_response`)
    Agent ``i`` against the other's (mixed, time-indexed) policy ``σ_j``, optionally with a
    bonus ``b(t, s, a_i)`` added to ``i``'s reward for playing ``a_i``:
    ``Q_i(t, s, a_i) = Σ_{a_j} σ_j(a_j | t, s) [r_i(s, a) + E V_i(t + 1, s')] + b(t, s, a_i)``,
    ``V_i = max_{a_i} Q_i``.

The paper's payments (:func:`paper_payments`)
    Algorithm 3 of the paper (Section 5; the contract line of its training phase) pays agent
    ``i`` for following recommendation ``a_i`` the amount
    ``b*_i(s, a_i) = max_a Q_i((s, 1), a) − Q_i((s, 1), a_i)``, where ``Q_i((s, 1), ·)`` is
    ``i``'s own-reward Q-function when the others follow (``f_{−i} = 1``) and ``i`` itself acts
    selfishly afterwards (the DQN target ``r_i + γ max_{a'} Q_i((s', f_{−i}), a')``, no
    payments in it). Here, exactly: ``Q_i(t, s, a_i)`` is :func:`best_response` of ``i`` against
    the other playing ``π*_j`` (no bonus), ``b_i(t, s, a_i) = max_a Q_i(t, s, a) − Q_i(t, s, a_i)``,
    and ``i`` is paid ``b_i(t, s, π*_i(t, s))`` when it plays ``π*_i(t, s)`` (paid iff it follows).
    *Following is then a best response to the other following*, for every deviation: by
    backward induction the agent's optimal value with these payments is ``V_i = max_a Q_i`` and
    following attains it (``Q_i(a*) + b_i(a*) + 0 = max Q_i``), deviating gets ``Q_i(a_i) ≤ V_i``.
    The payment is the least that does this at ``(t, s)`` given the continuation. (The
    Q-function of ``π*`` itself, :meth:`WelfareOptimum.agent_q`, where ``i`` keeps following
    after a deviation, would not do: a deviation's continuation must be valued at the agent's own
    optimum, which is what the paper's max-target learns.)

Payments against every action of the other (:func:`every_action_payments`)
    The dominant-strategy condition of the paper's Eq. (5) for the *current* action of the
    other: backward, with ``U_i(H, ·) = 0`` and ``U_i(t + 1, ·)`` agent ``i``'s value when both
    follow from ``t + 1`` on (payments included),
    ``Q̃_i(t, s, a_i, a_j) = r_i(s, a) + E U_i(t + 1, s')``,
    ``p_i(t, s) = max_{a_j} max_{a_i} [Q̃_i(a_i, a_j) − Q̃_i(π*_i, a_j)] ≥ 0``,
    ``U_i(t, s) = Q̃_i(π*) + p_i(t, s)``. Then at every ``(t, s)``, whatever the other plays
    now, following is weakly optimal for ``i`` when both follow afterwards; and against the other
    always following it is optimal against every deviation (the same induction as above). ``p_i``
    is the least such payment at ``(t, s)`` given the payments after it. (Against an other that
    deviates at several steps nothing is claimed.)

Selfish equilibrium (:func:`selfish_equilibrium`)
    Without a principal: a subgame-perfect equilibrium of the finite-horizon stochastic game by
    backward induction over the stage games ``M_i(t, s, a0, a1) = r_i(s, a) + E V_i(t + 1, s')``
    (each a bimatrix game of ``n x n`` actions). At every ``(t, s)`` the stage game's pure Nash
    equilibria are found exactly (all cells checked, ``NE_TOL``); the one chosen is the
    welfare-best (``selection="best"``) or welfare-worst (``"worst"``), ties to the lowest joint
    action. A stage game without a pure equilibrium gets a mixed one by support enumeration
    (the first found, supports in increasing size then lexicographic order). The two selections
    give two SPEs and their welfare; these are **not** bounds on the welfare of every SPE (mixed
    stage equilibria and other selections exist); the result counts the stage games with several
    pure equilibria and those solved in mixed strategies, so that the reader sees how much
    selection there was.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..theory.budget import check_memory
from ..theory.coin_game import CoinGame
from ..theory.errors import InvalidInstanceError

#: Largest grid side solved exactly (4x4: 8192 states, 25 joint actions, 15 successors).
MAX_EXACT_GRID = 4
#: Relative tolerance of the welfare optimum's tie-break (lowest joint action within it).
TIE_TOL = 1e-9
#: Absolute tolerance on a best-response / Nash inequality in the stage games.
NE_TOL = 1e-9


@dataclass(frozen=True, eq=False)
class CoinTables:
    """Rewards and successor distributions of every (state, joint action).

    ``rewards`` ``(S, A, 2)`` (in expectation over the tie rule ``simultaneous="random"``; the
    successor does not depend on who wins a tie); ``next_state`` and ``next_prob`` ``(S, A, K)``, ``K = C − 1``
    (padding entries have probability 0); ``initial`` ``(S,)`` the start distribution."""

    game: CoinGame
    rewards: np.ndarray
    next_state: np.ndarray
    next_prob: np.ndarray
    initial: np.ndarray

    @property
    def n_states(self) -> int:
        return self.rewards.shape[0]

    @property
    def n(self) -> int:
        """Actions per agent."""
        return self.game.n_actions

    def expect(self, values: np.ndarray) -> np.ndarray:
        """``E[values(s') | s, a]``: ``values`` ``(S,)`` or ``(S, m)`` -> ``(S, A)`` or ``(S, A, m)``."""
        v = values[self.next_state]
        p = self.next_prob if values.ndim == 1 else self.next_prob[..., None]
        return (p * v).sum(axis=2)


def tables(game: CoinGame) -> CoinTables:
    """The exact tables of ``game`` (grid side at most :data:`MAX_EXACT_GRID`)."""
    if not isinstance(game, CoinGame):
        raise InvalidInstanceError("game", f"must be a CoinGame, got {type(game).__name__}")
    if game.grid > MAX_EXACT_GRID:
        raise InvalidInstanceError("grid", f"exact solution up to {MAX_EXACT_GRID}x{MAX_EXACT_GRID}, got {game.grid}")
    S, n, C = game.n_states, game.n_actions, game.n_cells
    # the largest time-indexed arrays built from these tables: Q (H, S, n²) and the every-action
    # Q̃ (2, H, S, n, n), float64, plus the tables themselves (S, n², C − 1) twice
    check_memory("horizon", 8.0 * n * n * S * (4.0 * game.horizon + 2 * (C - 1)),
                 f"the exact tables of a {game.horizon}-step game on {S} states")
    p0, p1, c, col = (x[:, None] for x in game.decode(np.arange(S)))
    ja = np.arange(n * n)
    a0, a1 = (ja // n)[None, :], (ja % n)[None, :]
    new0, new1, k0, k1 = game.moves(p0, p1, c, a0, a1)
    rew = game.expected_rewards(k0, k1, col)
    new0, new1 = np.broadcast_to(new0, (S, n * n)), np.broadcast_to(new1, (S, n * n))
    picked = k0 | k1
    K = C - 1
    nxt = np.zeros((S, n * n, K), dtype=np.int64)
    prob = np.zeros((S, n * n, K))
    nfree = C - 2 + (new0 == new1)
    for k in range(K):
        cell = game.free_cell(new0, new1, (k + 0.5) / nfree)
        ok = picked & (k < nfree)
        nxt[..., k] = np.where(ok, game.state_index(new0, new1, cell, 1 - col), 0)
        prob[..., k] = np.where(ok, 1.0 / nfree, 0.0)
    stay = ~picked
    nxt[..., 0] = np.where(stay, game.state_index(new0, new1, np.broadcast_to(c, new0.shape), col), nxt[..., 0])
    prob[..., 0] = np.where(stay, 1.0, prob[..., 0])
    for a in (rew, nxt, prob):
        a.flags.writeable = False
    return CoinTables(game=game, rewards=rew, next_state=nxt, next_prob=prob, initial=game.initial_distribution())


def _tables(game_or_tables) -> CoinTables:
    return game_or_tables if isinstance(game_or_tables, CoinTables) else tables(game_or_tables)


@dataclass(frozen=True, eq=False)
class WelfareOptimum:
    """The welfare-optimal joint policy.

    ``policy`` ``(H, S)`` joint actions; ``q`` ``(H, S, A)`` welfare Q; ``welfare`` ``(H + 1, S)``
    the optimal welfare to go; ``agent_values`` ``(H + 1, S, 2)`` each agent's own return under
    ``policy``; ``value`` the expected welfare from the start distribution, ``agent_value`` ``(2,)``."""

    tables: CoinTables
    policy: np.ndarray
    q: np.ndarray
    welfare: np.ndarray
    agent_values: np.ndarray
    value: float
    agent_value: np.ndarray

    def actions(self) -> np.ndarray:
        """``(H, S, 2)`` the recommended action of each agent."""
        n = self.tables.n
        return np.stack([self.policy // n, self.policy % n], axis=-1)

    def agent_q(self) -> np.ndarray:
        """``(H, S, A, 2)`` each agent's own-reward Q-function of ``π*``:
        ``r_i(s, a) + E[V_i^{π*}(t + 1, s') | s, a]`` for every joint action ``a`` (everyone follows
        ``π*`` afterwards). Not what the paper's payments use (see :func:`paper_payments`)."""
        tb = self.tables
        return np.stack([tb.rewards + tb.expect(self.agent_values[t + 1]) for t in range(tb.game.horizon)])


def welfare_optimum(game) -> WelfareOptimum:
    """Backward induction for the welfare optimum (module docstring)."""
    tb = _tables(game)
    H, S, A = tb.game.horizon, tb.n_states, tb.n * tb.n
    w = tb.rewards.sum(axis=2)
    W = np.zeros((H + 1, S))
    V = np.zeros((H + 1, S, 2))
    Q = np.zeros((H, S, A))
    pol = np.zeros((H, S), dtype=np.int64)
    rows = np.arange(S)
    for t in range(H - 1, -1, -1):
        Q[t] = w + tb.expect(W[t + 1])
        best = Q[t].max(axis=1)
        pol[t] = np.argmax(Q[t] >= (best - TIE_TOL * np.maximum(1.0, np.abs(best)))[:, None], axis=1)
        W[t] = Q[t, rows, pol[t]]
        V[t] = tb.rewards[rows, pol[t]] + tb.expect(V[t + 1])[rows, pol[t]]
    return WelfareOptimum(tables=tb, policy=pol, q=Q, welfare=W, agent_values=V,
                          value=float(tb.initial @ W[0]), agent_value=tb.initial @ V[0])


def _as_mixed(policy: np.ndarray, n: int, H: int, S: int, field: str) -> np.ndarray:
    p = np.asarray(policy)
    if p.shape == (H, S) and np.issubdtype(p.dtype, np.integer):
        if p.min() < 0 or p.max() >= n:
            raise InvalidInstanceError(field, f"actions must be in [0, {n})")
        return np.eye(n)[p]
    if p.shape != (H, S, n):
        raise InvalidInstanceError(field, f"must be integer (H, S) = {(H, S)} or probabilities {(H, S, n)}, "
                                          f"got {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < 0 or np.abs(p.sum(axis=2) - 1).max() > 1e-9:
        raise InvalidInstanceError(field, "rows must be probability distributions")
    return p.astype(float)


def _agent_view(x: np.ndarray, agent: int) -> np.ndarray:
    """``(..., n, n)`` indexed (a0, a1) -> indexed (a_i, a_j)."""
    return x if agent == 0 else np.swapaxes(x, -1, -2)


@dataclass(frozen=True, eq=False)
class BestResponse:
    """Agent ``agent``'s best response: ``q`` ``(H, S, n)``, ``values`` ``(H + 1, S)``, ``policy``
    ``(H, S)`` (lowest maximising action), ``value`` from the start distribution."""

    agent: int
    q: np.ndarray
    values: np.ndarray
    policy: np.ndarray
    value: float


def best_response(game, agent: int, other_policy, bonus=None) -> BestResponse:
    """Agent ``agent``'s best response to the other's policy (module docstring).

    ``other_policy``: integer ``(H, S)`` actions or ``(H, S, n)`` probabilities of the other
    agent. ``bonus``: optional ``(H, S, n)`` added to ``agent``'s reward for each of its actions.
    """
    tb = _tables(game)
    if agent not in (0, 1):
        raise InvalidInstanceError("agent", f"must be 0 or 1, got {agent!r}")
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    sig = _as_mixed(other_policy, n, H, S, "other_policy")
    b = np.zeros((H, S, n)) if bonus is None else np.asarray(bonus, dtype=float)
    if b.shape != (H, S, n):
        raise InvalidInstanceError("bonus", f"must have shape {(H, S, n)}, got {b.shape}")
    r = _agent_view(tb.rewards[..., agent].reshape(S, n, n), agent)
    V = np.zeros((H + 1, S))
    Q = np.zeros((H, S, n))
    for t in range(H - 1, -1, -1):
        m = r + _agent_view(tb.expect(V[t + 1]).reshape(S, n, n), agent)   # (S, a_i, a_j)
        Q[t] = np.einsum("sij,sj->si", m, sig[t]) + b[t]
        V[t] = Q[t].max(axis=1)
    return BestResponse(agent=agent, q=Q, values=V, policy=Q.argmax(axis=2), value=float(tb.initial @ V[0]))


@dataclass(frozen=True, eq=False)
class RecommendationPayments:
    """Payments to agents who follow the welfare-optimal recommendation.

    ``kind`` ``"paper"`` or ``"every_action"``; ``paid`` ``(2, H, S)`` the payment to agent ``i``
    at ``(t, s)`` when it plays ``π*_i(t, s)``; ``agent_values`` ``(2, H + 1, S)`` each agent's
    value with payments when both follow; ``q`` the Q-function the payments were computed from
    (``"paper"``: ``(2, H, S, n)``, ``Q_i((s, 1), a_i)``; ``"every_action"``: ``(2, H, S, n, n)``,
    ``Q̃_i(t, s, a_i, a_j)``); ``table`` (``"paper"`` only) ``(2, H, S, n)`` ``b_i(t, s, a_i)`` for
    every recommendation ``a_i``; ``expected_payment`` ``(2,)`` each agent's expected total
    payment from the start distribution when both follow."""

    kind: str
    optimum: WelfareOptimum
    paid: np.ndarray
    agent_values: np.ndarray
    q: np.ndarray
    table: np.ndarray | None
    expected_payment: np.ndarray

    @property
    def total_payment(self) -> float:
        return float(self.expected_payment.sum())

    def principal_objective(self, alpha: float = 0.1) -> float:
        """``W* / α − E[payments]``: the principal's reward of the paper (``r_p = Σ_i r_i / α``
        minus payments, ``α = 0.1`` in Section 5)."""
        return self.optimum.value / alpha - self.total_payment


def _follow_payment_value(tb: CoinTables, policy: np.ndarray, paid: np.ndarray) -> np.ndarray:
    """``(2, H + 1, S)`` each agent's expected return plus payments when both follow the joint
    recommendation ``policy`` ``(H, S)`` (``π*``'s, or any other)."""
    H, S = tb.game.horizon, tb.n_states
    rows = np.arange(S)
    U = np.zeros((2, H + 1, S))
    for t in range(H - 1, -1, -1):
        a = policy[t]
        cont = tb.expect(U[:, t + 1].T)[rows, a]          # (S, 2)
        U[:, t] = (tb.rewards[rows, a] + cont).T + paid[:, t]
    return U


def paper_payments(game, optimum: WelfareOptimum | None = None) -> RecommendationPayments:
    """The paper's Algorithm-3 payments on the exact Q (module docstring)."""
    tb = _tables(game if optimum is None else optimum.tables)
    opt = welfare_optimum(tb) if optimum is None else optimum
    acts = opt.actions()
    H, S = tb.game.horizon, tb.n_states
    Qs, tabs, paid = [], [], np.zeros((2, H, S))
    hs = np.arange(H)[:, None], np.arange(S)[None, :]
    for i in (0, 1):
        br = best_response(tb, i, acts[..., 1 - i])
        table = br.q.max(axis=2, keepdims=True) - br.q
        Qs.append(br.q)
        tabs.append(table)
        paid[i] = table[hs[0], hs[1], acts[..., i]]
    U = _follow_payment_value(tb, opt.policy, paid)
    expected = tb.initial @ (U[:, 0] - opt.agent_values[0].T).T
    return RecommendationPayments(kind="paper", optimum=opt, paid=paid, agent_values=U, q=np.stack(Qs),
                                  table=np.stack(tabs), expected_payment=expected)


def every_action_payments(game, optimum: WelfareOptimum | None = None) -> RecommendationPayments:
    """Payments that make following weakly optimal against every current action of the other
    (module docstring)."""
    tb = _tables(game if optimum is None else optimum.tables)
    opt = welfare_optimum(tb) if optimum is None else optimum
    acts = opt.actions()
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    rows = np.arange(S)
    U = np.zeros((2, H + 1, S))
    paid = np.zeros((2, H, S))
    Qt = np.zeros((2, H, S, n, n))
    for t in range(H - 1, -1, -1):
        cont = tb.expect(U[:, t + 1].T)                       # (S, A, 2)
        for i in (0, 1):
            q = _agent_view((tb.rewards[..., i] + cont[..., i]).reshape(S, n, n), i)   # (S, a_i, a_j)
            Qt[i, t] = q
            follow = q[rows, acts[t, :, i], :]                 # (S, a_j)
            paid[i, t] = (q.max(axis=1) - follow).max(axis=1)
            U[i, t] = q[rows, acts[t, :, i], acts[t, :, 1 - i]] + paid[i, t]
    expected = tb.initial @ (U[:, 0] - opt.agent_values[0].T).T
    return RecommendationPayments(kind="every_action", optimum=opt, paid=paid, agent_values=U, q=Qt,
                                  table=None, expected_payment=expected)


# ---- selfish equilibrium ---------------------------------------------------------------------

def _mixed_nash(A: np.ndarray, B: np.ndarray, tol: float = NE_TOL) -> tuple[np.ndarray, np.ndarray]:
    """Nash equilibria of a batch of bimatrix games (``A``, ``B`` ``(m, n, n)``: the row and the
    column player's payoffs) by support enumeration over supports of equal size, all games at
    once: for each game the first equilibrium found, supports in increasing size then
    lexicographic order (nondegenerate games always have one). Returns ``x, y`` ``(m, n)``;
    raises ``ArithmeticError`` if some game has none of this form."""
    m, n, _ = A.shape
    x_out, y_out = np.zeros((m, n)), np.zeros((m, n))
    todo = np.ones(m, dtype=bool)
    for k in range(1, n + 1):
        rhs = np.zeros(k + 1)
        rhs[k] = 1.0
        for I in combinations(range(n), k):
            for J in combinations(range(n), k):
                idx = np.flatnonzero(todo)
                if idx.size == 0:
                    return x_out, y_out
                # column mix y on J making the rows I indifferent (value v), and row mix x on I
                # making the columns J indifferent: [M  -1; 1  0] (p, v) = (0, 1).
                My = np.zeros((idx.size, k + 1, k + 1))
                My[:, :k, :k] = A[idx][:, I][:, :, J]
                Mx = np.zeros((idx.size, k + 1, k + 1))
                Mx[:, :k, :k] = np.swapaxes(B[idx][:, I][:, :, J], 1, 2)
                for Mat in (My, Mx):
                    Mat[:, :k, k] = -1.0
                    Mat[:, k, :k] = 1.0
                ok = (np.abs(np.linalg.det(My)) > 1e-12) & (np.abs(np.linalg.det(Mx)) > 1e-12)
                if not ok.any():
                    continue
                idx, My, Mx = idx[ok], My[ok], Mx[ok]
                sy = np.linalg.solve(My, np.broadcast_to(rhs, (idx.size, k + 1))[..., None])[..., 0]
                sx = np.linalg.solve(Mx, np.broadcast_to(rhs, (idx.size, k + 1))[..., None])[..., 0]
                y = np.zeros((idx.size, n))
                x = np.zeros((idx.size, n))
                y[:, list(J)] = sy[:, :k]
                x[:, list(I)] = sx[:, :k]
                good = (y.min(axis=1) >= -tol) & (x.min(axis=1) >= -tol)
                y, x = np.clip(y, 0, None), np.clip(x, 0, None)
                y /= y.sum(axis=1, keepdims=True)
                x /= x.sum(axis=1, keepdims=True)
                Ay = np.einsum("gij,gj->gi", A[idx], y)
                xB = np.einsum("gi,gij->gj", x, B[idx])
                good &= Ay.max(axis=1) <= (x * Ay).sum(axis=1) + tol
                good &= xB.max(axis=1) <= (xB * y).sum(axis=1) + tol
                hit = idx[good]
                x_out[hit], y_out[hit] = x[good], y[good]
                todo[hit] = False
    if todo.any():
        raise ArithmeticError("no equilibrium found by equal-support enumeration")
    return x_out, y_out


@dataclass(frozen=True, eq=False)
class SelfishEquilibrium:
    """A subgame-perfect equilibrium without a principal (module docstring).

    ``policy`` ``(H, S, 2, n)`` each agent's stage strategy; ``values`` ``(H + 1, S, 2)``;
    ``value`` ``(2,)`` and ``welfare`` from the start distribution; ``n_multiple`` the stage games
    (over all ``(t, s)``) with more than one pure equilibrium; ``n_mixed`` those without one."""

    selection: str
    policy: np.ndarray
    values: np.ndarray
    value: np.ndarray
    welfare: float
    n_multiple: int
    n_mixed: int


def selfish_equilibrium(game, selection: str = "best") -> SelfishEquilibrium:
    """Backward induction over the stage games (module docstring)."""
    if selection not in ("best", "worst"):
        raise InvalidInstanceError("selection", f"must be 'best' or 'worst', got {selection!r}")
    tb = _tables(game)
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    rows = np.arange(S)
    V = np.zeros((H + 1, S, 2))
    pol = np.zeros((H, S, 2, n))
    n_multiple = n_mixed = 0
    for t in range(H - 1, -1, -1):
        M = (tb.rewards + tb.expect(V[t + 1])).reshape(S, n, n, 2)
        A0, A1 = M[..., 0], M[..., 1]
        ne = (A0 >= A0.max(axis=1, keepdims=True) - NE_TOL) & (A1 >= A1.max(axis=2, keepdims=True) - NE_TOL)
        ne = ne.reshape(S, n * n)
        w = (A0 + A1).reshape(S, n * n)
        score = np.where(ne, w if selection == "best" else -w, -np.inf)
        choice = score.argmax(axis=1)
        has = ne.any(axis=1)
        n_multiple += int((ne.sum(axis=1) > 1).sum())
        pol[t, rows, 0, choice // n] = 1.0
        pol[t, rows, 1, choice % n] = 1.0
        mixed = np.flatnonzero(~has)
        if mixed.size:
            n_mixed += int(mixed.size)
            x, y = _mixed_nash(A0[mixed], A1[mixed])
            pol[t, mixed] = np.stack([x, y], axis=1)
        joint = np.einsum("si,sj->sij", pol[t, :, 0], pol[t, :, 1])
        V[t] = np.einsum("sij,sijk->sk", joint, M)
    value = tb.initial @ V[0]
    return SelfishEquilibrium(selection=selection, policy=pol, values=V, value=value, welfare=float(value.sum()),
                              n_multiple=n_multiple, n_mixed=n_mixed)


def evaluate(game, joint_policy) -> np.ndarray:
    """``(H + 1, S, 2)`` each agent's exact expected return from ``(t, s)`` under a joint policy:
    integer ``(H, S)`` joint actions, or ``(H, S, 2, n)`` independent stage strategies."""
    tb = _tables(game)
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    p = np.asarray(joint_policy)
    if p.shape == (H, S) and np.issubdtype(p.dtype, np.integer):
        joint = np.eye(n * n)[p]
    elif p.shape == (H, S, 2, n):
        joint = np.einsum("hsi,hsj->hsij", p[:, :, 0], p[:, :, 1]).reshape(H, S, n * n)
    else:
        raise InvalidInstanceError("joint_policy", f"must be integer {(H, S)} or {(H, S, 2, n)}, got {p.shape}")
    V = np.zeros((H + 1, S, 2))
    for t in range(H - 1, -1, -1):
        V[t] = np.einsum("sa,sak->sk", joint[t], tb.rewards + tb.expect(V[t + 1]))
    return V


def forward_returns(game, joint_policy: np.ndarray) -> np.ndarray:
    """``(2,)`` each agent's expected return of a deterministic joint policy ``(H, S)`` by pushing
    the state distribution forward from the start (an evaluation independent of the backward
    passes above; it shares only the tables)."""
    tb = _tables(game)
    H, S = tb.game.horizon, tb.n_states
    pol = np.asarray(joint_policy)
    rows = np.arange(S)
    d = tb.initial.copy()
    total = np.zeros(2)
    for t in range(H):
        a = pol[t]
        total += d @ tb.rewards[rows, a]
        nd = np.zeros(S)
        np.add.at(nd, tb.next_state[rows, a].ravel(), (d[:, None] * tb.next_prob[rows, a]).ravel())
        d = nd
    return total
