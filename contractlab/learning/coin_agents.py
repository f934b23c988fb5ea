"""Tabular Q-learning agents of the Coin Game and the exact outcome of their play.

The learners that the Coin Game principal (:mod:`.coin_principal`) faces in its validation
phase and that its baselines (:mod:`.coin_baselines`) train, after Ivanov et al.,
*Principal-Agent Reinforcement Learning* (arXiv 2407.18074), Section 5 and Appendix D.2: two
independent Q-learners, each learning only its own action values from its own (shaped) reward,
the other agent being part of its environment. The paper's agents are DQNs; these are their
tabular counterpart on the full state index of
:class:`~contractlab.theory.coin_game.CoinGame` (1458 states on 3x3).

Learner (:class:`AgentConfig`, :func:`train_agents`)
    Finite-horizon, time-indexed Q-learning (the game has ``H`` steps, undiscounted):
    ``Q_i(t, s, a_i) ← Q_i + β (r̃_i + max_a' Q_i(t + 1, s', a') − Q_i)``, ``Q_i(H, ·) = 0``, where
    ``r̃_i`` is the *shaped* reward of the run (own reward plus whatever a principal or a
    baseline pays, :data:`Shaping`). One iteration plays ``n_envs`` whole episodes of the
    batched core (:meth:`CoinGame.reset` / :meth:`CoinGame.step`, all environments at once) and
    then updates backwards in time, ``t = H − 1, …, 0``, so that a reward reaches ``Q(0, ·)``
    in one iteration (the targets at ``t`` use ``Q(t + 1)`` already updated from the same batch).
    Step sizes: the ``m`` samples of one entry in an update move it by ``β (ȳ − Q)`` towards
    their mean target ``ȳ``, ``β = min(1, m·α(n))``, ``α(n) = max(n^(−step_power), min_step)``,
    ``n`` the entry's visit count after the update (``step_power = 1``, ``min_step = 0`` is the
    running mean). Exploration: each agent independently plays a uniform action with
    probability ``ε``, else its greedy action (ties to the lowest index); ``ε`` falls linearly
    from ``epsilon_start`` to ``epsilon_end`` over the first ``epsilon_decay × iterations``.

Exact play (:func:`exact_play`)
    The agents' final greedy joint policy evaluated exactly on the tables of
    :mod:`~contractlab.solvers.coin_game_exact` (the coin respawn and the tie rule in
    expectation): welfare and returns by :func:`~contractlab.solvers.coin_game_exact.evaluate`;
    expected payments and the follow rate (the fraction of steps at which an agent's action
    equals a recommendation) by pushing the state distribution forward from the start.

Randomness: ``numpy.random.SeedSequence(seed)`` spawns one generator for the environments and
one for exploration; the same seed gives the same tables bit for bit.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..solvers import coin_game_exact as X
from ..theory.budget import check_memory
from ..theory.coin_game import CoinGame
from ..theory.errors import InvalidInstanceError
from ..theory.validation import check_real
from .boundary import stop_requested

#: ``shaping(t, idx, actions, rewards) -> (training_rewards, payments)``: at step ``t`` of
#: ``B`` games in states ``idx`` ``(B,)`` where the agents played ``actions`` ``(B, 2)`` and got
#: the game's ``rewards`` ``(B, 2)``, the rewards they learn from and the part of them that was
#: paid by someone outside the game (both ``(B, 2)``).
Shaping = Callable[[int, np.ndarray, np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]


def check_count(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < low:
        raise InvalidInstanceError(name, f"must be an integer >= {low}, got {value!r}")
    return int(value)


def check_seed(seed) -> int:
    return check_count("seed", seed, 0)


def check_game(game) -> CoinGame:
    if not isinstance(game, CoinGame):
        raise InvalidInstanceError("game", f"must be a CoinGame, got {type(game).__name__}")
    return game


def linear_epsilon(start: float, end: float, decay: float, iterations: int, iteration: int) -> float:
    """ε at (0-based) ``iteration``: linear from ``start`` to ``end`` over ``decay × iterations``."""
    span = decay * iterations
    if span <= 0 or iteration >= span:
        return float(end)
    return float(start + (end - start) * (iteration / span))


def batched_update(table: np.ndarray, count: np.ndarray, keys: np.ndarray, targets: np.ndarray,
                   power: float, floor: float) -> None:
    """Move the entries ``keys`` of the flat ``table`` towards the mean of their ``targets``
    (module docstring: ``β = min(1, m·α(n))``); ``count`` (flat, int64) holds the visit counts."""
    if keys.size == 0:
        return
    uniq, inv = np.unique(keys, return_inverse=True)
    m = np.bincount(inv, minlength=uniq.size)
    mean = np.bincount(inv, weights=targets, minlength=uniq.size) / m
    n = count[uniq] + m
    count[uniq] = n
    step = np.minimum(1.0, m * np.maximum(n.astype(float) ** (-power), floor))
    table[uniq] += step * (mean - table[uniq])


def epsilon_greedy(greedy: np.ndarray, eps: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """``greedy`` actions replaced, each with probability ``eps``, by a uniform one of ``n``. Draws
    two arrays of ``greedy``'s shape whatever ``eps`` is (a fixed use of the stream)."""
    u = rng.random(greedy.shape)
    other = rng.integers(0, n, size=greedy.shape)
    return np.where(u < eps, other, greedy)


