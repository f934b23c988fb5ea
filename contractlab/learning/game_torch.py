"""Differentiable exact expectations over a :class:`~contractlab.theory.markov_game.TabularMarkovGame`
(torch, float64), for the policy-gradient agents and the meta-gradient designer (Yang et al.,
arXiv 2112.10859, Section 4; :mod:`.pg_agents`, :mod:`.meta_gradient`).

The same forward dynamic programme as :func:`contractlab.theory.markov_game.evaluate` (the state
distribution ``d_t`` of every step, ``d_{t+1}(s') = Σ_{s,a: next(s,a)=s'} d_t(s) π(a|s)``), written
with torch operations (``index_add`` over the live transitions) so that autograd differentiates
the expected returns with respect to the policy probabilities and to an added reward table (the
incentives). Memory is ``O(S·A)``.

This module needs the optional extra ``[deep]`` (torch); :func:`require_torch` raises an
ImportError naming ``pip install "contractlab[deep]"`` when torch is missing. Nothing in
``theory/``, ``solvers/`` or the registered theorems imports it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..theory.markov_game import TabularMarkovGame

__all__ = ["require_torch", "GameTensors", "joint_policy", "state_distributions", "expected_returns",
           "expected_step_sums", "DTYPE"]

#: Every tensor of the incentive-design learners is float64 (tight comparisons with numpy).
DTYPE_NAME = "float64"


def require_torch():
    """Import torch, or raise an ImportError that says how to install it."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - the test extra installs torch
        raise ImportError('the policy-gradient agents and the meta-gradient designer need torch: '
                          f'pip install "contractlab[deep]" ({exc})') from None
    return torch


torch = require_torch()
DTYPE = getattr(torch, DTYPE_NAME)


@dataclass(frozen=True, eq=False)
class GameTensors:
    """The arrays of a game as torch tensors (built once per game)."""

    game: TabularMarkovGame
    next_state: "torch.Tensor"      # (S, A) long, -1 = end
    rewards: "torch.Tensor"         # (S, A, n)
    observations: "torch.Tensor"    # (n, S) long
    joint_actions: "torch.Tensor"   # (A, n) long
    live_s: "torch.Tensor"          # (L,) state of each live transition
    live_a: "torch.Tensor"          # (L,) joint action of each live transition
    live_next: "torch.Tensor"       # (L,) its next state

    @staticmethod
    def of(game: TabularMarkovGame) -> "GameTensors":
        nxt = torch.tensor(np.array(game.next_state), dtype=torch.long)
        live = (nxt >= 0).nonzero(as_tuple=True)
        return GameTensors(game, nxt, torch.tensor(np.array(game.rewards), dtype=DTYPE),
                           torch.tensor(np.array(game.observations), dtype=torch.long),
                           torch.as_tensor(game.joint_actions(), dtype=torch.long),
                           live[0], live[1], nxt[live])


def joint_policy(gt: GameTensors, probs) -> "torch.Tensor":
    """``(S, A)``: ``Π_i probs[i][obs_i(s), a_i]`` (``probs[i]`` of shape ``(n_observations(i), K_i)``)."""
    out = None
    for i, p in enumerate(probs):
        term = p[gt.observations[i]][:, gt.joint_actions[:, i]]
        out = term if out is None else out * term
    return out


def state_distributions(gt: GameTensors, pi: "torch.Tensor") -> "torch.Tensor":
    """``(H, S)``: the probability of being in ``s`` at step ``t`` under the joint policy ``pi``."""
    g = gt.game
    d = [torch.zeros(g.n_states, dtype=DTYPE).index_fill(0, torch.tensor([g.initial_state]), 1.0)]
    for _ in range(g.horizon - 1):
        flow = (d[-1][:, None] * pi)[gt.live_s, gt.live_a]
        d.append(torch.zeros(g.n_states, dtype=DTYPE).index_add(0, gt.live_next, flow))
    return torch.stack(d)


def expected_step_sums(gt: GameTensors, probs, table: "torch.Tensor") -> "torch.Tensor":
    """``(n,)``: ``E[Σ_t table[s_t, a_t, :]]`` under the agents' ``probs`` for any ``(S, A, n)`` table
    (the rewards, the incentives, or their sum)."""
    pi = joint_policy(gt, probs)
    d = state_distributions(gt, pi)
    return torch.einsum("s,sa,sai->i", d.sum(0), pi, table)


def expected_returns(gt: GameTensors, probs, incentive: "torch.Tensor | None" = None) -> "torch.Tensor":
    """``(n,)``: each agent's exact expected return ``J_i(θ; r + η)`` with the ``(S, A, n)`` incentive
    table added to the rewards (none: ``J_i(θ; r)``, the value of
    :func:`~contractlab.theory.markov_game.evaluate`)."""
    table = gt.rewards if incentive is None else gt.rewards + incentive
    return expected_step_sums(gt, probs, table)
