"""The least every-action payments of the Coin Game by LP (solvers/coin_game_lp.py): between the
paper's payments and the greedy on drawn small games, every dominance constraint met when
re-evaluated by the core's step, the same optimum from an independent cvxpy (Clarabel) model, the
reachable restriction and the agent symmetry changing nothing, the checks able to fail, bad input
named."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp

from contractlab.solvers import coin_game_exact as X
from contractlab.solvers import coin_game_lp as L
from contractlab.theory.coin_game import CoinGame
from contractlab.theory.errors import InvalidInstanceError, SolverFailure

#: LP answers compared to this (HiGHS at 1e-10, the module's own checks at 1e-7).
TOL = 1e-7


def drawn_games(count: int, seed: int, max_horizon: int = 3) -> list[CoinGame]:
    """Grid-2 games with every payoff convention (``"jaxmarl"`` with a drawn integer matrix, rows
    possibly different: no agent symmetry), stay on/off, both tie rules, horizons 1..max."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        payoff = ("paper", "classic", "jaxmarl")[rng.integers(3)]
        matrix = rng.integers(-2, 3, size=(2, 3)).tolist() if payoff == "jaxmarl" else None
        out.append(CoinGame(grid=2, horizon=int(rng.integers(1, max_horizon + 1)), payoff=payoff,
                            payoff_matrix=matrix, stay=bool(rng.integers(2)),
                            simultaneous=("both", "random")[rng.integers(2)]))
    return out


GAMES = drawn_games(12, seed=3)


def label(g: CoinGame) -> str:
    return f"H{g.horizon}-{g.payoff}-{'stay' if g.stay else 'nostay'}-{g.simultaneous}"


# --------------------------------------------------------------------------- independent evaluation

