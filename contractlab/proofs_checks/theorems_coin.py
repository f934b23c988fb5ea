"""Theorems about the exact Coin Game answers (``solvers/coin_game_exact.py``, ``solvers/coin_game_lp.py``).

The game is :class:`~contractlab.theory.coin_game.CoinGame` (Ivanov et al., *Principal-Agent
Reinforcement Learning*, arXiv 2407.18074, Section 5 and Appendix D.2): the principal recommends the
welfare-optimal joint policy ``π*`` and pays an agent who follows; its reward is ``Σ_i r_i / α`` minus
the payments. Definitions are in the two solvers' module docstrings.

Nothing below reuses the solvers' tables or passes. Every check starts from the game's own batched
step (:meth:`CoinGame.step`) run on every state and joint action with an enumeration of its uniforms
(:func:`raw_model`: each respawn cell, and with ``simultaneous="random"`` each winner of a tie, equally
often), and recomputes with code written here: a forward pass of the state distribution
(:func:`forward`), the values of both following with payments (:func:`follow_values`), the one-step
dominance slack at every ``(t, s)`` (:func:`dominance_slack`), the best response against the other
following with the payment paid iff following (:func:`best_response_follow`), and the expectimax over
the whole game tree (:func:`tree_value`).

Theorems (``coin.*``):

- ``coin.payments_follow_optimal`` — with the paper's payments (Algorithm 3 on the exact Q), following
  is a best response to the other following (no multi-step deviation gains: best-response value =
  value of following, at every ``(t, s)``); with the every-action payments and the LP's least payments,
  at every ``(t, s)`` and for every current action of the other, following is a best one-step action
  given both follow afterwards, and following is a best response to the other following.
- ``coin.dp_value_evaluated`` — the DP's welfare value and per-agent values equal the forward
  evaluation of its policy; no drawn deterministic Markov policy (random, or ``π*`` with random
  changes) does better; on grid 2 with ``H <= 2`` and on grid 3 with ``H = 1`` the DP value equals the
  expectimax over the game tree, i.e. the best of all history-dependent policies (closed loop). The
  open-loop optimum is not used: with the random respawn it is only a lower bound.
- ``coin.welfare_payment_split`` — for the paper's, the every-action and the LP's payments, and any
  split of each step's total payment between the agents (drawn, and all to one agent), the agents'
  returns with payments minus the principal's payments equal the optimal welfare; the solvers' reported
  values, expected payments and principal objectives equal the forward evaluation.
- ``coin.lp_between_paper_and_greedy`` — the LP's expected payment is at least the paper's and at most
  the greedy every-action payments', per agent; both the LP's and the greedy's payments are feasible
  (recomputed); the LP objective is the evaluated expected payment; restricting the constraints to the
  reachable pairs gives the same minimum as all pairs.

Tolerances: two exact routes agree to :data:`EXACT_TOL` times ``max(1, |largest reward|) · H``; answers
of the LP are feasible and compared to :data:`LP_TOL` on the same scale (HiGHS at ``1e-10``, the LP's
own check at ``1e-7``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ..solvers.coin_game_exact import every_action_payments, paper_payments, tables, welfare_optimum
from ..solvers.coin_game_lp import min_payments_lp
from ..theory.coin_game import CoinGame
from .registry import Evidence, theorem

#: Two exact routes to one number agree to this, relative to ``max(1, largest |reward|) · H``.
EXACT_TOL = 1e-9
#: LP answers (feasibility, optimum) are right to this, on the same scale.
LP_TOL = 1e-7

PAPER = "Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, Principal-Agent Reinforcement Learning (arXiv 2407.18074)"
PUTERMAN = "Puterman, Markov Decision Processes (1994), Sections 4.3-4.5"


# --------------------------------------------------------------------------- instances

@dataclass(frozen=True, eq=False)
class CoinCase:
    """A small Coin Game and a seed for what a check draws (splits, policies)."""

    game: CoinGame
    seed: int

    def __repr__(self) -> str:
        g = self.game
        return (f"CoinCase(grid={g.grid}, horizon={g.horizon}, payoff={g.payoff!r}, "
                f"payoff_matrix={g.payoff_matrix.tolist()}, stay={g.stay}, simultaneous={g.simultaneous!r}, "
                f"seed={self.seed})")


@st.composite
def coin_cases(draw, grids=(2,), max_horizon: int = 4, grid3_horizon: int = 2) -> CoinCase:
    """Grid 2 (or 3 with at most ``grid3_horizon`` steps), horizon 1–``max_horizon``, every payoff
    convention (``"jaxmarl"`` with a drawn, possibly asymmetric integer matrix), with and without
    *stay*, both tie rules."""
    grid = draw(st.sampled_from(grids))
    horizon = draw(st.integers(1, max_horizon if grid == 2 else grid3_horizon))
    payoff = draw(st.sampled_from(["paper", "classic", "jaxmarl"]))
    matrix = None
    if payoff == "jaxmarl" and draw(st.booleans()):
        matrix = [[draw(st.integers(-2, 2)) for _ in range(3)] for _ in range(2)]
    game = CoinGame(grid=grid, horizon=horizon, payoff=payoff, payoff_matrix=matrix, stay=draw(st.booleans()),
                    simultaneous=draw(st.sampled_from(["both", "random"])))
    return CoinCase(game, draw(st.integers(0, 2**32 - 1)))


def lp_cases():
    """Grid 2, horizons 1–3: the LP theorems solve one or two LPs per instance."""
    return coin_cases(grids=(2,), max_horizon=3)


def dp_cases():
    return coin_cases(grids=(2, 2, 3), max_horizon=4, grid3_horizon=2)


# --------------------------------------------------------------------------- the game from its step

@dataclass(frozen=True, eq=False)
class RawModel:
    """Every (state, joint action) stepped by the core under each enumerated uniform: successor
    ``succ`` ``(S, A, J)``, weight ``w`` ``(S, A, J)`` (sums to 1 over ``J``), rewards ``rew``
    ``(S, A, J, 2)`` and their expectation ``reward`` ``(S, A, 2)``; ``n`` actions per agent,
    ``initial`` ``(S,)``."""

    succ: np.ndarray
    w: np.ndarray
    rew: np.ndarray
    reward: np.ndarray
    n: int
    initial: np.ndarray

    def expect(self, values: np.ndarray) -> np.ndarray:
        """``(S,)`` -> ``(S, A)``: ``E[values(s') | s, a]``."""
        return (self.w * values[self.succ]).sum(axis=2)


_RAW: dict = {}


def raw_model(game: CoinGame) -> RawModel:
    """The model of ``game`` from :meth:`CoinGame.step` (module docstring); cached per rules (the
    horizon does not enter). Uniforms ``u_j = (j + 1/2) / (2 f)``, ``j < 2 f`` (``f`` free cells after
    the move) each carry weight ``1 / (2 f)`` when a coin is picked up; else only ``j = 0``, weight 1."""
    key = (game.grid, game.payoff_matrix.tobytes(), game.stay, game.simultaneous)
    if key in _RAW:
        return _RAW[key]
    S, n, C = game.n_states, game.n_actions, game.n_cells
    A = n * n
    s = np.repeat(np.arange(S), A)
    a = np.tile(np.arange(A), S)
    acts = np.stack([a // n, a % n], axis=1)
    state = game.from_index(s)
    free = C - 2 + (game.move_table[state.pos[:, 0], acts[:, 0]] == game.move_table[state.pos[:, 1], acts[:, 1]])
    succ, w, rew = [], [], []
    for j in range(2 * (C - 1)):
        u = np.minimum((j + 0.5) / (2 * free), np.nextafter(1.0, 0.0))
        nxt, r, picked = game.step(state, acts, u=u)
        succ.append(game.index_of(nxt))
        w.append(np.where(picked.any(axis=1), (j < 2 * free) / (2 * free), float(j == 0)))
        rew.append(r)
    w = np.stack(w, axis=1).reshape(S, A, -1)
    rew = np.stack(rew, axis=1).reshape(S, A, -1, 2)
    model = RawModel(succ=np.stack(succ, axis=1).reshape(S, A, -1), w=w, rew=rew,
                     reward=(w[..., None] * rew).sum(axis=2), n=n, initial=game.initial_distribution())
    if len(_RAW) > 16:
        _RAW.clear()
    _RAW[key] = model
    return model


def forward(m: RawModel, policy: np.ndarray, paid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Push the start distribution through the joint policy ``(H, S)``; returns each agent's expected
    return ``(2,)`` and expected payment ``(2,)`` (``paid`` ``(2, H, S)``, received at ``(t, s)``)."""
    H, S = policy.shape
    rows = np.arange(S)
    d = m.initial.copy()
    ret, pay = np.zeros(2), np.zeros(2)
    reward = m.reward
    for t in range(H):
        a = policy[t]
        ret += d @ reward[rows, a]
        if paid is not None:
            pay += paid[:, t] @ d
        nd = np.zeros(S)
        np.add.at(nd, m.succ[rows, a].ravel(), (d[:, None] * m.w[rows, a]).ravel())
        d = nd
    return ret, pay


def follow_values(m: RawModel, policy: np.ndarray, paid: np.ndarray) -> np.ndarray:
    """``(2, H + 1, S)``: each agent's value (rewards and payments) when both follow ``policy``."""
    H, S = policy.shape
    rows = np.arange(S)
    reward = m.reward
    U = np.zeros((2, H + 1, S))
    for t in range(H - 1, -1, -1):
        a = policy[t]
        for i in (0, 1):
            U[i, t] = reward[rows, a, i] + paid[i, t] + m.expect(U[i, t + 1])[rows, a]
    return U


def _own(x: np.ndarray, i: int, n: int) -> np.ndarray:
    """``(S, A)`` indexed by joint action ``a0 · n + a1`` -> ``(S, a_i, a_j)``."""
    x = x.reshape(x.shape[0], n, n)
    return x if i == 0 else x.transpose(0, 2, 1)


def dominance_slack(m: RawModel, policy: np.ndarray, paid: np.ndarray) -> float:
    """The least, over ``(t, s)``, agents ``i``, the other's current action ``a_j`` and ``a_i``, of
    ``Q_i(π*_i, a_j) + p_i(t, s) − Q_i(a_i, a_j)`` with ``Q_i = r_i + E[U_i(t + 1)]`` and ``U`` the values of
    both following with the payments (:func:`follow_values`); negative: a profitable one-step deviation."""
    H, S = policy.shape
    n = m.n
    U = follow_values(m, policy, paid)
    reward = m.reward
    worst = np.inf
    for t in range(H):
        for i in (0, 1):
            q = _own(reward[..., i] + m.expect(U[i, t + 1]), i, n)               # (S, a_i, a_j)
            rec = policy[t] // n if i == 0 else policy[t] % n
            follow = q[np.arange(S), rec, :] + paid[i, t][:, None]              # (S, a_j)
            worst = min(worst, float((follow - q.max(axis=1)).min()))
    return worst


def best_response_follow(m: RawModel, policy: np.ndarray, paid: np.ndarray, i: int) -> np.ndarray:
    """``(H + 1, S)``: agent ``i``'s best-response value against the other playing ``policy``'s part,
    with ``paid[i]`` received when ``i`` plays its recommended action (any multi-step deviation)."""
    H, S = policy.shape
    n = m.n
    reward = m.reward
    V = np.zeros((H + 1, S))
    rows = np.arange(S)
    for t in range(H - 1, -1, -1):
        q = _own(reward[..., i] + m.expect(V[t + 1]), i, n)
        rec, other = (policy[t] // n, policy[t] % n) if i == 0 else (policy[t] % n, policy[t] // n)
        qi = q[rows, :, other]                                                    # (S, a_i)
        qi[rows, rec] += paid[i, t]
        V[t] = qi.max(axis=1)
    return V


def tree_value(m: RawModel, states: np.ndarray, steps: int) -> np.ndarray:
    """Expectimax over the game tree from ``states``, ``steps`` deep, without merging equal states:
    a history-dependent deterministic policy is a choice of joint action at every node, and the
    best one is found node by node (every node is its own subproblem)."""
    if steps == 0:
        return np.zeros(len(states))
    A = m.n * m.n
    w = m.w[states]                                                 # (k, A, J)
    live = w > 0
    kk, aa, jj = np.nonzero(live)
    cont = np.zeros(w.shape)
    cont[kk, aa, jj] = tree_value(m, m.succ[states][kk, aa, jj], steps - 1)
    q = (w * (m.rew[states].sum(axis=3) + cont)).sum(axis=2)       # (k, A)
    assert q.shape[1] == A
    return q.max(axis=1)


def _scale(game: CoinGame) -> float:
    return max(1.0, float(np.abs(game.payoff_matrix).max()) * 2) * game.horizon


def _split_paid(paid: np.ndarray, lam: np.ndarray) -> np.ndarray:
    total = paid.sum(axis=0)
    return np.stack([lam * total, (1 - lam) * total])


# --------------------------------------------------------------------------- theorems

@theorem("coin.payments_follow_optimal",
         "In the Coin Game with the welfare-optimal recommendation π* and a payment p_i(t, s) >= 0 paid iff agent i "
         "plays π*_i(t, s): (a) with the paper's payments b_i = max_a Q_i − Q_i(π*_i) (Q_i the agent's own-reward "
         "Q against the other following, selfish afterwards), agent i's best-response value against the other "
         "following (any multi-step deviation) equals its value of following, at every (t, s); (b) with the "
         "every-action payments and with the LP's least payments, at every (t, s), for every current action a_j of "
         "the other and every a_i, r_i(s, (π*_i, a_j)) + p_i + E U_i(t+1) >= r_i(s, (a_i, a_j)) + E U_i(t+1), U_i the "
         "value of both following with the payments, and (a) holds for them too. Recomputed from the game's step "
         "(respawn and tie rule enumerated), not from the solvers' tables. Assumes: nothing beyond the model.",
         f"{PAPER}, Section 5 (Algorithm 3, Eq. (5)); one-shot deviation principle ({PUTERMAN})", lp_cases)
def check_payments_follow_optimal(case: CoinCase) -> Evidence:
    game = case.game
    m = raw_model(game)
    tb = tables(game)
    opt = welfare_optimum(tb)
    tol = LP_TOL * _scale(game)
    items = []
    schemes = {"paper": paper_payments(tb, opt).paid, "every_action": every_action_payments(tb, opt).paid,
               "lp": min_payments_lp(tb, opt).payments.paid}
    for kind, paid in schemes.items():
        items.append(Evidence.at_least(float(paid.min()), 0.0, tol, f"{kind}: payments >= 0"))
        U = follow_values(m, opt.policy, paid)
        for i in (0, 1):
            br = best_response_follow(m, opt.policy, paid, i)
            items.append(Evidence.at_most(float((br - U[i]).max()), 0.0, tol,
                                          f"{kind}: agent {i}'s best response to the other following vs following"))
        if kind != "paper":
            items.append(Evidence.at_least(dominance_slack(m, opt.policy, paid), 0.0, tol,
                                           f"{kind}: least one-step dominance slack over (t, s), a_j, a_i, agents"))
    return Evidence.combine(items)


@theorem("coin.dp_value_evaluated",
         "The Coin Game's welfare DP (backward over (t, s), the coin's respawn in the expectation) returns a policy "
         "whose forward evaluation (state distribution pushed from the start through the game's step) equals the "
         "DP's value, in total and per agent; no drawn deterministic Markov policy (uniformly random, or π* with "
         "random changes) has more welfare; and on grid 2 with H <= 2 and grid 3 with H = 1, the DP's optimal "
         "welfare from every start state equals the expectimax over the full game tree, the best of all "
         "history-dependent (closed-loop) policies. Assumes: finite horizon (a deterministic Markov policy is "
         "then optimal among all policies).", f"{PUTERMAN}; {PAPER}, Appendix D.2 (the game)", dp_cases)
def check_dp_value_evaluated(case: CoinCase) -> Evidence:
    game = case.game
    m = raw_model(game)
    opt = welfare_optimum(game)
    tol = EXACT_TOL * _scale(game)
    ret, _ = forward(m, opt.policy)
    items = [Evidence.equal(opt.value, float(ret.sum()), tol, "DP value vs forward evaluation of its policy"),
             Evidence.equal(float(np.abs(opt.agent_value - ret).max()), 0.0, tol,
                            "DP per-agent values vs forward evaluation")]
    rng = np.random.default_rng(case.seed)
    H, S, A = game.horizon, game.n_states, game.n_actions ** 2
    for k in range(6):
        pol = rng.integers(0, A, size=(H, S))
        if k >= 3:
            pol = np.where(rng.random((H, S)) < 0.2, pol, opt.policy)
        items.append(Evidence.at_most(float(forward(m, pol)[0].sum()), opt.value, tol,
                                      f"welfare of drawn policy {k} vs the DP value"))
    if (game.grid == 2 and H <= 2) or H == 1:
        start = np.flatnonzero(m.initial > 0)
        tree = tree_value(m, start, H)
        items.append(Evidence.equal(float(np.abs(opt.welfare[0, start] - tree).max()), 0.0, tol,
                                    "DP welfare vs expectimax over the game tree, every start state"))
    return Evidence.combine(items)


@theorem("coin.welfare_payment_split",
         "Payments move utility from the principal to the agents and cancel in welfare: for the paper's, the "
         "every-action and the LP's payments, and for any split of each step's total payment between the two "
         "agents (drawn uniformly per (t, s), and all to one agent), Σ_i E[return_i + payment_i] − E[payments] "
         "equals the optimal welfare W* (forward evaluation through the game's step); and the solvers' reported "
         "numbers are the evaluated ones: E U_i(0) − expected payment_i = agent i's return, the expected payment "
         "per agent, and the principal's objective W*/α − E[payments] (α drawn in [0.05, 1]). Assumes: nothing.",
         f"{PAPER}, Section 5 (principal reward Σ_i r_i / α minus payments)", lp_cases)
def check_welfare_payment_split(case: CoinCase) -> Evidence:
    game = case.game
    m = raw_model(game)
    tb = tables(game)
    opt = welfare_optimum(tb)
    tol = EXACT_TOL * _scale(game)
    rng = np.random.default_rng(case.seed)
    alpha = float(rng.uniform(0.05, 1.0))
    lp = min_payments_lp(tb, opt, alpha=alpha)
    ret, _ = forward(m, opt.policy)
    items = [Evidence.equal(lp.principal_objective, float(ret.sum()) / alpha - float(forward(m, opt.policy,
                            lp.payments.paid)[1].sum()), tol / alpha, "LP: principal objective vs W*/α − payments")]
    for pay in (paper_payments(tb, opt), every_action_payments(tb, opt), lp.payments):
        H, S = opt.policy.shape
        for lam in (rng.random((H, S)), np.zeros((H, S)), np.ones((H, S))):
            split = _split_paid(pay.paid, lam)
            with_pay = m.initial @ follow_values(m, opt.policy, split)[:, 0].T      # backward, rewards + payments
            principal_pays = float(forward(m, opt.policy, split)[1].sum())         # forward, payments alone
            items.append(Evidence.equal(float(with_pay.sum()) - principal_pays, opt.value, tol,
                                        f"{pay.kind}: Σ_i E[return_i + payment_i] − E[payments] vs W*"))
        own_ret, own_paid = forward(m, opt.policy, pay.paid)
        reported = tb.initial @ pay.agent_values[:, 0].T
        items += [Evidence.equal(float(np.abs(pay.expected_payment - own_paid).max()), 0.0, tol,
                                 f"{pay.kind}: reported expected payment per agent vs evaluation"),
                  Evidence.equal(float(np.abs(reported - pay.expected_payment - own_ret).max()), 0.0, tol,
                                 f"{pay.kind}: reported E U_i(0) − payment_i vs agent i's evaluated return"),
                  Evidence.equal(pay.principal_objective(alpha), float(own_ret.sum()) / alpha - float(own_paid.sum()),
                                 tol / alpha, f"{pay.kind}: principal objective vs evaluation")]
    return Evidence.combine(items)


@theorem("coin.lp_between_paper_and_greedy",
         "The least expected payment (per agent) that makes following weakly optimal against every current action "
         "of the other (min_payments_lp) lies between the paper's payments and the greedy every-action payments: "
         "paper_i <= LP_i <= greedy_i. Lower bound: the LP's rows with a_j = π*_j are Bellman inequalities "
         "U_i >= max_{a_i} [r_i + E U_i(t+1)] along the other following, so U_i >= BR_i (payments >= 0), and the "
         "paper's payments reach U_i = BR_i; upper bound: the greedy is feasible. Both the LP's and the greedy's "
         "payments are feasible (recomputed from the game's step), the LP objective equals the evaluated expected "
         "payment, and constraining only the reachable (t, s) gives the same minimum as all (t, s). "
         "Assumes: nothing beyond the model.",
         f"{PAPER}, Section 5 (Eq. (5)); LP duality; the argument in contractlab/solvers/coin_game_lp.py", lp_cases)
def check_lp_between_paper_and_greedy(case: CoinCase) -> Evidence:
    game = case.game
    m = raw_model(game)
    tb = tables(game)
    opt = welfare_optimum(tb)
    tol = LP_TOL * _scale(game)
    lp = min_payments_lp(tb, opt)
    paper = forward(m, opt.policy, paper_payments(tb, opt).paid)[1]
    greedy_paid = every_action_payments(tb, opt).paid
    greedy = forward(m, opt.policy, greedy_paid)[1]
    mine = forward(m, opt.policy, lp.payments.paid)[1]
    items = [Evidence.at_least(dominance_slack(m, opt.policy, lp.payments.paid), 0.0, tol, "LP payments feasible"),
             Evidence.at_least(dominance_slack(m, opt.policy, greedy_paid), 0.0, tol, "greedy payments feasible"),
             Evidence.at_least(float(min(lp.payments.paid.min(), greedy_paid.min())), 0.0, tol, "payments >= 0"),
             Evidence.equal(float(np.abs(lp.objective - mine).max()), 0.0, tol, "LP objective vs evaluated payment")]
    for i in (0, 1):
        items += [Evidence.at_least(float(mine[i]), float(paper[i]), tol, f"agent {i}: LP >= paper"),
                  Evidence.at_most(float(mine[i]), float(greedy[i]), tol, f"agent {i}: LP <= greedy")]
    if game.horizon <= 2:
        full = min_payments_lp(tb, opt, states="all")
        items.append(Evidence.equal(float(np.abs(full.objective - lp.objective).max()), 0.0, tol,
                                    "reachable-pairs LP vs all-pairs LP"))
    return Evidence.combine(items)


__all__ = ["EXACT_TOL", "LP_TOL", "CoinCase", "coin_cases", "lp_cases", "dp_cases", "RawModel", "raw_model",
           "forward", "follow_values", "dominance_slack", "best_response_follow", "tree_value"]
