"""Deep contractual Q-learning: a learned principal and a learned agent, both MLPs in torch
(Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*,
arXiv 2407.18074, Section 5 and Appendix D.1).

This module needs the optional extra ``[deep]`` (torch); nothing else in the package imports
it at import time (:func:`contractlab.learning.make_learner` imports it on demand), so
``import contractlab`` works without torch.

The two networks
----------------
- the principal's ``Q(s, a)``: her value of recommending action ``a`` at state ``s`` and
  offering the min-pay contract for it;
- the agent's truncated ``Q̄(s, a) = r(s, a) + γ E_o[V_agent(s')]``: the agent's Q-value
  without this step's payment (Section 3 of the paper).

Each is an MLP ``S → 256 → 256 → A`` with ReLU (:attr:`DeepConfig.hidden`; :class:`QNetwork`),
one output per action. The state is fed **one-hot** (an ``S``-vector with a single 1); the first
layer is computed as a row gather of its weight, which is exactly the one-hot product and has
the same gradient, without a ``(batch, S)`` matrix. Time-indexed (finite-``horizon``) MDPs
would need the step in the input and a time-indexed policy; they are refused
(:class:`~contractlab.theory.errors.InvalidInstanceError` naming ``horizon``). Acyclic MDPs
(any ``γ``) and cyclic ones with ``γ < 1`` are supported.

One iteration
-------------
1. *Act.* At the current states ``s`` of ``n_envs`` lockstep episodes
   (:class:`~contractlab.learning.simulator.Simulator`; the paper's "8 environment steps" are one
   lockstep step of 8 episodes), the principal recommends ``a`` ε-greedily on ``Q(s, ·)`` (the
   random choice is uniform over the actions that can be implemented) and offers
   ``b = nudged_min_pay(O(s), Q̄(s, ·), a, ξ)`` computed on the agent network's current ``Q̄``
   (one batched call for all envs and actions). The learning agent knows ``O`` and plays
   ``argmax_a Q̄(s, a) + O(s, a)·b``, ties (within :data:`TRAIN_TIE_TOL`) going to the
   recommendation; a min-pay contract on its own ``Q̄`` makes it follow.
2. *Store* ``(s, a_rec, a_agent, o, b, r_p(s, o) − b(o), r(s, a_agent), s', done)`` in a replay
   buffer (a ring of ``buffer_size`` transitions).
3. *Learn.* Once the buffer holds ``batch_size`` transitions, one Adam step (both networks) on a
   uniform replay sample, regression loss :attr:`DeepConfig.loss`, towards targets built from
   the target networks (below).
4. Every ``target_update`` iterations the target networks are copied from the online ones, and
   their continuation values are tabulated for every state: ``V_p(s) = max_a Q_target(s, a)``
   (over the implementable actions; ``a*`` the maximiser) and ``V_agent(s) = Q̄_target(s, a*) +
   O(s, a*)·b*(s)``, with ``b*`` the nudged min-pay contract on ``Q̄_target(s, ·)`` (the target
   networks are frozen between copies, so this equals evaluating them on every sampled batch;
   one forward pass and one batched min-pay call per copy instead of per step).

Targets (``agent_update``, ``principal_update``)
------------------------------------------------
``"sample"`` — the DQN targets at the sampled transition (0 after the end of an episode):

- agent: ``Q̄(s, a_agent) ← r(s, a_agent) + γ V_agent(s')``, i.e.
  ``r + γ [Q̄_target(s', a*) + O(s', a*)·b*(s')]``: the agent's value of following the
  principal's greedy continuation;
- principal: ``Q(s, a_rec) ← r_p(s, o) − b(o) + γ max_{a'} Q_target(s', a')``, where ``b`` is the
  contract offered then, or (``relabel_payments=True``) the target networks' current min-pay
  contract for ``a_rec`` at ``s`` — the same outcome is drawn under either, since the agent
  followed both; relabelling removes the stale payments of old contracts from the replay.

``"outcome"`` (default) — the same targets with the expectation over the outcome taken in closed
form (both parties know ``O``; the principal needs it for the min-pay contracts), for **every**
action at each sampled state: ``Q̄(s, a) ← r(s, a) + γ Σ_o O(s, a, o) C_agent(s, o)`` and
``Q(s, a) ← Σ_o O(s, a, o) (r_p(s, o) − b*(s, a, o) + γ C_p(s, o))`` with
``C(s, o) = E[V(s') | s, o]`` (``V`` at ``next_state[s, o]``, or averaged over ``transitions[s, o]``
— these updates use the MDP's successor model and the parties' own reward functions) and
``b*(s, a)`` the target networks' min-pay contract for ``a``. The principal's loss leaves out
actions that cannot be implemented. This is the deep analogue of the default ``"outcome"``
updates of :mod:`contractlab.learning.tabular`: every sample updates ``Q̄(s, a')`` of the actions
that are NOT recommended too — exactly the values the min-pay contract is written on.

Why the defaults differ from Appendix D.1 (measured on ``binary_game_tree(10, seed=t)``,
``t = 0, 1, 2`` × learner seeds 0, 1, 2, against the exact best-responding agent): a min-pay
contract leaves the agent indifferent, so an exact agent abandons the recommendation whenever the
learned ``Q̄`` underestimates its cost difference by any amount, and one such state on the
likely path costs most of the value. With the textbook setting (``"sample"`` targets, ``ξ = 0``,
learning rate 1e-3 → 1e-4, 100 000 transitions of replay) the greedy actions agree with the SPE at
~94% of the states and, with the SPE's own contracts, would reach 0.99+ of the SPE value, but the
learned contracts reach only 0.54 (tree 0, seed 0): the exact agent deviates at ~19% of the states.
Hence:

- ``margin`` ξ = 0.01 (nudging; Section 5): a contract implements the recommendation with IC
  slack ξ on the learned ``Q̄``, so errors below ξ no longer flip the agent. It costs about
  ``ξ·O(a|a)/(O(a|a) − O(a|a'))`` per paid step (≈ 1.1 ξ on these trees, ~1.5% of the value);
- ``lr_end`` 1e-5 instead of 1e-4: Adam's steady-state jitter at 1e-4 moves the ``Q̄`` outputs by
  ~0.005, half of ξ;
- ``buffer_size`` 160 000 = the whole default run, so the early, exploratory transitions (the
  only visits of most off-path states, whose values are what a deviating agent compares with)
  stay in the replay;
- ``"outcome"`` updates for both parties: with ``"sample"`` ones the errors of ``Q̄`` at
  off-path states stay at 0.01-0.05 and the exact agent still deviates in some runs.

Measured (value / SPE value, min over the 9 runs, against the exact agent, ties in the
principal's favour): "sample" + ξ 0.01 + lr_end 1e-5 + buffer 160 000: 0.69 (6 of 9 runs >= 0.95;
with ``relabel_payments``: 0.73, 7 of 9); "outcome" agent + "sample" principal (relabelled):
0.61 (8 of 9); "outcome" both, ξ 0.01 but lr_end 1e-4 and buffer 100 000: 0.70 (tree 2);
the defaults: see :class:`DeepConfig`.

Schedules: ε decays linearly from ``epsilon_start`` to ``epsilon_end`` over the first
``epsilon_fraction × iterations`` iterations; the learning rate decays from ``lr_start`` to
``lr_end`` over ``iterations`` iterations, geometrically (``lr_decay="exponential"``, the
default: ``lr_t = lr_start (lr_end/lr_start)^(t/T)``) or linearly. Past ``iterations`` both
stay at their final values. In the last ``agent_only_fraction`` of the iterations (default 0)
only the agent's network is trained.

The greedy policy (:meth:`DeepLearner.policy`) recommends ``argmax_a Q(s, a)`` (among the
implementable actions) at every state with the nudged min-pay contract on the learned ``Q̄``
(``policy(margin=...)`` evaluates another ξ on the same networks). It is validated against the
exact best-responding agent (:func:`~contractlab.solvers.pamdp_policy.agent_best_response`),
never against the learned one: :meth:`DeepLearner.evaluate` reports the principal's value with
ties broken in her favour (as in the SPE) and against her. With ξ > 0 the recommendation is a
strict best response wherever the learned ``Q̄`` is within ξ of the truth, so both agree.

Determinism and checkpoints
---------------------------
CPU only. All randomness comes from ``seed``: a :class:`numpy.random.SeedSequence` is split
into the simulator's stream, the learner's stream (exploration and replay sampling) and the
seed of a private :class:`torch.Generator` for the network initialisation (the caller's global
torch RNG is untouched; nothing after the initialisation draws from torch). Training, target
copies and :meth:`DeepLearner.policy` run with ``torch.set_num_threads(config.num_threads)`` and
``torch.use_deterministic_algorithms(True)`` (both restored afterwards; default 1 thread — these
networks are too small to gain from a second one, and results are bit-reproducible for a fixed
thread count and platform, whatever the calling process's own thread setting).
:meth:`DeepLearner.save` stores everything that drives the run (online and target parameters in
float32 as they are, the Adam state ``step``/``exp_avg``/``exp_avg_sq``, the target tables, the
replay ring with its position, both numpy bit-generator states, the simulator's episode states,
the iteration and the curve), so a run stopped at any iteration boundary (the ``train`` callback
returning ``True``), saved, loaded and trained on equals an uninterrupted run bit for bit.
Checkpoints are ``.npz`` + JSON (:mod:`contractlab.learning.checkpoint`), never pickle; they
carry a fingerprint of the MDP and :meth:`DeepLearner.load` refuses a different one.

Why resumes used to differ: the old ``contractlab learn`` saved its checkpoint from the
``KeyboardInterrupt`` handler, i.e. part-way through an iteration — e.g. after a target copy had
overwritten the target networks but before their tables were recomputed (measured: a depth-4
tree, 200 iterations, interrupted in the copy at iteration 100, ended with 6 different actions
and contracts 0.81 apart), or after the replay sample was drawn but before the iteration was
counted. A checkpoint can now only be written at a boundary
(:class:`~contractlab.learning.boundary.IterationGuard`).

Cost: 5-8 ms of CPU per iteration on the depth-10 trees (one thread), i.e. 100-160 s per default
run of 20 000 iterations (measured on a shared 2-core machine).
"""

