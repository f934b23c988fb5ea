"""Softmax policy-gradient agents of a :class:`~contractlab.theory.markov_game.TabularMarkovGame`,
the learners whose one-step update the meta-gradient designer differentiates (Yang, Wang, Trivedi,
Zhao, Zha, arXiv 2112.10859, Section 4, eq. for ``θ̂ = θ + α ∇_θ J(θ; r + η)``; the authors'
``pg_agent_m1.py``).

Agents
------
Agent ``i`` plays ``π_i(·|o) = softmax(logits_i(o))`` on its observation ``o = obs_i(s)``:

- ``"tabular"``: the parameters are the logits themselves, ``θ_i`` of shape ``(n_observations(i), K_i)``;
- ``"mlp"``: a one-hidden-layer network on the one-hot observation, ``logits = tanh(W_1[o] + b_1) W_2 + b_2``
  (the one-hot product is the row gather ``W_1[o]``; tanh rather than ReLU keeps the objective
  smooth, so finite differences apply in the tests).

Parameters are per agent a list of float64 tensors (``params[i]``); every function here is
functional (parameters in, tensors out), so a lookahead ``θ + α g`` built with
``create_graph=True`` is itself a valid parameter set that depends on the incentives.

Objective and its gradient
--------------------------
Agent ``i`` ascends its own incentivised return ``J_i(θ; r + η) = E[Σ_t r_i(s_t, a_t) + η_i(s_t, a_t)]``
(undiscounted over the finite horizon; ``η`` an ``(S, A, n)`` incentive table). Two estimators of
``∇_{θ_i} J_i`` (per agent, each on its own objective):

- ``"exact"``: autograd through the forward DP of :mod:`.game_torch` (``n`` backward passes,
  one per agent, as ``J_j`` depends on every agent's parameters);
- ``"sampled"``: REINFORCE on a batch of ``B`` episodes of the current policies
  (:func:`~contractlab.theory.markov_game.sample_episodes`),
  ``ĝ_i = (1/B) Σ_k Σ_t ∇ log π_i(a^k_{t,i}|o^k_{t,i}) (G^k_{t,i} − b^k_{t,i})`` with the return-to-go
  ``G^k_{t,i} = Σ_{t'≥t} r_i + η_i`` of the sampled steps and the baseline ``b^k_{t,i}`` = the
  *leave-one-out* batch mean of ``G_{t,i}`` over the other ``B − 1`` episodes (``0`` for episodes
  that have ended; :data:`BASELINES`). The baseline does not depend on episode ``k``'s actions, so
  ``E[ĝ_i] = ∇_{θ_i} J_i`` exactly (the plain batch mean, which includes episode ``k``, would bias
  the estimate by ``O(1/B)``).

A step is ``θ_i ← θ_i + α ĝ_i`` (plain gradient ascent, :func:`step`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.markov_game import TabularMarkovGame, sample_episodes
from .game_torch import DTYPE, GameTensors, expected_returns, require_torch

torch = require_torch()

__all__ = ["AgentConfig", "AGENT_KINDS", "GRADIENTS", "BASELINES", "Batch", "init_params", "logits", "probabilities",
           "probabilities_numpy", "sample_batch", "policy_gradient", "step", "detach", "to_numpy"]

AGENT_KINDS = ("tabular", "mlp")
GRADIENTS = ("exact", "sampled")
#: ``"loo"``: leave-one-out batch mean of the return-to-go; ``"none"``: no baseline.
BASELINES = ("loo", "none")


@dataclass(frozen=True)
class AgentConfig:
    """The agents' learner: ``kind`` (:data:`AGENT_KINDS`), step size ``lr`` (``α``), hidden width of
    the MLP, the scale of the initial parameters (tabular: ``θ ~ N(0, init_scale²)``, ``0`` = uniform
    policies; MLP: the output layer is scaled by it, hidden layer ``N(0, 1)``), and the baseline of the
    sampled estimator."""

    kind: str = "tabular"
    lr: float = 1.0
    hidden: int = 8
    init_scale: float = 0.0
    baseline: str = "loo"

    def __post_init__(self) -> None:
        if self.kind not in AGENT_KINDS:
            raise InvalidInstanceError("agent.kind", f"must be one of {AGENT_KINDS}, got {self.kind!r}")
        if self.baseline not in BASELINES:
            raise InvalidInstanceError("agent.baseline", f"must be one of {BASELINES}, got {self.baseline!r}")
        if not (math.isfinite(self.lr) and self.lr >= 0):
            raise InvalidInstanceError("agent.lr", f"must be a finite number >= 0, got {self.lr}")
        if not (math.isfinite(self.init_scale) and self.init_scale >= 0):
            raise InvalidInstanceError("agent.init_scale", f"must be a finite number >= 0, got {self.init_scale}")
        if int(self.hidden) < 1:
            raise InvalidInstanceError("agent.hidden", f"must be at least 1, got {self.hidden}")


def init_params(game: TabularMarkovGame, config: AgentConfig, generator) -> list[list["torch.Tensor"]]:
    """Initial parameters per agent (leaf tensors with ``requires_grad``), drawn from the
    ``torch.Generator`` ``generator``."""
    out = []
    for i in range(game.n_agents):
        n_obs, K = game.n_observations(i), game.n_actions[i]
        if config.kind == "tabular":
            ps = [config.init_scale * torch.randn(n_obs, K, generator=generator, dtype=DTYPE)]
        else:
            h = int(config.hidden)
            ps = [torch.randn(n_obs, h, generator=generator, dtype=DTYPE), torch.zeros(h, dtype=DTYPE),
                  config.init_scale * torch.randn(h, K, generator=generator, dtype=DTYPE) / math.sqrt(h),
                  torch.zeros(K, dtype=DTYPE)]
        out.append([p.requires_grad_(True) for p in ps])
    return out


def logits(config: AgentConfig, params) -> list["torch.Tensor"]:
    """``logits[i]`` of shape ``(n_observations(i), K_i)``: every observation's action logits."""
    if config.kind == "tabular":
        return [ps[0] for ps in params]
    return [torch.tanh(w1 + b1) @ w2 + b2 for w1, b1, w2, b2 in params]