def check_schedule(config) -> None:
    """Validate, in place, the batch and schedule fields that every Coin Game learner's frozen config
    has (``n_envs``, ``iterations``, ``epsilon_*``, ``step_power``, ``min_step``; :class:`AgentConfig`)."""
    put = lambda name, value: object.__setattr__(config, name, value)  # noqa: E731
    put("n_envs", check_count("n_envs", config.n_envs))
    put("iterations", check_count("iterations", config.iterations))
    put("epsilon_start", check_real("epsilon_start", config.epsilon_start, 0.0, 1.0))
    put("epsilon_end", check_real("epsilon_end", config.epsilon_end, 0.0, 1.0))
    put("epsilon_decay", check_real("epsilon_decay", config.epsilon_decay, 0.0, 1.0))
    put("step_power", check_real("step_power", config.step_power, 0.5, 1.0, low_open=True))
    put("min_step", check_real("min_step", config.min_step, 0.0, 1.0))


#: Bytes per game-step of one tabular iteration's episode arrays (indices, actions, rewards,
#: shaped rewards, payments, update keys: about a dozen 8-byte numbers), rounded up.
EPISODE_STEP_BYTES = 128


def check_batch_memory(game: CoinGame, n_envs: int, per_step: int = EPISODE_STEP_BYTES) -> None:
    """Refuse (naming ``n_envs``) a batch of whole episodes whose arrays would not fit the memory
    budget (:func:`contractlab.theory.budget.check_memory`), before anything is allocated."""
    check_memory("n_envs", float(n_envs) * game.horizon * per_step + 16.0 * game.horizon * game.n_states
                 * game.n_actions * 4, f"{n_envs} episodes of {game.horizon} steps at once")

@dataclass(frozen=True)
class AgentConfig:
    """Hyper-parameters of the tabular Q-learning agents (module docstring); a bad value raises
    :class:`InvalidInstanceError` naming the field.

    Attributes
    ----------
    n_envs:
        Episodes played at once per iteration. Default 1024.
    iterations:
        Iterations (batches of ``n_envs`` whole episodes). Default 600.
    epsilon_start, epsilon_end, epsilon_decay:
        ε falls linearly from ``epsilon_start`` to ``epsilon_end`` over the first
        ``epsilon_decay × iterations`` iterations. Defaults 1.0, 0.02, 0.7.
    step_power, min_step:
        ``α(n) = max(n^(−step_power), min_step)``, power in ``(0.5, 1]``. Defaults 0.6, 0.0 (on
        3x3, validation against exact payments reached 0.88 of ``W*`` with 0.6, 0.80 with 0.8).
    """

    n_envs: int = 1024
    iterations: int = 600
    epsilon_start: float = 1.0
    epsilon_end: float = 0.02
    epsilon_decay: float = 0.7
    step_power: float = 0.6
    min_step: float = 0.0

    def __post_init__(self) -> None:
        check_schedule(self)

    def epsilon(self, iteration: int) -> float:
        return linear_epsilon(self.epsilon_start, self.epsilon_end, self.epsilon_decay, self.iterations, iteration)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def play_episodes(game: CoinGame, batch: int, act, env_rng: np.random.Generator):
    """Play ``batch`` whole episodes; ``act(t, idx) -> (B, 2)`` actions. Returns ``idx``
    ``(H, B)`` the state indices, ``actions`` ``(H, B, 2)`` and ``rewards`` ``(H, B, 2)``."""
    H = game.horizon
    idx = np.zeros((H, batch), dtype=np.int64)
    acts = np.zeros((H, batch, 2), dtype=np.int64)
    rew = np.zeros((H, batch, 2))
    state = game.reset(batch, env_rng)
    for t in range(H):
        idx[t] = game.index_of(state)
        acts[t] = act(t, idx[t])
        state, rew[t], _ = game.step(state, acts[t], env_rng)
    return idx, acts, rew


