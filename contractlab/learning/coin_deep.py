"""The deep (torch) multi-agent principal of the Coin Game: recommendations, and payments to the
agents who follow them (Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent
Reinforcement Learning*, arXiv 2407.18074, Section 5, Algorithm 3, Appendix D.2), for grids such
as the paper's 7x7 (``H = 50``) where the tabular :mod:`.coin_principal` does not fit.

Needs the extra ``[deep]`` (torch); nothing imports it at ``import contractlab`` time.

What is learned (Algorithm 3, training phase)
---------------------------------------------
Two networks of :class:`~contractlab.learning.coin_deep_agents.CoinQNetwork` (one conv layer,
two fully connected layers of 64; egocentric observation plus the time to go), each shared by
both agents' views, each with a target copy:

* the principal's **VDN** value ``Q_p(s, a) = q_θ(s_0, a_0) + q_θ(s_1, a_1)`` (``s_i`` agent
  ``i``'s egocentric view), the paper's decomposition; the recommendation is
  ``a_i = argmax q_θ(s_i, ·)`` for each agent separately;
* the agents' own-reward Q-function ``Q_φ(s_i, a_i)`` when the other follows (the paper's
  ``Q^φ_i((s, f_{−i} = 1), a_i)``), from which she computes the payment for following
  ``b_i(s, a_i) = max_a Q_φ(s_i, a) − Q_φ(s_i, a_i) + ξ`` (paid iff agent ``i`` plays ``a_i``;
  ``ξ >= 0`` the nudge of Appendix B.9.2; the argmax action is paid exactly ``ξ``).

Episodes: ``n_envs`` games in lockstep (the batched core); per episode and game a follow
vector ``f`` is drawn: both follow with probability ``1 − deviation_prob``, else one agent,
uniform, deviates. A follower plays the ε-greedy recommendation, a deviator its ε-greedy
selfish action ``argmax Q_φ(s_i, ·)``. Transitions go to one replay (uniform or prioritised,
``config.replay``); after each lockstep step, one (``updates_per_iteration``) Adam step per
network on a batch of ``batch_size``:

* agents (DQN): rows ``(transition, i)`` whose other agent followed,
  ``y_i = r_i + γ (1 − done) max_a' Q_φ'(s'_i, a')`` (no payments in it: a deviation is valued
  at the selfish optimum afterwards);
* principal (VDN, on transitions where both followed):
  ``q_θ(s_0, a_0) + q_θ(s_1, a_1) ← Σ_i [r_i − α b'_i(s, a_i)] + γ (1 − done) Σ_i max q_θ'(s'_i, ·)``,
  with ``b'`` the payment on the agents' *target* network (the paper's
  ``y_p = r_i − α b*_i + γ max q'`` summed over agents: her reward ``welfare / α − payments``
  multiplied by ``α``, which changes no argmax).

Huber loss, gradient norm clipped to 10, targets copied every ``target_update`` gradient steps;
ε and learning-rate schedules and the other defaults as in
:class:`~contractlab.learning.coin_deep_agents.DeepAgentConfig` (Appendix D.2's values).

Replay: both are available. ``replay="prioritised"`` is the paper's proportional prioritised
replay (Schaul et al. 2016, arXiv 1511.05952; α = 0.4, β = 0, ε = 1e-7 by default,
:class:`~contractlab.learning.coin_deep_agents.Replay`); the default ``replay="uniform"`` is
kept so that results and checkpoints made before prioritised replay existed reproduce bit for
bit (a checkpoint's config without the replay keys loads as uniform). One batch trains both
networks, so a transition has one priority; our choice (the paper does not say how priorities
combine): ``|δ_p|`` of the principal's VDN target if both agents followed, plus the
``|δ_i|`` of each of its rows used by the agents' network (one row if an agent deviated, both
otherwise), each network's loss weighted by the transitions' importance weights.

Deviations from the paper, each deliberate: ``f = (0, 0)``
episodes are not played and ``Q_φ`` has no ``f_{−i}`` input (only ``f_{−i} = 1`` enters the
payments and the recommendations, as in :mod:`.coin_principal`); the time to go is an input
(episodes are finite); far fewer gradient steps than the paper's 10⁶ (CPU budget; the caller
sets them).

Validation (:func:`validate`): two fresh selfish DQN agents
(:func:`~contractlab.learning.coin_deep_agents.train_deep_agents`, the recommendation as an
input) trained from scratch in the game where the frozen principal pays agent ``i`` the amount
``b_i`` iff it plays its recommendation. Baselines (:func:`train_baseline`): the same deep
learners on the rewards of :func:`~contractlab.learning.coin_baselines.shaping_for` (selfish,
cooperative, constant proportion; the matched proportion by
:func:`~contractlab.learning.coin_baselines.matched_proportion`). Outcomes are Monte Carlo means
of the greedy play (:func:`~contractlab.learning.coin_deep_agents.play_greedy`); on 3x3,
:meth:`DeepCoinPrincipal.tabulate` gives the recommendation at every ``(t, s)`` for the exact
evaluation of :mod:`~contractlab.solvers.coin_game_exact`.

Measured (``benchmarks/coin_deep.py``, 7x7, ``H = 50``, ``simultaneous="both"``, 3 seeds,
1024 evaluation episodes; 18 minutes on a shared 2-core machine): the principal trained for
12 000 lockstep steps of 32 games (12 000 gradient steps per network, 1.2% of the paper's 10⁶),
validation and baselines 5400. With both agents following, welfare 11.3 per episode (uniformly
random play 0.71); fresh selfish DQNs against the frozen principal reach 11.3, follow 99% of
the time and are paid 6.3 per episode, 57% of welfare (the paper: near-optimal welfare, ≈ 30%,
80–90% following). Selfish DQNs reach 12.5 unpaid: in this variant of the game (a coin both
agents reach is picked up by both, no penalty) selfish play is nearly welfare-optimal (on 3x3
the selfish SPE reaches 0.99 of ``W*``), so the principal buys nothing here. Cooperative and
matched constant-proportion DQNs (3.6, 8.1) had not learned at this budget. With a third of
the budget (4000 / 1800 steps, 5 seeds) the principal reached only 2.6 and her validation 2.8
(payments 1.6 times the welfare): the numbers are budget-limited, not converged. With
``simultaneous="random"`` (a coin both reach goes to one of them; same budget, 17 minutes) the
validation reaches 11.3 against 9.3 for selfish DQNs, following 99%, paid 55% of welfare.

Randomness and determinism as in :mod:`.coin_deep_agents`: one ``seed`` gives the same networks
bit for bit (fixed thread count and platform). The frozen principal saves and loads as
``.npz`` + JSON (:mod:`.checkpoint`, nothing pickled), and so does the learner at an
episode-batch boundary (:meth:`DeepPrincipalLearner.save` / :meth:`~DeepPrincipalLearner.load`:
networks, Adam states, the replay ring with its priorities, counters and generator states), so
that a stopped run resumes bit for bit.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import torch

from ..theory.coin_game import CoinGame, CoinState, game_from_dict, game_to_dict
from ..theory.errors import InvalidFileError, InvalidInstanceError
from ..theory.validation import check_real
from . import coin_baselines as cb
from .checkpoint import check_entries, check_number, load_checkpoint, save_checkpoint
from .coin_agents import PlayMetrics, check_count, check_game, check_seed
from .coin_deep_agents import (EVAL_THREADS, CoinQNetwork, DeepAgentConfig, DeepAgentLearner, DeepAgentRun,
                               check_deep_memory, dqn_step, encode, epsilon_greedy, make_network, make_replay,
                               play_greedy, restore_progress, seeds_of, set_lr, split, states_of, td_abs,
                               torch_from_checkpoint, torch_mode, torch_to_checkpoint, train_deep_agents,
                               validate_schedule)
from .coin_principal import PAPER_ALPHA

#: ``kind`` of a saved deep principal, and of a learner checkpoint.
POLICY_KIND = "coin_deep_principal"
KIND = "coin_deep_principal_learner"
#: The learner's networks and optimisers, as stored in a checkpoint.
_NETS = ("p_net", "p_target", "a_net", "a_target")
_OPTS = ("p_opt", "a_opt")


@dataclass(frozen=True)
class DeepPrincipalConfig(DeepAgentConfig):
    """Hyper-parameters of :class:`DeepPrincipalLearner`; a bad value raises
    :class:`InvalidInstanceError` naming the field. The schedule fields are those of
    :class:`~contractlab.learning.coin_deep_agents.DeepAgentConfig` (same meaning and defaults);
    in addition:

    ``alpha`` ``α > 0`` of ``r_p = welfare / α − payments`` (0.1, Section 5); ``nudge`` ``ξ >= 0``
    added to every payment for following (default 0.01 per step: up to ``2 H ξ = 1`` per
    episode on 7x7); ``deviation_prob`` the probability that an episode has one deviating agent
    (0.5, as in :mod:`.coin_principal`)."""

    alpha: float = PAPER_ALPHA
    nudge: float = 0.01
    deviation_prob: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        put = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        put("alpha", check_real("alpha", self.alpha, 0.0, low_open=True))
        put("nudge", check_real("nudge", self.nudge, 0.0))
        put("deviation_prob", check_real("deviation_prob", self.deviation_prob, 0.0, 1.0))


def payment_table(agent_q: torch.Tensor, nudge: float) -> torch.Tensor:
    """``b(s, a) = max_a' Q(s, a') − Q(s, a) + ξ`` for every action (rows of :func:`encode`)."""
    return agent_q.max(dim=1, keepdim=True).values - agent_q + nudge


@dataclass(frozen=True, eq=False)
class DeepCoinPrincipal:
    """A learned deep principal, frozen: ``principal_net`` (``q_θ``), ``agent_net`` (``Q_φ``),
    ``alpha``, ``nudge``, ``seed`` and ``iteration`` of the run."""

    game: CoinGame
    principal_net: CoinQNetwork
    agent_net: CoinQNetwork
    alpha: float
    nudge: float
    seed: int
    iteration: int

    def advise(self, state: CoinState, t: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(recommendation (B, 2), payment (B, 2), payments for every action (B, 2, n))`` at step
        ``t`` (default ``state.t``)."""
        t = state.t if t is None else t
        with torch.no_grad():
            obs, extra = encode(self.game, state, t)
            rec = split(self.principal_net(obs, extra).argmax(dim=1))
            b = split(payment_table(self.agent_net(obs, extra), self.nudge)).astype(float)
        pay = np.take_along_axis(b, rec[..., None], axis=2)[..., 0]
        return rec, pay, b

    def context(self, state: CoinState) -> tuple[np.ndarray, np.ndarray]:
        """The recommendation and payment at ``state`` (what validation agents face)."""
        rec, pay, _ = self.advise(state)
        return rec, pay

    def tabulate(self) -> tuple[np.ndarray, np.ndarray]:
        """``(H, S, 2)`` recommendation and payment at every step and state index (small grids:
        the exact evaluation on 3x3)."""
        g = self.game
        st = g.from_index(np.arange(g.n_states))
        rec = np.zeros((g.horizon, g.n_states, 2), dtype=np.int64)
        pay = np.zeros((g.horizon, g.n_states, 2))
        with torch_mode(EVAL_THREADS):
            for t in range(g.horizon):
                rec[t], pay[t], _ = self.advise(st, t)
        return rec, pay

    def follow(self, episodes: int = 1024, seed: int = 0) -> PlayMetrics:
        """Monte Carlo outcome when both agents follow (payments as learned)."""
        return play_greedy(self.game, lambda state, t, rec: rec, episodes, seed, context=self.context)

    def save(self, path: str | os.PathLike) -> None:
        """``.npz`` + JSON metadata (atomic, no pickle)."""
        arrays = {f"{name}.{k}": v.numpy() for name in ("principal_net", "agent_net")
                  for k, v in getattr(self, name).state_dict().items()}
        meta = {"kind": POLICY_KIND, "game": game_to_dict(self.game), "alpha": self.alpha, "nudge": self.nudge,
                "seed": self.seed, "iteration": self.iteration}
        save_checkpoint(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DeepCoinPrincipal":
        arrays, meta = load_checkpoint(path, kind=POLICY_KIND)
        try:
            game = game_from_dict(meta["game"])
            nets = {}
            for name in ("principal_net", "agent_net"):
                net = CoinQNetwork(game.grid, game.n_actions, 1)
                sd = net.state_dict()
                for k, v in sd.items():
                    a = arrays.get(f"{name}.{k}")
                    if a is None or a.shape != tuple(v.shape) or a.dtype != np.float32:
                        raise InvalidFileError(str(path), f"array {name}.{k} missing or not float32 {tuple(v.shape)}")
                    sd[k] = torch.from_numpy(np.array(check_entries(path, f"{name}.{k}", a)))
                net.load_state_dict(sd)
                net.requires_grad_(False)
                nets[name] = net.eval()
            return cls(game=game, **nets, alpha=check_number(path, "alpha", meta["alpha"], 0.0, strict_low=True),
                       nudge=check_number(path, "nudge", meta["nudge"], 0.0), seed=check_count("seed", meta["seed"], 0),
                       iteration=check_count("iteration", meta["iteration"], 0))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, InvalidFileError):
                raise
            raise InvalidFileError(str(path), f"bad deep coin principal ({type(exc).__name__}: {exc})") from None


