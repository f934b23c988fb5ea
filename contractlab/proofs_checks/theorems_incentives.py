"""Theorems about the exact references of incentive design (``solvers/incentive_optimum.py``).

The games are finite-horizon deterministic Markov games
(:class:`~contractlab.theory.markov_game.TabularMarkovGame`) and normal-form games
(:class:`~contractlab.theory.incentive_games.NormalFormGame`); a designer pays incentives
``eta[t, s, a, i] >= 0`` on top of the rewards (Yang, Wang, Trivedi, Zhao, Zha, arXiv 2112.10859,
Section 3). Definitions and the cost argument are in the solver's module docstring.

Nothing below reuses the code paths under test. Every check recomputes from the game's arrays, with
plain loops over steps, states and actions written here: the brute-force enumeration of every
open-loop joint-action sequence (:func:`brute_force_welfare`), a forward pass along a policy's own
trajectory (:func:`forward_returns`), backward evaluation (:func:`backward_values`), agent ``i``'s best
response against the others by a separate backward induction (:func:`best_response_value`), and the
one-shot-dominance check at every reachable ``(t, s)`` and action profile (:func:`dominance_slack`).

Theorems (``incentives.*``):

- ``incentives.welfare_dp_brute_force`` — the DP optimum ``W(0, s_0)`` equals the best welfare of all
  deterministic time-dependent joint policies, enumerated as all ``A^H`` joint-action sequences (in a
  deterministic game a policy's outcome is the one sequence it plays from ``s_0``, and every
  sequence is played by some policy), and the DP's policy attains it.
- ``incentives.optimum_value_evaluated`` — the optimum's value and per-agent returns equal a forward
  pass of its policy; where the trajectory visits distinct states, they also equal
  :func:`contractlab.theory.markov_game.evaluate` of the stationary one-hot policies it induces.
- ``incentives.lp_equilibrium`` — the LP incentives (both kinds, unbounded and with a drawn bound
  when feasible) are ``>= 0``, at most the bound, zero where they are zero without loss, cost what is
  reported along the trajectory, and make the policy an equilibrium: nash — following is a best
  response of every agent (separate backward induction with the incentives added); dominant — at
  every reachable ``(t, s)`` and every profile of the others, the recommended action is a best
  one-shot action given the continuation of everyone following the policy.
- ``incentives.closed_form_normal_form`` — on normal-form games, the nash LP cost equals
  ``Σ_i max(0, max_{a_i} r_i(a_i, a*_{-i}) − r_i(a*))`` and the dominant LP incentives equal
  ``max(0, max_{a_i} r_i(a_i, a_{-i}) − r_i(a*_i, a_{-i}))`` at every ``(a*_i, a_{-i})`` (and 0 elsewhere),
  written here from the payoffs.
- ``incentives.nash_equals_dominant`` — nash cost ``<=`` dominant cost; in fact both equal
  ``Σ_i (BR_i(0, s_0) − R_i(0, s_0))`` (best-response gains without incentives; proof in the solver's
  docstring: ``V^η >= U >= BR`` bounds below, the backward least-promise incentives attain it).
- ``incentives.escape_room_optimum`` — in ER(N, M) the DP optimum equals ``max(0, 10(N − M) − M)``, and
  the Markov game and the batched core follow the rules (written here in plain Python) on drawn
  (state, joint action) pairs.

Tolerances: exact re-computations agree to :data:`EXACT_TOL` relative to the largest value involved
(float64 round-off over <= 4 steps); LP answers to :data:`LP_TOL` relative (the LP layer verifies to
``VERIFY_TOL = 1e-7`` on equilibrated data, docs/tolerances.md).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ..solvers.incentive_optimum import best_response_values, min_incentives, welfare_optimum
from ..theory.incentive_games import NormalFormGame
from ..theory.markov_game import TabularMarkovGame, evaluate
from .registry import Evidence, theorem

#: Two exact routes to one number agree to this, relative to ``max(1, largest |value|)``.
EXACT_TOL = 1e-9
#: An LP answer (cost, IC slack, bound) is right to this, relative to ``max(1, largest |reward|)``.
LP_TOL = 1e-6

YANG = "Yang, Wang, Trivedi, Zhao, Zha, Adaptive Incentive Design with Multi-Agent Meta-Gradient RL (arXiv 2112.10859), Section 3"
PUTERMAN = "Puterman, Markov Decision Processes (1994), Sections 4.3-4.5"
MT04 = "Monderer & Tennenholtz, k-Implementation (JAIR 21, 2004)"


# --------------------------------------------------------------------------- instances

@dataclass(frozen=True, eq=False)
class IncentiveCase:
    """A game, a policy to implement (``None``: the welfare optimum), a bound on incentives, and the
    normal-form game it came from (if any)."""

    game: TabularMarkovGame
    policy: np.ndarray | None
    max_incentive: float | None
    normal_form: NormalFormGame | None = None

    def target(self) -> np.ndarray:
        return welfare_optimum(self.game).policy if self.policy is None else self.policy


def _payoffs(rng: np.random.Generator, grid: bool, shape: tuple[int, ...]) -> np.ndarray:
    """Payoffs on the integer grid ``-2..3`` (many exact ties) or floats in ``[-5, 5]`` rounded to 3 decimals."""
    if grid:
        return rng.integers(-2, 4, size=shape).astype(float)
    return np.round(rng.uniform(-5.0, 5.0, size=shape), 3)


@st.composite
def normal_form_cases(draw) -> IncentiveCase:
    """2-3 players with 2-3 actions; payoffs on an integer grid (ties) or floats, drawn from a seed; the
    welfare optimum or a drawn profile; sometimes a bound on incentives."""
    n = draw(st.integers(2, 3))
    ks = tuple(draw(st.integers(2, 3)) for _ in range(n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    game = NormalFormGame(_payoffs(rng, draw(st.booleans()), (n,) + ks))
    policy = None
    if draw(st.booleans()):
        policy = np.array([[draw(st.integers(0, int(np.prod(ks)) - 1))]])
    bound = draw(st.one_of(st.none(), st.sampled_from([0.5, 1.0, 3.0])))
    return IncentiveCase(game.as_markov_game(), policy, bound, game)


@st.composite
def markov_cases(draw) -> IncentiveCase:
    """2 agents with 2-3 actions, 2-4 states, horizon 2-4, successors drawn (``-1`` ends the episode),
    rewards on an integer grid (ties) or floats; the welfare optimum or a drawn policy; sometimes a
    bound. At most ``A^H = 9^4`` sequences for the brute force."""
    ks = (draw(st.integers(2, 3)), draw(st.integers(2, 3)))
    A = ks[0] * ks[1]
    S = draw(st.integers(2, 4))
    H = draw(st.integers(2, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    nxt = rng.integers(-1, S, size=(S, A))
    rewards = _payoffs(rng, draw(st.booleans()), (S, A, 2))
    game = TabularMarkovGame(ks, nxt, rewards, int(rng.integers(0, S)), H)
    policy = rng.integers(0, A, size=(H, S)) if draw(st.booleans()) else None
    bound = draw(st.one_of(st.none(), st.sampled_from([1.0, 2.0, 5.0])))
    return IncentiveCase(game, policy, bound)


def all_cases():
    return st.one_of(normal_form_cases(), markov_cases())


# --------------------------------------------------------------------------- independent computations

def _scale(*arrays) -> float:
    return max([1.0] + [float(np.nanmax(np.abs(a))) for a in arrays if np.size(a)])


def _step(game: TabularMarkovGame, s: int, a: int) -> int:
    return int(game.next_state[s, a])


def brute_force_welfare(game: TabularMarkovGame) -> float:
    """The best welfare of all ``A^H`` joint-action sequences played from ``s_0`` (an ended episode
    ignores the rest of its sequence), vectorised over the sequences."""
    A, H = game.n_joint_actions, game.horizon
    seqs = np.stack(np.unravel_index(np.arange(A ** H), (A,) * H), axis=1)
    s = np.full(len(seqs), game.initial_state)
    total = np.zeros(len(seqs))
    w = game.rewards.sum(axis=2)
    for t in range(H):
        alive = s >= 0
        sa = np.where(alive, s, 0)
        total += np.where(alive, w[sa, seqs[:, t]], 0.0)
        s = np.where(alive, game.next_state[sa, seqs[:, t]], -1)
    return float(total.max())


def forward_returns(game: TabularMarkovGame, policy: np.ndarray, eta: np.ndarray | None = None):
    """Per-agent returns (``(n,)``) along the policy's own trajectory from ``s_0``, and the states visited."""
    s, total, visited = game.initial_state, np.zeros(game.n_agents), []
    for t in range(game.horizon):
        if s < 0:
            break
        a = int(policy[t, s])
        visited.append((t, s, a))
        total = total + game.rewards[s, a] + (0.0 if eta is None else eta[t, s, a])
        s = _step(game, s, a)
    return total, visited