from __future__ import annotations

import contextlib
import math
import numbers
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
from torch import nn

from ..solvers.pamdp_policy import agent_best_response
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidFileError, InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP
from .boundary import IterationGuard, stop_requested
from .checkpoint import load_checkpoint, mdp_fingerprint, save_checkpoint
from .contracts import nudged_min_pay
from .simulator import Simulator

__all__ = ["DeepConfig", "DeepLearner", "QNetwork", "NETWORKS", "mdp_fingerprint", "KIND", "TRAIN_TIE_TOL"]

#: ``kind`` of a deep learner's checkpoint.
KIND = "deep_learner"

#: The learning agent (in training) treats ``Q̄(s, a) + O(s, a)·b`` within
#: ``TRAIN_TIE_TOL * max(1, max_a |·|)`` of the best as tied and then follows the
#: recommendation. Min-pay contracts on the agent's own ``Q̄`` leave it exactly indifferent up
#: to float64 round-off (``~1e-15``), far below this. Default ``1e-9``.
TRAIN_TIE_TOL = 1e-9

LOSSES = ("mse", "huber")
UPDATES = ("sample", "outcome")
LR_DECAYS = ("exponential", "linear")


# --------------------------------------------------------------------------- config

def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < low:
        raise InvalidInstanceError(name, f"must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_float(name: str, value, low: float, high: float = math.inf, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)) or not math.isfinite(value):
        raise InvalidInstanceError(name, f"must be a finite number, got {value!r}")
    value = float(value)
    if value < low or value > high or (low_open and value == low):
        lo = f"> {low:g}" if low_open else f">= {low:g}"
        hi = "" if high == math.inf else f" and <= {high:g}"
        raise InvalidInstanceError(name, f"must be {lo}{hi}, got {value!r}")
    return value


@dataclass(frozen=True)
class DeepConfig:
    """Hyper-parameters of :class:`DeepLearner`. Every field is validated; a bad value raises
    :class:`~contractlab.theory.errors.InvalidInstanceError` naming the field.

    The defaults are those of arXiv 2407.18074, Appendix D.1, except ``margin``, ``lr_end``,
    ``buffer_size``, ``agent_update`` and ``principal_update`` (marked *changed*; the module
    docstring gives the reasons and the measurements). With them, on
    ``binary_game_tree(10, seed=t)`` for ``t = 0, 1, 2`` and learner seeds 0, 1, 2, the greedy
    policy against the exact best-responding agent gets 0.9816-0.9871 of the SPE value (mean
    0.9854; the same with ties broken against the principal) and recommends an SPE action at
    98.3-99.4% of the 1023 states.

    Attributes
    ----------
    iterations:
        Length of a full run (20 000). Sets the ε and learning-rate schedules; ``train()``
        without an argument runs up to this many iterations in total.
    n_envs:
        Episodes stepped in lockstep per iteration (8: the paper's 8 environment steps).
    batch_size:
        Replay sample per gradient step (128).
    hidden:
        Hidden layer widths of both MLPs (``(256, 256)``, ReLU).
    target_update:
        Iterations between copies of the online networks into the target networks (100).
    lr_start, lr_end, lr_decay:
        Adam learning rate from ``1e-3`` to ``1e-5`` (*changed*: the paper ends at ``1e-4``) over
        ``iterations``, ``"exponential"`` (geometric, default) or ``"linear"``.
    epsilon_start, epsilon_end, epsilon_fraction:
        ε-greedy exploration over recommended actions, linear from 1 to 0 over
        ``epsilon_fraction × iterations`` iterations (1.0: the whole run).
    margin:
        The nudging margin ``ξ >= 0`` of the contracts (:func:`~contractlab.learning.contracts.
        nudged_min_pay`), in training and in :meth:`DeepLearner.policy` (*changed*: 0.01; the
        paper's learner offers the min-pay contracts themselves).
    buffer_size:
        Replay capacity in transitions (*changed*: 160 000, the whole default run; the paper
        does not give it; 100 000 was measured too).
    loss, huber_delta:
        ``"mse"`` (default) or ``"huber"`` (smooth L1 with threshold ``huber_delta``, 1.0).
    agent_update, principal_update:
        ``"outcome"`` (*changed*; expectation over outcomes, every action) or ``"sample"`` (the
        DQN target at the sampled transition); see the module docstring.
    relabel_payments:
        ``"sample"`` principal targets only: pay the target networks' current min-pay contract
        instead of the one offered when the transition was stored (False).
    agent_only_fraction:
        Train only the agent's network in the last fraction of the iterations (0.0).
    num_threads:
        ``torch.set_num_threads`` while training (1: the networks are small, a second thread
        only adds overhead; results are bit-reproducible for a fixed thread count).
    """

    iterations: int = 20_000
    n_envs: int = 8
    batch_size: int = 128
    hidden: tuple = (256, 256)
    target_update: int = 100
    lr_start: float = 1e-3
    lr_end: float = 1e-5
    lr_decay: str = "exponential"
    epsilon_start: float = 1.0
    epsilon_end: float = 0.0
    epsilon_fraction: float = 1.0
    margin: float = 0.01
    buffer_size: int = 160_000
    loss: str = "mse"
    huber_delta: float = 1.0
    agent_update: str = "outcome"
    principal_update: str = "outcome"
    relabel_payments: bool = False
    agent_only_fraction: float = 0.0
    num_threads: int = 1

    def __post_init__(self) -> None:
        ints = {"iterations": 1, "n_envs": 1, "batch_size": 1, "target_update": 1, "buffer_size": 1,
                "num_threads": 1}
        for name, low in ints.items():
            object.__setattr__(self, name, _check_int(name, getattr(self, name), low))
        hidden = self.hidden
        if isinstance(hidden, (str, bytes)) or not hasattr(hidden, "__iter__"):
            raise InvalidInstanceError("hidden", f"must be a sequence of layer widths, got {hidden!r}")
        hidden = tuple(hidden)
        if not hidden:
            raise InvalidInstanceError("hidden", "needs at least one hidden layer")
        for i, h in enumerate(hidden):
            if isinstance(h, bool) or not isinstance(h, (numbers.Integral, np.integer)) or h < 1:
                raise InvalidInstanceError("hidden", f"layer width must be an integer >= 1, got {h!r}", i)
        object.__setattr__(self, "hidden", tuple(int(h) for h in hidden))
        for name in ("lr_start", "lr_end"):
            object.__setattr__(self, name, _check_float(name, getattr(self, name), 0.0, low_open=True))
        for name in ("epsilon_start", "epsilon_end"):
            object.__setattr__(self, name, _check_float(name, getattr(self, name), 0.0, 1.0))
        object.__setattr__(self, "epsilon_fraction",
                           _check_float("epsilon_fraction", self.epsilon_fraction, 0.0, 1.0, low_open=True))
        object.__setattr__(self, "margin", _check_float("margin", self.margin, 0.0))
        object.__setattr__(self, "huber_delta", _check_float("huber_delta", self.huber_delta, 0.0, low_open=True))
        if not isinstance(self.relabel_payments, (bool, np.bool_)):
            raise InvalidInstanceError("relabel_payments", f"must be true or false, got {self.relabel_payments!r}")
        object.__setattr__(self, "relabel_payments", bool(self.relabel_payments))
        for name in ("agent_update", "principal_update"):
            if getattr(self, name) not in UPDATES:
                raise InvalidInstanceError(name, f"must be one of {UPDATES}, got {getattr(self, name)!r}")
        object.__setattr__(self, "agent_only_fraction",
                           _check_float("agent_only_fraction", self.agent_only_fraction, 0.0, 1.0))
        if self.lr_decay not in LR_DECAYS:
            raise InvalidInstanceError("lr_decay", f"must be one of {LR_DECAYS}, got {self.lr_decay!r}")
        if self.loss not in LOSSES:
            raise InvalidInstanceError("loss", f"must be one of {LOSSES}, got {self.loss!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "DeepConfig":
        if not isinstance(data, dict):
            raise InvalidInstanceError("config", f"expected a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidInstanceError(unknown[0], "is not a DeepConfig field")
        return cls(**data)

    def epsilon(self, iteration: int) -> float:
        """ε at (0-based) ``iteration``."""
        span = self.epsilon_fraction * self.iterations
        frac = min(1.0, iteration / span)
        return self.epsilon_start + frac * (self.epsilon_end - self.epsilon_start)

    def principal_learns(self, iteration: int) -> bool:
        """Whether the principal's network is trained at (0-based) ``iteration``."""
        return iteration < (1.0 - self.agent_only_fraction) * self.iterations

    def learning_rate(self, iteration: int) -> float:
        """Learning rate at (0-based) ``iteration``."""
        frac = min(1.0, iteration / self.iterations)
        if self.lr_decay == "linear":
            return self.lr_start + frac * (self.lr_end - self.lr_start)
        return self.lr_start * (self.lr_end / self.lr_start) ** frac


# --------------------------------------------------------------------------- networks

#: The two networks of a learner (checkpoint member prefixes).
NETWORKS = ("principal_q", "agent_q")


class QNetwork(nn.Module):
    """An MLP ``one_hot(s) → hidden… → A`` with ReLU, called on state indices.

    Layer 0 is the ``nn.Linear(S, hidden[0])`` of the one-hot input, stored transposed as
    ``weight0`` of shape ``(S, hidden[0])`` (one row per state, as an embedding table) with
    ``bias0``; :meth:`forward` computes it as the row gather ``weight0[s] + bias0``, which equals
    ``one_hot(s) @ weight0 + bias0`` exactly (:meth:`forward_one_hot`) and has the same gradient,
    without a ``(batch, S)`` matrix. The other layers ``weight{i}`` ``(out, in)`` and ``bias{i}``
    are in ``nn.Linear`` layout. Initialisation is ``nn.Linear``'s: ``U(±1/√fan_in)`` for
    weights and biases. :meth:`as_sequential` gives a plain ``nn.Sequential`` copy.
    """

    def __init__(self, n_states: int, n_actions: int, hidden: tuple[int, ...], generator=None):
        super().__init__()
        self.sizes = (int(n_states), *(int(h) for h in hidden), int(n_actions))
        weights, biases = [], []
        for i, (fan_in, fan_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:])):
            bound = 1.0 / math.sqrt(fan_in)
            shape = (fan_in, fan_out) if i == 0 else (fan_out, fan_in)
            w = nn.Parameter((torch.rand(*shape, generator=generator) * 2.0 - 1.0) * bound)
            b = nn.Parameter((torch.rand(fan_out, generator=generator) * 2.0 - 1.0) * bound)
            self.register_parameter(f"weight{i}", w)
            self.register_parameter(f"bias{i}", b)
            weights.append(w)
            biases.append(b)
        # plain tuples of the registered parameters (always updated in place, never replaced)
        self.weights, self.biases = tuple(weights), tuple(biases)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """``(B,)`` state indices → ``(B, A)``."""
        ws, bs = self.weights, self.biases
        h = ws[0].index_select(0, states) + bs[0]
        for i in range(1, len(ws)):
            h = nn.functional.linear(torch.relu(h), ws[i], bs[i])
        return h

    def forward_one_hot(self, x: torch.Tensor) -> torch.Tensor:
        """The same network on explicit input rows ``x`` of shape ``(B, S)``."""
        ws, bs = self.weights, self.biases
        h = x @ ws[0] + bs[0]
        for i in range(1, len(ws)):
            h = nn.functional.linear(torch.relu(h), ws[i], bs[i])
        return h

    def linear_layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Detached copies of the layers in ``nn.Linear`` layout: ``(weight (out, in), bias (out,))``."""
        with torch.no_grad():
            return [((w.t() if i == 0 else w).contiguous().clone(), b.clone())
                    for i, (w, b) in enumerate(zip(self.weights, self.biases))]

    def as_sequential(self) -> nn.Sequential:
        """A copy as ``nn.Sequential(Linear, ReLU, …, Linear)`` taking one-hot rows."""
        mods: list[nn.Module] = []
        for i, (w, b) in enumerate(self.linear_layers()):
            if i:
                mods.append(nn.ReLU())
            lin = nn.Linear(w.shape[1], w.shape[0])
            with torch.no_grad():
                lin.weight.copy_(w)
                lin.bias.copy_(b)
            mods.append(lin)
        return nn.Sequential(*mods)

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """The parameters in ``nn.Linear`` layout as numpy arrays ``{prefix}layers.{i}.{weight|bias}``."""
        out = {}
        for i, (w, b) in enumerate(self.linear_layers()):
            out[f"{prefix}layers.{i}.weight"] = w.numpy()
            out[f"{prefix}layers.{i}.bias"] = b.numpy()
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        """Inverse of :meth:`state_arrays` (exact)."""
        with torch.no_grad():
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                W = np.asarray(arrays[f"{prefix}layers.{i}.weight"])
                c = np.asarray(arrays[f"{prefix}layers.{i}.bias"])
                shape = tuple(w.shape[::-1]) if i == 0 else tuple(w.shape)
                if W.shape != shape or c.shape != tuple(b.shape) or W.dtype != np.float32 or c.dtype != np.float32:
                    raise ValueError(f"{prefix}layers.{i} has shapes {W.shape}, {c.shape} ({W.dtype}), expected "
                                     f"{shape}, {tuple(b.shape)} (float32)")
                W = torch.from_numpy(W.copy())
                w.copy_(W.t() if i == 0 else W)
                b.copy_(torch.from_numpy(c.copy()))


# --------------------------------------------------------------------------- helpers

def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise InvalidInstanceError("seed", f"must be an integer >= 0, got {seed!r}")
    return int(seed)


@contextlib.contextmanager
def torch_mode(n: int):
    """Inside the block: ``torch.set_num_threads(n)`` and
    ``torch.use_deterministic_algorithms(True)`` (on CPU every op the learner uses is then
    deterministic for a fixed thread count); the caller's settings are restored afterwards.
    Training, target copies and the greedy policy all run in this mode, so a run's numbers do not
    depend on the thread count of the process that calls it (a resumed run may be another one)."""
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(n)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.set_num_threads(old_threads)


def _finite_or_none(x: float):
    x = float(x)
    return x if math.isfinite(x) else None


class _ReplayBuffer:
    """A ring of transitions in preallocated numpy arrays."""

    FIELDS = {"state": np.int64, "action": np.int64, "agent_action": np.int64, "outcome": np.int64,
              "principal_reward": np.float64, "agent_reward": np.float64, "next_state": np.int64,
              "done": np.bool_}

    def __init__(self, capacity: int, n_outcomes: int):
        self.capacity = capacity
        self.data = {k: np.zeros(capacity, dtype=t) for k, t in self.FIELDS.items()}
        self.data["contract"] = np.zeros((capacity, n_outcomes))
        self.size = 0
        self.ptr = 0

    def add(self, **items) -> None:
        n = len(items["state"])
        idx = (self.ptr + np.arange(n)) % self.capacity
        for k, v in items.items():
            self.data[k][idx] = v
        self.ptr = int((self.ptr + n) % self.capacity)
        self.size = int(min(self.capacity, self.size + n))

    def sample(self, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
        idx = rng.integers(0, self.size, batch)
        return {k: v[idx] for k, v in self.data.items()}

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"buffer.{k}": v[:self.size].astype(np.uint8) if v.dtype == np.bool_ else v[:self.size]
                for k, v in self.data.items()}

    def restore(self, arrays: dict[str, np.ndarray], size: int, ptr: int) -> None:
        for k, v in self.data.items():
            stored = arrays[f"buffer.{k}"]
            if stored.shape[0] != size or stored.shape[1:] != v.shape[1:]:
                raise ValueError(f"buffer member {k!r} has shape {stored.shape}")
            v[:size] = stored.astype(v.dtype)
        self.size, self.ptr = size, ptr


# --------------------------------------------------------------------------- learner

class DeepLearner:
    """Deep contractual Q-learning of a principal and an agent (arXiv 2407.18074, Section 5,
    Appendix D.1); see the module docstring for the algorithm.

    Parameters
    ----------
    mdp:
        A principal-agent MDP without a ``horizon`` (acyclic with any ``γ``, or cyclic with
        ``γ < 1``).
    config:
        :class:`DeepConfig` (``None``: the defaults).
    seed:
        Integer ``>= 0``; the only source of randomness.

    Attributes
    ----------
    iteration:
        Iterations done so far.
    curve:
        Every evaluation record so far (across ``train`` calls and checkpoints).
    principal_q, agent_q:
        The online :class:`QNetwork` (float32) of the principal's ``Q`` and the agent's ``Q̄``.
    principal_target, agent_target:
        Their target copies.
    target_values:
        ``(V_p (S,), V_agent (S,))``: the target networks' continuation values, tabulated at
        every target copy (see :meth:`_sync_target`).
    """

    def __init__(self, mdp: PrincipalAgentMDP, config: DeepConfig | None = None, seed: int = 0):
        if not isinstance(mdp, PrincipalAgentMDP):
            raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
        if mdp.horizon is not None:
            raise InvalidInstanceError("horizon", f"the deep learner learns stationary policies with a one-hot "
                                                  f"state input; a finite horizon ({mdp.horizon}) needs "
                                                  "time-indexed policies, which it does not support")
        if config is None:
            config = DeepConfig()
        if not isinstance(config, DeepConfig):
            raise InvalidInstanceError("config", f"expected a DeepConfig, got {type(config).__name__}")
        self.mdp = mdp
        self.config = config
        self.seed = _check_seed(seed)
        self.fingerprint = mdp_fingerprint(mdp)
        S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
        ss_sim, ss_learn, ss_torch = np.random.SeedSequence(self.seed).spawn(3)
        self.simulator = Simulator(mdp, config.n_envs, seed=ss_sim)
        self.rng = np.random.default_rng(ss_learn)
        gen = torch.Generator().manual_seed(int(ss_torch.generate_state(1, np.uint64)[0] >> np.uint64(1)))
        self.principal_q = QNetwork(S, A, config.hidden, generator=gen)
        self.agent_q = QNetwork(S, A, config.hidden, generator=gen)
        # initial values of the targets are overwritten at once (a throwaway generator keeps the
        # global torch RNG untouched)
        self.principal_target = QNetwork(S, A, config.hidden, generator=torch.Generator())
        self.agent_target = QNetwork(S, A, config.hidden, generator=torch.Generator())
        for net in (self.principal_target, self.agent_target):
            net.requires_grad_(False)
        self._O = mdp.outcome_probs
        # one Adam over both networks' parameters: Adam is elementwise, so this is exactly one
        # Adam per network with the same hyper-parameters, in one fused update
        self.optimizer = torch.optim.Adam(self._parameters(), lr=config.lr_start, fused=True)
        self.buffer = _ReplayBuffer(config.buffer_size, K)
        self.iteration = 0
        self.curve: list[dict[str, float]] = []
        self._guard = IterationGuard()
        with torch_mode(config.num_threads):
            self._sync_target()

    # ------------------------------------------------------------------ pieces

    def _parameters(self) -> list[nn.Parameter]:
        """The online parameters in optimizer order: principal's layers, then the agent's."""
        return [*self.principal_q.parameters(), *self.agent_q.parameters()]

    def _sync_target(self) -> None:
        """Copy the online networks into the target networks and tabulate the targets' values.

        The target networks are frozen between copies, so their continuation values are computed
        once per copy for every state (one forward pass and one batched min-pay call) instead of
        on every sampled batch; this gives the same targets. ``target_values[0][s] =
        max_a Q_target(s, a)`` (over implementable actions) and ``target_values[1][s] =
        Q̄_target(s, a*) + O(s, a*)·b*(s)`` at that maximiser ``a*`` and its nudged min-pay
        contract ``b*`` on ``Q̄_target(s, ·)``."""
        with torch.no_grad():
            for online, target in ((self.principal_q, self.principal_target), (self.agent_q, self.agent_target)):
                for dst, src in zip(target.parameters(), online.parameters()):
                    dst.copy_(src)
        states = np.arange(self.mdp.n_states)
        qp_t, qbar_t = self._eval(self.principal_target, self.agent_target, states)
        contract, impl = self._contracts(states, qbar_t)
        masked = np.where(impl, qp_t, -np.inf)
        a_star = np.argmax(masked, axis=1)
        b_star = contract[states, a_star]
        v_agent = qbar_t[states, a_star] + np.einsum("sk,sk->s", self._O[states, a_star], b_star)
        self.target_values = (masked[states, a_star], v_agent)
        self.target_contracts = contract
        self.target_implementable = impl
        self._outcome_tables()

    def _outcome_tables(self) -> None:
        """The expected-over-outcomes targets of every (state, action) from the tabulated target
        values (used by the ``"outcome"`` updates): ``C(s, o) = E[V_target(s') | s, o]`` (0 where
        the episode ends), ``Y_agent(s, a) = r(s, a) + γ Σ_o O(s, a, o) C_agent(s, o)`` and
        ``Y_principal(s, a) = Σ_o O(s, a, o) (r_p(s, o) − b_target(s, a, o) + γ C_principal(s, o))``."""
        cfg, mdp = self.config, self.mdp
        if cfg.agent_update != "outcome" and cfg.principal_update != "outcome":
            self.outcome_targets = None
            return
        g = mdp.discount
        cont = []
        for v in self.target_values:
            if mdp.next_state is not None:
                nxt = mdp.next_state
                cont.append(np.where(nxt >= 0, v[np.maximum(nxt, 0)], 0.0))
            else:
                cont.append(np.einsum("sko,o->sk", mdp.transitions, v))
        O = self._O
        y_agent = mdp.agent_rewards + g * np.einsum("sak,sk->sa", O, cont[1])
        y_principal = np.einsum("sak,sak->sa", O, mdp.principal_rewards[:, None, :] - self.target_contracts
                                + g * cont[0][:, None, :])
        self.outcome_targets = (y_principal, y_agent)

    @staticmethod
    def _eval(principal: QNetwork, agent: QNetwork, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(Q (B, A), Q̄ (B, A))`` of the two networks at ``states``, as float64."""
        s = torch.from_numpy(np.ascontiguousarray(states, dtype=np.int64))
        with torch.no_grad():
            return principal(s).double().numpy(), agent(s).double().numpy()

    def _contracts(self, states: np.ndarray, qbar: np.ndarray, margin: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """Nudged min-pay contracts of every action at ``states`` on ``qbar`` (one batched call):
        ``(contract (B, A, K) with 0 where not implementable, implementable (B, A))``. A state at
        which no action can be implemented with margin ``ξ`` falls back to ``ξ = 0`` (there the
        agent's own favourite action always can)."""
        margin = self.config.margin if margin is None else margin
        B, A = qbar.shape
        K = self.mdp.n_outcomes
        O = self._O[states]                                            # (B, A, K)
        rows = np.repeat(np.arange(B), A)
        acts = np.tile(np.arange(A), B)
        res = nudged_min_pay(O[rows], qbar[rows], acts, margin)
        contract = np.nan_to_num(res.contract, nan=0.0).reshape(B, A, K)
        impl = res.implementable.reshape(B, A).copy()
        none = ~impl.any(axis=1)
        if none.any() and margin > 0:
            bad = np.flatnonzero(none)
            r2 = np.repeat(bad, A)
            res0 = nudged_min_pay(O[r2], qbar[r2], np.tile(np.arange(A), bad.size), 0.0)
            contract[bad] = np.nan_to_num(res0.contract, nan=0.0).reshape(bad.size, A, K)
            impl[bad] = res0.implementable.reshape(bad.size, A)
        return np.maximum(contract, 0.0), impl

    def _agent_choice(self, states, qbar, contract, rec) -> np.ndarray:
        """The learning agent's best response to ``contract`` on its ``Q̄`` (ties → ``rec``)."""
        util = qbar + np.einsum("bak,bk->ba", self._O[states], contract)
        best = util.max(axis=1)
        rows = np.arange(len(states))
        tol = TRAIN_TIE_TOL * np.maximum(1.0, np.abs(util).max(axis=1))
        follow = util[rows, rec] >= best - tol
        return np.where(follow, rec, np.argmax(util, axis=1))

    def _loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.config.loss == "huber":
            return nn.functional.smooth_l1_loss(pred, target, beta=self.config.huber_delta)
        return nn.functional.mse_loss(pred, target)

    def _step(self, eps: float, lr: float) -> dict[str, float]:
        """One iteration: act in every env, store the transitions, and (once the buffer holds a
        batch) one gradient step for both networks."""
        cfg, sim = self.config, self.simulator
        s = sim.state.copy()
        n, A = len(s), self.mdp.n_actions
        qp, qbar = self._eval(self.principal_q, self.agent_q, s)
        contract, impl = self._contracts(s, qbar)
        rows = np.arange(n)
        greedy = np.argmax(np.where(impl, qp, -np.inf), axis=1)
        explore = self.rng.random(n) < eps
        random_pick = np.argmax(np.where(impl, self.rng.random((n, A)), -1.0), axis=1)
        rec = np.where(explore, random_pick, greedy)
        b = contract[rows, rec]
        agent_action = self._agent_choice(s, qbar, b, rec)
        tr = sim.step(agent_action, b)
        self.buffer.add(state=s, action=rec, agent_action=agent_action, outcome=tr.outcome, contract=b,
                        principal_reward=tr.principal_reward - tr.payment, agent_reward=tr.agent_reward,
                        next_state=np.where(tr.done, 0, tr.next_state), done=tr.done)
        metrics = {"payment": float(tr.payment.mean()), "follow": float((agent_action == rec).mean())}
        if self.buffer.size >= cfg.batch_size:
            metrics.update(self._learn(lr, principal=cfg.principal_learns(self.iteration)))
        return metrics

    def _learn(self, lr: float, principal: bool = True) -> dict[str, float]:
        """One Adam step on a replay sample towards the tabulated targets (the principal's
        network only when ``principal``)."""
        cfg = self.config
        batch = self.buffer.sample(self.rng, cfg.batch_size)
        s_np, s2, live = batch["state"], batch["next_state"], ~batch["done"]
        g = self.mdp.discount
        vp, va = self.target_values
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        s = torch.from_numpy(s_np)
        out = {}
        losses = []
        if cfg.agent_update == "outcome":
            pred = self.agent_q(s)
            loss_a = self._loss(pred, torch.from_numpy(self.outcome_targets[1][s_np]).float())
        else:
            y = batch["agent_reward"] + g * live * va[s2]
            pred = self.agent_q(s).gather(1, torch.from_numpy(batch["agent_action"])[:, None])[:, 0]
            loss_a = self._loss(pred, torch.from_numpy(y).float())
        losses.append(loss_a)
        out["loss_agent"] = loss_a
        if principal:
            if cfg.principal_update == "outcome":
                impl = torch.from_numpy(self.target_implementable[s_np])
                pred = self.principal_q(s)[impl]
                loss_p = self._loss(pred, torch.from_numpy(self.outcome_targets[0][s_np]).float()[impl])
            else:
                reward_p = batch["principal_reward"]
                if cfg.relabel_payments:
                    a, o = batch["action"], batch["outcome"]
                    current = self.mdp.principal_rewards[s_np, o] - self.target_contracts[s_np, a, o]
                    reward_p = np.where(batch["agent_action"] == a, current, reward_p)
                y = reward_p + g * live * vp[s2]
                pred = self.principal_q(s).gather(1, torch.from_numpy(batch["action"])[:, None])[:, 0]
                loss_p = self._loss(pred, torch.from_numpy(y).float())
            losses.append(loss_p)
            out["loss_principal"] = loss_p
        self.optimizer.zero_grad(set_to_none=True)
        sum(losses).backward()
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in out.items()}

    # ------------------------------------------------------------------ public

    def q_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """``(principal Q (S, A), agent Q̄ (S, A))`` of the online networks at every state (float64)."""
        with torch_mode(self.config.num_threads):
            return self._eval(self.principal_q, self.agent_q, np.arange(self.mdp.n_states))

    def policy(self, margin: float | None = None) -> ContractPolicy:
        """The greedy contract policy at every state: ``argmax_a Q(s, a)`` among the implementable
        actions, with the nudged min-pay contract on the learned ``Q̄``. ``margin`` is the IC
        margin ``ξ`` of the contracts (``None``: ``config.margin``, the one used in training)."""
        if margin is not None:
            margin = _check_float("margin", margin, 0.0)
        states = np.arange(self.mdp.n_states)
        with torch_mode(self.config.num_threads):
            qp, qbar = self._eval(self.principal_q, self.agent_q, states)
        contract, impl = self._contracts(states, qbar, margin)
        action = np.argmax(np.where(impl, qp, -np.inf), axis=1)
        return ContractPolicy(action=action, contract=contract[states, action])

    def evaluate(self, margin: float | None = None) -> dict[str, float]:
        """The greedy policy (:meth:`policy` with ``margin``) against the exact best-responding
        agent: ``principal_value`` (ties in the principal's favour), ``principal_value_adversarial``
        (ties against her), ``agent_value`` and ``follow_rate`` (fraction of states at which the
        exact agent follows)."""
        pol = self.policy(margin)
        fav = agent_best_response(self.mdp, pol, tie_break="principal")
        adv = agent_best_response(self.mdp, pol, tie_break="adversarial")
        return {"principal_value": fav.principal_start, "principal_value_adversarial": adv.principal_start,
                "agent_value": fav.agent_start, "follow_rate": float(np.mean(fav.follow))}

    def train(self, iterations: int | None = None, callback=None, eval_every: int = 0) -> list[dict[str, float]]:
        """Run ``iterations`` more iterations (``None``: up to ``config.iterations`` in total).

        ``callback(iteration, total, metrics)`` is called after every *completed* iteration (an
        iteration boundary: its gradient step, target copy and evaluation are done; ``iteration``
        counts all iterations done so far, ``total`` is where this call will stop). Returning
        ``True`` (``bool`` or ``numpy.bool_``) stops training there: :attr:`iteration` is then
        the number of completed iterations and the learner may be saved, trained or evaluated
        further — a run stopped at any boundary, saved (:meth:`save`), loaded (:meth:`load`) and
        trained on ends bit-identical to an uninterrupted one. The callback may itself call
        :meth:`save`. ``metrics`` always has ``epsilon``, ``lr``, ``payment`` (mean payment of
        the step), ``follow`` (fraction of envs in which the learning agent followed) and, once
        learning started, ``loss_principal`` and ``loss_agent``.

        With ``eval_every > 0``, at every iteration divisible by it and at the end of the run
        (``config.iterations``) — counted from the start of the run, so a resumed run evaluates
        where an uninterrupted one would — the metrics also hold :meth:`evaluate`
        (``principal_value`` etc.) and are appended to the learning curve as a record with
        ``iteration`` at once (a checkpoint written by the callback holds it).

        An exception raised inside an iteration (e.g. ``KeyboardInterrupt``) leaves that
        iteration unfinished; the learner then refuses :meth:`save` and further training
        (:class:`~contractlab.learning.boundary.IterationGuard`).

        Returns the evaluation records of this call (``self.curve`` keeps all of them).
        """
        self._guard.check("trained further")
        if iterations is None:
            iterations = max(0, self.config.iterations - self.iteration)
        iterations = _check_int("iterations", iterations, 0)
        eval_every = _check_int("eval_every", eval_every, 0)
        if callback is not None and not callable(callback):
            raise InvalidInstanceError("callback", "must be callable or None")
        cfg = self.config
        total = self.iteration + iterations
        records: list[dict[str, float]] = []
        with torch_mode(cfg.num_threads):
            while self.iteration < total:
                t = self.iteration
                self._guard.begin(t + 1)
                eps, lr = cfg.epsilon(t), cfg.learning_rate(t)
                metrics = {"epsilon": eps, "lr": lr}
                metrics.update(self._step(eps, lr))
                self.iteration += 1
                if self.iteration % cfg.target_update == 0:
                    self._sync_target()
                if eval_every and (self.iteration % eval_every == 0 or self.iteration == cfg.iterations):
                    metrics.update(self.evaluate())
                    record = {"iteration": float(self.iteration), **metrics}
                    records.append(record)
                    self.curve.append(record)
                self._guard.end()
                if callback is not None and stop_requested(callback(self.iteration, total, metrics)):
                    break
        return records

    # ------------------------------------------------------------------ checkpoints

    _NETS = ("principal_q", "agent_q", "principal_target", "agent_target")

    def save(self, path) -> None:
        """Write a checkpoint (``.npz`` + JSON metadata, atomically, no pickle) from which
        :meth:`load` resumes exactly.

        Members: ``{principal_q|agent_q|principal_target|agent_target}.layers.{i}.{weight|bias}``
        (``nn.Linear`` layout, float32); ``adam.{j}.{step|exp_avg|exp_avg_sq}`` for the ``j``-th
        optimised parameter (the principal network's ``weight0, bias0, weight1, …``, then the
        agent's; the first layer's moments in the ``(S, hidden)`` layout of ``weight0``);
        ``target_values.{principal|agent}``; ``buffer.*`` (the filled part of the replay ring); ``simulator.state`` and
        ``simulator.step_count``. The metadata holds the config, seed, iteration, MDP fingerprint,
        both numpy bit-generator states, the ring position, Adam's current learning rate
        (``adam_lr``, one per parameter group) and the learning curve.

        Only at an iteration boundary: a learner whose iteration was interrupted by an exception
        is refused (:class:`InvalidInstanceError`, field ``"learner"``).
        """
        self._guard.check("saved")
        arrays: dict[str, np.ndarray] = {}
        for name in self._NETS:
            arrays.update(getattr(self, name).state_arrays(f"{name}."))
        params = self._parameters()
        adam_keys = {}
        for j, p in enumerate(params):
            st = self.optimizer.state.get(p, {})
            adam_keys[str(j)] = sorted(st)
            for k, v in st.items():
                arrays[f"adam.{j}.{k}"] = v.detach().cpu().numpy().copy() if torch.is_tensor(v) else np.asarray(v)
        arrays["target_values.principal"] = self.target_values[0].copy()
        arrays["target_values.agent"] = self.target_values[1].copy()
        arrays["target_values.contracts"] = self.target_contracts.copy()
        arrays["target_values.implementable"] = self.target_implementable.astype(np.uint8)
        arrays.update(self.buffer.arrays())
        sim = self.simulator
        arrays["simulator.state"] = sim.state.copy()
        arrays["simulator.step_count"] = sim.step_count.copy()
        curve = [{k: _finite_or_none(v) for k, v in rec.items()} for rec in self.curve]
        meta = {"kind": KIND, "mdp_fingerprint": self.fingerprint, "seed": self.seed,
                "config": self.config.to_dict(), "iteration": self.iteration,
                "buffer": {"size": self.buffer.size, "ptr": self.buffer.ptr},
                "rng_state": self.rng.bit_generator.state, "simulator_rng_state": sim.rng.bit_generator.state,
                "adam_state_keys": adam_keys, "adam_lr": [float(g["lr"]) for g in self.optimizer.param_groups],
                "curve": curve, "torch_version": torch.__version__}
        save_checkpoint(path, arrays, meta)

    @classmethod
    def load(cls, path, mdp: PrincipalAgentMDP) -> "DeepLearner":
        """Resume from a checkpoint written by :meth:`save` for the same ``mdp``.

        Raises :class:`InvalidInstanceError` (field ``mdp``) if the checkpoint was trained on a
        different MDP (compared by :func:`mdp_fingerprint`), and
        :class:`~contractlab.theory.errors.InvalidFileError` for a file that is not a readable
        deep learner checkpoint."""
        arrays, meta = load_checkpoint(path, kind=KIND)
        if not isinstance(mdp, PrincipalAgentMDP):
            raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
        fp = mdp_fingerprint(mdp)
        if meta.get("mdp_fingerprint") != fp:
            raise InvalidInstanceError("mdp", f"the checkpoint {str(path)!r} was trained on a different MDP "
                                              f"(fingerprint {str(meta.get('mdp_fingerprint'))[:12]}…, this MDP "
                                              f"has {fp[:12]}…)")
        try:
            learner = cls(mdp, DeepConfig.from_dict(meta["config"]), seed=meta["seed"])
            for name in cls._NETS:
                getattr(learner, name).load_state_arrays(arrays, f"{name}.")
            S = mdp.n_states
            tv = tuple(np.array(arrays[f"target_values.{k}"], dtype=np.float64) for k in ("principal", "agent"))
            if any(v.shape != (S,) for v in tv):
                raise ValueError(f"target_values must have shape ({S},)")
            learner.target_values = tv
            tc = np.array(arrays["target_values.contracts"], dtype=np.float64)
            if tc.shape != learner.target_contracts.shape:
                raise ValueError(f"target_values.contracts must have shape {learner.target_contracts.shape}")
            learner.target_contracts = tc
            ti = np.array(arrays["target_values.implementable"]).astype(bool)
            if ti.shape != learner.target_implementable.shape:
                raise ValueError(f"target_values.implementable must have shape {learner.target_implementable.shape}")
            learner.target_implementable = ti
            learner._outcome_tables()
            params = learner._parameters()
            state = {}
            for j, p in enumerate(params):
                keys = meta["adam_state_keys"][str(j)]
                if keys:
                    st = {k: torch.from_numpy(np.array(arrays[f"adam.{j}.{k}"])) for k in keys}
                    for k, v in st.items():
                        if k != "step" and v.shape != p.shape:
                            raise ValueError(f"adam.{j}.{k} has shape {tuple(v.shape)}, expected {tuple(p.shape)}")
                    state[j] = st
            sd = learner.optimizer.state_dict()
            sd["state"] = state
            # checkpoints written before "adam_lr" was stored keep lr_start until the next step
            # sets the scheduled rate (training is the same either way)
            lrs = meta.get("adam_lr", [g["lr"] for g in sd["param_groups"]])
            if len(lrs) != len(sd["param_groups"]):
                raise ValueError(f"adam_lr has {len(lrs)} entries, expected {len(sd['param_groups'])}")
            for group, lr in zip(sd["param_groups"], lrs):
                group["lr"] = _check_float("adam_lr", lr, 0.0, low_open=True)
            learner.optimizer.load_state_dict(sd)
            learner.buffer.restore(arrays, int(meta["buffer"]["size"]), int(meta["buffer"]["ptr"]))
            sim = learner.simulator
            sim_state = np.array(arrays["simulator.state"], dtype=np.int64)
            sim_steps = np.array(arrays["simulator.step_count"], dtype=np.int64)
            if sim_state.shape != sim.state.shape or sim_steps.shape != sim.step_count.shape:
                raise ValueError("simulator state has the wrong number of envs")
            sim.state, sim.step_count = sim_state, sim_steps
            sim.rng.bit_generator.state = meta["simulator_rng_state"]
            learner.rng.bit_generator.state = meta["rng_state"]
            learner.iteration = _check_int("iteration", meta["iteration"], 0)
            learner.curve = [{k: (math.nan if v is None else float(v)) for k, v in rec.items()}
                             for rec in meta["curve"]]
        except InvalidInstanceError as exc:
            raise InvalidFileError(str(path), f"invalid deep learner checkpoint ({exc})") from None
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise InvalidFileError(str(path), f"invalid deep learner checkpoint ({type(exc).__name__}: {exc})") \
                from None
        return learner
