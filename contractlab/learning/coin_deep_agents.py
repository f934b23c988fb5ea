"""Deep (torch) Q-learning agents of the Coin Game: the network, the replay, the schedules and the
selfish / cooperative / constant-proportion / validation learners (Ivanov et al.,
*Principal-Agent Reinforcement Learning*, arXiv 2407.18074, Section 5 and Appendix D.2).

This module needs the optional extra ``[deep]`` (torch); nothing imports it at
``import contractlab`` time. The deep principal that uses it is :mod:`.coin_deep`.

Network (:class:`CoinQNetwork`)
    Appendix D.2: one convolution (4x4 kernels, 4 → 32 channels, ReLU) over the 4-plane egocentric
    observation of :meth:`~contractlab.theory.coin_game.CoinGame.observations` (own cell, the
    other's cell, a coin of one's colour, a coin of the other's colour), then two fully connected
    layers of 64 (ReLU) and one output per action. The kernel is ``min(4, grid)`` (a 4x4 kernel
    does not fit a 3x3 grid), no padding. Extra inputs are concatenated to the flattened
    convolution: always the time to go ``(H − t) / H`` (episodes are finite, so values depend
    on it), and for validation agents the one-hot recommended action (the paper's
    ``Q^ψ_i((s, a^p_i), a_i)``). Both agents share one network on their egocentric views (the
    paper's agents share parameters; the game is symmetric in that view).

Learner (:class:`DeepAgentConfig`, :func:`train_deep_agents`)
    DQN: ``n_envs`` games stepped in lockstep by the batched core (:meth:`CoinGame.reset` /
    :meth:`CoinGame.step`; all start together, so episodes end together), each agent ε-greedy on
    the shared network; every transition goes into a replay ring (:class:`Replay`, uniform or
    prioritised, ``DeepAgentConfig.replay``); after each lockstep
    step, ``updates_per_iteration`` Adam steps on batches of ``batch_size`` transitions (both
    agents' views of each), Huber loss, gradient norm clipped to 10, target
    ``r̃_i + γ (1 − done) max_a' Q_target(s'_i, a')``; the target copy is refreshed every
    ``target_update`` gradient steps. ``r̃_i`` is the shaped reward of the run (:data:`DeepShaping`).
    Schedules (defaults of Appendix D.2 as read in the reproduction
    ``Yixiang-Kenzo/RL_ContractTheory_Recreation``, ``notes/coin_game_spec.md``): ε linear
    0.4 → 0, learning rate geometric 5e-4 → 1e-4, γ = 0.99, batch 128, replay 100 000, target
    copy every 100 updates; the paper runs 10⁶ iterations of one environment step and one
    gradient step with prioritised replay (α = 0.4, β = 0, ε = 1e-7). Both replays are here:
    ``replay="prioritised"`` is the paper's (proportional, Schaul et al. 2016; a transition's
    priority is the sum of the ``|δ|`` of its two rows, agent 0's and agent 1's views, a choice
    of ours: the paper does not say how the two views combine), and the default
    ``replay="uniform"`` is kept so that earlier results and checkpoints reproduce bit for bit.
    Deviations, for the CPU budget: ``n_envs`` transitions per gradient step, and far fewer
    gradient steps (set by the caller; ``benchmarks/coin_deep.py``).

Evaluation (:func:`play_greedy`): greedy play of many games by Monte Carlo (7x7 has ~2.3 · 10⁵
states per step, too many to evaluate exactly); on 3x3 :func:`tabulate_actions` gives the greedy
policy at every ``(t, s)`` so that it can be evaluated exactly.

Randomness: ``numpy.random.SeedSequence(seed)`` spawns the environments' and the exploration /
replay generators and the seed of the network initialisation (taken under
:func:`torch.random.fork_rng`, so the caller's torch RNG is untouched). Training runs with
``torch.set_num_threads(num_threads)`` and deterministic algorithms (restored afterwards): the
same seed gives the same result bit for bit for a fixed thread count and platform.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..theory.budget import check_memory
from ..theory.coin_game import CoinGame, CoinState, game_from_dict, game_to_dict
from ..theory.errors import InvalidInstanceError
from ..theory.validation import check_real
from .checkpoint import check_entries
from .coin_agents import PlayMetrics, check_count, check_game, check_seed, linear_epsilon
from .deep import torch_mode  # noqa: F401  (one deterministic torch mode for every deep learner)

#: ``shaping(t, actions, rewards) -> (training_rewards, payments)``, all ``(B, 2)``: the rewards
#: agents without a principal learn from and the part of them paid from outside the game.
DeepShaping = Callable[[int, np.ndarray, np.ndarray], "tuple[np.ndarray, np.ndarray]"]
#: ``context(state) -> (recommendation (B, 2) int, payments (B, 2))`` of a frozen principal.
Context = Callable[[CoinState], "tuple[np.ndarray, np.ndarray]"]

#: Torch threads of the evaluations (greedy play, tables): one, as in training; on a shared
#: machine more threads on these small networks were measured slower (31 ms per forward pass
#: of 2048 rows with the default threads under load, against ~5 ms).
EVAL_THREADS = 1

#: Channels of the convolution and width of the two hidden layers (Appendix D.2).
CONV_CHANNELS = 32
HIDDEN = 64


class CoinQNetwork(nn.Module):
    """One conv layer + two fully connected layers of 64 + output (module docstring)."""

    def __init__(self, grid: int, n_actions: int, n_extra: int = 1):
        super().__init__()
        k = min(4, grid)
        self.grid, self.n_actions, self.n_extra = grid, n_actions, n_extra
        self.conv = nn.Conv2d(4, CONV_CHANNELS, kernel_size=k)
        flat = CONV_CHANNELS * (grid - k + 1) ** 2
        self.fc1 = nn.Linear(flat + n_extra, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, HIDDEN)
        self.out = nn.Linear(HIDDEN, n_actions)

    def forward(self, obs: torch.Tensor, extra: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(obs)).flatten(1)
        h = torch.relu(self.fc1(torch.cat([h, extra], dim=1)))
        return self.out(torch.relu(self.fc2(h)))


def make_network(grid: int, n_actions: int, n_extra: int, seed: int) -> tuple[CoinQNetwork, CoinQNetwork]:
    """An online network initialised from ``seed`` and its target copy."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = CoinQNetwork(grid, n_actions, n_extra)
    target = CoinQNetwork(grid, n_actions, n_extra)
    target.load_state_dict(net.state_dict())
    target.requires_grad_(False)
    return net, target


