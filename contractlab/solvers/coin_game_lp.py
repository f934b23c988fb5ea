"""The least expected payments that make following the welfare-optimal recommendation weakly
optimal against every current action of the other agent, by one LP per agent.

The game and the payments are those of :mod:`contractlab.solvers.coin_game_exact` (Ivanov et al.,
*Principal-Agent Reinforcement Learning*, arXiv 2407.18074, Section 5: the principal recommends
``π*`` and pays an agent who follows; its Eq. (5) asks following to be a best response whatever
the other does). :func:`~contractlab.solvers.coin_game_exact.every_action_payments` chooses,
backwards, the least payment at each ``(t, s)`` *given the payments after it*. That greedy is
feasible but not the least expected total: a payment at ``(t + 1, s')`` enters the constraint at
``(t, s)`` through the continuation ``U_i(t + 1, ·)``, with one sign after following and the other
after deviating, so a promise at a state reached only off the path (paid never, costs nothing)
can make a deviation now less attractive. The LP below finds the true minimum.

The LP of agent ``i`` (the agents' problems share no variable and are solved one at a time)
    Variables ``p_i(t, s) >= 0``, paid to ``i`` when it plays ``π*_i(t, s)``, and ``U_i(t, s)`` free,
    ``i``'s value when both follow from ``(t, s)`` on, payments included; ``U_i(H, ·) = 0``.

    * value:      ``U_i(t, s) = r_i(s, π*(t, s)) + p_i(t, s) + E[U_i(t + 1, s') | s, π*(t, s)]``;
    * dominance:  for every current action ``a_j`` of the other and every ``a_i ≠ π*_i(t, s)``,
      ``r_i(s, (a_i, a_j)) + E[U_i(t + 1, s') | s, (a_i, a_j)]
      <= r_i(s, (π*_i, a_j)) + p_i(t, s) + E[U_i(t + 1, s') | s, (π*_i, a_j)]``
      (``a_i = π*_i`` gives ``0 <= p_i``, the bound), exactly the condition of
      ``every_action_payments``; the expectations include the coin's respawn.

    Objective: the expected total payment when both follow, ``Σ_t Σ_s d_t(s) p_i(t, s)`` with
    ``d_t`` the state distribution at step ``t`` under ``π*`` from the game's start distribution.
    Summing the value rows along ``π*`` (they telescope) gives the same number as
    ``Σ_s d_0(s) U_i(0, s) − Σ_s d_0(s) V_i^{π*}(0, s)`` (``V^{π*}`` the return without payments, a
    constant), so both objectives have the same minimisers; the first is used because the LP's
    value is then the payment itself, without cancellation against the agent's return.

Which ``(t, s)`` carry constraints (``states``)
    ``"all"``: every ``(t, s)``, as ``every_action_payments``. ``"reachable"`` (default): the
    ``(t, s)`` with ``s ∈ R_t``, where ``R_0`` is the support of the start distribution and
    ``R_{t+1}`` every successor (positive probability, any joint action) of a state in ``R_t``;
    elsewhere ``p_i`` is set afterwards, backwards, to the greedy's least payment given the
    continuation. *Both give the same minimum* (and the payments returned satisfy every
    constraint at every ``(t, s)`` in both cases):

    (1) the rows at ``(t, s)``, ``s ∈ R_t``, involve only ``p_i(t, s)``, ``U_i(t, s)`` and
        ``U_i(t + 1, ·)`` on successors of ``s``, which lie in ``R_{t+1}``; and ``d_t`` vanishes off
        ``R_t`` (following is one of the joint actions). So any solution of the all-states LP,
        restricted to the reachable pairs, is feasible for the reachable LP with the same cost:
        reachable minimum ``<=`` all-states minimum.
    (2) Conversely take a solution on the reachable pairs and fill the others backwards,
        ``t = H − 1, …, 0``: at ``(t, s)``, ``s ∉ R_t``, every ``U_i(t + 1, ·)`` is already fixed,
        so ``p_i(t, s) = max_{a_j} max_{a_i} [Q̃_i(a_i, a_j) − Q̃_i(π*_i, a_j)] >= 0`` (the greedy's
        rule) meets that pair's rows, and ``U_i(t, s)`` follows from its value row. A pair
        outside ``R`` is no successor of a pair inside it, so no row at a reachable pair sees
        the new values, and the cost is unchanged (``d_t = 0`` there): all-states minimum
        ``<=`` reachable minimum.

    On the 3x3 game ``|R_0| = 1008`` and ``|R_t| = 1152`` for ``t >= 1`` of the 1458 states (an
    agent never stands on the coin after a step), so the reachable LP has about 21 % fewer rows
    and columns.

Size and solver
    Per agent: ``2 N`` columns and ``N (1 + n (n − 1))`` rows, ``N = Σ_t |R_t|`` (``n`` actions per
    agent); on 3x3 with *stay* and ``H = 20``: ``N = 22896``, 480 816 rows, about 2.7 million
    nonzeros. The project's LP layer (:mod:`contractlab.solvers.lp`) holds every LP as dense
    ``(B, rows, columns)`` arrays (its KKT check and the exact fallback work on them): that
    is 2.2e10 entries here, so this module builds the matrix with ``scipy.sparse`` and calls
    HiGHS (``highspy``) directly, interior point (IPX) with crossover to a basic solution. On
    these LPs the dual simplex stalls in degenerate pivots (3x3, ``H = 4``: 50–75 s against 5 s
    for the interior point; ``H = 8``: 28 s with the interior point). The answer is then
    verified here, since the LP layer's checks do not run:

    * *feasibility, recomputed from the data*: the payments are clipped at 0 (HiGHS may return
      ``-1e-12``; the most negative raw value is reported), ``U`` is recomputed backwards from
      them and the game's tables (not the LP's ``U``), and every dominance row at *every*
      ``(t, s)``, ``a_j``, ``a_i`` is re-evaluated: ``max_violation`` is the largest violation, and
      above :data:`IC_TOL` the call raises :class:`SolverFailure`;
    * *optimality*: HiGHS' row duals ``y`` are checked against the sparse data, dual sign
      (``y >= 0`` on the ``>=`` rows), reduced costs (``>= 0`` on ``p``, ``= 0`` on the free ``U``) and
      the duality gap ``|c·x − b·y|`` (``dual_residual``, ``dual_gap``); both must be at most
      :data:`KKT_TOL` times the size of the data, else :class:`SolverFailure`;
    * the expected payment recomputed as ``Σ_t d_t·p_t`` from the clipped payments must equal
      the LP's objective within :data:`KKT_TOL` (``objective_error``).

Sizes are checked before anything is built: grids up to ``MAX_EXACT_GRID`` (the tables), and
the rows are bounded by :data:`MAX_ROWS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from ..theory.errors import InvalidInstanceError, SolverFailure
from ..theory.validation import check_real
from .coin_game_exact import (CoinTables, RecommendationPayments, WelfareOptimum, _agent_view,
                              _follow_payment_value, _tables, every_action_payments, welfare_optimum)
from .lp import SOLVER_TOL
from .silence import c_output_silenced

#: Largest violation of a dominance row (recomputed from the tables, in reward units) accepted.
IC_TOL = 1e-7
#: Largest dual residual and duality gap accepted, relative to ``max(1, |objective|)``.
KKT_TOL = 1e-7
#: LPs with at most this many rows go to the dual simplex, larger ones to the interior point.
SIMPLEX_MAX_ROWS = 20_000
#: Largest LP (rows per agent) built: 3x3 with ``H = 50`` (1.2 million rows) still fits.
MAX_ROWS = 2_000_000
STATES = ("reachable", "all")


@dataclass(frozen=True, eq=False)
class MinPayments:
    """The LP's least payments and their evidence (module docstring).

    ``payments`` the payments in the layout of ``every_action_payments`` (``kind="lp"``: ``paid``
    ``(2, H, S)``, ``agent_values`` ``(2, H + 1, S)`` recomputed from them, ``q`` ``(2, H, S, n, n)``
    the ``Q̃_i(t, s, a_i, a_j)`` of those values); ``greedy`` ``every_action_payments`` for
    comparison; ``objective`` ``(2,)`` the LP optimum per agent; ``alpha`` and
    ``principal_objective`` = ``W*/α − E[payments]`` (as :meth:`RecommendationPayments.principal_objective`),
    ``greedy_principal_objective`` the same for the greedy; ``states`` which pairs carry
    constraints; ``symmetric`` whether one LP served both agents (:func:`swap_symmetry`); ``sizes`` ``(2, 3)`` rows, columns and nonzeros per agent; the evidence
    ``max_violation``, ``min_raw_payment``, ``objective_error``, ``dual_residual`` ``(2,)``,
    ``dual_gap`` ``(2,)``."""

    payments: RecommendationPayments
    greedy: RecommendationPayments
    objective: np.ndarray
    alpha: float
    principal_objective: float
    greedy_principal_objective: float
    states: str
    symmetric: bool
    sizes: np.ndarray
    max_violation: float
    min_raw_payment: float
    objective_error: float
    dual_residual: np.ndarray
    dual_gap: np.ndarray

    @property
    def expected_payment(self) -> np.ndarray:
        """``(2,)`` each agent's expected total payment when both follow."""
        return self.payments.expected_payment

    @property
    def total_payment(self) -> float:
        return self.payments.total_payment

    @property
    def greedy_payment(self) -> np.ndarray:
        """``(2,)`` the greedy's expected payment per agent."""
        return self.greedy.expected_payment


