"""The meta-gradient incentive designer (Yang, Wang, Trivedi, Zhao, Zha, *Adaptive Incentive Design
with Multi-Agent Meta-Gradient Reinforcement Learning*, AAMAS 2022, arXiv 2112.10859, Section 4,
Algorithm 1; the authors' TF1 code: ``011235813/metagradient-incentive-design``,
``incentive_design/alg/incentive_designer.py`` (class ``MetaGrad1Step``),
``incentive_design/alg/pg_agent_m1.py`` and the loop of ``incentive_design/alg/train_er.py``).

Incentive functions
-------------------
``η`` is an ``(S, A, n)`` table: the incentive each agent receives for each joint action in each state.

- ``"tabular"``: per-action values ``η_i(o, a_i) = b·σ(φ_i[o, a_i])`` (``o = obs_i(s)``; ``b = bound = 2``,
  the authors' sigmoid times ``r_multiplier = 2``), ``φ_i`` of shape ``(n_observations(i), K_i)``;
- ``"mlp"``: a network on the (one-hot) state and the one-hot joint action, ``n`` outputs
  ``b·σ(·)``: ``η(s, a) = b·σ(tanh(U[s] + Σ_i V_i[a_i] + c) W + d)`` (the authors' ``incentive_mlp``
  on observation and actions; the designer observes the state);
- ``"none"``: no incentives (the no-incentive learners; the designer does nothing).

One iteration (:func:`designer_iteration`)
------------------------------------------
(a) the agents' lookahead ``θ̂(φ) = θ + α ∇_θ J(θ; r + η_φ)`` (:mod:`.pg_agents`; exact, or REINFORCE
    on a batch of the current agents), built with ``create_graph=True``, so ``θ̂`` depends on ``φ``;
(b) the designer's objective ``F(φ) = W(θ̂) − c · paid(θ̂, φ)``: the welfare ``W = Σ_i r_i`` of the
    *updated* agents minus ``cost_weight`` times the incentives paid (per episode, summed over
    agents) — by exact expectations (``mode="exact"``, :mod:`.game_torch`), or on a FRESH batch of
    episodes of ``θ̂`` (``mode="sampled"``, online cross-validation): the score-function surrogate
    ``(1/B) Σ_k [Σ_t Σ_i log π̂_i(a_{t,i}|o) (D^{togo}_t − b_t) − c Σ_t Σ_i η(s_t, a_t)_i]`` with
    ``D_t = Σ_i r_i − c Σ_i η_i`` of the sampled steps (held fixed), a leave-one-out batch-mean
    baseline ``b_t``, plus the direct (pathwise) gradient of the realised incentives;
(c) ``φ ← φ + β ∇_φ F`` (autograd through ``θ̂``);
(d) the agents take the step of (a): their new parameters ARE ``θ̂`` of (a), detached (same loss,
    same batch, same ``α``, the incentives of the ``φ`` before (c)). :func:`check_agents_step`
    recomputes the agents' own update independently (:func:`contractlab.learning.pg_agents.policy_gradient`
    without a graph) and asserts that it equals ``θ̂``; :func:`train` runs it every iteration and
    reports the largest difference.

Incentives paid are the expected (exact mode) or realised (sampled mode: the fresh batch's mean)
incentive per episode, summed over agents. The curve of :class:`MetaGradResult` reports per iteration
the welfare, the incentives paid and the net welfare (``welfare − incentives``) of the updated
agents (exact expectations, or the fresh batch), and, when the game is small
(``S·A <= EXACT_SIZE_LIMIT``), the exact (DP) values of the same agents and of the final agents.

Deviations from the paper
-------------------------
- Exact mode (expectations by dynamic programming instead of trajectories) is ours; it makes the
  meta-gradient exact and checkable (against :mod:`.lookahead_closed_form` and finite differences).
- Returns are undiscounted over the finite horizon (the authors discount with ``γ``), so that
  they are the values of :func:`~contractlab.theory.markov_game.evaluate`.
- The incentive cost is charged on the fresh trajectories of the updated agents (the authors'
  ``MetaGrad1Step`` charges ``reg_coeff · Σ|η|`` on the first trajectory); ``η >= 0`` here, so ``|η| = η``.
- Agents are plain softmax policy-gradient learners with a leave-one-out batch-mean baseline; no
  ε-exploration mixture and no entropy bonus (the authors' agents have both).
- Designer and agents use plain gradient steps (the authors offer SGD or Adam for the designer).
- Each iteration draws a new batch for the agents' step (no "pipeline" reuse of the validation
  trajectory as the next iteration's training data).
- Batches of ``n_episodes`` episodes instead of one episode per update.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.markov_game import TabularMarkovGame, evaluate
from . import pg_agents as pg
from .game_torch import DTYPE, GameTensors, expected_step_sums, require_torch

torch = require_torch()

__all__ = ["DesignerConfig", "MetaGradResult", "INCENTIVE_KINDS", "MODES", "EXACT_SIZE_LIMIT", "init_phi",
           "incentive_table", "lookahead", "exact_objective", "sampled_objective", "designer_iteration",
           "check_agents_step", "run_generators", "train", "exact_values"]

INCENTIVE_KINDS = ("tabular", "mlp", "none")
MODES = ("exact", "sampled")
#: Games with at most this many ``(state, joint action)`` pairs are "small": the exact (DP) welfare
#: and incentives of the agents are reported beside the sampled curve.
EXACT_SIZE_LIMIT = 1_000_000


@dataclass(frozen=True)
class DesignerConfig:
    """The designer and the agents it trains.

    ``incentive``: :data:`INCENTIVE_KINDS`; ``mode``: :data:`MODES` (exact expectations or sampled
    batches of ``n_episodes``, for both the agents' step and the designer's objective); ``lr`` is the
    designer's step ``β``; ``cost_weight`` the ``c`` of ``F``; ``bound`` the ``b`` of ``b·σ``;
    ``init_phi`` the initial tabular ``φ`` (every entry; ``0`` gives ``η = b/2``) or the initial output
    bias of the MLP; ``hidden`` the MLP width; ``agents`` the learners (:class:`~contractlab.learning.pg_agents.AgentConfig`);
    ``check_update``: assert at every iteration that the agents' step is the lookahead."""

    incentive: str = "tabular"
    mode: str = "exact"
    lr: float = 1.0
    cost_weight: float = 0.0
    bound: float = 2.0
    init_phi: float = 0.0
    hidden: int = 8
    n_episodes: int = 64
    agents: pg.AgentConfig = field(default_factory=pg.AgentConfig)
    check_update: bool = True

    def __post_init__(self) -> None:
        if self.incentive not in INCENTIVE_KINDS:
            raise InvalidInstanceError("incentive", f"must be one of {INCENTIVE_KINDS}, got {self.incentive!r}")
        if self.mode not in MODES:
            raise InvalidInstanceError("mode", f"must be one of {MODES}, got {self.mode!r}")
        for name in ("lr", "cost_weight", "bound"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise InvalidInstanceError(name, f"must be a finite number >= 0, got {v}")
        if not math.isfinite(self.init_phi):
            raise InvalidInstanceError("init_phi", f"must be finite, got {self.init_phi}")
        if int(self.n_episodes) < 2:
            raise InvalidInstanceError("n_episodes", f"must be at least 2, got {self.n_episodes}")
        if int(self.hidden) < 1:
            raise InvalidInstanceError("hidden", f"must be at least 1, got {self.hidden}")
        if not isinstance(self.agents, pg.AgentConfig):
            raise InvalidInstanceError("agents", "must be an AgentConfig")


# --------------------------------------------------------------------------------------
# Incentive functions
# --------------------------------------------------------------------------------------

def init_phi(game: TabularMarkovGame, config: DesignerConfig, generator) -> list["torch.Tensor"]:
    """The designer's initial parameters (leaf tensors with ``requires_grad``)."""
    if config.incentive == "none":
        return []
    if config.incentive == "tabular":
        ps = [torch.full((game.n_observations(i), game.n_actions[i]), float(config.init_phi), dtype=DTYPE)
              for i in range(game.n_agents)]
    else:
        h, n = int(config.hidden), game.n_agents
        ps = [torch.randn(game.n_states, h, generator=generator, dtype=DTYPE),
              *[torch.randn(k, h, generator=generator, dtype=DTYPE) for k in game.n_actions],
              torch.zeros(h, dtype=DTYPE),
              torch.randn(h, n, generator=generator, dtype=DTYPE) / math.sqrt(h),
              torch.full((n,), float(config.init_phi), dtype=DTYPE)]
    return [p.requires_grad_(True) for p in ps]


def incentive_table(gt: GameTensors, config: DesignerConfig, phi) -> "torch.Tensor | None":
    """``(S, A, n)``: ``η[s, a, i] ∈ [0, bound]`` (``None`` for ``incentive="none"``)."""
    if config.incentive == "none":
        return None
    acts, b = gt.joint_actions, config.bound
    if config.incentive == "tabular":
        cols = [b * torch.sigmoid(p)[gt.observations[i]][:, acts[:, i]] for i, p in enumerate(phi)]
        return torch.stack(cols, -1)
    n = gt.game.n_agents
    U, V, c, W, d = phi[0], phi[1:1 + n], phi[1 + n], phi[2 + n], phi[3 + n]
    pre = sum(v[acts[:, i]] for i, v in enumerate(V)) + c            # (A, h)
    hidden = torch.tanh(U[:, None, :] + pre[None, :, :])            # (S, A, h)
    return b * torch.sigmoid(hidden @ W + d)


# --------------------------------------------------------------------------------------
# One designer iteration
# --------------------------------------------------------------------------------------

def lookahead(gt: GameTensors, config: DesignerConfig, theta, eta, batch: pg.Batch | None):
    """(a) ``θ̂ = θ + α ∇_θ J(θ; r + η)`` with the graph kept (``batch=None``: exact gradient)."""
    grads = pg.policy_gradient(gt, config.agents, theta, eta, batch, create_graph=True)
    return pg.step(theta, grads, config.agents.lr)


def exact_objective(gt: GameTensors, config: DesignerConfig, theta_hat, eta):
    """(b), exact: ``(F, W, paid)`` with ``W = E[Σ_t Σ_i r_i]`` and ``paid = E[Σ_t Σ_i η_i]`` under ``θ̂``."""
    probs = pg.probabilities(config.agents, theta_hat)
    W = expected_step_sums(gt, probs, gt.rewards).sum()
    paid = expected_step_sums(gt, probs, eta).sum() if eta is not None else torch.zeros((), dtype=DTYPE)
    return W - config.cost_weight * paid, W, paid


def sampled_objective(gt: GameTensors, config: DesignerConfig, theta_hat, eta, batch: pg.Batch):
    """(b), sampled on a fresh ``batch`` of ``θ̂``: ``(surrogate, W, paid)``; the surrogate's gradient
    in ``φ`` is the estimator of ``∇_φ F`` (module docstring), ``W`` and ``paid`` are the batch means
    of the realised welfare and incentives per episode."""
    alive = torch.as_tensor(batch.alive)
    w_t = torch.as_tensor(batch.rewards, dtype=DTYPE).sum(-1)                       # (B, H)
    paid_t = pg.step_incentives(batch, eta, gt.game.n_agents).sum(-1)             # (B, H)
    D = pg._returns_to_go((w_t - config.cost_weight * paid_t).detach())
    adv = torch.where(alive, D - pg.loo_baseline(D), torch.zeros((), dtype=DTYPE))
    score = pg.step_log_probs(gt.game, config.agents, theta_hat, batch).sum(-1)     # (B, H)
    surrogate = (score * adv).sum(1).mean() - config.cost_weight * paid_t.sum(1).mean()
    return surrogate, w_t.sum(1).mean().detach(), paid_t.sum(1).mean().detach()


@dataclass(frozen=True, eq=False)
class IterationInfo:
    """What one designer iteration did: the welfare and incentives paid of the updated agents
    (exact, or the fresh batch's means), the lookahead's mismatch with the agents' own step
    (``nan`` if not checked), and the batch the agents stepped on (``None`` in exact mode)."""

    welfare: float
    incentives: float
    update_mismatch: float
    batch: pg.Batch | None


def designer_iteration(gt: GameTensors, config: DesignerConfig, theta, phi, rng: np.random.Generator):
    """One iteration (a)-(d); returns ``(new_theta, new_phi, IterationInfo)`` (new leaf tensors)."""
    eta = incentive_table(gt, config, phi)
    batch = None
    if config.mode == "sampled":
        batch = pg.sample_batch(gt.game, pg.probabilities_numpy(config.agents, theta), config.n_episodes, rng)
    theta_hat = lookahead(gt, config, theta, eta, batch)
    if config.mode == "exact":
        F, W, paid = exact_objective(gt, config, theta_hat, eta)
    else:
        fresh = pg.sample_batch(gt.game, pg.probabilities_numpy(config.agents, theta_hat), config.n_episodes, rng)
        F, W, paid = sampled_objective(gt, config, theta_hat, eta, fresh)
    new_phi = phi
    if phi:
        grads = torch.autograd.grad(F, phi, allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(phi, grads)]
        with torch.no_grad():
            new_phi = [(p + config.lr * g).requires_grad_(True) for p, g in zip(phi, grads)]
    new_theta = pg.detach(theta_hat)
    mismatch = math.nan
    if config.check_update:
        mismatch = check_agents_step(gt, config, theta, phi, batch, new_theta)
    return new_theta, new_phi, IterationInfo(float(W.detach()), float(paid.detach()), mismatch, batch)


def check_agents_step(gt: GameTensors, config: DesignerConfig, theta, phi, batch, new_theta,
                      tol: float = 0.0) -> float:
    """Recompute the agents' own update ``θ + α ∇_θ J(θ; r + η_φ)`` (same loss, same ``batch``, same
    ``α``, the incentives of ``phi``), with no graph and no designer involved, and assert that it
    equals ``new_theta`` within ``tol`` (default ``0``: bit for bit). Returns the largest absolute
    difference."""
    with torch.no_grad():
        eta = incentive_table(gt, config, phi)
    own = pg.detach(theta)
    grads = pg.policy_gradient(gt, config.agents, own, eta, batch, create_graph=False)
    with torch.no_grad():
        stepped = pg.step(own, grads, config.agents.lr)
        diff = max((float((a - b).abs().max()) for sa, sb in zip(stepped, new_theta) for a, b in zip(sa, sb)),
                   default=0.0)
    if not diff <= tol:
        raise AssertionError(f"the agents' step differs from the designer's lookahead by {diff:.3g} (> {tol:g})")
    return diff


# --------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------

def exact_values(game: TabularMarkovGame, policies: list[np.ndarray], eta: np.ndarray | None) -> tuple[float, float]:
    """``(welfare, incentives paid)`` per episode of ``policies`` by the numpy DP
    (:func:`~contractlab.theory.markov_game.evaluate`; the incentives as a game whose rewards are ``η``)."""
    W = float(evaluate(game, policies).sum())
    if eta is None:
        return W, 0.0
    paid_game = TabularMarkovGame(game.n_actions, game.next_state, eta, game.initial_state, game.horizon,
                                  game.observations)
    return W, float(evaluate(paid_game, policies).sum())


@dataclass(frozen=True, eq=False)
class MetaGradResult:
    """A training run: per-iteration ``welfare``, ``incentives`` and ``net_welfare`` (``welfare −
    incentives``) of the updated agents (exact, or the fresh batch's means in sampled mode);
    ``exact_welfare`` / ``exact_incentives`` the DP values of the same agents (``None`` if the game is
    not small); the final ``theta`` (per agent, a list of arrays), ``phi``, the final ``policies``
    and incentive table ``eta`` ``(S, A, n)`` (``None`` without incentives), their exact welfare and
    incentives (``nan`` if not small), and ``max_update_mismatch``: the largest difference between
    the lookahead and the agents' own step over all iterations (``0.0``: identical; ``nan``: not
    checked)."""

    config: DesignerConfig
    seed: int
    iterations: int
    welfare: np.ndarray
    incentives: np.ndarray
    net_welfare: np.ndarray
    exact_welfare: np.ndarray | None
    exact_incentives: np.ndarray | None
    theta: list
    phi: list
    policies: list
    eta: np.ndarray | None
    final_exact_welfare: float
    final_exact_incentives: float
    max_update_mismatch: float

    @property
    def final_exact_net_welfare(self) -> float:
        return self.final_exact_welfare - self.final_exact_incentives


def run_generators(seed: int) -> tuple["torch.Generator", np.random.Generator]:
    """The two random streams of one run: a torch generator (initial logits and incentive
    parameters) and a numpy generator (sampled episodes), from the two children of
    ``numpy.random.SeedSequence(seed)``, so that one seed fixes a run bit for bit."""
    ss = np.random.SeedSequence(int(seed))
    torch_ss, np_ss = ss.spawn(2)
    gen = torch.Generator().manual_seed(int(torch_ss.generate_state(1, np.uint64)[0] >> np.uint64(1)))
    return gen, np.random.default_rng(np_ss)


def train(game: TabularMarkovGame, designer_config: DesignerConfig, seed: int, iterations: int,
          callback=None) -> MetaGradResult:
    """Train the agents and the designer for ``iterations`` iterations from ``seed`` (the same seed
    gives the same result, bit for bit). ``callback(iteration, total, metrics)`` is called after
    every iteration with ``metrics = {"welfare", "incentives", "net_welfare"}``; a truthy return
    stops training there (the result then holds the iterations done)."""
    if int(iterations) < 0:
        raise InvalidInstanceError("iterations", f"must be >= 0, got {iterations}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)        # tiny tensors: extra threads only add overhead (restored below)
    try:
        return _train(game, designer_config, seed, iterations, callback)
    finally:
        torch.set_num_threads(threads)


def _train(game, designer_config, seed, iterations, callback) -> MetaGradResult:
    cfg = designer_config
    gt = GameTensors.of(game)
    gen, rng = run_generators(seed)
    theta = pg.init_params(game, cfg.agents, gen)
    phi = init_phi(game, cfg, gen)
    small = game.n_states * game.n_joint_actions <= EXACT_SIZE_LIMIT
    W, P, EW, EP, mismatch = [], [], [], [], []
    total = int(iterations)
    for it in range(total):
        # the exact values are those of the updated agents under the incentives they stepped on
        with torch.no_grad():
            eta_before = incentive_table(gt, cfg, phi)
        theta, phi, info = designer_iteration(gt, cfg, theta, phi, rng)
        W.append(info.welfare)
        P.append(info.incentives)
        mismatch.append(info.update_mismatch)
        if small:
            ew, ep = exact_values(game, pg.probabilities_numpy(cfg.agents, theta),
                                  None if eta_before is None else eta_before.numpy())
            EW.append(ew)
            EP.append(ep)
        if callback is not None and callback(it + 1, total, {"welfare": info.welfare, "incentives": info.incentives,
                                                             "net_welfare": info.welfare - info.incentives}):
            break
    with torch.no_grad():
        eta = incentive_table(gt, cfg, phi)
    eta_np = None if eta is None else eta.numpy().copy()
    policies = pg.probabilities_numpy(cfg.agents, theta)
    fw, fp = exact_values(game, policies, eta_np) if small else (math.nan, math.nan)
    welfare, paid = np.array(W, dtype=float), np.array(P, dtype=float)
    return MetaGradResult(cfg, int(seed), len(W), welfare, paid, welfare - paid,
                          np.array(EW) if small else None, np.array(EP) if small else None,
                          pg.to_numpy(theta), [p.detach().numpy().copy() for p in phi], policies, eta_np, fw, fp,
                          float(np.max(mismatch)) if mismatch and not np.isnan(mismatch).all() else math.nan)