# ---- inputs -------------------------------------------------------------------------------------

def encode(game: CoinGame, state: CoinState, t: np.ndarray | int, rec: np.ndarray | None = None):
    """Both agents' network inputs for a batch of ``B`` states: ``obs`` ``(2B, 4, g, g)`` (agent 0's
    views first, then agent 1's) and ``extra`` ``(2B, 1 [+ n])``: time to go, and the one-hot
    recommendation ``rec`` ``(B, 2)`` if given."""
    B = state.batch
    obs = game.observations(state)                                   # (B, 2, 4, g, g)
    obs = torch.from_numpy(np.ascontiguousarray(obs.swapaxes(0, 1))).reshape(2 * B, 4, game.grid, game.grid).float()
    togo = (game.horizon - np.broadcast_to(np.asarray(t), (B,))) / game.horizon
    cols = [np.tile(togo, 2)[:, None]]
    if rec is not None:
        cols.append(np.eye(game.n_actions)[np.asarray(rec).T.reshape(-1)])
    return obs, torch.from_numpy(np.concatenate(cols, axis=1)).float()


def split(values: torch.Tensor) -> np.ndarray:
    """``(2B, …)`` rows of :func:`encode` order back to numpy ``(B, 2, …)``."""
    v = values.detach().numpy()
    return np.swapaxes(v.reshape((2, -1) + v.shape[1:]), 0, 1)


def tabulate_actions(game: CoinGame, net: CoinQNetwork, rec: np.ndarray | None = None) -> np.ndarray:
    """``(H, S, 2)`` the greedy actions of ``net`` at every step and state index (small grids;
    ``rec`` ``(H, S, 2)`` the recommendation input of a validation agent)."""
    H, S = game.horizon, game.n_states
    out = np.zeros((H, S, 2), dtype=np.int64)
    st = game.from_index(np.arange(S))
    with torch.no_grad(), torch_mode(EVAL_THREADS):
        for t in range(H):
            obs, extra = encode(game, st, t, None if rec is None else rec[t])
            out[t] = split(net(obs, extra).argmax(dim=1))
    return out


# ---- replay -------------------------------------------------------------------------------------