def probabilities(config: AgentConfig, params) -> list["torch.Tensor"]:
    """``π_i(·|o)`` for every observation, per agent."""
    return [torch.softmax(lg, dim=-1) for lg in logits(config, params)]


def probabilities_numpy(config: AgentConfig, params) -> list[np.ndarray]:
    """The policies as numpy arrays (no graph), e.g. for sampling or :func:`~contractlab.theory.markov_game.evaluate`."""
    with torch.no_grad():
        return [p.detach().numpy().copy() for p in probabilities(config, params)]


@dataclass(frozen=True, eq=False)
class Batch:
    """A batch of episodes (numpy arrays of :func:`~contractlab.theory.markov_game.sample_episodes`):
    ``states (B, H)`` (-1 after the end), ``actions (B, H, n)``, ``rewards (B, H, n)``, ``alive (B, H)``,
    and the joint action index of every step ``joint (B, H)`` (0 after the end)."""

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    alive: np.ndarray
    joint: np.ndarray

    @property
    def n_episodes(self) -> int:
        return self.states.shape[0]


def sample_batch(game: TabularMarkovGame, policies: list[np.ndarray], n_episodes: int,
                 rng: np.random.Generator) -> Batch:
    """``n_episodes`` independent episodes of the (numpy) ``policies``, all stepped at once."""
    states, actions, rewards, alive = sample_episodes(game, policies, n_episodes, rng)
    joint = np.where(alive, game.joint_index(actions), 0)
    return Batch(states, actions, rewards, alive, joint)


def _returns_to_go(step_values: "torch.Tensor") -> "torch.Tensor":
    """``(B, H, ...)``: ``Σ_{t' >= t}`` along axis 1."""
    return torch.flip(torch.cumsum(torch.flip(step_values, (1,)), 1), (1,))


def loo_baseline(values: "torch.Tensor") -> "torch.Tensor":
    """Leave-one-out mean over the batch axis 0: ``(Σ_j v_j − v_k)/(B − 1)`` (``0`` if ``B = 1``)."""
    B = values.shape[0]
    if B < 2:
        return torch.zeros_like(values)
    return (values.sum(0, keepdim=True) - values) / (B - 1)