@dataclass(frozen=True, eq=False)
class AgentRun:
    """Trained agents: ``q`` ``(2, H, S, n)`` their final tables, ``policy`` ``(H, S, 2)`` their
    greedy actions (ties to the lowest), ``joint`` ``(H, S)`` the joint action ``a0·n + a1``;
    ``curve`` ``(iterations, 3)`` per iteration the mean game welfare, mean payments (both per
    episode, under exploration) and the fraction of ``(step, agent)`` whose action matched the
    recommendation given to :func:`train_agents` (NaN without one)."""

    game: CoinGame
    config: AgentConfig
    seed: int
    q: np.ndarray
    curve: np.ndarray

    @property
    def policy(self) -> np.ndarray:
        return np.moveaxis(self.q.argmax(axis=3), 0, 2)

    @property
    def joint(self) -> np.ndarray:
        p = self.policy
        return p[..., 0] * self.game.n_actions + p[..., 1]


def train_agents(game: CoinGame, shaping: Shaping, config: AgentConfig | None = None, seed: int = 0,
                 recommendation: np.ndarray | None = None, callback=None) -> AgentRun:
    """Train two independent tabular Q-learners from scratch on the shaped rewards (module
    docstring). ``recommendation`` ``(H, S, 2)`` only feeds the follow-rate curve.
    ``callback(iteration, total, metrics)`` runs after every iteration; ``True`` stops."""
    game = check_game(game)
    config = AgentConfig() if config is None else config
    if not isinstance(config, AgentConfig):
        raise InvalidInstanceError("config", f"must be an AgentConfig, got {type(config).__name__}")
    seed = check_seed(seed)
    check_batch_memory(game, config.n_envs)
    H, S, n, B = game.horizon, game.n_states, game.n_actions, config.n_envs
    env_rng, act_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    q = np.zeros((2, H, S, n))
    count = np.zeros((2, H, S, n), dtype=np.int64)
    qf, cf = q.reshape(-1), count.reshape(-1)
    curve = []      # grown, not preallocated: a huge iteration count must not allocate up front
    agents = np.arange(2)[None, :]
    for it in range(config.iterations):
        eps = config.epsilon(it)

        def act(t, idx):
            greedy = q[:, t, idx].argmax(axis=2).T                     # (B, 2)
            return epsilon_greedy(greedy, eps, n, act_rng)

        idx, acts, rew = play_episodes(game, B, act, env_rng)
        shaped = np.zeros_like(rew)
        paid = np.zeros_like(rew)
        for t in range(H):
            shaped[t], paid[t] = shaping(t, idx[t], acts[t], rew[t])
        nxt = np.zeros((B, 2))
        for t in range(H - 1, -1, -1):
            if t + 1 < H:
                nxt = q[:, t + 1, idx[t + 1]].max(axis=2).T              # (B, 2)
            keys = ((agents * H + t) * S + idx[t][:, None]) * n + acts[t]
            batched_update(qf, cf, keys.ravel(), (shaped[t] + nxt).ravel(), config.step_power, config.min_step)
        follow = np.nan
        if recommendation is not None:
            rec = recommendation[np.arange(H)[:, None], idx]              # (H, B, 2)
            follow = float((rec == acts).mean())
        curve.append((rew.sum(axis=(0, 2)).mean(), paid.sum(axis=(0, 2)).mean(), follow))
        if callback is not None and stop_requested(callback(it + 1, config.iterations, {"welfare": curve[-1][0]})):
            break
    q.flags.writeable = False
    return AgentRun(game=game, config=config, seed=seed, q=q, curve=np.array(curve, dtype=float).reshape(-1, 3))