class Replay:
    """A ring buffer of transitions stored as integer states (observations are rebuilt
    when sampled): ``pos``/``next_pos`` ``(N, 2)``, ``coin``, ``colour``, ``t`` and the next ones,
    ``actions`` ``(N, 2)``, ``rewards`` ``(N, 2)``, optional ``rec``/``next_rec`` ``(N, 2)`` and
    ``flag`` (an integer per transition: the deviating agent, ``-1`` if none).

    Uniform by default (:meth:`sample` draws ``rng.integers(0, n, size=batch)``). With
    ``prioritised`` it is the proportional prioritised replay of Schaul et al. 2016
    (*Prioritized Experience Replay*, arXiv 1511.05952, Section 3.3, Eq. 1 and the weights of
    Section 3.4): slot ``i`` holds a priority ``p_i``, a new transition gets the largest priority
    seen so far (``max_priority``, 1.0 initially; never decreases), the batch is drawn with
    ``P(i) = p_i^alpha / Σ_j p_j^alpha`` (``alpha = 0``: uniform in distribution, though not the
    same draws as the uniform buffer) and :meth:`update_priorities` sets ``p_i = |δ_i| + eps``
    from the TD errors of the step that used them. Sampling builds the cumulative sum of
    ``p^alpha`` over the ``n`` filled slots and inverts it with :func:`numpy.searchsorted`:
    O(n) per batch rather than a sum tree's O(batch log n), which is a few milliseconds at
    ``n = 10⁵`` and simpler to keep exact in a checkpoint."""

    FIELDS = {"pos": (2, np.int64), "coin": ((), np.int64), "colour": ((), np.int64), "t": ((), np.int64),
              "next_pos": (2, np.int64), "next_coin": ((), np.int64), "next_colour": ((), np.int64),
              "actions": (2, np.int64), "rewards": (2, np.float64), "rec": (2, np.int64),
              "next_rec": (2, np.int64), "flag": ((), np.int64)}

    def __init__(self, size: int, prioritised: bool = False, alpha: float = 0.4, beta: float = 0.0,
                 eps: float = 1e-7):
        self.size, self.n, self.head = size, 0, 0
        self.data = {k: np.zeros((size,) + ((s,) if isinstance(s, int) else s), dtype=d)
                     for k, (s, d) in self.FIELDS.items()}
        self.prioritised, self.alpha, self.beta, self.eps = bool(prioritised), float(alpha), float(beta), float(eps)
        #: ``p_i`` of every slot (0 for the empty ones); ``None`` for a uniform buffer.
        self.priority = np.zeros(size) if self.prioritised else None
        self.max_priority = 1.0

    def add(self, **items) -> None:
        B = items["coin"].shape[0]
        where = (self.head + np.arange(B)) % self.size
        for k, v in items.items():
            self.data[k][where] = v
        if self.prioritised:
            self.priority[where] = self.max_priority
        self.head = (self.head + B) % self.size
        self.n = min(self.n + B, self.size)

    def sample(self, rng: np.random.Generator, batch: int, beta: float | None = None) -> dict:
        """``batch`` transitions (a dict of arrays, one row each) and ``"index"`` their slots; a
        prioritised buffer adds ``"weight"``, the importance weights ``w_i = (n P(i))^(−beta)``
        divided by their batch maximum (``beta`` defaults to the buffer's; 0 gives all ones)."""
        if not self.prioritised:
            i = rng.integers(0, self.n, size=batch)
            out = {k: v[i] for k, v in self.data.items()}
            out["index"] = i
            return out
        p = self.priority[:self.n] ** self.alpha
        c = np.cumsum(p)
        # slot k owns [c[k-1], c[k]); the clip guards against u landing on c[-1] by round-off
        i = np.minimum(np.searchsorted(c, rng.random(batch) * c[-1], side="right"), self.n - 1)
        b = self.beta if beta is None else float(beta)
        w = (self.n * (p[i] / c[-1])) ** (-b)
        out = {k: v[i] for k, v in self.data.items()}
        out["index"], out["weight"] = i, w / w.max()
        return out

    def update_priorities(self, index: np.ndarray, td_abs: np.ndarray) -> None:
        """``p_i = |δ_i| + eps`` for the sampled slots ``index``. A slot drawn several times in one
        batch takes the priority of its *last* occurrence (the rows are the same transition through
        the same network, so they differ at most by round-off). ``max_priority`` is the running
        maximum of every priority set so far (Schaul et al.'s ``max_{i<t} p_i``), never lowered."""
        if not self.prioritised:
            raise InvalidInstanceError("replay", "update_priorities needs a prioritised buffer")
        index = np.asarray(index, dtype=np.int64)
        p = np.abs(np.asarray(td_abs, dtype=np.float64)) + self.eps
        if index.shape != p.shape:
            raise InvalidInstanceError("td_abs", f"one TD error per index: shapes {index.shape} and {p.shape}")
        slots, last = np.unique(index[::-1], return_index=True)
        self.priority[slots] = p[::-1][last]
        if p.size:
            self.max_priority = max(self.max_priority, float(p.max()))

    def to_checkpoint(self, arrays: dict, meta: dict) -> None:
        """Put the ring into a checkpoint's ``arrays`` (``replay.*``) and ``meta`` (counters; a
        prioritised buffer adds ``replay.priority`` and ``max_priority``)."""
        arrays.update({f"replay.{k}": v for k, v in self.data.items()})
        meta["replay"] = {"n": self.n, "head": self.head}
        if self.prioritised:
            arrays["replay.priority"] = self.priority
            meta["replay"]["max_priority"] = self.max_priority

    @staticmethod
    def bounds(game: CoinGame) -> dict:
        """The range ``(low, high)`` of every field on ``game``: cells, colours, steps taken,
        actions, the deviator flag (−1 none) and finite rewards."""
        cell, act = (0, game.grid ** 2 - 1), (0, game.n_actions - 1)
        return {"pos": cell, "coin": cell, "colour": (0, 1), "t": (0, game.horizon - 1), "next_pos": cell,
                "next_coin": cell, "next_colour": (0, 1), "actions": act, "rewards": (-np.inf, np.inf),
                "rec": act, "next_rec": act, "flag": (-1, 1)}

    def from_checkpoint(self, arrays: dict, meta: dict, path, game: CoinGame) -> None:
        """Restore :meth:`to_checkpoint`'s ring (shapes, every entry's range on ``game`` and the
        counters checked, so a corrupted file is refused, not indexed out of bounds later). A
        uniform buffer ignores priorities (checkpoints written before prioritised replay have
        none); a prioritised one requires them."""
        from ..theory.errors import InvalidFileError
        bounds = self.bounds(game)
        for k, v in self.data.items():
            a = arrays.get(f"replay.{k}")
            if a is None or a.shape != v.shape:
                raise InvalidFileError(str(path), f"array replay.{k} missing or not of shape {v.shape}")
            check_entries(path, f"replay.{k}", a, *bounds[k], integer=v.dtype.kind == "i")
            self.data[k] = np.array(a, dtype=v.dtype)
        self.n = check_count("replay.n", meta["replay"]["n"], 0)
        self.head = check_count("replay.head", meta["replay"]["head"], 0)
        if self.n > self.size or self.head >= self.size:
            raise InvalidFileError(str(path), "replay counters out of range")
        if self.prioritised:
            a = arrays.get("replay.priority")
            if a is None or a.shape != (self.size,) or a.dtype.kind != "f" or not np.all(np.isfinite(a)) \
                    or np.any(a < 0) or np.any(a[:self.n] <= 0):
                raise InvalidFileError(str(path), f"array replay.priority missing, not of shape {(self.size,)} or "
                                                  "not positive on the filled slots")
            mp = meta["replay"].get("max_priority")
            if isinstance(mp, bool) or not isinstance(mp, (int, float)) or not np.isfinite(mp) or mp <= 0:
                raise InvalidFileError(str(path), "replay max_priority missing or not a positive number")
            self.priority, self.max_priority = np.array(a, dtype=np.float64), float(mp)


