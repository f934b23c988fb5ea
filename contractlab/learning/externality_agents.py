"""Learning agents in an MDP with externalities, facing posted transfers (many runs at once).

The agent of :mod:`contractlab.theory.externality` learns its policy from episodes: it sees its
own private reward, the outcome and the transfer it was paid, and (being the one who acts) its
own action. Two kinds, one interface (``start``, ``policy``, ``update``, ``restart``):

:class:`QLearningAgent` — finite-horizon tabular Q-learning (Watkins & Dayan 1992; the
    time-indexed form of Jin et al., *Is Q-learning provably efficient?*, NeurIPS 2018, without
    their bonus): ``Q(t, s, a) ← (1 − α) Q + α (r + b + γ max_a' Q(t + 1, s', a'))`` on the
    visited triple, step size ``α = n(t, s, a)^(−learning_exponent)``, ε-greedy with
    ``ε = min(1, explore · n(t, s)^(−explore_exponent))`` (``n`` are visit counts since the last
    restart). Decaying exploration makes its regret sublinear on a fixed problem; it is not a
    worst-case no-regret learner.

:class:`NoRegretAgent` — one no-regret learner of :mod:`contractlab.learning.no_regret` at every
    decision node ``(t, s)`` ("experts in every state": Even-Dar, Kakade & Mansour, *Online
    Markov decision processes*, Math. Oper. Res. 2009). Full-information learners (Hedge, RM,
    RM+, FTL) receive, after every episode, the losses of EVERY node: the agent's exact action
    values ``Q^{π_n}(t, s, ·)`` of its current policy under the posted transfers (it knows its
    own MDP and reads the posted transfers), mapped into ``[0, 1]``. By the performance difference
    lemma (Kakade & Langford 2002), ``Σ_n [V*(s_0) − V^{π_n}(s_0)] = Σ_{t,s} d*_t(s) ·
    Regret_{t,s}(n)`` with ``d*`` the visit distribution of a best policy, so the agent's regret
    against its best fixed policy is sublinear whenever every node's is. EXP3 (bandit) sees only
    the realised return-to-go at the nodes it visited (unvisited nodes get the all-zero loss
    vector, which leaves EXP3's estimates unchanged); there the decomposition is not a theorem and
    sublinearity is checked empirically. UCB1 is not offered: its round counter is shared by all
    runs of a state, and nodes are visited asynchronously.

Losses are ``(Q_hi(t) − Q)/(Q_hi(t) − Q_lo(t))`` with ``Q_lo(t) = Σ_{k<H−t} γ^k min r`` and
``Q_hi(t) = Σ_{k<H−t} γ^k (max r + b_max)``, ``b_max`` the largest transfer posted to the run (so
the loss of the best action is smallest; each run scales by its own posted schedule, so a run is
the same alone or in a batch).

**Restarts.** When the principal announces new transfers (a new probe block of the two-phase
mechanism, and the start of its Phase 2), ``restart`` is called: the no-regret agent starts its
node learners afresh, tuned to the announced block length (a learner that knows the game changed
forgets the old one); the Q-learner keeps its values but resets its visit counts (so its step sizes
and exploration rise again). This is a modelling assumption of the mechanism (see
:mod:`contractlab.learning.two_phase`): a mean-based learner that kept the whole history would take
longer and longer to respond to each new probe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.externality_sim import Episodes, PaddedModel
from ..theory.validation import check_real
from .no_regret import LEARNERS

#: The no-regret learners an agent may run at its nodes (UCB1 excluded: module docstring).
NODE_LEARNERS = ("hedge", "rm", "rm+", "ftl", "exp3")


def _value_bounds(m: PaddedModel, b_max: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(R, H)`` lower and upper bounds on the agent's action values at each step of each run
    (``b_max`` ``(R,)``: the largest transfer posted to the run)."""
    H = m.horizon
    tail = np.array([sum(m.discount ** k for k in range(H - t)) for t in range(H)])
    r = m.r[: m.n_states]
    lo = np.broadcast_to(tail * float(r.min()), (len(b_max), H))
    hi = tail[None, :] * (float(r.max()) + np.maximum(0.0, b_max)[:, None])
    hi = np.where(hi - lo > 0, hi, lo + 1.0)
    return lo, hi


@dataclass
class QState:
    Q: np.ndarray           # (R, H, S+1, A)
    n_sa: np.ndarray        # visits since restart
    n_s: np.ndarray


