"""The batched episode core of an :class:`~contractlab.theory.externality.ExternalityMDP`: many
runs step at once, each with its own policy and its own posted transfers.

An episode is the protocol of :mod:`contractlab.theory.externality` (transfers posted, hidden
action, observed outcome, externality, stock moves), for ``R`` runs in lock-step. The model's
terminal successors (``next_state = -1``, a zero ``transitions`` row) are folded into one extra
absorbing *done* state with index ``S``: nothing is earned or paid there, so a run that ends early
simply idles to the horizon. Policies and transfers are therefore arrays over ``S + 1`` states;
the row of the done state is ignored.

Also here, for the same padded arrays: the exact expected welfare of a (mixed, time-indexed)
policy, and the agent's exact action values under posted transfers — the two quantities the
steering mechanism and its checks need every episode (policy evaluation by backward induction over
the horizon; Puterman, *Markov Decision Processes*, 1994, Section 4.2).

Randomness: the caller hands in uniforms ``u`` of shape ``(R, H, 3)`` per episode (action,
outcome, successor); a run's uniforms come from its own generator, so a run is the same alone or
in any batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .externality import ExternalityMDP


@dataclass(frozen=True, eq=False)
class PaddedModel:
    """The model's arrays with the absorbing done state appended (index ``S``).

    Attributes
    ----------
    O:
        ``(S + 1, A, K)`` outcome distributions (the done state emits outcome 0).
    r:
        ``(S + 1, A)`` private rewards (0 in the done state).
    e:
        ``(S + 1, K)`` externality (0 in the done state).
    P:
        ``(S + 1, K, S + 1)`` successor distributions (the done state and every terminal
        outcome lead to the done state).
    horizon, discount, initial_state:
        As in the model.
    n_states:
        ``S``, the model's states (the done state not counted).
    """

    O: np.ndarray
    r: np.ndarray
    e: np.ndarray
    P: np.ndarray
    horizon: int
    discount: float
    initial_state: int
    n_states: int

    @property
    def n_actions(self) -> int:
        return self.O.shape[1]

    @property
    def n_outcomes(self) -> int:
        return self.O.shape[2]

    @property
    def done(self) -> int:
        """The index of the absorbing done state."""
        return self.n_states

    @property
    def discounts(self) -> np.ndarray:
        """``γ^t`` for ``t = 0, …, H − 1``."""
        return self.discount ** np.arange(self.horizon, dtype=float)

    @property
    def welfare_sa(self) -> np.ndarray:
        """``(S + 1, A)``: ``r(s, a) + Σ_o O(s, a, o) e(s, o)``, the expected one-step welfare."""
        return self._cache("welfare_sa", lambda: self.r + np.einsum("sak,sk->sa", self.O, self.e))

    @property
    def outcome_cdf(self) -> np.ndarray:
        """``(S + 1, A, K)`` cumulative outcome probabilities."""
        return self._cache("outcome_cdf", lambda: self.O.cumsum(axis=2))

    @property
    def successor_cdf(self) -> np.ndarray:
        """``(S + 1, K, S + 1)`` cumulative successor probabilities."""
        return self._cache("successor_cdf", lambda: self.P.cumsum(axis=2))

    def _cache(self, name, make):
        store = self.__dict__.setdefault("_derived", {})
        if name not in store:
            store[name] = make()
            store[name].flags.writeable = False
        return store[name]


def pad(model: ExternalityMDP) -> PaddedModel:
    """The arrays of ``model`` with the done state appended (module docstring)."""
    S, A, K = model.n_states, model.n_actions, model.n_outcomes
    O = np.zeros((S + 1, A, K))
    O[:S] = model.outcome_probs
    O[S, :, 0] = 1.0
    r = np.zeros((S + 1, A))
    r[:S] = model.private_rewards
    e = np.zeros((S + 1, K))
    e[:S] = model.externality
    P = np.zeros((S + 1, K, S + 1))
    if model.next_state is not None:
        nxt = np.where(model.next_state < 0, S, model.next_state)
        P[np.arange(S)[:, None], np.arange(K)[None, :], nxt] = 1.0
    else:
        P[:S, :, :S] = model.transitions
        P[:S, :, S] = np.clip(1.0 - model.transitions.sum(axis=2), 0.0, 1.0)
        P[:S, :, S][P[:S, :, S] < 1e-12] = 0.0
    P[S, :, S] = 1.0
    return PaddedModel(O=O, r=r, e=e, P=P, horizon=model.horizon, discount=float(model.discount),
                       initial_state=model.initial_state, n_states=S)


@dataclass(frozen=True, eq=False)
class Episodes:
    """One episode of ``R`` runs; every array is ``(R, H)``.

    ``state``, ``action``, ``outcome``: what happened at each step (in the done state the
    action and outcome are meaningless); ``alive``: the run had not ended before the step;
    ``private``, ``externality``, ``transfer``: the step's private reward, externality and
    transfer (0 once ended), undiscounted."""

    state: np.ndarray
    action: np.ndarray
    outcome: np.ndarray
    alive: np.ndarray
    private: np.ndarray
    externality: np.ndarray
    transfer: np.ndarray

    def returns(self, discounts: np.ndarray) -> dict[str, np.ndarray]:
        """``(R,)`` discounted sums: the agent's utility ``Σ γ^t (r + b)``, the principal's
        ``Σ γ^t (e − b)`` and the welfare ``Σ γ^t (r + e)``, each summed on its own."""
        d = discounts[None, :]
        return {"agent": ((self.private + self.transfer) * d).sum(axis=1),
                "principal": ((self.externality - self.transfer) * d).sum(axis=1),
                "welfare": ((self.private + self.externality) * d).sum(axis=1)}


def _draw(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws: ``cdf`` ``(R, n)`` cumulative weights (last entry the total), ``u`` ``(R,)``
    in ``[0, 1)``: the first index whose cumulative weight exceeds ``u`` times the total."""
    idx = (cdf <= u[:, None] * cdf[:, -1:]).sum(axis=1)
    return np.minimum(idx, cdf.shape[1] - 1)