def torch_to_checkpoint(arrays: dict, meta: dict, modules: dict, optimizers: dict) -> None:
    """Networks' state dicts and Adam states into a checkpoint (tensors as float arrays named
    ``name.key``, the optimisers' param groups and state keys in ``meta["optimizers"]``)."""
    for name, module in modules.items():
        arrays.update({f"{name}.{k}": v.detach().numpy() for k, v in module.state_dict().items()})
    meta["optimizers"] = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        for idx, st in sd["state"].items():
            for k, v in st.items():
                arrays[f"{name}.{idx}.{k}"] = v.detach().numpy()
        meta["optimizers"][name] = {"param_groups": sd["param_groups"],
                                    "state": {str(i): sorted(st) for i, st in sd["state"].items()}}


def restore_progress(learner, arrays: dict, meta: dict) -> None:
    """A deep learner's curve, iteration and update counters and both generators' states, from a
    checkpoint its ``save`` wrote."""
    learner.curve = [row for row in np.array(arrays["curve"], dtype=float).reshape(-1, 3)]
    learner.iteration = check_count("iteration", meta["iteration"], 0)
    learner.updates = check_count("updates", meta["updates"], 0)
    learner.env_rng.bit_generator.state = meta["env_rng"]
    learner.act_rng.bit_generator.state = meta["act_rng"]


def torch_from_checkpoint(arrays: dict, meta: dict, modules: dict, optimizers: dict, path) -> None:
    """Restore :func:`torch_to_checkpoint` into freshly made ``modules`` and ``optimizers``."""
    for name, module in modules.items():
        sd = module.state_dict()
        module.load_state_dict({k: _float_tensor(arrays, f"{name}.{k}", tuple(v.shape), path) for k, v in sd.items()})
    for name, opt in optimizers.items():
        saved = meta["optimizers"][name]
        opt.load_state_dict({"state": {int(i): {k: _float_tensor(arrays, f"{name}.{i}.{k}", None, path) for k in keys}
                                       for i, keys in saved["state"].items()},
                             "param_groups": saved["param_groups"]})


def states_of(sample: dict, nxt: bool = False) -> CoinState:
    p = "next_" if nxt else ""
    return CoinState(pos=sample[p + "pos"], coin=sample[p + "coin"], colour=sample[p + "colour"], t=0)