class DeepPrincipalLearner:
    """The deep principal of the module docstring on ``game``; ``seed`` fixes everything."""

    def __init__(self, game: CoinGame, config: DeepPrincipalConfig | None = None, seed: int = 0):
        self.game = check_game(game)
        cfg = DeepPrincipalConfig() if config is None else config
        if not isinstance(cfg, DeepPrincipalConfig):
            raise InvalidInstanceError("config", f"must be a DeepPrincipalConfig, got {type(cfg).__name__}")
        check_deep_memory(self.game, cfg)
        self.config, self.seed = cfg, check_seed(seed)
        self.env_rng, self.act_rng, tseed = seeds_of(self.seed)
        n = game.n_actions
        with torch_mode(cfg.num_threads):
            self.p_net, self.p_target = make_network(game.grid, n, 1, tseed)
            self.a_net, self.a_target = make_network(game.grid, n, 1, tseed + 1)
            self.p_opt = torch.optim.Adam(self.p_net.parameters(), lr=cfg.lr_start)
            self.a_opt = torch.optim.Adam(self.a_net.parameters(), lr=cfg.lr_start)
        self.replay = make_replay(cfg)
        self.iteration = 0
        self.updates = 0
        self.curve: list = []

    def policy(self) -> DeepCoinPrincipal:
        """The greedy recommendation and its payments on (copies of) the current networks."""
        nets = []
        for net in (self.p_net, self.a_net):
            c = CoinQNetwork(self.game.grid, self.game.n_actions, 1)
            c.load_state_dict(net.state_dict())
            c.requires_grad_(False)
            nets.append(c.eval())
        return DeepCoinPrincipal(game=self.game, principal_net=nets[0], agent_net=nets[1], alpha=self.config.alpha,
                                 nudge=self.config.nudge, seed=self.seed, iteration=self.iteration)

    def train(self, callback=None) -> DeepCoinPrincipal:
        """Run the remaining iterations (lockstep steps) of ``config.iterations``.
        ``callback(iteration, total, metrics)`` runs after every episode batch; ``True`` stops."""
        cfg, game = self.config, self.game
        H, n, B = game.horizon, game.n_actions, cfg.n_envs
        with torch_mode(cfg.num_threads):
            while self.iteration < cfg.iterations:
                state = game.reset(B, self.env_rng)
                u = self.act_rng.random(B)
                deviator = np.where(u < cfg.deviation_prob, (self.act_rng.random(B) < 0.5).astype(np.int64), -1)
                dev = deviator >= 0
                ep = np.zeros(3)
                while state.t < H and self.iteration < cfg.iterations:
                    t, eps = state.t, cfg.epsilon(self.iteration)
                    with torch.no_grad():
                        obs, extra = encode(game, state, t)
                        rec = split(self.p_net(obs, extra).argmax(dim=1))
                        qa = self.a_net(obs, extra)
                        selfish = split(qa.argmax(dim=1))
                        b = split(payment_table(qa, cfg.nudge)).astype(float)
                    acts = epsilon_greedy(rec, eps, n, self.act_rng)
                    acts[dev, deviator[dev]] = epsilon_greedy(selfish[dev, deviator[dev]], eps, n, self.act_rng)
                    nxt, rew, _ = game.step(state, acts, self.env_rng)
                    follow = np.stack([deviator != 0, deviator != 1], axis=1)
                    paid = np.where(follow, np.take_along_axis(b, acts[..., None], axis=2)[..., 0], 0.0)
                    both = ~dev
                    ep += (rew[both].sum(axis=1).mean() if both.any() else np.nan,
                           paid[both].sum(axis=1).mean() if both.any() else np.nan, eps)
                    self.replay.add(pos=state.pos, coin=state.coin, colour=state.colour, t=np.full(B, t),
                                    next_pos=nxt.pos, next_coin=nxt.coin, next_colour=nxt.colour, actions=acts,
                                    rewards=rew, rec=np.zeros((B, 2), np.int64), next_rec=np.zeros((B, 2), np.int64),
                                    flag=deviator)
                    if self.replay.n >= cfg.batch_size:
                        lr = cfg.lr(self.iteration)
                        set_lr(self.p_opt, lr)
                        set_lr(self.a_opt, lr)
                        for _ in range(cfg.updates_per_iteration):
                            s = self.replay.sample(self.act_rng, cfg.batch_size)
                            prio = self._update(s)
                            if prio is not None:
                                self.replay.update_priorities(s["index"], prio)
                    state = nxt
                    self.iteration += 1
                ep[2] /= max(state.t, 1)
                self.curve.append(ep)
                if callback is not None and callback(self.iteration, cfg.iterations,
                                                     {"welfare": ep[0], "payments": ep[1], "epsilon": ep[2]}):
                    break
        return self.policy()

    def _update(self, s: dict) -> np.ndarray | None:
        """One step of each network on the batch ``s``; for a prioritised batch (``"weight"`` in
        ``s``) the rows are weighted by their transition's importance weight and the transitions'
        new ``|δ|`` are returned (module docstring: the principal's VDN ``|δ|`` if both followed
        plus the agents' net ``|δ|`` of the rows it used), ``None`` for a uniform batch."""
        cfg, game = self.config, self.game
        B = s["coin"].shape[0]
        w = s.get("weight")
        prio = None if w is None else np.zeros(B)
        obs, extra = encode(game, states_of(s), s["t"])
        nobs, nextra = encode(game, states_of(s, True), s["t"] + 1)
        live = torch.from_numpy(np.tile(s["t"] + 1 < game.horizon, 2)).float()   # (2B,) agent-0 rows first
        acts = torch.from_numpy(s["actions"].T.reshape(-1))
        rew = torch.from_numpy(s["rewards"].T.reshape(-1)).float()
        flag = s["flag"]
        with torch.no_grad():
            a_next = self.a_target(nobs, nextra).max(dim=1).values
            b = payment_table(self.a_target(obs, extra), cfg.nudge).gather(1, acts[:, None])[:, 0]
            p_next = self.p_target(nobs, nextra).max(dim=1).values
        # agents: rows whose other agent followed (flag != other)
        other = np.concatenate([np.full(B, 1), np.full(B, 0)])
        use = torch.from_numpy(np.tile(flag, 2) != other)
        if bool(use.any()):
            q = self.a_net(obs, extra).gather(1, acts[:, None])[:, 0]
            y = rew + cfg.gamma * live * a_next
            if w is None:
                dqn_step(self.a_net, self.a_opt, q[use], y[use])
            else:
                use_np = use.numpy()
                td = np.where(use_np, td_abs(q, y), 0.0)          # 0 on the rows not used
                dqn_step(self.a_net, self.a_opt, q[use], y[use], np.tile(w, 2)[use_np])
                prio += td[:B] + td[B:]
        # principal (VDN): transitions where both followed
        both = torch.from_numpy(flag < 0)
        if bool(both.any()):
            q = self.p_net(obs, extra).gather(1, acts[:, None])[:, 0]
            per_agent = rew - cfg.alpha * b + cfg.gamma * live * p_next
            total_q = q[:B] + q[B:]
            y = per_agent[:B] + per_agent[B:]
            if w is None:
                dqn_step(self.p_net, self.p_opt, total_q[both], y[both])
            else:
                both_np = both.numpy()
                prio += np.where(both_np, td_abs(total_q, y), 0.0)
                dqn_step(self.p_net, self.p_opt, total_q[both], y[both], w[both_np])
        self.updates += 1
        if self.updates % cfg.target_update == 0:
            self.p_target.load_state_dict(self.p_net.state_dict())
            self.a_target.load_state_dict(self.a_net.state_dict())
        return prio


    # -- checkpoints
    def save(self, path: str | os.PathLike) -> None:
        """Checkpoint at an episode-batch boundary (``train``'s callback): the four networks, both
        Adam states, the replay ring, the counters, the curve and both generators' states, as
        ``.npz`` + JSON (atomic, no pickle); :meth:`load` resumes bit for bit."""
        arrays = {"curve": np.asarray(self.curve, dtype=float).reshape(-1, 3)}
        meta = {"kind": KIND, "game": game_to_dict(self.game), "config": self.config.to_dict(), "seed": self.seed,
                "iteration": self.iteration, "updates": self.updates,
                "env_rng": self.env_rng.bit_generator.state, "act_rng": self.act_rng.bit_generator.state}
        torch_to_checkpoint(arrays, meta, {n: getattr(self, n) for n in _NETS}, {n: getattr(self, n) for n in _OPTS})
        self.replay.to_checkpoint(arrays, meta)
        save_checkpoint(path, arrays, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "DeepPrincipalLearner":
        """The learner of a :meth:`save` checkpoint (every array's shape and type checked)."""
        arrays, meta = load_checkpoint(path, kind=KIND)
        try:
            learner = cls(game_from_dict(meta["game"]), DeepPrincipalConfig(**meta["config"]), meta["seed"])
            torch_from_checkpoint(arrays, meta, {n: getattr(learner, n) for n in _NETS},
                                  {n: getattr(learner, n) for n in _OPTS}, path)
            learner.replay.from_checkpoint(arrays, meta, path, learner.game)
            restore_progress(learner, arrays, meta)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            if isinstance(exc, InvalidFileError):
                raise
            raise InvalidFileError(str(path), f"bad deep coin principal checkpoint ({type(exc).__name__}: {exc})") \
                from None
        return learner


def train(game: CoinGame, config: DeepPrincipalConfig | None = None, seed: int = 0,
          callback=None) -> DeepCoinPrincipal:
    """Train the deep principal from scratch and return it frozen."""
    return DeepPrincipalLearner(game, config, seed).train(callback=callback)


# ---- validation and baselines -------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DeepValidation:
    """Fresh selfish deep learners trained against a frozen principal: the ``agents`` and the
    Monte Carlo outcome ``play`` of their greedy play (welfare, payments paid, follow rate)."""

    agents: DeepAgentRun
    play: PlayMetrics


def validate(principal: DeepCoinPrincipal, config: DeepAgentConfig | None = None, seed: int = 0,
             episodes: int = 1024, eval_seed: int = 0, callback=None) -> DeepValidation:
    """Train two fresh selfish DQN agents from scratch against the frozen ``principal`` (paid iff
    they follow; the recommendation is an input) and measure their greedy play."""
    run = validation_learner(principal, config, seed).train(callback=callback)
    return DeepValidation(agents=run, play=measure_validation(principal, run, episodes, eval_seed))


def validation_learner(principal: DeepCoinPrincipal, config: DeepAgentConfig | None = None,
                       seed: int = 0) -> DeepAgentLearner:
    """The resumable learner behind :func:`validate` (``save`` it at a callback, ``DeepAgentLearner.load(path,
    context=principal.context)`` resumes it)."""
    if not isinstance(principal, DeepCoinPrincipal):
        raise InvalidInstanceError("principal", f"must be a DeepCoinPrincipal, got {type(principal).__name__}")
    return DeepAgentLearner(principal.game, None, config, seed, context=principal.context)


def measure_validation(principal: DeepCoinPrincipal, agents: DeepAgentRun, episodes: int = 1024,
                       eval_seed: int = 0) -> PlayMetrics:
    """Monte Carlo outcome of validation ``agents``' greedy play against ``principal``."""
    return play_greedy(principal.game, agents.act, episodes, eval_seed, context=principal.context)


@dataclass(frozen=True, eq=False)
class DeepBaselineRun:
    """``kind``, ``proportion``, the trained ``agents`` and the Monte Carlo ``play``."""

    kind: str
    proportion: float
    agents: DeepAgentRun
    play: PlayMetrics


def train_baseline(game: CoinGame, kind: str, config: DeepAgentConfig | None = None, seed: int = 0,
                   proportion: float = 0.0, principal: DeepCoinPrincipal | None = None, episodes: int = 1024,
                   eval_seed: int = 0, callback=None) -> DeepBaselineRun:
    """A baseline of :mod:`.coin_baselines` (selfish, cooperative, constant proportion ``p``) with
    the deep learners; ``principal`` (optional) only to measure how often the agents happen to
    play its recommendation."""
    p = float(proportion) if kind == "constant_proportion" else 0.0
    run = train_deep_agents(game, baseline_shaping(kind, proportion), config, seed, callback=callback)
    return DeepBaselineRun(kind=kind, proportion=p, agents=run,
                           play=measure_baseline(game, kind, run, proportion, principal, episodes, eval_seed))


def baseline_shaping(kind: str, proportion: float = 0.0) -> DeepShaping:
    """The training rewards of a baseline for :class:`DeepAgentLearner` (``shaping`` argument;
    :func:`~contractlab.learning.coin_baselines.shaping_for` without the state index)."""
    shaping = cb.shaping_for(kind, proportion)
    return lambda t, a, r: shaping(t, None, a, r)


def measure_baseline(game: CoinGame, kind: str, agents: DeepAgentRun, proportion: float = 0.0,
                     principal: DeepCoinPrincipal | None = None, episodes: int = 1024,
                     eval_seed: int = 0) -> PlayMetrics:
    """Monte Carlo outcome of baseline ``agents``' greedy play: the constant proportion ``p`` of
    the other's game reward is paid (``kind="constant_proportion"``); ``principal`` only measures
    how often they happen to play its recommendation."""
    p = float(proportion) if kind == "constant_proportion" else 0.0
    pay = (lambda r: p * r[:, ::-1]) if p > 0 else None
    return play_greedy(game, agents.act, episodes, eval_seed, context=None if principal is None else principal.context,
                       payment=pay, pay_followers=False)


__all__ = ["DeepPrincipalConfig", "DeepCoinPrincipal", "DeepPrincipalLearner", "train", "validate", "DeepValidation",
           "train_baseline", "DeepBaselineRun", "payment_table", "POLICY_KIND", "validation_learner",
           "measure_validation", "baseline_shaping", "measure_baseline"]