def backward_values(game: TabularMarkovGame, policy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """``(H + 1, S, n)`` returns of following ``policy`` with ``eta`` from every ``(t, s)`` (loops)."""
    H, S, n = game.horizon, game.n_states, game.n_agents
    V = np.zeros((H + 1, S, n))
    for t in reversed(range(H)):
        for s in range(S):
            a = int(policy[t, s])
            nxt = _step(game, s, a)
            V[t, s] = game.rewards[s, a] + eta[t, s, a] + (V[t + 1, nxt] if nxt >= 0 else 0.0)
    return V


def _replace(game: TabularMarkovGame, a: int, agent: int, b: int) -> int:
    prof = list(np.unravel_index(a, game.n_actions))
    prof[agent] = b
    return int(np.ravel_multi_index(tuple(prof), game.n_actions))


def best_response_value(game: TabularMarkovGame, policy: np.ndarray, eta: np.ndarray, agent: int) -> float:
    """Agent ``agent``'s best-response value from ``(0, s_0)`` against the others following ``policy``,
    with ``eta`` added (backward induction with loops)."""
    H, S = game.horizon, game.n_states
    U = np.zeros((H + 1, S))
    for t in reversed(range(H)):
        for s in range(S):
            best = -np.inf
            for b in range(game.n_actions[agent]):
                a = _replace(game, int(policy[t, s]), agent, b)
                nxt = _step(game, s, a)
                best = max(best, game.rewards[s, a, agent] + eta[t, s, a, agent] + (U[t + 1, nxt] if nxt >= 0 else 0.0))
            U[t, s] = best
    return float(U[0, game.initial_state])


def reachable(game: TabularMarkovGame) -> list[set[int]]:
    """States reachable at each step from ``s_0`` under some joint actions."""
    out = [{game.initial_state}]
    for _ in range(game.horizon - 1):
        out.append({int(x) for s in out[-1] for x in game.next_state[s] if x >= 0})
    return out


def dominance_slack(game: TabularMarkovGame, policy: np.ndarray, eta: np.ndarray) -> float:
    """The smallest ``Q_i(t, s, (π_i, a_{-i})) − Q_i(t, s, a)`` over reachable ``(t, s)``, joint actions ``a``
    and agents ``i``, with ``Q_i = r_i + eta_i + V_i(t+1, ·)`` and ``V`` the returns of following ``policy``."""
    V = backward_values(game, policy, eta)
    worst = np.inf
    for t, states in enumerate(reachable(game)):
        for s in states:
            for a in range(game.n_joint_actions):
                nxt = _step(game, s, a)
                q = game.rewards[s, a] + eta[t, s, a] + (V[t + 1, nxt] if nxt >= 0 else 0.0)
                for i in range(game.n_agents):
                    rec = _replace(game, a, i, int(np.unravel_index(int(policy[t, s]), game.n_actions)[i]))
                    nr = _step(game, s, rec)
                    q_rec = game.rewards[s, rec, i] + eta[t, s, rec, i] + (V[t + 1, nr, i] if nr >= 0 else 0.0)
                    worst = min(worst, q_rec - q[i])
    return float(worst)


def best_response_gaps(game: TabularMarkovGame, policy: np.ndarray) -> np.ndarray:
    """``BR_i − R_i`` at ``(0, s_0)`` without incentives, per agent (the loops above)."""
    zero = np.zeros((game.horizon, game.n_states, game.n_joint_actions, game.n_agents))
    R = backward_values(game, policy, zero)[0, game.initial_state]
    return np.array([best_response_value(game, policy, zero, i) - R[i] for i in range(game.n_agents)])


# --------------------------------------------------------------------------- theorems

@theorem("incentives.welfare_dp_brute_force",
         "In a finite-horizon deterministic Markov game, the welfare optimum W(0, s_0) computed by backward DP over "
         "(step, state) equals the largest welfare (sum of the agents' returns) of all A^H joint-action sequences "
         "played from s_0 -- the outcomes of all deterministic time-dependent joint policies -- and the DP's policy "
         "attains it (forward pass). Assumes: deterministic transitions, finite horizon (then a deterministic "
         "time-dependent policy is optimal among all policies).",
         f"{PUTERMAN} (backward induction); {YANG} (welfare of the designer's objective)", all_cases)
def check_welfare_dp_brute_force(case: IncentiveCase) -> Evidence:
    opt = welfare_optimum(case.game)
    brute = brute_force_welfare(case.game)
    attained = float(forward_returns(case.game, opt.policy)[0].sum())
    tol = EXACT_TOL * _scale(case.game.rewards) * case.game.horizon
    return Evidence.combine([Evidence.equal(opt.value, brute, tol, "DP value vs brute force over A^H sequences"),
                             Evidence.equal(attained, brute, tol, "forward pass of the DP policy vs brute force")])


@theorem("incentives.optimum_value_evaluated",
         "The welfare optimum's value and per-agent returns equal a forward pass of its (time-dependent) policy along "
         "its own trajectory; when that trajectory visits distinct states, they also equal markov_game.evaluate of "
         "the stationary one-hot agent policies playing the trajectory's joint actions there. Assumes: nothing.",
         f"{PUTERMAN}; the exact evaluation of contractlab/theory/markov_game.py", all_cases)
def check_optimum_value_evaluated(case: IncentiveCase) -> Evidence:
    game = case.game
    opt = welfare_optimum(game)
    returns, visited = forward_returns(game, opt.policy)
    tol = EXACT_TOL * _scale(game.rewards) * game.horizon
    items = [Evidence.equal(opt.value, float(returns.sum()), tol, "value vs forward pass"),
             Evidence.equal(float(np.abs(opt.returns - returns).max()), 0.0, tol, "per-agent returns vs forward pass")]
    states = [s for _, s, _ in visited]
    if len(set(states)) == len(states):
        pols = [np.full((game.n_states, k), 1.0 / k) for k in game.n_actions]
        for _, s, a in visited:
            prof = np.unravel_index(a, game.n_actions)
            for i, k in enumerate(game.n_actions):
                pols[i][s] = np.eye(k)[prof[i]]
        items.append(Evidence.equal(float(np.abs(evaluate(game, pols) - returns).max()), 0.0, tol,
                                    "markov_game.evaluate of the stationary one-hot policies vs forward pass"))
    return Evidence.combine(items)


def equilibrium_evidence(game: TabularMarkovGame, policy: np.ndarray, bound: float | None) -> list[Evidence]:
    """The checks of ``incentives.lp_equilibrium`` for both kinds at ``bound`` (module docstring)."""
    items = []
    scale = _scale(game.rewards) * game.horizon
    tol = LP_TOL * scale
    for kind in ("nash", "dominant"):
        res = min_incentives(game, policy, kind, max_incentive=bound)
        if not res.feasible:
            if bound is None:
                items.append(Evidence.at_least(0.0, 1.0, 0.0, f"{kind}: reported infeasible without a bound"))
            continue
        eta = res.eta
        items.append(Evidence.at_least(float(eta.min()), 0.0, LP_TOL, f"{kind}: eta >= 0"))
        if bound is not None:
            items.append(Evidence.at_most(float(eta.max()), bound, LP_TOL, f"{kind}: eta <= max_incentive"))
        H, S, A, n = eta.shape
        acts = np.stack(np.unravel_index(np.arange(A), game.n_actions), axis=1)                  # (A, n)
        rec = acts[policy]                                                                         # (H, S, n)
        if kind == "nash":
            zero = np.broadcast_to((np.arange(A)[None, None, :] != policy[..., None])[..., None], eta.shape)
        else:
            zero = acts[None, None, :, :] != rec[:, :, None, :]
        stray = np.abs(np.where(zero, eta, 0.0)).max()
        items.append(Evidence.equal(float(stray), 0.0, 0.0, f"{kind}: largest incentive on a non-recommended action"))
        paid, _ = forward_returns(game, policy, eta)
        unpaid, _ = forward_returns(game, policy)
        items.append(Evidence.equal(float((paid - unpaid).sum()), res.expected_cost, EXACT_TOL * scale,
                                    f"{kind}: reported cost vs incentives paid along the trajectory"))
        if kind == "nash":
            for i in range(n):
                br = best_response_value(game, policy, eta, i)
                items.append(Evidence.at_least(float(paid[i]), br, tol,
                                               f"nash: agent {i}'s following value vs its best response (incentives added)"))
                items.append(Evidence.equal(float(res.ic_slack[i]), float(paid[i]) - br, tol,
                                            f"nash: reported IC slack of agent {i} vs following value − best response"))
                # at the minimal incentives following ties with the best deviation, which hides the sign of
                # the incentive inside the solver's own best-response DP; at 2·eta following is strictly best
                # wherever eta > 0
                items.append(Evidence.equal(float(best_response_values(game, policy, i, 2 * eta)[0, game.initial_state]),
                                            best_response_value(game, policy, 2 * eta, i), tol,
                                            f"nash: solver's best-response value of agent {i} at 2·eta vs separate induction"))
        else:
            worst = dominance_slack(game, policy, eta)
            items.append(Evidence.at_least(worst, 0.0, tol,
                                           "dominant: smallest one-shot dominance slack over reachable (t, s), profiles, agents"))
            items.append(Evidence.equal(float(np.nanmin(res.ic_slack)), worst, tol,
                                        "dominant: smallest reported IC slack vs the recomputed dominance slack"))
    return items


@theorem("incentives.lp_equilibrium",
         "The minimal incentives of min_incentives (nash and dominant; unbounded, and under a drawn max_incentive "
         "when feasible) are >= 0 and <= the bound, zero on non-recommended actions (nash: a ≠ π(t, s); dominant: "
         "a_i ≠ π_i(t, s)), cost exactly what they pay along the policy's trajectory, and make the policy an "
         "equilibrium when re-checked from the data: nash -- every agent's value of following is at least its "
         "best-response value against the others following (separate backward induction, incentives added); "
         "dominant -- at every reachable (t, s), for every joint action a, agent i's value of (π_i(t, s), a_{-i}) "
         "is at least that of a, continuation = everyone following the policy with the incentives. The reported IC "
         "slacks equal these recomputed margins (nash: per agent; dominant: the smallest), and so does the solver's "
         "best_response_values at 2·eta. Unbounded, both "
         "LPs are always feasible. Assumes: nothing beyond the model.",
         f"{YANG} (incentives added to rewards); {MT04} (dominant-strategy implementation, off-path promises)",
         all_cases)
def check_lp_equilibrium(case: IncentiveCase) -> Evidence:
    policy = case.target()
    items = equilibrium_evidence(case.game, policy, None)
    if case.max_incentive is not None:
        items += equilibrium_evidence(case.game, policy, case.max_incentive)
    return Evidence.combine(items)


@theorem("incentives.closed_form_normal_form",
         "In a normal-form game, for a pure profile a*: the nash LP's minimal cost equals "
         "Σ_i max(0, max_{a_i} r_i(a_i, a*_{-i}) − r_i(a*)); the dominant LP's incentives equal "
         "eta_i(a*_i, a_{-i}) = max(0, max_{a_i} r_i(a_i, a_{-i}) − r_i(a*_i, a_{-i})) for every a_{-i} and 0 on "
         "a_i ≠ a*_i, and its cost Σ_i eta_i(a*) equals the nash cost. Assumes: incentives >= 0, paid only at the "
         "profile played.", f"{MT04}, Section 3 (the cost of implementing a single profile)", normal_form_cases)
def check_closed_form_normal_form(case: IncentiveCase) -> Evidence:
    g = case.normal_form
    policy = case.target()
    prof = np.unravel_index(int(policy[0, 0]), g.n_actions)
    n = g.n_players
    nash_cf = 0.0
    dom_cf = np.zeros((n,) + g.n_actions)
    for i in range(n):
        for a in itertools.product(*[range(k) for k in g.n_actions]):
            best = max(g.payoffs[(i,) + a[:i] + (b,) + a[i + 1:]] for b in range(g.n_actions[i]))
            if a == tuple(prof):
                nash_cf += max(0.0, best - g.payoffs[(i,) + a])
            if a[i] == prof[i]:
                dom_cf[(i,) + a] = max(0.0, best - g.payoffs[(i,) + a])
    nash = min_incentives(case.game, policy, "nash")
    dom = min_incentives(case.game, policy, "dominant")
    dom_eta = np.moveaxis(dom.eta[0, 0], -1, 0).reshape((n,) + g.n_actions)
    tol = LP_TOL * _scale(g.payoffs)
    return Evidence.combine([
        Evidence.equal(nash.expected_cost, nash_cf, tol, "nash LP cost vs closed form"),
        Evidence.equal(float(np.abs(dom_eta - dom_cf).max()), 0.0, tol, "dominant LP incentives vs closed form"),
        Evidence.equal(dom.expected_cost, nash_cf, tol, "dominant LP cost vs nash closed form")])


@theorem("incentives.nash_equals_dominant",
         "For any deterministic time-dependent joint policy of a finite-horizon deterministic Markov game (normal-"
         "form games included): the minimal expected incentive paid along the policy's trajectory is the same for "
         "nash and dominant implementation (so nash <= dominant holds with equality), and equals "
         "Σ_i (BR_i(0, s_0) − R_i(0, s_0)), the agents' best-response gains against the policy without incentives "
         "(separate backward induction). Proof: V^η_i >= U_i >= BR_i for any feasible incentives of either kind "
         "(Bellman inequalities, incentives >= 0), and the cost is V^η_i(0, s_0) − R_i(0, s_0); the least-promise "
         "incentives chosen backwards reach V^η_i = BR_i and are dominant, hence Nash. Dominance costs only "
         "promises off the path, which are never paid. Assumes: no bound on incentives.",
         f"{MT04}, Section 3 (normal form); the argument in contractlab/solvers/incentive_optimum.py", all_cases)
def check_nash_equals_dominant(case: IncentiveCase) -> Evidence:
    policy = case.target()
    nash = min_incentives(case.game, policy, "nash")
    dom = min_incentives(case.game, policy, "dominant")
    gaps = float(best_response_gaps(case.game, policy).sum())
    tol = LP_TOL * _scale(case.game.rewards) * case.game.horizon
    return Evidence.combine([Evidence.at_most(nash.expected_cost, dom.expected_cost, tol, "nash cost <= dominant cost"),
                             Evidence.equal(nash.expected_cost, gaps, tol, "nash cost vs Σ best-response gains"),
                             Evidence.equal(dom.expected_cost, gaps, tol, "dominant cost vs Σ best-response gains")])


__all__ = ["EXACT_TOL", "LP_TOL", "IncentiveCase", "normal_form_cases", "markov_cases", "all_cases",
           "brute_force_welfare", "forward_returns", "backward_values", "best_response_value", "reachable",
           "dominance_slack", "best_response_gaps", "equilibrium_evidence"]


# --------------------------------------------------------------------------- Escape Room

@st.composite
def escape_rooms(draw):
    """ER(N, M) with ``N <= 4`` (81 joint states) and 1-5 steps, and drawn (state, joint action) pairs."""
    from ..theory.escape_room import EscapeRoom
    n = draw(st.integers(1, 4))
    m = draw(st.integers(1, n))
    steps = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    return EscapeRoom(n, m, steps), seed


def _escape_room_rules(positions: np.ndarray, actions: np.ndarray, m: int) -> tuple[np.ndarray, bool]:
    """Rewards and whether the episode ends, from the rules as the authors' code states them, with
    plain Python: door open iff at least ``m`` actions are lever (0); +10 for the door action (2) when
    open, else 0 for staying, else −1; the episode ends if the door was open and someone is at the
    door after moving."""
    open_ = sum(1 for a in actions if a == 0) >= m
    rewards = np.array([10.0 if (open_ and a == 2) else (0.0 if a == p else -1.0)
                        for p, a in zip(positions, actions)])
    return rewards, bool(open_ and any(a == 2 for a in actions))


@theorem("incentives.escape_room_optimum",
         "In Escape Room ER(N, M) (Yang et al.'s rules: positions lever/start/door, an action is the position moved "
         "to, the door is open iff at least M actions are lever, +10 for walking through an open door, −1 for any "
         "other move, the episode ends when someone is through an open door or after max_steps), the welfare optimum "
         "by DP over the joint positions equals max(0, 10(N − M) − M): M agents pull the lever while N − M walk "
         "through the door on the first step, or (M = N) nobody moves. The Markov game's rewards and end states "
         "equal the rules on drawn (state, joint action) pairs, and the batched core steps them alike.",
         f"{YANG}, Section 5.1 (Escape Room); the authors' incentive_design/env/escape_room.py", escape_rooms)
def check_escape_room_optimum(case) -> Evidence:
    from ..theory.escape_room import optimal_welfare
    room, seed = case
    game = room.as_markov_game()
    n = room.n_agents
    formula = max(0.0, 10.0 * (n - room.min_at_lever) - room.min_at_lever)
    items = [Evidence.equal(float(welfare_optimum(game).value), formula, EXACT_TOL,
                            "DP welfare optimum − max(0, 10(N − M) − M)"),
             Evidence.equal(float(optimal_welfare(n, room.min_at_lever)), formula, EXACT_TOL,
                            "escape_room.optimal_welfare − max(0, 10(N − M) − M)")]
    rng = np.random.default_rng(seed)
    states = rng.integers(0, game.n_states, 16)
    joint = rng.integers(0, game.n_joint_actions, 16)
    worst = 0.0
    for s, a in zip(states, joint):
        pos = np.array(np.unravel_index(s, (3,) * n))
        act = np.array(np.unravel_index(a, (3,) * n))
        rewards, ends = _escape_room_rules(pos, act, room.min_at_lever)
        worst = max(worst, float(np.abs(game.rewards[s, a] - rewards).max()))
        want_next = -1 if ends else int(np.ravel_multi_index(tuple(act), (3,) * n))
        worst = max(worst, 0.0 if int(game.next_state[s, a]) == want_next else 1.0)
        r_core, new_pos, done = room.step(pos[None].astype(np.int8), act[None].astype(np.int8), np.zeros(1, np.int64))
        worst = max(worst, float(np.abs(r_core[0] - rewards).max()), float(np.abs(new_pos[0] - act).max()),
                    0.0 if bool(done[0]) == (ends or room.max_steps == 1) else 1.0)
    items.append(Evidence.equal(worst, 0.0, EXACT_TOL, "largest difference of the Markov game / batched core from the "
                                                       "rules on 16 drawn (state, joint action) pairs"))
    return Evidence.combine(items)