def reachable_states(tb: CoinTables) -> np.ndarray:
    """``(H, S)`` bool: ``R_t``, the states reachable at step ``t`` from the start distribution
    under some joint actions (module docstring)."""
    H, S = tb.game.horizon, tb.n_states
    reach = np.zeros((H, S), dtype=bool)
    reach[0] = tb.initial > 0
    for t in range(H - 1):
        reach[t + 1, tb.next_state[reach[t]][tb.next_prob[reach[t]] > 0]] = True
    return reach


def follow_distribution(tb: CoinTables, policy: np.ndarray) -> np.ndarray:
    """``(H, S)`` ``d_t``: the state distribution at step ``t`` when both follow ``policy``."""
    H, S = tb.game.horizon, tb.n_states
    rows = np.arange(S)
    d = np.zeros((H, S))
    d[0] = tb.initial
    for t in range(H - 1):
        a = policy[t]
        np.add.at(d[t + 1], tb.next_state[rows, a].ravel(), (d[t][:, None] * tb.next_prob[rows, a]).ravel())
    return d


@dataclass(frozen=True, eq=False)
class _AgentLP:
    """One agent's LP: ``c·x`` minimised, ``lower <= A x <= upper``, ``x >= col_lower``; columns ``p``
    (``n_nodes``), ``U`` (``n_nodes``), ``m`` (the respawn means); rows: ``n_ge`` dominance rows, then
    the value rows and the rows defining ``m`` (equalities)."""

    c: np.ndarray
    A: sp.csc_matrix
    lower: np.ndarray
    upper: np.ndarray
    col_lower: np.ndarray
    n_ge: int
    n_nodes: int


