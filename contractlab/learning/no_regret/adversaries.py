"""Adversaries: the loss sequences the no-regret learners face (losses in ``[0, 1]``).

Oblivious (the losses of a run are fixed before it starts; they may be random, drawn from the
run's own generator in the order of the rounds):

- :class:`IIDUniform`: every loss i.i.d. uniform on ``[0, 1)`` (numpy's float32 uniforms, the
  grid ``{k 2^-24}``: fast to draw, exact in float64).
- :class:`Bernoulli`: loss 1 with probability ``mean_losses[i]`` for action ``i``, i.i.d. (the
  stochastic bandit of UCB1).
- :class:`FixedSequence`: a given ``(n, K)`` matrix of losses, repeated cyclically.
- :class:`Alternating`: loss 1 on one action, 0 elsewhere; the action moves round-robin every
  ``period`` rounds.
- :class:`Switching`: a good action (loss ``low``) among bad ones (loss ``high``) that is redrawn
  uniformly at random at rounds drawn i.i.d. with probability ``switch_prob``.
- :class:`FTLTrap`: the sequence on which follow-the-leader pays linear regret.

Adaptive (the losses of round ``t`` react to the learner):

- :class:`PunishMostWeighted`: loss 1 on the action of largest probability in ``p_t``.
- :class:`PunishLastAction`: loss 1 on the action played in round ``t − 1``.

Every class is a frozen dataclass of its parameters; :func:`oblivious_adversaries`,
:func:`adaptive_adversaries`, :func:`stochastic_adversaries` and :func:`adversaries` are
hypothesis strategies that build them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...theory.errors import InvalidInstanceError
from .base import Adversary, check_count, check_real, draw_uniforms


# --------------------------------------------------------------------------- oblivious

@dataclass
class ObliviousState:
    """``rngs``: one generator per run; ``t``: rounds drawn so far; ``carry``: per-run state of
    the sequence (:class:`Switching`: the current good action); ``buffer``: the array the draws
    are written into, reused from one draw to the next."""

    rngs: list
    t: int = 0
    carry: np.ndarray | None = None
    buffer: np.ndarray | None = None


class Oblivious(Adversary):
    """An oblivious adversary. Subclasses that draw (``random``) write the losses of rounds
    ``start + 1 … start + n`` of run ``r`` from its generator into an ``(n, K)`` array of their
    ``dtype`` (``_run_losses``); the others give the losses of every run at once
    (``_common_losses``)."""

    random = True
    dtype = np.float64

    def start(self, rngs: Sequence[np.random.Generator]) -> ObliviousState:
        return ObliviousState(list(rngs))

    def draw(self, state: ObliviousState, n_rounds: int) -> np.ndarray:
        """The losses of the next ``n_rounds`` rounds, ``(R, n_rounds, K)``. Valid until the next draw
        on the same ``state``: the array is reused (a fresh one every block would cost page faults)."""
        R, K = len(state.rngs), self.n_actions
        if n_rounds == 0:
            return np.empty((R, 0, K), dtype=self.dtype)
        if self.random:
            if state.buffer is None or state.buffer.shape[1] < n_rounds:
                state.buffer = np.empty((R, n_rounds, K), dtype=self.dtype)
            out = state.buffer[:, :n_rounds]            # each run's rows stay contiguous
            for r, rng in enumerate(state.rngs):
                self._run_losses(state, r, rng, state.t, out[r])
        else:
            out = np.broadcast_to(self._common_losses(state.t, n_rounds), (R, n_rounds, K))
        state.t += n_rounds
        return out

    def _run_losses(self, state, r: int, rng: np.random.Generator, start: int, out: np.ndarray) -> None:
        """Overridden by every adversary with ``random = True`` (the hook :meth:`draw` calls for them)."""
        raise NotImplementedError(f"{type(self).__name__} draws no random losses (random = False)")

    def _common_losses(self, start: int, n: int) -> np.ndarray:
        """Overridden by every adversary with ``random = False`` (the hook :meth:`draw` calls for them)."""
        raise NotImplementedError(f"{type(self).__name__} draws its losses per run (random = True)")


@dataclass(frozen=True)
class IIDUniform(Oblivious):
    """Every loss i.i.d. uniform on ``[0, 1)``: numpy's float32 uniforms (multiples of ``2^-24``),
    ``K`` per round in index order. Mean ``(1 − 2^-24) / 2``."""

    n_actions: int

    dtype = np.float32

    def __post_init__(self):
        check_count("n_actions", self.n_actions)

    def means(self) -> np.ndarray:
        return np.full(self.n_actions, (1.0 - 2.0 ** -24) / 2.0)

    def _run_losses(self, state, r, rng, start, out):
        rng.random(out=out, dtype=np.float32)


@dataclass(frozen=True)
class Bernoulli(Oblivious):
    """Loss 1 with probability ``mean_losses[i]`` for action ``i``, else 0, i.i.d. over rounds and actions
    (a float64 uniform ``U`` per loss, in index order; loss ``1{U < μ_i}``)."""

    mean_losses: tuple[float, ...]

    dtype = np.bool_

    def __post_init__(self):
        mu = tuple(check_real(f"mean_losses[{i}]", m, 0.0, 1.0) for i, m in enumerate(self.mean_losses))
        if not mu:
            raise InvalidInstanceError("mean_losses", "must list at least one action")
        object.__setattr__(self, "mean_losses", mu)

    @property
    def n_actions(self) -> int:
        return len(self.mean_losses)

    def means(self) -> np.ndarray:
        return np.array(self.mean_losses)

    def _run_losses(self, state, r, rng, start, out):
        np.less(rng.random(out.shape), self.means(), out=out)


@dataclass(frozen=True)
class FixedSequence(Oblivious):
    """The losses ``losses[t − 1 mod n]`` in round ``t``: a given ``(n, K)`` matrix in ``[0, 1]``,
    repeated. The most general oblivious adversary (hypothesis draws the matrix)."""

    losses: tuple[tuple[float, ...], ...]

    random = False

    def __post_init__(self):
        a = np.asarray(self.losses, dtype=float)
        if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
            raise InvalidInstanceError("losses", f"must be a non-empty (rounds, actions) matrix, got shape {a.shape}")
        bad = np.argwhere(~((a >= 0.0) & (a <= 1.0)))
        if bad.size:
            index = tuple(int(i) for i in bad[0])
            raise InvalidInstanceError("losses", f"must lie in [0, 1], got {a[index]!r}", index)
        object.__setattr__(self, "losses", tuple(tuple(float(x) for x in row) for row in a))

    @property
    def n_actions(self) -> int:
        return len(self.losses[0])

    def _common_losses(self, start, n):
        a = np.asarray(self.losses)
        return a[(start + np.arange(n)) % a.shape[0]]


@dataclass(frozen=True)
class Alternating(Oblivious):
    """Loss 1 on action ``((t − 1) // period + offset) mod K`` in round ``t``, 0 on the others
    (for ``K = 2``, ``period = 1``: ``(1, 0), (0, 1), (1, 0), …``)."""

    n_actions: int
    period: int = 1
    offset: int = 0

    random = False

    def __post_init__(self):
        check_count("n_actions", self.n_actions)
        check_count("period", self.period)
        check_count("offset", self.offset, 0)

    def _common_losses(self, start, n):
        hit = ((start + np.arange(n)) // self.period + self.offset) % self.n_actions
        out = np.zeros((n, self.n_actions))
        out[np.arange(n), hit] = 1.0
        return out


@dataclass(frozen=True)
class Switching(Oblivious):
    """A good action with loss ``low`` among actions with loss ``high``; before every round, with
    probability ``switch_prob`` (always before round 1) the good action is redrawn uniformly.
    Per run and round two float64 uniforms are drawn: ``u`` (switch if ``u < switch_prob``) and
    ``v`` (the new good action ``floor(v K)``)."""

    n_actions: int
    switch_prob: float = 0.01
    low: float = 0.0
    high: float = 1.0

    def __post_init__(self):
        check_count("n_actions", self.n_actions)
        check_real("switch_prob", self.switch_prob, 0.0, 1.0)
        check_real("low", self.low, 0.0, 1.0)
        check_real("high", self.high, 0.0, 1.0)

    def start(self, rngs):
        return ObliviousState(list(rngs), carry=np.full(len(rngs), -1, dtype=np.int64))

    def _run_losses(self, state, r, rng, start, out):
        n, K = out.shape
        u = rng.random((n, 2))
        switch = u[:, 0] < self.switch_prob
        if start == 0:
            switch[0] = True
        new = np.minimum((u[:, 1] * K).astype(np.int64), K - 1)
        last = np.maximum.accumulate(np.where(switch, np.arange(n), -1))
        good = np.where(last >= 0, new[np.maximum(last, 0)], state.carry[r])
        state.carry[r] = good[-1]
        out.fill(self.high)
        out[np.arange(n), good] = self.low


@dataclass(frozen=True)
class FTLTrap(Oblivious):
    """The sequence that makes follow-the-leader pay linear regret (Shalev-Shwartz 2012, Example
    2.2, for ``K = 2``: ``ℓ_1 = (1/2, 0)``, then ``(0, 1), (1, 0), (0, 1), …``), generalised to ``K``:

        ℓ_{1,i} = (K − 1 − i) / K,   ℓ_t = e_{K − 1 − ((t − 2) mod K)}  (t >= 2).

    FTL plays action 0 in round 1 (all tied) and afterwards always the action about to get loss 1
    (the cumulative losses keep distinct fractional parts ``(K − 1 − i)/K``, so no tie arises):
    it loses ``(K − 1)/K + (T − 1)``. With ``T − 1 = qK + ρ`` the best action is ``i = K − 1 − ρ``, with
    loss ``q + ρ/K = (T − 1)/K``. So FTL's regret is exactly ``T (K − 1) / K`` (``T/2`` for ``K = 2``)."""

    n_actions: int = 2

    random = False

    def __post_init__(self):
        check_count("n_actions", self.n_actions, 2)

    def _common_losses(self, start, n):
        K = self.n_actions
        t = start + 1 + np.arange(n)                     # the rounds, from 1
        out = np.zeros((n, K))
        later = t >= 2
        out[later, K - 1 - (t[later] - 2) % K] = 1.0
        if start == 0:
            out[0] = (K - 1 - np.arange(K)) / K
        return out

    def ftl_regret(self, horizon: int) -> float:
        """Follow-the-leader's regret after ``horizon`` rounds: ``T (K − 1) / K``."""
        return horizon * (self.n_actions - 1) / self.n_actions


# --------------------------------------------------------------------------- adaptive

@dataclass
class AdaptiveState:
    """``rngs``: one generator per run; ``noise``: the uniforms of the block last drawn,
    ``(n, R, K)``."""

    rngs: list
    noise: np.ndarray | None = None


class _Punish(Adversary):
    """Loss 1 on one action chosen from the learner's play, i.i.d. ``U[0, noise)`` on the others
    (``K`` float64 uniforms per run and round, drawn whether or not ``noise`` is 0)."""

    adaptive = True

    def __post_init__(self):
        check_count("n_actions", self.n_actions)
        check_real("noise", self.noise, 0.0, 1.0)

    def start(self, rngs):
        return AdaptiveState(list(rngs))

    def draw(self, state: AdaptiveState, n_rounds: int) -> None:
        state.noise = draw_uniforms(state.rngs, n_rounds, self.n_actions)
        state.noise *= self.noise
        return None

    def _losses(self, state, j, target):
        out = state.noise[j].copy()
        out[np.arange(out.shape[0]), target] = 1.0
        return out


@dataclass(frozen=True)
class PunishMostWeighted(_Punish):
    """Loss 1 on ``argmax_i p_{t,i}`` (ties to the lowest index): the learner's strategy for round
    ``t`` is a function of the past, so an adaptive adversary may compute it. A deterministic
    learner pays loss 1 every round."""

    n_actions: int
    noise: float = 0.0

    def respond(self, state, j, probabilities, last_actions):
        return self._losses(state, j, np.argmax(probabilities, axis=1))


@dataclass(frozen=True)
class PunishLastAction(_Punish):
    """Loss 1 on the action the learner played in round ``t − 1`` (action 0 in round 1). Full-
    information learners are made to sample their actions against it."""

    n_actions: int
    noise: float = 0.0

    needs_actions = True

    def respond(self, state, j, probabilities, last_actions):
        target = np.zeros(probabilities.shape[0], dtype=np.int64) if last_actions is None else last_actions
        return self._losses(state, j, target)


# --------------------------------------------------------------------------- hypothesis strategies

def _actions(n_actions, max_actions):
    from hypothesis import strategies as st
    return st.just(n_actions) if n_actions is not None else st.integers(2, max_actions)


def oblivious_adversaries(n_actions: int | None = None, max_actions: int = 5, max_rows: int = 12):
    """Hypothesis strategy: any oblivious adversary of this module with ``n_actions`` actions (drawn
    in ``[2, max_actions]`` if ``None``); :class:`FixedSequence` matrices have at most ``max_rows`` rows."""
    from hypothesis import strategies as st
    unit = st.floats(0.0, 1.0, allow_nan=False)

    def build(k):
        return st.one_of(
            st.builds(IIDUniform, st.just(k)),
            st.builds(Bernoulli, st.lists(unit, min_size=k, max_size=k).map(tuple)),
            st.lists(st.lists(unit, min_size=k, max_size=k).map(tuple), min_size=1, max_size=max_rows)
              .map(lambda rows: FixedSequence(tuple(rows))),
            st.builds(Alternating, st.just(k), st.integers(1, 4), st.integers(0, k - 1)),
            st.builds(Switching, st.just(k), unit, unit, unit),
            st.builds(FTLTrap, st.just(k)),
        )
    return _actions(n_actions, max_actions).flatmap(build)


def stochastic_adversaries(n_actions: int | None = None, max_actions: int = 5):
    """Hypothesis strategy: an i.i.d. adversary (:class:`IIDUniform` or :class:`Bernoulli`)."""
    from hypothesis import strategies as st
    unit = st.floats(0.0, 1.0, allow_nan=False)
    return _actions(n_actions, max_actions).flatmap(lambda k: st.one_of(
        st.builds(IIDUniform, st.just(k)),
        st.builds(Bernoulli, st.lists(unit, min_size=k, max_size=k).map(tuple))))


def adaptive_adversaries(n_actions: int | None = None, max_actions: int = 5):
    """Hypothesis strategy: :class:`PunishMostWeighted` or :class:`PunishLastAction`."""
    from hypothesis import strategies as st
    unit = st.floats(0.0, 1.0, allow_nan=False)
    return _actions(n_actions, max_actions).flatmap(lambda k: st.one_of(
        st.builds(PunishMostWeighted, st.just(k), unit), st.builds(PunishLastAction, st.just(k), unit)))


def adversaries(n_actions: int | None = None, max_actions: int = 5):
    """Hypothesis strategy: any adversary of this module, oblivious or adaptive."""
    from hypothesis import strategies as st
    return _actions(n_actions, max_actions).flatmap(lambda k: st.one_of(
        oblivious_adversaries(k), adaptive_adversaries(k)))


__all__ = ["Oblivious", "IIDUniform", "Bernoulli", "FixedSequence", "Alternating", "Switching", "FTLTrap",
           "PunishMostWeighted", "PunishLastAction", "ObliviousState", "AdaptiveState",
           "oblivious_adversaries", "stochastic_adversaries", "adaptive_adversaries", "adversaries"]
