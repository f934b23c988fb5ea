"""The baselines of the meta-gradient incentive designer: dual-RL, AMD, fixed incentives, no incentives.

Yang, Wang, Trivedi, Zhao, Zha, *Adaptive Incentive Design with Multi-Agent Meta-Gradient
Reinforcement Learning* (AAMAS 2022, arXiv 2112.10859) compare the meta-gradient designer
(:mod:`.meta_gradient`) with a learning-oblivious RL designer ("dual-RL") and with AMD (Baumann,
Graepel, Shawe-Taylor, *Adaptive Mechanism Design: Learning to Promote Cooperation*, 2018,
arXiv 1806.04067). Every baseline here trains the SAME agents (:mod:`.pg_agents`, the same
:class:`~contractlab.learning.pg_agents.AgentConfig`, the same ``"exact"`` / ``"sampled"`` modes of
:class:`~contractlab.learning.meta_gradient.DesignerConfig`, the same seeds: the agents' initial
parameters of a seed are those of :func:`contractlab.learning.meta_gradient.train`) and returns a
:class:`~contractlab.learning.meta_gradient.MetaGradResult`, so that all designers tabulate alike.

One iteration of every baseline
-------------------------------
(1) sampled mode: draw a batch of ``n_episodes`` episodes of the current agents ``θ``;
(2) the agents' own step ``θ' = θ + α ∇_θ J(θ; r + η)`` (exact, or REINFORCE on the batch;
    :func:`contractlab.learning.pg_agents.policy_gradient`) on the incentives ``η`` of the designer's
    parameters *before* its update;
(3) the designer's update from what it sees at ``θ`` (below);
(4) the curve records, as :mod:`.meta_gradient` does, the welfare and incentives paid (per episode,
    summed over agents) of the UPDATED agents ``θ'`` under the ``η`` they stepped on: exact
    expectations, or the means over a FRESH batch of ``θ'`` (sampled mode; for "none" this consumes
    the random stream exactly as the meta-gradient designer with ``incentive="none"``, so the two
    curves agree), and the exact (DP) values when the game is small.

The designers
-------------
``"none"``: ``η = 0``; plain learners.

``"fixed"``: a constant ``(S, A, n)`` table paid on every step (default: :func:`lp_incentives` with
``kind="dominant"`` and ``margin =`` :data:`DEFAULT_LP_MARGIN`: strict dominance, so that learners from any
initial policy reach the welfare optimum of a normal-form game; the Nash table only makes it a strict
equilibrium, which learners from uniform policies miss in the prisoner's dilemma and the stag hunt;
the tests show both).

``"dual-rl"`` (the authors' ``incentive_design/alg/id_er_pg.py``, class ``DualRLPG``, option
``config.alg.name = 'dual_RL'`` with ``config.designer.action_space = 'continuous'`` of
``configs/config_er_pg.py``; and ``alg/id_ssd_dualrl.py`` for their SSD experiments): an RL learner
whose ACTION is the incentive. At every step of every episode it draws, for each agent ``i``, a
pre-sigmoid value ``x ~ N(m_φ(s, a)_i, 1)`` (unit standard deviation, as theirs) and pays
``b·σ(x)`` (``b = bound``); the mean ``m_φ`` is the tabular ``φ_i[obs_i(s), a_i]`` (per observation and
agent's own action) or the MLP of :mod:`.meta_gradient` before its sigmoid. Its reward on a step is
the welfare ``Σ_i r_i`` minus ``cost_weight`` times the incentives paid on that step (the authors:
``env_rewards[0] -= np.sum(incentives)``, cost weight 1). It ascends its expected episode reward
``R(φ) = E_θ[Σ_t (Σ_i r_i − c Σ_i b·σ(x_{t,i}))]`` for the CURRENT agents:

- sampled: REINFORCE, ``ĝ = (1/B) Σ_k Σ_t Σ_i ∇_φ log N(x_{k,t,i}; m_φ, 1) (D^k_t − b^k_t)`` with the
  return-to-go ``D_t`` of the designer's reward and the leave-one-out batch-mean baseline (unbiased;
  :func:`dual_rl_surrogate`); the agents learn from ``r + b·σ(x)`` with the realised ``x``;
- exact: ``∇_φ R`` by autograd, with the expected incentive ``η̄_φ = E[b·σ(m_φ + z)]``, ``z ~ N(0, 1)``, by
  Gauss–Hermite quadrature (:data:`GH_NODES` nodes; error below 1e-16 for a unit Gaussian); the
  agents step on ``η̄`` (their expected gradient under the random incentive, since incentives enter
  the return linearly).

The designer's reward depends on ``φ`` only through the cost (the agents do not change within an
episode), so ``∇_φ R = −c ∇_φ E[paid]``: the designer is oblivious to how the agents learn, which is
what this baseline measures. Deviations from the authors: a plain policy gradient with a leave-one-out
batch baseline and plain gradient steps (their ER designer is REINFORCE with Adam and no baseline;
their SSD designer is PPO with a learned critic, GAE and an entropy bonus); undiscounted returns;
a tabular mean per (observation, own action) besides their MLP on (observation, joint action);
their default ER option is the *discrete* designer (a choice among ``{0, 1.1}^3``), not used here.
The reported ``eta`` of a dual-RL run is the expected table ``η̄``; its curve's "incentives paid"
in sampled mode are ``η̄`` at the fresh batch's steps (the expectation over the Gaussian given the
steps).

``"amd"`` (Baumann et al., the planner's update; Yang et al.'s port
``incentive_design/alg/baumann_rl/Planning_Agent.py``: ``loss = −α Σ_i (∇log π_i · V_p,i) ·
(∇log π_i · V) + cost · ||vp||``): the welfare after one agent step, linearised,
``W(θ + Δθ(η)) ≈ W(θ) + ∇_θ W(θ)ᵀ Δθ(η)``, ``Δθ_i = α ∇_{θ_i} J_i(θ; r + η)``, minus the cost:

    F_AMD(φ) = W(θ) + α Σ_i ∇_{θ_i} W(θ) · ∇_{θ_i} J_i(θ; r + η_φ) − c · paid(θ, η_φ),

(:func:`amd_objective`); ``φ ← φ + β ∇_φ F_AMD``. Exact mode: ``∇W``, ``∇J`` and ``paid`` by DP and
autograd. Sampled mode: all three from the ONE batch of the current agents (REINFORCE with the
leave-one-out baseline for ``∇W`` and ``∇J``, the batch mean for ``paid``); the product of two
estimates from the same batch has an ``O(1/B)`` bias (Baumann's per-step product has the same kind).
Incentive functions as :mod:`.meta_gradient` (``b·σ(φ)`` tabular, or the MLP).

How AMD differs from the meta-gradient designer: (i) linearised: ``∇_θ W`` is taken at the current
``θ``, not at the updated ``θ̂``, so the two gradients agree only to first order in ``α`` (their
difference is ``α (∂θ̂/∂φ)ᵀ (∇W(θ̂) − ∇W(θ)) = O(α²)``; a test checks this); (ii) no fresh
trajectory: in sampled mode nothing is sampled from the updated agents, ``∇W`` comes from the same
batch as the agents' step; (iii) the cost is charged on the current agents, not the updated ones;
(iv) Baumann's cost is ``c·||vp||`` (the L2 norm of a step's incentive vector) and his planner uses
Adam; ours is ``c`` times the expected incentives paid (as the meta-gradient designer's) and plain
gradient steps.

``"fixed"`` and ``"none"`` have no designer update; ``phi`` of their results is empty.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
from numpy.polynomial.hermite_e import hermegauss

from ..solvers.incentive_optimum import KINDS, min_incentives, welfare_optimum
from ..theory.errors import InvalidInstanceError
from ..theory.incentive_games import NormalFormGame
from ..theory.markov_game import TabularMarkovGame
from . import pg_agents as pg
from .game_torch import DTYPE, GameTensors, expected_step_sums, require_torch
from .meta_gradient import (EXACT_SIZE_LIMIT, DesignerConfig, MetaGradResult, run_generators, exact_values,
                            incentive_table, init_phi)

torch = require_torch()

__all__ = ["BASELINES", "GH_NODES", "DEFAULT_LP_MARGIN", "lp_incentives", "pre_sigmoid_table",
           "expected_sigmoid_incentives", "expected_incentive_table", "dual_rl_sample", "dual_rl_surrogate",
           "dual_rl_expected_reward",
           "amd_objective", "train_baseline"]

BASELINES = ("dual-rl", "amd", "fixed", "none")
#: Gauss–Hermite nodes for ``E[b·σ(m + z)]``, ``z ~ N(0, 1)`` (dual-RL, exact mode): the quadrature
#: error is below 1e-16 for every mean tried in [-6, 5] (against scipy.integrate.quad).
GH_NODES = 48
#: Strictness margin added by default to the LP-minimal incentives of the "fixed" designer (the LP
#: optimum makes the welfare optimum only a weak equilibrium, at which learners may stall).
DEFAULT_LP_MARGIN = 0.5

_Z, _W = hermegauss(GH_NODES)
_GH_Z = torch.tensor(_Z, dtype=DTYPE)
_GH_W = torch.tensor(_W / math.sqrt(2.0 * math.pi), dtype=DTYPE)


# --------------------------------------------------------------------------------------
# Fixed incentives from the LP
# --------------------------------------------------------------------------------------

def lp_incentives(game, kind: str = "nash", margin: float = 0.0) -> np.ndarray:
    """``(S, A, n)``: the cheapest incentives making the welfare optimum an equilibrium of ``kind``
    (:func:`contractlab.solvers.incentive_optimum.min_incentives` of the
    :func:`~contractlab.solvers.incentive_optimum.welfare_optimum` policy), as a stationary table for the
    learners, with ``margin >= 0`` added to every incentive the recommendation can earn, so that the
    equilibrium is strict: ``kind="nash"``: on the optimal joint action along the optimal path, for
    every agent; ``kind="dominant"``: on every ``a`` with ``a_i = π_i(t, s)`` at every reachable ``(t, s)``.

    The LP's incentives ``eta[t, s, a, i]`` may depend on the step ``t``; the table is their maximum
    over ``t``. It is exact when they do not (normal-form games; the Nash kind of Escape Room, which pays
    on the first step only); otherwise it is an upper envelope (it pays at least the LP's incentive at
    every step), under which dominance need not carry over.
    """
    if isinstance(game, NormalFormGame):
        game = game.as_markov_game()
    if not isinstance(game, TabularMarkovGame):
        raise InvalidInstanceError("game", "expected a TabularMarkovGame or a NormalFormGame, got "
                                           f"{type(game).__name__}")
    if kind not in KINDS:
        raise InvalidInstanceError("kind", f"must be one of {KINDS}, got {kind!r}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
        raise InvalidInstanceError("margin", f"must be a finite number >= 0, got {margin!r}")
    opt = welfare_optimum(game)
    pol = opt.policy
    res = min_incentives(game, pol, kind)
    eta = np.array(res.eta)                                             # (H, S, A, n)
    if margin > 0:
        if kind == "nash":
            alive = np.flatnonzero(opt.path >= 0)
            eta[alive, opt.path[alive], pol[alive, opt.path[alive]], :] += margin
        else:
            joint = game.joint_actions()                                         # (A, n)
            for i in range(game.n_agents):
                pi_i = np.asarray(joint)[pol, i]                                 # (H, S): π_i(t, s)
                mask = np.asarray(res.reachable)[..., None] & (joint[None, None, :, i] == pi_i[..., None])
                eta[..., i] += np.where(mask, margin, 0.0)
    return eta.max(axis=0)


# --------------------------------------------------------------------------------------
# dual-RL
# --------------------------------------------------------------------------------------

def pre_sigmoid_table(gt: GameTensors, config: DesignerConfig, phi) -> "torch.Tensor":
    """``(S, A, n)``: the incentive function before ``b·σ`` (so that
    ``incentive_table(gt, config, phi) = b·σ(pre_sigmoid_table(...))``); for dual-RL the mean of the
    Gaussian over pre-sigmoid incentives."""
    acts = gt.joint_actions
    if config.incentive == "tabular":
        return torch.stack([p[gt.observations[i]][:, acts[:, i]] for i, p in enumerate(phi)], -1)
    if config.incentive != "mlp":
        raise InvalidInstanceError("incentive", f"dual-RL and AMD need 'tabular' or 'mlp', got {config.incentive!r}")
    n = gt.game.n_agents
    U, V, c, W, d = phi[0], phi[1:1 + n], phi[1 + n], phi[2 + n], phi[3 + n]
    pre = sum(v[acts[:, i]] for i, v in enumerate(V)) + c
    return torch.tanh(U[:, None, :] + pre[None, :, :]) @ W + d


def expected_sigmoid_incentives(mean: "torch.Tensor", bound: float) -> "torch.Tensor":
    """``E[b·σ(mean + z)]``, ``z ~ N(0, 1)``, elementwise, by Gauss–Hermite quadrature (differentiable)."""
    return bound * (torch.sigmoid(mean[..., None] + _GH_Z) * _GH_W).sum(-1)


def expected_incentive_table(gt: GameTensors, config: DesignerConfig, phi) -> "torch.Tensor":
    """``(S, A, n)``: dual-RL's expected incentives ``η̄_φ(s, a)_i = E[b·σ(m_φ(s, a)_i + z)]`` (tabular: the
    quadrature is taken on the ``(n_observations(i), K_i)`` parameters and then spread over ``(S, A)``,
    which is the same table at a fraction of the cost)."""
    if config.incentive == "tabular":
        acts = gt.joint_actions
        return torch.stack([expected_sigmoid_incentives(p, config.bound)[gt.observations[i]][:, acts[:, i]]
                            for i, p in enumerate(phi)], -1)
    return expected_sigmoid_incentives(pre_sigmoid_table(gt, config, phi), config.bound)


def dual_rl_sample(gt: GameTensors, config: DesignerConfig, phi, batch: pg.Batch, rng: np.random.Generator):
    """The dual-RL designer's actions on ``batch``: ``(x, paid)``, both ``(B, H, n)`` numpy arrays: the
    pre-sigmoid draws ``x ~ N(m_φ(s_t, a_t), 1)`` and the incentives ``b·σ(x)`` paid (0 after the end)."""
    with torch.no_grad():
        m = pg.step_incentives(batch, pre_sigmoid_table(gt, config, phi), gt.game.n_agents).numpy()
    x = m + rng.standard_normal(m.shape)
    paid = np.where(batch.alive[:, :, None], config.bound * 0.5 * (1.0 + np.tanh(0.5 * x)), 0.0)
    return x, paid


def dual_rl_surrogate(gt: GameTensors, config: DesignerConfig, phi, batch: pg.Batch, x: np.ndarray,
                      paid: np.ndarray) -> "torch.Tensor":
    """The REINFORCE surrogate of dual-RL on ``batch`` with draws ``x`` and incentives ``paid``; its gradient
    in ``φ`` is the estimator ``ĝ`` of ``∇_φ R`` (module docstring)."""
    alive = torch.as_tensor(batch.alive)
    reward = torch.as_tensor(batch.rewards.sum(-1) - config.cost_weight * paid.sum(-1), dtype=DTYPE)   # (B, H)
    D = pg._returns_to_go(reward)
    adv = torch.where(alive, D - pg.loo_baseline(D), torch.zeros((), dtype=DTYPE))
    m = pg.step_incentives(batch, pre_sigmoid_table(gt, config, phi), gt.game.n_agents)                 # (B, H, n)
    logp = torch.where(alive[:, :, None], -0.5 * (torch.as_tensor(x, dtype=DTYPE) - m) ** 2,
                       torch.zeros((), dtype=DTYPE)).sum(-1)
    return (logp * adv).sum(1).mean()


def dual_rl_expected_reward(gt: GameTensors, config: DesignerConfig, theta, phi) -> "torch.Tensor":
    """``R(φ) = W(θ) − c · E_θ[Σ_t Σ_i η̄_φ(s_t, a_t)_i]``: dual-RL's expected episode reward for the current
    agents ``θ`` (exact; ``η̄`` by quadrature)."""
    probs = pg.probabilities(config.agents, theta)
    eta_bar = expected_incentive_table(gt, config, phi)
    W = expected_step_sums(gt, probs, gt.rewards).sum()
    return W - config.cost_weight * expected_step_sums(gt, probs, eta_bar).sum()


# --------------------------------------------------------------------------------------
# AMD
# --------------------------------------------------------------------------------------

def _flat(params) -> list:
    return [p for ps in params for p in ps]


def _welfare_gradient(gt: GameTensors, config: DesignerConfig, theta, batch: pg.Batch | None) -> list:
    """``∇_{θ_i} W(θ)`` per agent (exact, or REINFORCE of the summed reward with the leave-one-out baseline)."""
    if batch is None:
        W = expected_step_sums(gt, pg.probabilities(config.agents, theta), gt.rewards).sum()
    else:
        alive = torch.as_tensor(batch.alive)
        G = pg._returns_to_go(torch.as_tensor(batch.rewards.sum(-1), dtype=DTYPE))
        adv = torch.where(alive, G - pg.loo_baseline(G), torch.zeros((), dtype=DTYPE))
        W = (pg.step_log_probs(gt.game, config.agents, theta, batch).sum(-1) * adv).sum(1).mean()
    grads = torch.autograd.grad(W, _flat(theta), allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for p, g in zip(_flat(theta), grads)]
    out, k = [], 0
    for ps in theta:
        out.append(grads[k:k + len(ps)])
        k += len(ps)
    return out


def amd_objective(gt: GameTensors, config: DesignerConfig, theta, phi, batch: pg.Batch | None = None):
    """``(F_AMD, agents' gradients)``: AMD's first-order objective (module docstring) at the current
    agents ``θ`` as a function of ``φ`` (exact if ``batch`` is None, else from ``batch``), and the agents'
    own gradients ``∇_{θ_i} J_i(θ; r + η_φ)`` it is built on (with their graph in ``φ``)."""
    eta = incentive_table(gt, config, phi)
    gW = _welfare_gradient(gt, config, theta, batch)
    gJ = pg.policy_gradient(gt, config.agents, theta, eta, batch, create_graph=True)
    lin = sum((a * b).sum() for ga, gb in zip(gW, gJ) for a, b in zip(ga, gb))
    if batch is None:
        probs = pg.probabilities(config.agents, theta)
        W = expected_step_sums(gt, probs, gt.rewards).sum().detach()
        paid = expected_step_sums(gt, probs, eta).sum()
    else:
        W = torch.as_tensor(float(batch.rewards.sum(-1).sum(1).mean()), dtype=DTYPE)
        paid = pg.step_incentives(batch, eta, gt.game.n_agents).sum(-1).sum(1).mean()
    return W + config.agents.lr * lin - config.cost_weight * paid, gJ


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------

def _check_fixed(game: TabularMarkovGame, table) -> np.ndarray:
    eta = np.asarray(table, dtype=float)
    want = (game.n_states, game.n_joint_actions, game.n_agents)
    if eta.shape != want:
        raise InvalidInstanceError("fixed_eta", f"must have shape {want}, got {eta.shape}")
    bad = np.argwhere(~np.isfinite(eta) | (eta < 0))
    if bad.size:
        raise InvalidInstanceError("fixed_eta", "incentives must be finite and >= 0", tuple(int(i) for i in bad[0]))
    return eta


def train_baseline(game: TabularMarkovGame, name: str, config: DesignerConfig, seed: int, iterations: int,
                   callback=None, fixed_eta=None) -> MetaGradResult:
    """Train the agents under the baseline designer ``name`` (:data:`BASELINES`) for ``iterations``
    iterations from ``seed`` (the same seed gives the same result, bit for bit). ``config`` is the
    meta-gradient designer's :class:`~contractlab.learning.meta_gradient.DesignerConfig`: ``mode``,
    ``n_episodes``, ``agents``, and for dual-RL / AMD ``incentive`` (``"tabular"`` or ``"mlp"``), ``lr``,
    ``cost_weight``, ``bound``, ``init_phi``, ``hidden`` (``incentive="none"`` means tabular for them);
    ``fixed_eta``: the ``(S, A, n)`` table of ``"fixed"`` (default :func:`lp_incentives` with
    ``kind="dominant"`` and :data:`DEFAULT_LP_MARGIN`). ``callback(iteration, total, metrics)`` as in
    :func:`contractlab.learning.meta_gradient.train`. ``max_update_mismatch`` of the result is ``nan``
    (there is no lookahead to compare with)."""
    if name not in BASELINES:
        raise InvalidInstanceError("designer", f"must be one of {BASELINES}, got {name!r}")
    if int(iterations) < 0:
        raise InvalidInstanceError("iterations", f"must be >= 0, got {iterations}")
    if not isinstance(config, DesignerConfig):
        raise InvalidInstanceError("config", "must be a DesignerConfig")
    fixed = None
    if name == "fixed":
        fixed = _check_fixed(game, lp_incentives(game, "dominant", DEFAULT_LP_MARGIN) if fixed_eta is None
                             else fixed_eta)
    elif fixed_eta is not None:
        raise InvalidInstanceError("fixed_eta", f"only the 'fixed' designer takes a table, not {name!r}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(game, name, config, int(seed), int(iterations), callback, fixed)
    finally:
        torch.set_num_threads(threads)


def _train(game, name, cfg, seed, iterations, callback, fixed) -> MetaGradResult:
    if name in ("dual-rl", "amd") and cfg.incentive == "none":
        cfg = dataclasses.replace(cfg, incentive="tabular")
    gt = GameTensors.of(game)
    gen, rng = run_generators(seed)
    theta = pg.init_params(game, cfg.agents, gen)
    phi = init_phi(game, cfg, gen) if name in ("dual-rl", "amd") else []
    fixed_t = None if fixed is None else torch.as_tensor(fixed, dtype=DTYPE)
    small = game.n_states * game.n_joint_actions <= EXACT_SIZE_LIMIT
    exact = cfg.mode == "exact"
    alpha = cfg.agents.lr
    W, P, EW, EP = [], [], [], []
    for it in range(iterations):
        batch = None
        if not exact:
            batch = pg.sample_batch(game, pg.probabilities_numpy(cfg.agents, theta), cfg.n_episodes, rng)
        # (2)-(3): the agents' step on the incentives before the update, and the designer's gradient
        grad_phi = None
        if name == "amd":
            F, gJ = amd_objective(gt, cfg, theta, phi, batch)
            grad_phi = torch.autograd.grad(F, phi, allow_unused=True)
            agent_grads = [[g.detach() for g in gs] for gs in gJ]
            with torch.no_grad():
                eta_eval = incentive_table(gt, cfg, phi)
        elif name == "dual-rl":
            with torch.no_grad():
                eta_eval = expected_incentive_table(gt, cfg, phi)
            if exact:
                agent_grads = pg.policy_gradient(gt, cfg.agents, theta, eta_eval, None)
                obj = dual_rl_expected_reward(gt, cfg, theta, phi)
            else:
                x, paid = dual_rl_sample(gt, cfg, phi, batch, rng)
                paid_batch = pg.Batch(batch.states, batch.actions, batch.rewards + paid, batch.alive, batch.joint)
                agent_grads = pg.policy_gradient(gt, cfg.agents, theta, None, paid_batch)
                obj = dual_rl_surrogate(gt, cfg, phi, batch, x, paid)
            grad_phi = torch.autograd.grad(obj, phi, allow_unused=True)
        else:
            eta_eval = fixed_t
            agent_grads = pg.policy_gradient(gt, cfg.agents, theta, fixed_t, batch)
        with torch.no_grad():
            new_theta = pg.detach(pg.step(theta, agent_grads, alpha))
        if grad_phi is not None:
            with torch.no_grad():
                phi = [(p + cfg.lr * (torch.zeros_like(p) if g is None else g)).requires_grad_(True)
                       for p, g in zip(phi, grad_phi)]
        theta = new_theta
        # (4): welfare and incentives of the updated agents under the incentives they stepped on
        with torch.no_grad():
            if exact:
                probs = pg.probabilities(cfg.agents, theta)
                w = float(expected_step_sums(gt, probs, gt.rewards).sum())
                p = 0.0 if eta_eval is None else float(expected_step_sums(gt, probs, eta_eval).sum())
            else:
                fresh = pg.sample_batch(game, pg.probabilities_numpy(cfg.agents, theta), cfg.n_episodes, rng)
                w = float(torch.as_tensor(fresh.rewards, dtype=DTYPE).sum(-1).sum(1).mean())
                p = float(pg.step_incentives(fresh, eta_eval, game.n_agents).sum(-1).sum(1).mean())
        W.append(w)
        P.append(p)
        if small:
            ew, ep = exact_values(game, pg.probabilities_numpy(cfg.agents, theta),
                                  None if eta_eval is None else eta_eval.numpy())
            EW.append(ew)
            EP.append(ep)
        if callback is not None and callback(it + 1, iterations, {"welfare": w, "incentives": p,
                                                                  "net_welfare": w - p}):
            break
    with torch.no_grad():
        if name == "amd":
            eta = incentive_table(gt, cfg, phi)
        elif name == "dual-rl":
            eta = expected_incentive_table(gt, cfg, phi)
        else:
            eta = fixed_t
    eta_np = None if eta is None else eta.numpy().copy()
    policies = pg.probabilities_numpy(cfg.agents, theta)
    fw, fp = exact_values(game, policies, eta_np) if small else (math.nan, math.nan)
    welfare, paid = np.array(W, dtype=float), np.array(P, dtype=float)
    return MetaGradResult(cfg, seed, len(W), welfare, paid, welfare - paid,
                          np.array(EW) if small else None, np.array(EP) if small else None,
                          pg.to_numpy(theta), [p.detach().numpy().copy() for p in phi], policies, eta_np, fw, fp,
                          math.nan)