def _agent_lp(tb: CoinTables, opt: WelfareOptimum, agent: int, mask: np.ndarray, d: np.ndarray) -> _AgentLP:
    """The LP of ``agent`` over the pairs ``mask`` ``(H, S)`` (module docstring), nodes in (t, s) order."""
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    node = np.full((H + 1, S), -1, dtype=np.int64)
    t_n, s_n = np.nonzero(mask)
    N = t_n.size
    node[t_n, s_n] = np.arange(N)
    rec = opt.actions()[t_n, s_n, agent]
    joint = (lambda ai, aj: ai * n + aj) if agent == 0 else (lambda ai, aj: aj * n + ai)
    k_, aj, ai = np.meshgrid(np.arange(N), np.arange(n), np.arange(n), indexing="ij")
    keep = ai != rec[k_]
    k_, aj, ai = k_[keep], aj[keep], ai[keep]
    R = k_.size
    t_r, s_r = t_n[k_], s_n[k_]
    dev, fol = joint(ai, aj), joint(rec[k_], aj)
    r_i = tb.rewards[..., agent]
    rows, cols, vals = [np.arange(R)], [k_], [np.ones(R)]
    # the respawn means m: one column per (t + 1, successor's positions and colour) after a pick-up,
    # keyed by the first successor's state index without its coin (the cells it is uniform over)
    picked = tb.next_prob[..., 0] < 1
    per_t = S // tb.game.n_cells                       # (p0, p1, colour) combinations

    def key_of(t, state):
        return t * per_t + (state // (2 * tb.game.n_cells)) * 2 + state % 2
    keys = []

    def continuation(row0, t, s, a, sign):
        """``sign · E[U(t + 1, s') | s, a]`` into rows ``row0 + k`` (none at the last step)."""
        live = t + 1 < H
        plain = np.flatnonzero(live & ~picked[s, a])
        rows.append(row0 + plain)
        cols.append(N + node[t[plain] + 1, tb.next_state[s[plain], a[plain], 0]])
        vals.append(np.full(plain.size, sign))
        resp = np.flatnonzero(live & picked[s, a])
        keys.append((row0 + resp, key_of(t[resp] + 1, tb.next_state[s[resp], a[resp], 0]), sign,
                     t[resp] + 1, s[resp], a[resp]))

    continuation(0, t_r, s_r, fol, 1.0)
    continuation(0, t_r, s_r, dev, -1.0)
    pol = opt.policy[t_n, s_n]
    rows += [R + np.arange(N)] * 2
    cols += [N + np.arange(N), np.arange(N)]
    vals += [np.ones(N), -np.ones(N)]
    continuation(R, t_n, s_n, pol, -1.0)
    all_keys = np.concatenate([k[1] for k in keys])
    uniq, first, inv = np.unique(all_keys, return_index=True, return_inverse=True)
    M = uniq.size
    at = 0
    for r, key, sign, *_ in keys:
        rows.append(r)
        cols.append(2 * N + inv[at:at + key.size])
        vals.append(np.full(key.size, sign))
        at += key.size
    # m - Σ_k P_k U(t + 1, s'_k) = 0, from one (s, a) with that successor set
    t1, s1, a1 = (np.concatenate([k[j] for k in keys])[first] for j in (3, 4, 5))
    P, nxt = tb.next_prob[s1, a1], tb.next_state[s1, a1]
    r, k = np.nonzero(P > 0)
    rows += [R + N + np.arange(M), R + N + r]
    cols += [2 * N + np.arange(M), N + node[t1[r], nxt[r, k]]]
    vals += [np.ones(M), -P[r, k]]
    cols = np.concatenate(cols)
    if (cols < 0).any():
        raise AssertionError("a successor of a constrained pair has no variable")
    A = sp.coo_matrix((np.concatenate(vals), (np.concatenate(rows), cols)), shape=(R + N + M, 2 * N + M)).tocsc()
    A.sum_duplicates()
    A.eliminate_zeros()          # the same successor on both sides of a row cancels
    inf = highspy.kHighsInf
    lower = np.concatenate([r_i[s_r, dev] - r_i[s_r, fol], r_i[s_n, pol], np.zeros(M)])
    upper = np.concatenate([np.full(R, inf), lower[R:]])
    return _AgentLP(c=np.concatenate([d[t_n, s_n], np.zeros(N + M)]), A=A, lower=lower, upper=upper,
                    col_lower=np.concatenate([np.zeros(N), np.full(N + M, -inf)]), n_ge=R, n_nodes=N)


def _solve(lp: _AgentLP, time_limit: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    """HiGHS (module docstring); returns ``(x, y, objective)`` or raises :class:`SolverFailure`."""
    with c_output_silenced():              # highspy >= 1.16 prints a banner when built
        h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", "simplex" if lp.A.shape[0] <= SIMPLEX_MAX_ROWS else "ipm")
    h.setOptionValue("run_crossover", "on")
    h.setOptionValue("primal_feasibility_tolerance", SOLVER_TOL)
    h.setOptionValue("dual_feasibility_tolerance", SOLVER_TOL)
    if time_limit is not None:
        h.setOptionValue("time_limit", float(time_limit))
    nv = lp.A.shape[1]
    h.passModel(nv, lp.A.shape[0], lp.A.nnz, int(highspy.MatrixFormat.kColwise), int(highspy.ObjSense.kMinimize),
                0.0, lp.c, lp.col_lower, np.full(nv, highspy.kHighsInf), lp.lower, lp.upper,
                lp.A.indptr.astype(np.int32), lp.A.indices.astype(np.int32), lp.A.data, np.zeros(nv, dtype=np.int32))
    h.run()
    status = h.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise SolverFailure(f"coin game payment LP: HiGHS status {h.modelStatusToString(status)!r}")
    sol = h.getSolution()
    return np.asarray(sol.col_value), np.asarray(sol.row_dual), float(h.getInfo().objective_function_value)


def _kkt(lp: _AgentLP, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(dual residual, duality gap)`` of ``(x, y)`` on the data: ``y >= 0`` on the ``>=`` rows,
    reduced costs ``c − Aᵀy`` ``>= 0`` on ``p`` and ``= 0`` on the free columns; ``|c·x − b·y|``
    (``b`` the rows' lower sides, which are the active ones: ``>=`` rows and equalities)."""
    N = lp.n_nodes
    rc = lp.c - lp.A.T @ y
    resid = max(float(np.max(-y[:lp.n_ge], initial=0.0)), float(np.max(-rc[:N], initial=0.0)),
                float(np.max(np.abs(rc[N:]), initial=0.0)))
    return resid, abs(float(lp.c @ x) - float(lp.lower @ y))


def swap_symmetry(tb: CoinTables, opt: WelfareOptimum) -> np.ndarray | None:
    """The state relabelling ``(p0, p1, coin, colour) -> (p1, p0, coin, 1 − colour)`` if the game and
    ``π*`` are symmetric under it with the agents swapped (checked exactly on the tables: rewards,
    successor distributions, start distribution, policy), else ``None``."""
    g, n = tb.game, tb.n
    p0, p1, c, col = g.decode(np.arange(tb.n_states))
    sw = g.state_index(p1, p0, c, 1 - col)
    ja = np.arange(n * n)
    swa = (ja % n) * n + ja // n
    if not (np.array_equal(tb.rewards[sw][:, swa][..., ::-1], tb.rewards) and np.array_equal(tb.initial[sw], tb.initial)
            and np.array_equal(opt.policy[:, sw], swa[opt.policy])):
        return None

    def distribution(states, probs):                   # (successor, probability) pairs sorted by successor
        key = np.where(probs > 0, states, -1)
        order = np.argsort(key, axis=2, kind="stable")
        return np.take_along_axis(key, order, axis=2), np.take_along_axis(probs, order, axis=2)

    mine = distribution(sw[tb.next_state], tb.next_prob)
    theirs = distribution(tb.next_state[sw][:, swa], tb.next_prob[sw][:, swa])
    return sw if all(np.array_equal(a, b) for a, b in zip(mine, theirs)) else None


def q_tilde(tb: CoinTables, U: np.ndarray) -> np.ndarray:
    """``(2, H, S, n, n)`` ``Q̃_i(t, s, a_i, a_j) = r_i(s, a) + E[U_i(t + 1, s') | s, a]`` from values
    ``U`` ``(2, H + 1, S)``."""
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    Qt = np.zeros((2, H, S, n, n))
    for t in range(H):
        cont = tb.expect(U[:, t + 1].T)
        for i in (0, 1):
            Qt[i, t] = _agent_view((tb.rewards[..., i] + cont[..., i]).reshape(S, n, n), i)
    return Qt


def dominance_slack(tb: CoinTables, opt, paid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(slack, U, Q̃)``: ``U`` ``(2, H + 1, S)`` recomputed backwards from ``paid`` and the tables,
    ``Q̃`` from ``U`` (:func:`q_tilde`), and ``slack`` ``(2, H, S, n)`` the least, over ``a_i``, of
    ``Q̃_i(π*_i, a_j) + p_i − Q̃_i(a_i, a_j)`` for each current action ``a_j`` of the other (negative:
    violated). ``opt``: the :class:`WelfareOptimum` whose ``π*`` is recommended, or any joint
    recommendation ``(H, S)`` (actions ``a0·n + a1``), e.g. a learned principal's."""
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    policy = opt.policy if isinstance(opt, WelfareOptimum) else np.asarray(opt)
    if policy.shape != (H, S) or not np.issubdtype(policy.dtype, np.integer):
        raise InvalidInstanceError("recommendation", f"must be integer {(H, S)}, got {policy.dtype} {policy.shape}")
    U = _follow_payment_value(tb, policy, paid)
    Qt = q_tilde(tb, U)
    acts = np.stack([policy // n, policy % n], axis=-1)
    h, rows = np.arange(H)[:, None], np.arange(S)[None, :]
    slack = np.stack([Qt[i][h, rows, acts[..., i], :] + paid[i][..., None] - Qt[i].max(axis=2) for i in (0, 1)])
    return slack, U, Qt


def _fill_greedy(tb: CoinTables, opt: WelfareOptimum, paid: np.ndarray, mask: np.ndarray) -> None:
    """Backwards, at the pairs outside ``mask``: the greedy's least payment given the
    continuation (part (2) of the module docstring's argument). In place."""
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    acts = opt.actions()
    rows = np.arange(S)
    U = np.zeros((2, S))
    for t in range(H - 1, -1, -1):
        cont = tb.expect(U.T)
        for i in (0, 1):
            q = _agent_view((tb.rewards[..., i] + cont[..., i]).reshape(S, n, n), i)
            follow = q[rows, acts[t, :, i], :]
            paid[i, t] = np.where(mask[t], paid[i, t], (q.max(axis=1) - follow).max(axis=1))
        a = opt.policy[t]
        U = (tb.rewards[rows, a] + cont[rows, a]).T + paid[:, t]


def min_payments_lp(game, optimum: WelfareOptimum | None = None, alpha: float = 0.1, states: str = "reachable",
                    symmetry: bool = True, time_limit: float | None = None) -> MinPayments:
    """The least expected payments implementing ``π*`` in the every-action sense (module docstring).

    ``game``: a :class:`~contractlab.theory.coin_game.CoinGame` or its :class:`CoinTables`;
    ``optimum``: the welfare optimum to implement (default :func:`welfare_optimum` of ``game``; if
    given, its tables are used); ``alpha``: the principal's welfare scale (``r_p = Σ_i r_i / α``,
    ``0.1`` in Section 5); ``states``: ``"reachable"`` or ``"all"``; ``symmetry``: solve one LP when
    :func:`swap_symmetry` holds; ``time_limit``: seconds per LP (``None``: none). Raises
    :class:`InvalidInstanceError` on bad input and :class:`SolverFailure` when HiGHS does not reach
    an optimum that passes the checks.
    """
    alpha = check_real("alpha", alpha, 0.0, low_open=True)
    if states not in STATES:
        raise InvalidInstanceError("states", f"must be one of {STATES}, got {states!r}")
    if not isinstance(symmetry, (bool, np.bool_)):
        raise InvalidInstanceError("symmetry", f"must be True or False, got {symmetry!r}")
    check_real("time_limit", time_limit, 0.0, low_open=True, allow_none=True)
    if optimum is not None and not isinstance(optimum, WelfareOptimum):
        raise InvalidInstanceError("optimum", f"must be a WelfareOptimum, got {type(optimum).__name__}")
    tb = _tables(game if optimum is None else optimum.tables)
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    mask = reachable_states(tb) if states == "reachable" else np.ones((H, S), dtype=bool)
    rows_needed = int(mask.sum()) * (1 + n * (n - 1))
    if rows_needed > MAX_ROWS:
        raise InvalidInstanceError("horizon", f"the payment LP would have about {rows_needed} rows per agent, "
                                              f"more than MAX_ROWS = {MAX_ROWS}")
    opt = welfare_optimum(tb) if optimum is None else optimum
    sw = swap_symmetry(tb, opt) if symmetry else None
    d = follow_distribution(tb, opt.policy)
    paid = np.zeros((2, H, S))
    objective, resid, gap, sizes = np.zeros(2), np.zeros(2), np.zeros(2), np.zeros((2, 3), dtype=np.int64)
    min_raw = np.inf
    for i in ((0,) if sw is not None else (0, 1)):
        lp = _agent_lp(tb, opt, i, mask, d)
        sizes[i] = lp.A.shape[0], lp.A.shape[1], lp.A.nnz
        x, y, objective[i] = _solve(lp, time_limit)
        resid[i], gap[i] = _kkt(lp, x, y)
        p = x[:lp.n_nodes]
        min_raw = min(min_raw, float(p.min(initial=np.inf)))
        paid[i][mask] = np.maximum(p, 0.0)
    if sw is not None:              # agent 1's LP is agent 0's with the states relabelled
        paid[1] = np.where(mask, paid[0][:, sw], 0.0)
        objective[1], resid[1], gap[1], sizes[1] = objective[0], resid[0], gap[0], sizes[0]
    if states == "reachable":
        _fill_greedy(tb, opt, paid, mask)
    slack, U, Qt = dominance_slack(tb, opt, paid)
    max_violation = max(0.0, -float(slack.min()))
    expected = np.einsum("its,ts->i", paid, d)
    objective_error = float(np.abs(expected - objective).max())
    scale = max(1.0, float(np.abs(objective).max()))
    if max_violation > IC_TOL or min_raw < -IC_TOL:
        raise SolverFailure(f"coin game payment LP: dominance violated by {max_violation:.3g} "
                            f"(most negative payment {min_raw:.3g}) when recomputed from the tables")
    if max(resid.max(), gap.max(), objective_error) > KKT_TOL * scale:
        raise SolverFailure(f"coin game payment LP: optimality not verified (dual residual {resid.max():.3g}, "
                            f"duality gap {gap.max():.3g}, objective error {objective_error:.3g})")
    for a in (paid, U, Qt, expected):
        a.flags.writeable = False
    pay = RecommendationPayments(kind="lp", optimum=opt, paid=paid, agent_values=U, q=Qt, table=None,
                                 expected_payment=expected)
    greedy = every_action_payments(tb, opt)
    return MinPayments(payments=pay, greedy=greedy, objective=objective, alpha=alpha,
                       principal_objective=pay.principal_objective(alpha),
                       greedy_principal_objective=greedy.principal_objective(alpha), states=states,
                       symmetric=sw is not None, sizes=sizes, max_violation=max_violation, min_raw_payment=min_raw,
                       objective_error=objective_error, dual_residual=resid, dual_gap=gap)


__all__ = ["IC_TOL", "KKT_TOL", "MAX_ROWS", "SIMPLEX_MAX_ROWS", "STATES", "MinPayments", "min_payments_lp",
           "reachable_states", "follow_distribution", "swap_symmetry", "q_tilde", "dominance_slack"]