@dataclass(frozen=True)
class QLearningAgent:
    """Tabular finite-horizon Q-learning with decaying step sizes and ε-greedy exploration
    (module docstring). Greedy ties go to the lowest action index."""

    learning_exponent: float = 0.7
    explore: float = 1.0
    explore_exponent: float = 1.0 / 3.0

    name = "q-learning"
    needs_agent_q = False

    def __post_init__(self):
        check_real("learning_exponent", self.learning_exponent, 0.5, 1.0)
        check_real("explore", self.explore, 0.0, 1.0)
        check_real("explore_exponent", self.explore_exponent, 0.0, 1.0)

    def start(self, m: PaddedModel, n_runs: int) -> QState:
        shape = (n_runs, m.horizon, m.n_states + 1, m.n_actions)
        return QState(np.zeros(shape), np.zeros(shape), np.zeros(shape[:3]))

    def restart(self, state: QState, m: PaddedModel, transfers: np.ndarray, block_length: int) -> None:
        state.n_sa[:] = 0.0
        state.n_s[:] = 0.0

    def policy(self, state: QState) -> np.ndarray:
        Q = state.Q
        A = Q.shape[-1]
        greedy = Q.argmax(axis=-1)
        eps = np.minimum(1.0, self.explore * np.maximum(state.n_s, 1.0) ** (-self.explore_exponent))
        p = np.repeat((eps / A)[..., None], A, axis=-1)
        np.put_along_axis(p, greedy[..., None], (1.0 - eps + eps / A)[..., None], axis=-1)
        return p

    def update(self, state: QState, m: PaddedModel, ep: Episodes, transfers: np.ndarray, values: dict) -> None:
        R, H = ep.state.shape
        runs = np.arange(R)
        for t in range(H):
            live = ep.alive[:, t]
            if not live.any():
                continue
            rr, s, a = runs[live], ep.state[live, t], ep.action[live, t]
            target = ep.private[live, t] + ep.transfer[live, t]
            if t + 1 < H:
                s2 = ep.state[live, t + 1]
                target = target + m.discount * np.where(s2 == m.done, 0.0, state.Q[rr, t + 1, s2].max(axis=-1))
            state.n_sa[rr, t, s, a] += 1.0
            state.n_s[rr, t, s] += 1.0
            alpha = state.n_sa[rr, t, s, a] ** (-self.learning_exponent)
            state.Q[rr, t, s, a] += alpha * (target - state.Q[rr, t, s, a])


@dataclass
class NodeState:
    learner_state: Any
    lo: np.ndarray          # (R, H) value bounds of the current block
    hi: np.ndarray
    shape: tuple


