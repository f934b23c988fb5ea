"""The exact Coin Game solver (solvers/coin_game_exact.py): the tables against the core's step,
the DP against brute force on tiny horizons and against Monte Carlo of the returned policy,
best responses, the payments (following weakly optimal, checked from the data), welfare
invariant to payments, and the selfish subgame-perfect equilibrium."""

from __future__ import annotations

import numpy as np
import pytest

from contractlab.solvers import coin_game_exact as X
from contractlab.theory.coin_game import CoinGame
from contractlab.theory.errors import InvalidInstanceError

#: Slack of every Monte Carlo comparison, in standard errors of the mean.
Z = 5.0
EPS = 1e-9


@pytest.fixture(scope="module")
def paper():
    tb = X.tables(CoinGame())
    return tb, X.welfare_optimum(tb)


@pytest.fixture(scope="module")
def paper_random():
    tb = X.tables(CoinGame(simultaneous="random"))
    return tb, X.welfare_optimum(tb)


@pytest.fixture(scope="module")
def classic():
    tb = X.tables(CoinGame(payoff="classic"))
    return tb, X.welfare_optimum(tb)


def enumerate_uniforms(game: CoinGame, st, acts):
    """The core's step on ``(st, acts)`` under every uniform ``u_j = (j + 1/2) / (2 f)``,
    ``j < 2f`` (``f`` free cells after the move), which covers each respawn cell, and with
    ``simultaneous="random"`` each winner of a tie, equally often. Returns
    ``(next index, rewards, weight)`` stacked over ``j < 2(C − 1)`` (weights of unused ``j`` 0)."""
    C = game.n_cells
    new0 = game.move_table[st.pos[:, 0], acts[:, 0]]
    new1 = game.move_table[st.pos[:, 1], acts[:, 1]]
    free = C - 2 + (new0 == new1)
    out = []
    for j in range(2 * (C - 1)):
        u = np.minimum((j + 0.5) / (2 * free), np.nextafter(1.0, 0))
        nxt, rew, picked = game.step(st, acts, u=u)
        w = np.where(picked.any(axis=1), (j < 2 * free) / (2 * free), j == 0)
        out.append((game.index_of(nxt), rew, w))
    return [np.stack(x, axis=-1) for x in zip(*out)]