def step_log_probs(game: TabularMarkovGame, config: AgentConfig, params, batch: Batch) -> "torch.Tensor":
    """``(B, H, n)``: ``log π_i(a_{t,i}|o_{t,i})`` of every sampled step (0 after the end)."""
    alive = torch.as_tensor(batch.alive)
    s = np.where(batch.alive, batch.states, 0)
    out = []
    for i, lg in enumerate(logits(config, params)):
        logp = torch.log_softmax(lg, dim=-1)
        obs = torch.as_tensor(game.observations[i][s])
        out.append(logp[obs, torch.as_tensor(batch.actions[:, :, i])])
    return torch.where(alive[:, :, None], torch.stack(out, -1), torch.zeros((), dtype=DTYPE))


def step_incentives(batch: Batch, incentive: "torch.Tensor | None", n_agents: int) -> "torch.Tensor":
    """``(B, H, n)``: the incentive ``η[s_t, a_t, i]`` of every sampled step (0 after the end)."""
    B, H = batch.states.shape
    if incentive is None:
        return torch.zeros((B, H, n_agents), dtype=DTYPE)
    s = torch.as_tensor(np.where(batch.alive, batch.states, 0))
    vals = incentive[s, torch.as_tensor(batch.joint)]
    return torch.where(torch.as_tensor(batch.alive)[:, :, None], vals, torch.zeros((), dtype=DTYPE))


def sampled_surrogate(game: TabularMarkovGame, config: AgentConfig, params, batch: Batch,
                      incentive: "torch.Tensor | None") -> "torch.Tensor":
    """``(n,)``: the REINFORCE surrogates ``(1/B) Σ_k Σ_t log π_i(a_{t,i}|o) (G_{t,i} − b_{t,i})``;
    the gradient of entry ``i`` in ``θ_i`` is the estimator ``ĝ_i`` (module docstring). ``G`` keeps
    its dependence on the incentive table (a lookahead built on it depends on the incentives)."""
    step_r = torch.as_tensor(batch.rewards, dtype=DTYPE) + step_incentives(batch, incentive, game.n_agents)
    G = _returns_to_go(step_r)
    adv = G - loo_baseline(G) if config.baseline == "loo" else G
    adv = torch.where(torch.as_tensor(batch.alive)[:, :, None], adv, torch.zeros((), dtype=DTYPE))
    return (step_log_probs(game, config, params, batch) * adv).sum(1).mean(0)


def policy_gradient(gt: GameTensors, config: AgentConfig, params, incentive: "torch.Tensor | None" = None,
                    batch: Batch | None = None, create_graph: bool = False) -> list[list["torch.Tensor"]]:
    """``∇_{θ_i} J_i(θ; r + η)`` for every agent ``i``: exact (``batch=None``, autograd through the DP)
    or the REINFORCE estimate on ``batch``. With ``create_graph=True`` the result stays a function
    of ``params`` and of ``incentive`` (for the designer's lookahead)."""
    if batch is None:
        J = expected_returns(gt, probabilities(config, params), incentive)
        return [list(torch.autograd.grad(J[i], params[i], create_graph=create_graph, retain_graph=True))
                for i in range(len(params))]
    surrogate = sampled_surrogate(gt.game, config, params, batch, incentive).sum()
    flat = [p for ps in params for p in ps]
    grads = torch.autograd.grad(surrogate, flat, create_graph=create_graph)
    out, k = [], 0
    for ps in params:
        out.append(list(grads[k:k + len(ps)]))
        k += len(ps)
    return out


def step(params, grads, lr: float) -> list[list["torch.Tensor"]]:
    """``θ + α g`` (keeps the graph of both)."""
    return [[p + lr * g for p, g in zip(ps, gs)] for ps, gs in zip(params, grads)]


def detach(params) -> list[list["torch.Tensor"]]:
    """New leaf parameters with the values of ``params`` (``requires_grad``)."""
    return [[p.detach().clone().requires_grad_(True) for p in ps] for ps in params]


def to_numpy(params) -> list[list[np.ndarray]]:
    return [[p.detach().numpy().copy() for p in ps] for ps in params]