# ---- config -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeepAgentConfig:
    """Hyper-parameters of the deep Q-learning agents (module docstring); a bad value raises
    :class:`InvalidInstanceError` naming the field.

    ``iterations`` lockstep steps of ``n_envs`` games, each followed by
    ``updates_per_iteration`` gradient steps on ``batch_size`` transitions (after
    ``batch_size`` transitions are stored); ε linear from ``epsilon_start`` to ``epsilon_end``
    over the first ``epsilon_fraction × iterations``; learning rate geometric from ``lr_start`` to
    ``lr_end`` over ``iterations``; ``gamma`` the discount; replay of ``buffer_size``; target copy
    every ``target_update`` gradient steps; ``num_threads`` torch threads.

    ``replay`` ``"uniform"`` (default) or ``"prioritised"``: proportional prioritised replay
    (:class:`Replay`; Schaul et al. 2016, arXiv 1511.05952, Eq. 1 ``P(i) = p_i^α / Σ_k p_k^α``
    with ``p_i = |δ_i| + ε``, and the importance weights ``w_i = (N P(i))^(−β) / max_j w_j`` of
    Section 3.4 multiplying the per-row Huber loss), with ``priority_alpha`` ``α >= 0``,
    ``priority_beta`` ``β`` in ``[0, 1]`` and ``priority_eps`` ``ε > 0``; the defaults are the
    paper's (arXiv 2407.18074, Appendix D.2: α = 0.4, β = 0, ε = 1e-7; β constant, not annealed).
    The default stays uniform so that earlier results and checkpoints (whose config has none of
    these keys) reproduce as they were."""

    n_envs: int = 16
    iterations: int = 4000
    updates_per_iteration: int = 1
    batch_size: int = 128
    buffer_size: int = 100_000
    target_update: int = 100
    lr_start: float = 5e-4
    lr_end: float = 1e-4
    epsilon_start: float = 0.4
    epsilon_end: float = 0.0
    epsilon_fraction: float = 1.0
    gamma: float = 0.99
    num_threads: int = 1
    replay: str = "uniform"
    priority_alpha: float = 0.4
    priority_beta: float = 0.0
    priority_eps: float = 1e-7

    def __post_init__(self) -> None:
        validate_schedule(self)

    def epsilon(self, iteration: int) -> float:
        return linear_epsilon(self.epsilon_start, self.epsilon_end, self.epsilon_fraction, self.iterations, iteration)

    def lr(self, iteration: int) -> float:
        x = min(iteration / self.iterations, 1.0)
        return self.lr_start * (self.lr_end / self.lr_start) ** x

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def validate_schedule(cfg) -> None:
    """Validate, in place, the fields :class:`DeepAgentConfig` shares with the principal's config."""
    put = lambda name, value: object.__setattr__(cfg, name, value)  # noqa: E731
    for name in ("n_envs", "iterations", "updates_per_iteration", "batch_size", "target_update", "num_threads"):
        put(name, check_count(name, getattr(cfg, name)))
    put("buffer_size", check_count("buffer_size", cfg.buffer_size, cfg.batch_size))
    for name in ("lr_start", "lr_end"):
        put(name, check_real(name, getattr(cfg, name), 0.0, 1.0, low_open=True))
    for name in ("epsilon_start", "epsilon_end", "epsilon_fraction", "gamma"):
        put(name, check_real(name, getattr(cfg, name), 0.0, 1.0))
    if not isinstance(cfg.replay, str) or cfg.replay not in REPLAYS:
        raise InvalidInstanceError("replay", f"must be one of {REPLAYS}, got {cfg.replay!r}")
    put("priority_alpha", check_real("priority_alpha", cfg.priority_alpha, 0.0))
    put("priority_beta", check_real("priority_beta", cfg.priority_beta, 0.0, 1.0))
    put("priority_eps", check_real("priority_eps", cfg.priority_eps, 0.0, low_open=True))


#: The replay kinds of :class:`DeepAgentConfig`.
REPLAYS = ("uniform", "prioritised")


#: Bytes per stored transition (the integer fields of :attr:`Replay.FIELDS` and a priority).
TRANSITION_BYTES = 8 * (sum(int(np.prod(s)) for s, _ in Replay.FIELDS.values()) + 1)
#: Bytes per grid cell of one game in a forward and backward pass of up to four networks (the
#: 4-plane observation and the 32-channel convolution with its gradient, float32), rounded up.
SAMPLE_CELL_BYTES = 2048


def check_deep_memory(game: CoinGame, cfg) -> None:
    """Refuse (naming the field) a replay buffer or a batch that would not fit the memory budget
    (:func:`contractlab.theory.budget.check_memory`), before anything is allocated."""
    check_memory("buffer_size", float(cfg.buffer_size) * TRANSITION_BYTES, f"a replay of {cfg.buffer_size} transitions")
    for field in ("n_envs", "batch_size"):
        count = getattr(cfg, field)
        check_memory(field, float(count) * game.n_cells * SAMPLE_CELL_BYTES, f"{count} games in one pass")


def make_replay(cfg) -> Replay:
    """The replay buffer a :class:`DeepAgentConfig` (or the principal's) asks for."""
    return Replay(cfg.buffer_size, prioritised=cfg.replay == "prioritised", alpha=cfg.priority_alpha,
                  beta=cfg.priority_beta, eps=cfg.priority_eps)


# ---- one DQN step -------------------------------------------------------------------------------

def dqn_step(net: nn.Module, opt: torch.optim.Optimizer, q_taken: torch.Tensor, target: torch.Tensor,
             weights: torch.Tensor | np.ndarray | None = None) -> float:
    """One Adam step on the Huber loss between ``q_taken`` and ``target``, gradient norm clipped to 10.

    Without ``weights`` the loss is exactly ``smooth_l1_loss(q_taken, target)`` (the mean); with
    ``weights`` (one per row: prioritised replay's importance weights) it is the mean of the
    per-row Huber losses times the weights. The per-row ``|δ|`` for the priorities is
    :func:`td_abs` of the same tensors (taken before the step, as in Schaul et al.)."""
    if weights is None:
        loss = nn.functional.smooth_l1_loss(q_taken, target)
    else:
        w = torch.as_tensor(weights, dtype=q_taken.dtype)
        loss = (nn.functional.smooth_l1_loss(q_taken, target, reduction="none") * w).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(net.parameters(), 10.0)
    opt.step()
    return float(loss.detach())