# ---- exact outcome of a joint policy ------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class PlayMetrics:
    """The exact outcome of a deterministic joint policy from the start distribution.

    ``welfare`` the expected welfare per episode, ``returns`` ``(2,)`` each agent's game return
    (both by :func:`~contractlab.solvers.coin_game_exact.evaluate`); ``payments`` ``(2,)`` each
    agent's expected total payment; ``follow_rate`` ``(2,)`` the expected fraction of the ``H``
    steps at which the agent's action equals its recommendation (NaN without one)."""

    welfare: float
    returns: np.ndarray
    payments: np.ndarray
    follow_rate: np.ndarray

    @property
    def total_payment(self) -> float:
        return float(self.payments.sum())

    @property
    def payment_share(self) -> float:
        """Payments as a share of welfare."""
        return self.total_payment / self.welfare if self.welfare != 0 else float("nan")


def state_distributions(tb: X.CoinTables, joint: np.ndarray) -> np.ndarray:
    """``(H, S)`` the distribution of the state at each step under the joint policy ``(H, S)``."""
    H, S = tb.game.horizon, tb.n_states
    rows = np.arange(S)
    d = np.zeros((H, S))
    d[0] = tb.initial
    for t in range(H - 1):
        nd = np.zeros(S)
        a = joint[t]
        np.add.at(nd, tb.next_state[rows, a].ravel(), (d[t][:, None] * tb.next_prob[rows, a]).ravel())
        d[t + 1] = nd
    return d


def exact_play(tables: X.CoinTables, policy: np.ndarray, recommendation: np.ndarray | None = None,
               payments: np.ndarray | None = None) -> PlayMetrics:
    """The exact outcome of the agents' greedy ``policy`` ``(H, S, 2)`` (module docstring).

    ``recommendation`` ``(H, S, 2)`` each agent's recommended action; ``payments`` ``(H, S, 2)``
    what agent ``i`` is paid at ``(t, s)`` **if it plays its recommendation** (nothing otherwise),
    or a callable ``(H, S, 2) -> (H, S, 2)`` giving each agent's payment from the game rewards of
    the played joint action (a constant-proportion scheme)."""
    tb = tables
    H, S, n = tb.game.horizon, tb.n_states, tb.n
    pol = np.asarray(policy)
    if pol.shape != (H, S, 2) or not np.issubdtype(pol.dtype, np.integer):
        raise InvalidInstanceError("policy", f"must be integer {(H, S, 2)}, got {pol.dtype} {pol.shape}")
    joint = pol[..., 0] * n + pol[..., 1]
    V = X.evaluate(tb, joint)
    returns = tb.initial @ V[0]
    d = state_distributions(tb, joint)
    follow = np.full(2, np.nan)
    paid = np.zeros(2)
    if recommendation is not None:
        rec = np.asarray(recommendation)
        if rec.shape != (H, S, 2):
            raise InvalidInstanceError("recommendation", f"must have shape {(H, S, 2)}, got {rec.shape}")
        follows = pol == rec
        follow = np.einsum("hs,hsk->k", d, follows.astype(float)) / H
    if callable(payments):
        step_rewards = tb.rewards[np.arange(S)[None, :], joint]            # (H, S, 2)
        paid = np.einsum("hs,hsk->k", d, payments(step_rewards))
    elif payments is not None:
        if recommendation is None:
            raise InvalidInstanceError("recommendation", "payments for following need the recommendation")
        b = np.asarray(payments, dtype=float)
        if b.shape != (H, S, 2):
            raise InvalidInstanceError("payments", f"must have shape {(H, S, 2)}, got {b.shape}")
        paid = np.einsum("hs,hsk->k", d, np.where(follows, b, 0.0))
    return PlayMetrics(welfare=float(returns.sum()), returns=returns, payments=paid, follow_rate=follow)


__all__ = ["AgentConfig", "AgentRun", "PlayMetrics", "Shaping", "train_agents", "exact_play",
           "state_distributions", "play_episodes", "batched_update", "epsilon_greedy"]