def step_model(game: CoinGame):
    """Every (state, joint action) stepped by the core under each uniform ``(j + 1/2) / (2 f)``,
    ``j < 2f`` (each respawn cell, and each winner of a tie, equally often): successors, weights and
    rewards ``(S, A, J)``, ``(S, A, J)``, ``(S, A, J, 2)`` (no solver tables)."""
    S, n, C = game.n_states, game.n_actions, game.n_cells
    A = n * n
    s, a = np.repeat(np.arange(S), A), np.tile(np.arange(A), S)
    acts = np.stack([a // n, a % n], axis=1)
    st = game.from_index(s)
    free = C - 2 + (game.move_table[st.pos[:, 0], acts[:, 0]] == game.move_table[st.pos[:, 1], acts[:, 1]])
    nxt, w, rew = [], [], []
    for j in range(2 * (C - 1)):
        u = np.minimum((j + 0.5) / (2 * free), np.nextafter(1.0, 0))
        ns, r, picked = game.step(st, acts, u=u)
        nxt.append(game.index_of(ns))
        w.append(np.where(picked.any(axis=1), (j < 2 * free) / (2 * free), float(j == 0)))
        rew.append(r)
    return (np.stack(nxt, 1).reshape(S, A, -1), np.stack(w, 1).reshape(S, A, -1),
            np.stack(rew, 1).reshape(S, A, -1, 2))


def brute_force_violation(game: CoinGame, policy: np.ndarray, paid: np.ndarray) -> float:
    """The largest gain of a one-step deviation, over every (t, s), agent, current action of the
    other and own action, with both following afterwards (payments included), from the core's step:
    loops over states, plain numpy per state."""
    nxt, w, rew = step_model(game)
    H, S = policy.shape
    n = game.n_actions
    U = np.zeros((2, H + 1, S))
    worst = 0.0
    for t in range(H - 1, -1, -1):
        for s in range(S):
            # Q[i, a] = E[r_i + U_i(t + 1, s')] for every joint action a
            Q = np.array([[w[s, a] @ (rew[s, a, :, i] + U[i, t + 1, nxt[s, a]]) for a in range(n * n)] for i in (0, 1)])
            a0, a1 = divmod(int(policy[t, s]), n)
            for i, rec in ((0, a0), (1, a1)):
                q = Q[i].reshape(n, n) if i == 0 else Q[i].reshape(n, n).T      # (a_i, a_j)
                worst = max(worst, float((q.max(axis=0) - q[rec] - paid[i, t, s]).max()))
            U[:, t, s] = Q[:, policy[t, s]] + paid[:, t, s]
    return worst


# --------------------------------------------------------------------------- properties

@pytest.mark.parametrize("game", GAMES, ids=label)
def test_lp_lies_between_paper_and_greedy(game):
    """paper <= LP <= greedy per agent (the a_j = π*_j rows alone are the paper's problem; the greedy
    is feasible); the LP's objective is its expected payment; its checks passed."""
    tb = X.tables(game)
    opt = X.welfare_optimum(tb)
    res = L.min_payments_lp(tb, opt)
    paper = X.paper_payments(tb, opt)
    assert np.all(res.expected_payment <= res.greedy_payment + TOL)
    assert np.all(res.expected_payment >= paper.expected_payment - TOL)
    assert np.allclose(res.objective, res.expected_payment, atol=TOL)
    assert res.max_violation <= L.IC_TOL and res.min_raw_payment >= -L.IC_TOL
    assert res.dual_residual.max() <= TOL and res.dual_gap.max() <= TOL
    assert res.payments.kind == "lp" and res.payments.paid.min() >= 0


@pytest.mark.parametrize("game", [g for g in GAMES if g.horizon <= 2][:3]
                         + [CoinGame(grid=2, horizon=3, simultaneous="random")], ids=label)
def test_lp_payments_meet_every_constraint_by_brute_force(game):
    """Re-evaluated by the core's step (every respawn enumerated), state by state: no one-step
    deviation gains at any (t, s), for any current action of the other; against the other following,
    the best response (any multi-step deviation) is worth exactly following."""
    tb = X.tables(game)
    opt = X.welfare_optimum(tb)
    res = L.min_payments_lp(tb, opt)
    assert brute_force_violation(game, opt.policy, res.payments.paid) <= TOL
    acts = opt.actions()
    n = tb.n
    for i in (0, 1):
        bonus = np.eye(n)[acts[..., i]] * res.payments.paid[i][..., None]
        br = X.best_response(tb, i, acts[..., 1 - i], bonus=bonus)
        assert np.allclose(br.values, res.payments.agent_values[i], atol=TOL)


def test_brute_force_refutes_lowered_payments():
    """The brute-force check is able to fail: the LP's payments lowered where they are positive."""
    game = CoinGame(grid=2, horizon=2, simultaneous="random")
    opt = X.welfare_optimum(game)
    paid = L.min_payments_lp(game, opt).payments.paid
    assert paid.max() > 0.01
    assert brute_force_violation(game, opt.policy, paid * 0.9) > 1e-3


def cvxpy_minimum(tb: X.CoinTables, opt: X.WelfareOptimum, agent: int) -> float:
    """The same LP written independently: every (t, s), no respawn means, no reachability, cvxpy with
    Clarabel (an interior-point method): p (H, S) >= 0, U (H + 1, S), U[H] = 0; E[U(t + 1) | s, a] as
    a sparse (S·A, S) matrix."""
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    A = n * n
    rows = np.repeat(np.arange(S * A), tb.next_state.shape[2])
    T = sp.csr_matrix((tb.next_prob.ravel(), (rows, tb.next_state.ravel())), shape=(S * A, S))
    r = tb.rewards[..., agent].ravel()
    p = cp.Variable((H, S), nonneg=True)
    U = cp.Variable((H + 1, S))
    acts = opt.actions()
    cons = [U[H] == 0]
    d = L.follow_distribution(tb, opt.policy)
    for t in range(H):
        rec = acts[t, :, agent]
        ss, aj, ai = np.meshgrid(np.arange(S), np.arange(n), np.arange(n), indexing="ij")
        ss, aj, ai = ss.ravel(), aj.ravel(), ai.ravel()
        own = (lambda x, y: x * n + y) if agent == 0 else (lambda x, y: y * n + x)
        dev, fol = ss * A + own(ai, aj), ss * A + own(rec[ss], aj)
        sel = sp.csr_matrix((np.ones(ss.size), (np.arange(ss.size), ss)), shape=(ss.size, S))
        cons.append(r[fol] + sel @ p[t] + T[fol] @ U[t + 1] >= r[dev] + T[dev] @ U[t + 1])
        on = np.arange(S) * A + opt.policy[t]
        cons.append(U[t] == r[on] + p[t] + T[on] @ U[t + 1])
    prob = cp.Problem(cp.Minimize(cp.sum(cp.multiply(d, p))), cons)
    prob.solve(solver=cp.CLARABEL)
    assert prob.status == cp.OPTIMAL
    return float(prob.value)


@pytest.mark.parametrize("game", [CoinGame(grid=2, horizon=2, simultaneous="random"),
                                  CoinGame(grid=2, horizon=3, payoff="classic", stay=False),
                                  CoinGame(grid=2, horizon=2, payoff="jaxmarl", payoff_matrix=[[1, 0, -1], [2, 1, 0]])],
                         ids=label)
def test_cvxpy_model_agrees_on_the_optimum(game):
    tb = X.tables(game)
    opt = X.welfare_optimum(tb)
    res = L.min_payments_lp(tb, opt)
    for i in (0, 1):
        assert abs(cvxpy_minimum(tb, opt, i) - res.objective[i]) <= 1e-6 * max(1.0, res.objective[i])


@pytest.mark.parametrize("game", GAMES[:6], ids=label)
def test_reachable_restriction_and_symmetry_change_nothing(game):
    """The four routes (reachable or all pairs, one LP by symmetry or two) give the same minimum,
    and every returned table meets every constraint at every (t, s)."""
    tb = X.tables(game)
    opt = X.welfare_optimum(tb)
    runs = [L.min_payments_lp(tb, opt, states=st, symmetry=sym) for st in L.STATES for sym in (True, False)]
    for r in runs:
        assert np.allclose(r.objective, runs[0].objective, atol=TOL)
        assert r.max_violation <= L.IC_TOL
    assert not runs[1].symmetric and not runs[3].symmetric
    if game.payoff != "jaxmarl" or np.array_equal(game.payoff_matrix[0], game.payoff_matrix[1]):
        assert runs[0].symmetric == (L.swap_symmetry(tb, opt) is not None)


def test_asymmetric_payoffs_solve_two_lps():
    game = CoinGame(grid=2, horizon=2, payoff="jaxmarl", payoff_matrix=[[1, 0, -1], [2, 1, 0]])
    tb = X.tables(game)
    assert L.swap_symmetry(tb, X.welfare_optimum(tb)) is None
    assert not L.min_payments_lp(tb).symmetric


def test_reachable_states_of_the_3x3_game():
    """|R_0| = 1008 (distinct cells, coin elsewhere), |R_t| = 1152 afterwards (agents may share a
    cell, never stand on the coin)."""
    reach = L.reachable_states(X.tables(CoinGame(grid=3, horizon=3)))
    assert reach.sum(axis=1).tolist() == [1008, 1152, 1152]


def test_the_greedy_is_not_minimal_and_the_principal_objective():
    """On a small dilemma the LP pays strictly less than the greedy, and the principal's objective
    is W*/α minus the expected payments, as RecommendationPayments.principal_objective."""
    game = CoinGame(grid=2, horizon=3, simultaneous="random")
    opt = X.welfare_optimum(game)
    res = L.min_payments_lp(game, opt, alpha=0.25)
    assert res.total_payment < 0.5 * res.greedy.total_payment
    assert res.principal_objective == pytest.approx(opt.value / 0.25 - res.total_payment, abs=1e-12)
    assert res.greedy_principal_objective == pytest.approx(opt.value / 0.25 - res.greedy.total_payment, abs=1e-12)
    assert res.principal_objective > res.greedy_principal_objective
    U0 = X.tables(game).initial @ res.payments.agent_values[:, 0].T
    assert np.allclose(U0 - res.expected_payment, opt.agent_value, atol=1e-12)


def test_the_checks_fail_on_a_wrong_answer(monkeypatch):
    """A solver answer with lowered payments is refused (dominance recomputed from the tables), and
    one with wrong duals too (KKT check)."""
    game = CoinGame(grid=2, horizon=2, simultaneous="random")
    real = L._solve

    def lowered(lp, time_limit):
        x, y, obj = real(lp, time_limit)
        x = x.copy()
        x[:lp.n_nodes] *= 0.5
        return x, y, obj

    monkeypatch.setattr(L, "_solve", lowered)
    with pytest.raises(SolverFailure, match="dominance"):
        L.min_payments_lp(game)

    def no_duals(lp, time_limit):
        x, y, obj = real(lp, time_limit)
        return x, np.zeros_like(y), obj

    monkeypatch.setattr(L, "_solve", no_duals)
    with pytest.raises(SolverFailure, match="optimality"):
        L.min_payments_lp(game)


@pytest.mark.parametrize("kwargs, field", [
    ({"alpha": 0.0}, "alpha"), ({"alpha": -1.0}, "alpha"), ({"alpha": float("nan")}, "alpha"),
    ({"alpha": "0.1"}, "alpha"), ({"alpha": True}, "alpha"), ({"states": "some"}, "states"),
    ({"symmetry": "yes"}, "symmetry"), ({"time_limit": -1.0}, "time_limit"), ({"optimum": "pi*"}, "optimum")])
def test_bad_input_names_the_field(kwargs, field):
    with pytest.raises(InvalidInstanceError, match=field):
        L.min_payments_lp(CoinGame(grid=2, horizon=1), **kwargs)


def test_bad_game_names_the_field():
    with pytest.raises(InvalidInstanceError, match="game"):
        L.min_payments_lp("coin game")
    with pytest.raises(InvalidInstanceError, match="grid"):
        L.min_payments_lp(CoinGame(grid=5, horizon=1))
    with pytest.raises(InvalidInstanceError, match="horizon"):
        L.min_payments_lp(CoinGame(grid=4, horizon=50))