def td_abs(q_taken: torch.Tensor, target: torch.Tensor) -> np.ndarray:
    """Per-row absolute TD errors ``|y − Q|`` as float64 (the priorities' ``|δ|``)."""
    return (target.detach() - q_taken.detach()).abs().double().numpy()


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def seeds_of(seed: int):
    """``(env_rng, act_rng, torch_seed)`` from one seed."""
    env_ss, act_ss, torch_ss = np.random.SeedSequence(check_seed(seed)).spawn(3)
    return (np.random.default_rng(env_ss), np.random.default_rng(act_ss),
            int(torch_ss.generate_state(1, np.uint32)[0]))


def epsilon_greedy(greedy: np.ndarray, eps: float, n: int, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(greedy.shape)
    other = rng.integers(0, n, size=greedy.shape)
    return np.where(u < eps, other, greedy)


# ---- the agents ---------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DeepAgentRun:
    """Trained agents: the shared ``net``; ``uses_rec`` whether it takes the recommendation;
    ``curve`` ``(iterations // H, 3)`` per batch of episodes the mean welfare, payments (per
    episode, under exploration) and follow rate (NaN without a principal)."""

    game: CoinGame
    config: DeepAgentConfig
    seed: int
    net: CoinQNetwork
    uses_rec: bool
    curve: np.ndarray

    def act(self, state: CoinState, t: int, rec: np.ndarray | None = None) -> np.ndarray:
        """``(B, 2)`` greedy actions."""
        with torch.no_grad():
            obs, extra = encode(self.game, state, t, rec if self.uses_rec else None)
            return split(self.net(obs, extra).argmax(dim=1))


class DeepAgentLearner:
    """Two DQN agents (one shared network) trained on the shaped rewards, resumable.

    With ``context`` (a frozen principal's recommendation and payments) they are selfish validation
    agents instead: the recommendation is an input and agent ``i`` learns from ``r_i`` plus the
    payment iff it played the recommendation (``shaping`` is then ignored). :meth:`train` stops
    at an episode-batch boundary when its callback returns ``True``; :meth:`save` there and
    :meth:`load` (given the same ``shaping`` / ``context``, which are code, not data) resume bit
    for bit."""

    def __init__(self, game: CoinGame, shaping: DeepShaping | None, config: DeepAgentConfig | None = None,
                 seed: int = 0, context: Context | None = None):
        self.game = check_game(game)
        cfg = DeepAgentConfig() if config is None else config
        if not isinstance(cfg, DeepAgentConfig):
            raise InvalidInstanceError("config", f"must be a DeepAgentConfig, got {type(cfg).__name__}")
        self.config, self.seed = cfg, check_seed(seed)
        check_deep_memory(self.game, cfg)
        self.shaping, self.context, self.uses_rec = shaping, context, context is not None
        self.env_rng, self.act_rng, tseed = seeds_of(self.seed)
        n = game.n_actions
        with torch_mode(cfg.num_threads):
            self.net, self.target = make_network(game.grid, n, 1 + (n if self.uses_rec else 0), tseed)
            self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr_start)
        self.replay = make_replay(cfg)
        self.curve: list = []
        self.updates = 0
        self.iteration = 0
        self.state = game.reset(cfg.n_envs, self.env_rng)     # the batch of episodes about to be played

    def train(self, callback=None) -> DeepAgentRun:
        """Run the remaining iterations; ``callback(iteration, total, metrics)`` after every
        episode batch, ``True`` stops there. Returns :meth:`run`."""
        game, cfg, uses_rec, context = self.game, self.config, self.uses_rec, self.context
        H, n, B = game.horizon, game.n_actions, cfg.n_envs
        state = self.state
        rec, pay = context(state) if uses_rec else (np.zeros((B, 2), np.int64), np.zeros((B, 2)))
        ep = np.zeros(3)
        with torch_mode(cfg.num_threads):
            while self.iteration < cfg.iterations:
                it, t = self.iteration, state.t
                eps = cfg.epsilon(it)
                with torch.no_grad():
                    obs, extra = encode(game, state, t, rec if uses_rec else None)
                    greedy = split(self.net(obs, extra).argmax(dim=1))
                acts = epsilon_greedy(greedy, eps, n, self.act_rng)
                nxt, rew, _ = game.step(state, acts, self.env_rng)
                if uses_rec:
                    follow = acts == rec
                    paid = np.where(follow, pay, 0.0)
                    shaped = rew + paid
                else:
                    shaped, paid = self.shaping(t, acts, rew)
                done = nxt.t >= H
                nrec = np.zeros((B, 2), np.int64)
                if uses_rec and not done:
                    nrec, npay = context(nxt)
                self.replay.add(pos=state.pos, coin=state.coin, colour=state.colour, t=np.full(B, t),
                                next_pos=nxt.pos, next_coin=nxt.coin, next_colour=nxt.colour, actions=acts,
                                rewards=shaped, rec=rec, next_rec=nrec, flag=np.full(B, -1))
                ep += (rew.sum(axis=1).mean(), paid.sum(axis=1).mean(), follow.mean() / H if uses_rec else np.nan)
                if self.replay.n >= cfg.batch_size:
                    set_lr(self.opt, cfg.lr(it))
                    for _ in range(cfg.updates_per_iteration):
                        s = self.replay.sample(self.act_rng, cfg.batch_size)
                        prio = _agent_update(game, self.net, self.target, self.opt, s, cfg.gamma, uses_rec)
                        if prio is not None:
                            self.replay.update_priorities(s["index"], prio)
                        self.updates += 1
                        if self.updates % cfg.target_update == 0:
                            self.target.load_state_dict(self.net.state_dict())
                self.iteration += 1
                if done:
                    self.curve.append(ep.copy())
                    ep[:] = 0
                    state = self.state = game.reset(B, self.env_rng)
                    if uses_rec:
                        rec, pay = context(state)
                    if callback is not None and callback(self.iteration, cfg.iterations, {"welfare": self.curve[-1][0]}):
                        break
                else:
                    state = nxt
                    if uses_rec:
                        rec, pay = nrec, npay
        self.state = state
        return self.run()

    def run(self) -> DeepAgentRun:
        """The agents as trained so far, frozen (a copy of the network)."""
        net = CoinQNetwork(self.game.grid, self.game.n_actions, 1 + (self.game.n_actions if self.uses_rec else 0))
        net.load_state_dict(self.net.state_dict())
        net.requires_grad_(False)
        return DeepAgentRun(game=self.game, config=self.config, seed=self.seed, net=net.eval(), uses_rec=self.uses_rec,
                            curve=np.array(self.curve).reshape(-1, 3))

    # -- checkpoints (at an episode-batch boundary)
    def save(self, path) -> None:
        """``.npz`` + JSON (atomic, no pickle): both networks, the Adam state, the replay ring, the
        next batch's start states, counters, curve and generator states."""
        from .checkpoint import save_checkpoint
        if self.state.t != 0:
            raise InvalidInstanceError("state", "a checkpoint is taken at an episode-batch boundary (train's callback)")
        arrays = {"state.pos": self.state.pos, "state.coin": self.state.coin, "state.colour": self.state.colour,
                  "curve": np.asarray(self.curve, dtype=float).reshape(-1, 3)}
        meta = {"kind": AGENT_KIND, "game": game_to_dict(self.game), "config": self.config.to_dict(), "seed": self.seed,
                "uses_rec": self.uses_rec, "iteration": self.iteration, "updates": self.updates,
                "env_rng": self.env_rng.bit_generator.state, "act_rng": self.act_rng.bit_generator.state}
        torch_to_checkpoint(arrays, meta, {"net": self.net, "target": self.target}, {"opt": self.opt})
        self.replay.to_checkpoint(arrays, meta)
        save_checkpoint(path, arrays, meta)

    @classmethod
    def load(cls, path, shaping: DeepShaping | None = None, context: Context | None = None) -> "DeepAgentLearner":
        """The learner of a :meth:`save` checkpoint; ``shaping`` / ``context`` as when it was made
        (a checkpoint of validation agents needs the ``context``, and only it)."""
        from ..theory.errors import InvalidFileError
        from .checkpoint import load_checkpoint
        arrays, meta = load_checkpoint(path, kind=AGENT_KIND)
        try:
            if bool(meta["uses_rec"]) != (context is not None):
                raise InvalidInstanceError("context", "give the context exactly when the checkpoint's agents took "
                                                      "recommendations")
            learner = cls(game_from_dict(meta["game"]), shaping, DeepAgentConfig(**meta["config"]), meta["seed"],
                          context)
            torch_from_checkpoint(arrays, meta, {"net": learner.net, "target": learner.target}, {"opt": learner.opt},
                                  path)
            learner.replay.from_checkpoint(arrays, meta, path, learner.game)
            B, C = learner.config.n_envs, learner.game.n_cells
            pos, coin, colour = (np.array(arrays[f"state.{k}"], dtype=np.int64) for k in ("pos", "coin", "colour"))
            if pos.shape != (B, 2) or coin.shape != (B,) or colour.shape != (B,) or min(pos.min(initial=0),
                                                                                      coin.min(initial=0)) < 0 \
                    or max(pos.max(initial=0), coin.max(initial=0)) >= C or colour.min(initial=0) < 0 \
                    or colour.max(initial=0) > 1:
                raise InvalidFileError(str(path), "the saved start states are not states of this game")
            learner.state = CoinState(pos=pos, coin=coin, colour=colour, t=0)
            restore_progress(learner, arrays, meta)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            if isinstance(exc, InvalidFileError):
                raise
            raise InvalidFileError(str(path), f"bad deep agent checkpoint ({type(exc).__name__}: {exc})") from None
        return learner