@pytest.mark.parametrize("simultaneous", ["both", "random"])
def test_tables_match_the_core_step(simultaneous):
    """Every (state, joint action) of 300 drawn states: the expected rewards and the successor
    distribution are those of the core's step over an enumeration of its uniforms."""
    g = CoinGame(payoff="classic", simultaneous=simultaneous)
    tb = X.tables(g)
    S, A, n = g.n_states, 25, 5
    assert np.allclose(tb.next_prob.sum(axis=2), 1.0)
    acts = np.stack([np.arange(A) // n, np.arange(A) % n], axis=1)
    for s in np.random.default_rng(0).integers(0, S, 300):
        nxt, rew, w = enumerate_uniforms(g, g.from_index(np.full(A, s)), acts)
        assert np.allclose((rew * w[:, None, :]).sum(axis=2), tb.rewards[s])
        dist = np.zeros((A, S))
        np.add.at(dist, (np.repeat(np.arange(A), nxt.shape[1]), nxt.ravel()), w.ravel())
        table = np.zeros((A, S))
        np.add.at(table, (np.repeat(np.arange(A), 8), tb.next_state[s].ravel()), tb.next_prob[s].ravel())
        assert np.allclose(dist, table)


def brute_force_welfare(game: CoinGame, states: np.ndarray, steps: int) -> np.ndarray:
    """max over joint actions of welfare + E[brute force of the successor], by the core's step on
    every joint action and every enumerated uniform, ``steps`` deep (no tables, no DP arrays;
    successors are deduplicated before recursing, which changes nothing but the cost)."""
    if steps == 0:
        return np.zeros(len(states))
    n = game.n_actions
    A, m = n * n, len(states)
    s = np.repeat(states, A)
    a = np.tile(np.arange(A), m)
    nxt, rew, w = enumerate_uniforms(game, game.from_index(s), np.stack([a // n, a % n], axis=1))
    uniq, inverse = np.unique(nxt, return_inverse=True)
    cont = brute_force_welfare(game, uniq, steps - 1)[inverse.reshape(nxt.shape)]
    q = (w * (rew.sum(axis=1) + cont)).sum(axis=1).reshape(m, A)
    return q.max(axis=1)


@pytest.mark.parametrize("grid, horizon, payoff, simultaneous", [
    (3, 3, "paper", "both"), (3, 3, "paper", "random"), (3, 3, "classic", "both"), (2, 4, "classic", "random")])
def test_welfare_dp_equals_brute_force_on_tiny_horizons(grid, horizon, payoff, simultaneous):
    g = CoinGame(grid=grid, horizon=horizon, payoff=payoff, simultaneous=simultaneous)
    opt = X.welfare_optimum(g)
    states = np.random.default_rng(1).choice(g.n_states, 40 if grid == 3 else g.n_states, replace=False)
    assert np.allclose(brute_force_welfare(g, states, horizon), opt.welfare[0, states])


def monte_carlo(game: CoinGame, pick, episodes: int, seed: int):
    """Per-episode returns ``(episodes, 2)`` of the core under ``pick(t, state_index) -> (B, 2)``."""
    rng = np.random.default_rng(seed)
    s = game.reset(episodes, rng)
    ret = np.zeros((episodes, 2))
    while not game.done(s):
        s_new, r, _ = game.step(s, pick(s.t, game.index_of(s), rng), rng)
        ret += r
        s = s_new
    return ret


def assert_within(samples: np.ndarray, exact: float):
    se = samples.std(ddof=1) / np.sqrt(len(samples))
    assert abs(samples.mean() - exact) <= Z * se + 1e-12, (samples.mean(), exact, se)


@pytest.mark.parametrize("which", ["paper", "paper_random", "classic"])
def test_policy_evaluation_of_the_optimum_equals_the_dp_value(which, request):
    """The returned policy played in the core (20 000 episodes) earns the DP value, per agent,
    within Z standard errors; the forward pass and the backward evaluation agree exactly."""
    tb, opt = request.getfixturevalue(which)
    acts = opt.actions()
    ret = monte_carlo(tb.game, lambda t, s, rng: acts[t, s], 20_000, seed=11)
    assert_within(ret.sum(axis=1), opt.value)
    for i in (0, 1):
        assert_within(ret[:, i], opt.agent_value[i])
    assert np.allclose(X.forward_returns(tb, opt.policy), opt.agent_value)
    q = opt.agent_q()                                           # (H, S, A, 2)
    rows = np.arange(tb.n_states)
    on_policy = np.stack([q[t, rows, opt.policy[t]] for t in range(tb.game.horizon)])
    assert np.allclose(on_policy, opt.agent_values[:-1])
    assert np.allclose(q.sum(axis=3), opt.q)                    # the agents' Q add up to welfare
    assert np.allclose(X.evaluate(tb, opt.policy), opt.agent_values)
    assert np.isclose(opt.agent_value.sum(), opt.value)


def test_welfare_optimum_is_symmetric_under_swapping_the_agents(paper):
    tb, opt = paper
    g = tb.game
    p0, p1, c, col = g.decode(np.arange(g.n_states))
    swapped = g.state_index(p1, p0, c, 1 - col)
    assert np.allclose(opt.welfare[:, swapped], opt.welfare)


def test_best_response_dominates_and_is_attained(paper):
    """Against a uniformly random other: the BR value is at least the value of any other policy
    tried (the optimum's own part, uniform play), and Monte Carlo of the BR policy attains it."""
    tb, opt = paper
    g = tb.game
    H, S, n = g.horizon, g.n_states, g.n_actions
    uniform = np.full((H, S, n), 1 / n)
    br = X.best_response(tb, 0, uniform)
    both_uniform = np.full((H, S, 2, n), 1 / n)
    v_uniform = X.evaluate(tb, both_uniform)[0, :, 0]
    mine = np.concatenate([np.eye(n)[opt.actions()[..., 0]][:, :, None], uniform[:, :, None]], axis=2)
    v_mine = X.evaluate(tb, mine)[0, :, 0]
    assert np.all(br.values[0] >= v_uniform - EPS) and np.all(br.values[0] >= v_mine - EPS)

    def pick(t, s, rng):
        return np.stack([br.policy[t, s], rng.integers(0, n, len(s))], axis=1)
    ret = monte_carlo(g, pick, 20_000, seed=12)
    assert_within(ret[:, 0], br.value)


def follow_bonus(pay: X.RecommendationPayments, i: int) -> np.ndarray:
    acts = pay.optimum.actions()[..., i]
    n = pay.optimum.tables.n
    return np.eye(n)[acts] * pay.paid[i][..., None]


@pytest.mark.parametrize("which", ["paper", "paper_random", "classic"])
@pytest.mark.parametrize("kind", ["paper", "every_action"])
def test_following_is_optimal_against_the_other_following(which, kind, request):
    """With the payments paid iff an agent follows, the agent's best response (any deviation,
    multi-step) to the other following is worth exactly the value of following, and following
    is a maximiser at every (t, s)."""
    tb, opt = request.getfixturevalue(which)
    pay = (X.paper_payments if kind == "paper" else X.every_action_payments)(tb, opt)
    acts = opt.actions()
    H, S = tb.game.horizon, tb.n_states
    h, s = np.arange(H)[:, None], np.arange(S)[None, :]
    assert pay.paid.min() >= 0
    for i in (0, 1):
        br = X.best_response(tb, i, acts[..., 1 - i], bonus=follow_bonus(pay, i))
        assert np.allclose(br.values, pay.agent_values[i], atol=1e-9)
        assert np.all(br.q[h, s, acts[..., i]] >= br.q.max(axis=2) - 1e-9)


@pytest.mark.parametrize("which", ["paper", "classic"])
def test_paper_payments_are_the_least_at_each_state(which, request):
    """Lowering the paper's payment at any (t, s) where it is positive makes some deviation
    strictly better there (given the continuation); where it is zero, following is already a
    best response without payment."""
    tb, opt = request.getfixturevalue(which)
    pay = X.paper_payments(tb, opt)
    acts = opt.actions()
    H, S = tb.game.horizon, tb.n_states
    h, s = np.arange(H)[:, None], np.arange(S)[None, :]
    for i in (0, 1):
        q = pay.q[i]                                            # Q_i((s, 1), a_i), no payments
        follow = q[h, s, acts[..., i]]
        assert np.allclose(pay.paid[i], q.max(axis=2) - follow)
        assert np.allclose(pay.table[i][h, s, acts[..., i]], pay.paid[i])
        pos = pay.paid[i] > 1e-9
        assert np.all(follow[pos] + 0.999 * pay.paid[i][pos] < q.max(axis=2)[pos])
    if which == "classic":
        assert pay.total_payment > 0                            # the dilemma needs payments


@pytest.mark.parametrize("which", ["paper", "classic"])
def test_every_action_payments_make_following_weakly_optimal_against_every_action(which, request):
    """Checked from the data: with Q̃_i(t, s, a_i, a_j) = r_i + E[U_i(t + 1)] rebuilt here from
    the tables and the returned values U, following plus the payment is at least every deviation,
    for every current action a_j of the other, at every (t, s)."""
    tb, opt = request.getfixturevalue(which)
    pay = X.every_action_payments(tb, opt)
    acts = opt.actions()
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    rows = np.arange(S)
    worst = np.inf
    for t in range(H):
        cont = tb.expect(pay.agent_values[:, t + 1].T)         # (S, A, 2)
        for i in (0, 1):
            q = (tb.rewards[..., i] + cont[..., i]).reshape(S, n, n)
            q = q if i == 0 else np.swapaxes(q, 1, 2)          # (s, a_i, a_j)
            slack = q[rows, acts[t, :, i], :] + pay.paid[i, t][:, None] - q.max(axis=1)
            worst = min(worst, slack.min())
            # and U is the value of both following with the payments
            assert np.allclose(pay.agent_values[i, t],
                               q[rows, acts[t, :, i], acts[t, :, 1 - i]] + pay.paid[i, t])
    assert worst >= -1e-9


def test_welfare_is_invariant_to_payments(classic):
    """Payments move utility from the principal to the agents and cancel in welfare: the agents'
    values with payments (U, computed with rewards and payments together) minus the expected
    payment stream (evaluated here on its own) equal the optimal welfare at every (t, s); and in
    10 000 episodes of the core the paid returns match Σ_i U_i and the welfare matches W*,
    within Z standard errors."""
    tb, opt = classic
    g = tb.game
    H, S = g.horizon, tb.n_states
    rows = np.arange(S)
    acts = opt.actions()
    for pay in (X.paper_payments(tb, opt), X.every_action_payments(tb, opt)):
        P = np.zeros((H + 1, S))
        for t in range(H - 1, -1, -1):
            P[t] = pay.paid[:, t].sum(axis=0) + tb.expect(P[t + 1])[rows, opt.policy[t]]
        assert np.allclose(pay.agent_values.sum(axis=0) - P, opt.welfare)
        assert np.isclose(tb.initial @ P[0], pay.total_payment)
        rng = np.random.default_rng(21)
        s = g.reset(10_000, rng)
        welfare = np.zeros(10_000)
        paid = np.zeros(10_000)
        while not g.done(s):
            idx = g.index_of(s)
            paid += pay.paid[:, s.t, idx].sum(axis=0)
            s, r, _ = g.step(s, acts[s.t, idx], rng)
            welfare += r.sum(axis=1)
        assert_within(welfare + paid, float(tb.initial @ pay.agent_values[:, 0].sum(axis=0)))
        assert_within(welfare, opt.value)


@pytest.mark.parametrize("which, selection", [("paper", "best"), ("classic", "best"), ("classic", "worst")])
def test_selfish_equilibrium_is_subgame_perfect(which, selection, request):
    """No agent gains by any (multi-step) deviation from the selfish SPE at any (t, s): its best
    response to the other's SPE strategy is worth the SPE value everywhere; the values are those
    of exact policy evaluation; welfare is at most the optimum."""
    tb, opt = request.getfixturevalue(which)
    eq = X.selfish_equilibrium(tb, selection)
    assert np.allclose(eq.policy.sum(axis=3), 1.0) and eq.policy.min() >= 0
    assert np.allclose(X.evaluate(tb, eq.policy), eq.values)
    for i in (0, 1):
        br = X.best_response(tb, i, eq.policy[:, :, 1 - i])
        assert np.allclose(br.values, eq.values[..., i], atol=1e-8)
    assert eq.welfare <= opt.value + 1e-9
    if which == "classic":
        assert eq.n_mixed > 0                  # some stage games have no pure equilibrium
        assert eq.welfare < 0.5 * opt.value    # the dilemma: selfish play loses most of the welfare


def stage_games(tb, eq, t: int) -> np.ndarray:
    """``(S, n, n, 2)``: each agent's return from ``(t, s)`` when the joint action ``(a0, a1)`` is
    played at ``t`` (in every state) and ``eq`` after it, by exact policy evaluation: the stage
    games ``M_i(t, s, a0, a1) = r_i(s, a) + E V_i(t + 1, s')`` of the backward induction."""
    n = eq.policy.shape[3]
    out = np.empty((tb.n_states, n, n, 2))
    for a0 in range(n):
        for a1 in range(n):
            pol = eq.policy.copy()
            pol[t] = 0.0
            pol[t, :, 0, a0] = pol[t, :, 1, a1] = 1.0
            out[:, a0, a1] = X.evaluate(tb, pol)[t]
    return out


@pytest.mark.parametrize("simultaneous", ["random", "both"])
def test_selfish_selection_is_the_welfare_best_or_worst_stage_equilibrium(simultaneous):
    """The two selections are what the module docstring says: at every ``(t, s)`` whose stage game
    has a pure equilibrium, the chosen joint action is one, and its stage welfare ``M_0 + M_1`` is
    the largest (``"best"``) or the smallest (``"worst"``) over the pure equilibria of that stage
    game (its own continuation). The selection is stage by stage, so in general nothing orders the
    two equilibria's total welfare. On the 2x2 grid, 3 steps, classic payoffs: with one random
    collector of a shared coin some stage games' pure equilibria differ in welfare, and the worst
    selection ends with strictly less welfare, for each agent, than the best one; with both
    collecting, the pure equilibria tie in welfare and some stage games have only mixed ones."""
    horizon = 3
    tb = X.tables(CoinGame(grid=2, horizon=horizon, payoff="classic", simultaneous=simultaneous))
    eqs = {sel: X.selfish_equilibrium(tb, sel) for sel in ("best", "worst")}
    spread = 0.0
    for sel, eq in eqs.items():
        for t in range(horizon):
            M = stage_games(tb, eq, t)
            A0, A1 = M[..., 0], M[..., 1]
            ne = (A0 >= A0.max(axis=1, keepdims=True) - X.NE_TOL) & (A1 >= A1.max(axis=2, keepdims=True) - X.NE_TOL)
            pure = ne.any(axis=(1, 2))
            p0, p1 = eq.policy[t, :, 0], eq.policy[t, :, 1]
            assert ((p0.max(axis=1) == 1.0) & (p1.max(axis=1) == 1.0))[pure].all()
            s = np.flatnonzero(pure)
            a0, a1 = p0[s].argmax(axis=1), p1[s].argmax(axis=1)
            assert ne[s, a0, a1].all()                                         # an equilibrium
            w = (A0 + A1)[s]
            chosen = w[np.arange(len(s)), a0, a1]
            hi = np.where(ne[s], w, -np.inf).max(axis=(1, 2))
            lo = np.where(ne[s], w, np.inf).min(axis=(1, 2))
            spread = max(spread, float((hi - lo).max(initial=0.0)))
            if sel == "best":
                assert (chosen >= hi - EPS).all()
            else:
                assert (chosen <= lo + EPS).all()
    best, worst = eqs["best"], eqs["worst"]
    if simultaneous == "random":
        assert spread > 0.1                  # some stage game's pure equilibria differ in welfare
        assert worst.welfare < best.welfare - 0.1 and (worst.value < best.value - 0.05).all()
    else:
        assert spread < EPS and best.n_mixed > 0 and worst.welfare == pytest.approx(best.welfare, abs=EPS)

def test_invalid_inputs_name_the_field(paper):
    tb, opt = paper
    with pytest.raises(InvalidInstanceError, match="grid"):
        X.tables(CoinGame(grid=5))
    with pytest.raises(InvalidInstanceError, match="game"):
        X.tables("coin game")
    with pytest.raises(InvalidInstanceError, match="agent"):
        X.best_response(tb, 2, opt.actions()[..., 1])
    with pytest.raises(InvalidInstanceError, match="other_policy"):
        X.best_response(tb, 0, np.zeros((3, 3)))
    with pytest.raises(InvalidInstanceError, match="other_policy"):
        X.best_response(tb, 0, np.full((20, tb.n_states, 5), 0.3))
    with pytest.raises(InvalidInstanceError, match="bonus"):
        X.best_response(tb, 0, opt.actions()[..., 1], bonus=np.zeros(3))
    with pytest.raises(InvalidInstanceError, match="selection"):
        X.selfish_equilibrium(tb, "median")
    with pytest.raises(InvalidInstanceError, match="joint_policy"):
        X.evaluate(tb, np.zeros((2, 2)))