@dataclass(frozen=True)
class NoRegretAgent:
    """A no-regret learner at every decision node (module docstring). ``learner`` is one of
    :data:`NODE_LEARNERS`; ``eta`` fixes Hedge's or EXP3's rate (``None``: tuned to each
    announced block length)."""

    learner: str = "hedge"
    eta: float | None = None

    def __post_init__(self):
        if self.learner not in NODE_LEARNERS:
            raise InvalidInstanceError("learner", f"must be one of {', '.join(NODE_LEARNERS)}, got {self.learner!r}")
        if self.eta is not None:
            check_real("eta", self.eta, 0.0, low_open=True)

    @property
    def name(self) -> str:
        return self.learner

    @property
    def needs_agent_q(self) -> bool:
        """Full-information node learners are fed the exact action values of every node."""
        return self.learner != "exp3"

    def _make(self, n_actions: int):
        cls = LEARNERS[self.learner]
        return cls(n_actions, eta=self.eta) if self.learner in ("hedge", "exp3") else cls(n_actions)

    def start(self, m: PaddedModel, n_runs: int) -> NodeState:
        shape = (n_runs, m.horizon, m.n_states + 1, m.n_actions)
        lo, hi = _value_bounds(m, np.zeros(n_runs))
        learner = self._make(m.n_actions)
        return NodeState(learner.start(int(np.prod(shape[:3])), 1), lo, hi, shape)

    def restart(self, state: NodeState, m: PaddedModel, transfers: np.ndarray, block_length: int) -> None:
        learner = self._make(m.n_actions)
        state.learner_state = learner.start(int(np.prod(state.shape[:3])), max(1, int(block_length)))
        state.lo, state.hi = _value_bounds(m, transfers.reshape(len(transfers), -1).max(axis=1, initial=0.0))

    def policy(self, state: NodeState) -> np.ndarray:
        learner = self._make(state.shape[-1])
        return learner.probabilities(state.learner_state).reshape(state.shape)

    def update(self, state: NodeState, m: PaddedModel, ep: Episodes, transfers: np.ndarray, values: dict) -> None:
        """``values``: :func:`~contractlab.theory.externality_sim.policy_values` of the episode's
        policy under ``transfers`` (with ``"agent_q"`` when :attr:`needs_agent_q`)."""
        learner = self._make(state.shape[-1])
        lo, hi = state.lo[:, :, None, None], state.hi[:, :, None, None]
        if learner.feedback == "full":
            q = values["agent_q"]
            losses = np.clip((hi - q) / (hi - lo), 0.0, 1.0).reshape(-1, state.shape[-1])
            learner.weights(state.learner_state)        # RM caches the strategy it is scored on
            learner.observe(state.learner_state, None, losses)
            return
        R, H = ep.state.shape
        d = m.discount ** np.arange(H)
        gains = (ep.private + ep.transfer) * d[None]
        to_go = np.cumsum(gains[:, ::-1], axis=1)[:, ::-1] / d[None]        # return from step t on
        actions = np.zeros(state.shape[:3], dtype=np.int64)
        losses = np.zeros(state.shape[:3])
        runs = np.arange(R)
        for t in range(H):
            live = ep.alive[:, t]
            rr, s = runs[live], ep.state[live, t]
            actions[rr, t, s] = ep.action[live, t]
            hi_t, lo_t = state.hi[rr, t], state.lo[rr, t]
            losses[rr, t, s] = np.clip((hi_t - to_go[live, t]) / (hi_t - lo_t), 0.0, 1.0)
        learner.weights(state.learner_state)            # EXP3 reads the probabilities of the played actions
        learner.observe(state.learner_state, actions.reshape(-1), losses.reshape(-1))


@dataclass
class BestResponseState:
    policy: np.ndarray      # (R, H, S+1, A) one-hot


@dataclass(frozen=True)
class BestResponder:
    """Not a learner: the exact best response to the posted transfers, recomputed at every
    announcement by backward induction on the agent's own values (ties to the lowest action
    index). The reference agent of the mechanism's soundness checks: with it, every probe's
    response is the agent's true preference."""

    name = "best-response"
    needs_agent_q = False

    def start(self, m: PaddedModel, n_runs: int) -> BestResponseState:
        state = BestResponseState(np.zeros((n_runs, m.horizon, m.n_states + 1, m.n_actions)))
        self.restart(state, m, np.zeros((n_runs, m.horizon, m.n_states + 1, m.n_outcomes)), 1)
        return state

    def restart(self, state: BestResponseState, m: PaddedModel, transfers: np.ndarray, block_length: int) -> None:
        R, H = transfers.shape[:2]
        S1, K = m.n_states + 1, m.n_outcomes
        Pt = m.P.reshape(S1 * K, S1).T
        V = np.zeros((R, S1))
        state.policy[:] = 0.0
        for t in range(H - 1, -1, -1):
            cont = transfers[:, t] + m.discount * (V @ Pt).reshape(R, S1, K)
            q = m.r + np.matmul(m.O, cont[..., None])[..., 0]
            best = q.argmax(axis=2)
            np.put_along_axis(state.policy[:, t], best[..., None], 1.0, axis=2)
            V = np.take_along_axis(q, best[..., None], axis=2)[..., 0]

    def policy(self, state: BestResponseState) -> np.ndarray:
        return state.policy

    def update(self, state, m, ep, transfers, values) -> None:
        """Nothing to learn: the policy changes only when new transfers are announced (``restart``)."""


def make_agent(name: str, eta: float | None = None):
    """An agent by name: ``"q-learning"``, ``"best-response"`` or one of :data:`NODE_LEARNERS`."""
    if name == "q-learning":
        return QLearningAgent()
    if name == "best-response":
        return BestResponder()
    return NoRegretAgent(name, eta)


#: Every agent by the name the command line takes.
AGENTS = ("q-learning",) + NODE_LEARNERS + ("best-response",)

__all__ = ["QLearningAgent", "NoRegretAgent", "BestResponder", "NODE_LEARNERS", "AGENTS", "make_agent"]