#: ``kind`` of a :class:`DeepAgentLearner` checkpoint.
AGENT_KIND = "coin_deep_agents_learner"


def _float_tensor(arrays: dict, key: str, shape: tuple | None, path) -> torch.Tensor:
    """A checkpoint's float array as a tensor (refused if missing, not float, of another shape,
    or holding a NaN or infinite entry)."""
    from ..theory.errors import InvalidFileError
    a = arrays.get(key)
    if a is None or a.dtype.kind != "f" or (shape is not None and a.shape != shape):
        raise InvalidFileError(str(path), f"array {key} missing or not a float array of shape {shape}")
    return torch.from_numpy(np.array(check_entries(path, key, a)))


def train_deep_agents(game: CoinGame, shaping: DeepShaping | None, config: DeepAgentConfig | None = None,
                      seed: int = 0, context: Context | None = None, callback=None) -> DeepAgentRun:
    """Train two DQN agents from scratch (:class:`DeepAgentLearner`) and return them frozen."""
    return DeepAgentLearner(game, shaping, config, seed, context).train(callback=callback)


def _agent_update(game, net, target, opt, s: dict, gamma: float, uses_rec: bool) -> np.ndarray | None:
    """One DQN step on the batch ``s`` (both agents' rows of each transition). For a prioritised
    batch (``s`` has ``"weight"``) the rows are weighted by their transition's importance weight
    and the new priorities' ``|δ|`` are returned, per transition the sum of its two rows'
    ``|δ|`` (agent 0's and agent 1's views); ``None`` for a uniform batch."""
    obs, extra = encode(game, states_of(s), s["t"], s["rec"] if uses_rec else None)
    nobs, nextra = encode(game, states_of(s, True), s["t"] + 1, s["next_rec"] if uses_rec else None)
    done = np.tile(s["t"] + 1 >= game.horizon, 2)
    with torch.no_grad():
        v = target(nobs, nextra).max(dim=1).values
    y = torch.from_numpy(s["rewards"].T.reshape(-1)).float() + gamma * torch.from_numpy(~done).float() * v
    a = torch.from_numpy(s["actions"].T.reshape(-1))
    q = net(obs, extra).gather(1, a[:, None])[:, 0]
    if "weight" not in s:
        dqn_step(net, opt, q, y)
        return None
    td = td_abs(q, y)
    dqn_step(net, opt, q, y, np.tile(s["weight"], 2))
    B = s["coin"].shape[0]
    return td[:B] + td[B:]