def play_episode(m: PaddedModel, policy: np.ndarray, transfers: np.ndarray, u: np.ndarray) -> Episodes:
    """Play one episode of every run.

    Parameters
    ----------
    m:
        :func:`pad` of the model.
    policy:
        ``(R, H, S + 1, A)`` the agents' action probabilities (rows with a positive sum).
    transfers:
        ``(R, H, S + 1, K)`` the posted transfers ``b(t, s, o)``.
    u:
        ``(R, H, 3)`` uniforms in ``[0, 1)``: action, outcome, successor of each step.
    """
    R, H = policy.shape[0], m.horizon
    runs = np.arange(R)
    s = np.full(R, m.initial_state, dtype=np.int64)
    state, action, outcome = (np.empty((R, H), dtype=np.int64) for _ in range(3))
    cdf_o, cdf_p = m.outcome_cdf, m.successor_cdf
    for t in range(H):
        state[:, t] = s
        a = action[:, t] = _draw(policy[runs, t, s].cumsum(axis=1), u[:, t, 0])
        o = outcome[:, t] = _draw(cdf_o[s, a], u[:, t, 1])
        s = _draw(cdf_p[s, o], u[:, t, 2])
    alive = state != m.done
    private = np.where(alive, m.r[state, action], 0.0)
    ext = np.where(alive, m.e[state, outcome], 0.0)
    pay = np.where(alive, transfers[runs[:, None], np.arange(H)[None, :], state, outcome], 0.0)
    return Episodes(state=state, action=action, outcome=outcome, alive=alive, private=private,
                    externality=ext, transfer=pay)


def policy_values(m: PaddedModel, policy: np.ndarray, transfers: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Exact values of a mixed time-indexed policy by backward induction.

    Returns ``"welfare"`` ``(R, H, S + 1)`` (the expected welfare from ``(t, s)``; transfers do
    not enter it), and, if ``transfers`` ``(R, H, S + 1, K)`` is given, ``"agent_q"``
    ``(R, H, S + 1, A)``: the agent's value of each action at ``(t, s)`` followed by ``policy``,
    transfers included (``r(s, a) + Σ_o O(s, a, o) [b(t, s, o) + γ Σ_{s'} P(s, o, s') V(t + 1, s')]``),
    and ``"agent"`` ``(R, H, S + 1)`` its value under ``policy``.
    """
    R, H = policy.shape[0], m.horizon
    S1, K = m.n_states + 1, m.n_outcomes
    w_sa, O, g = m.welfare_sa, m.O, m.discount
    Pt = m.P.reshape(S1 * K, S1).T                                  # (S+1, (S+1)K)
    W = np.zeros((R, H, S1))
    W_next = np.zeros((R, S1))
    agent = transfers is not None
    if agent:
        Q = np.empty(policy.shape)
        V = np.zeros((R, H, S1))
        V_next = np.zeros((R, S1))
    for t in range(H - 1, -1, -1):
        cont = (W_next @ Pt).reshape(R, S1, K)                       # Σ_s' P(s, o, s') W(t+1, s')
        qw = w_sa + g * np.matmul(O, cont[..., None])[..., 0]       # (R, S+1, A)
        W[:, t] = W_next = (policy[:, t] * qw).sum(axis=2)
        if agent:
            cont_a = transfers[:, t] + g * (V_next @ Pt).reshape(R, S1, K)
            Q[:, t] = m.r + np.matmul(O, cont_a[..., None])[..., 0]
            V[:, t] = V_next = (policy[:, t] * Q[:, t]).sum(axis=2)
    out = {"welfare": W}
    if agent:
        out["agent_q"], out["agent"] = Q, V
    return out


def draw_episode_uniforms(rngs, n_episodes: int, horizon: int) -> np.ndarray:
    """``(n_episodes, R, H, 3)`` uniforms, run ``r``'s from ``rngs[r]`` in episode order (so the
    same for any split of the episodes into chunks)."""
    out = np.empty((n_episodes, len(rngs), horizon, 3))
    for i, rng in enumerate(rngs):
        out[:, i] = rng.random((n_episodes, horizon, 3))
    return out


__all__ = ["PaddedModel", "Episodes", "pad", "play_episode", "policy_values", "draw_episode_uniforms"]