# ---- evaluation ---------------------------------------------------------------------------------

def play_greedy(game: CoinGame, act, episodes: int, seed: int, context: Context | None = None,
                payment=None, pay_followers: bool = True) -> PlayMetrics:
    """Monte Carlo outcome of a greedy joint policy over ``episodes`` games played at once.

    ``act(state, t, rec) -> (B, 2)`` actions; ``context`` a principal's recommendation and
    payments (paid iff the agent plays the recommendation; the follow rate compares with it);
    ``payment(rewards) -> (B, 2)`` a payment from the game rewards (constant proportion). With
    ``payment`` or ``pay_followers=False`` the principal pays nothing and ``context`` only measures
    how often the agents happen to play its recommendation (the baselines).
    Returns :class:`~contractlab.learning.coin_agents.PlayMetrics` of per-episode means."""
    episodes = check_count("episodes", episodes)
    rng = np.random.default_rng(check_seed(seed))
    state = game.reset(episodes, rng)
    ret, paid, fol = np.zeros(2), np.zeros(2), np.zeros(2)
    with torch_mode(EVAL_THREADS):
        for t in range(game.horizon):
            rec, pay = context(state) if context is not None else (None, None)
            acts = act(state, t, rec)
            state, rew, _ = game.step(state, acts, rng)
            ret += rew.mean(axis=0)
            if rec is not None:
                f = acts == rec
                fol += f.mean(axis=0)
                if payment is None and pay_followers:
                    paid += np.where(f, pay, 0.0).mean(axis=0)
            if payment is not None:
                paid += payment(rew).mean(axis=0)
    follow = fol / game.horizon if context is not None else np.full(2, math.nan)
    return PlayMetrics(welfare=float(ret.sum()), returns=ret, payments=paid, follow_rate=follow)


__all__ = ["CoinQNetwork", "DeepAgentConfig", "DeepAgentRun", "DeepShaping", "Replay", "encode", "split",
           "make_network", "train_deep_agents", "DeepAgentLearner", "AGENT_KIND",
           "torch_to_checkpoint", "torch_from_checkpoint", "play_greedy", "tabulate_actions", "torch_mode", "validate_schedule",
           "CONV_CHANNELS", "HIDDEN", "REPLAYS", "make_replay", "dqn_step", "td_abs"]
