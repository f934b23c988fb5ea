"""The one interface shared by every no-regret learner and every adversary of this package.

The protocol (Cesa-Bianchi & Lugosi, *Prediction, Learning, and Games*, 2006, Section 2.1;
Lattimore & Szepesvári, *Bandit Algorithms*, 2020, Chapter 11): ``R`` independent runs, each
with ``K`` actions and ``T`` rounds. In round ``t`` the learner commits to a mixed strategy
``p_t`` (a function of what it has seen before round ``t``), the adversary chooses losses
``ℓ_t ∈ [0, 1]^K``, an action ``A_t ~ p_t`` is drawn, and the learner observes either the whole
vector ``ℓ_t`` (``feedback = "full"``) or only ``ℓ_{t, A_t}`` (``feedback = "bandit"``).

Learners and adversaries are frozen dataclasses of their parameters (so a hypothesis strategy
can build them, and one object can serve any number of runs, in any thread). Everything that
changes during a run lives in a *state* object made by ``start`` and passed back to every call;
every array in a state has the runs on its first axis, so one call steps all runs.

Learners (:class:`Learner`)
    ``start(n_runs, horizon)`` -> state; ``weights(state)`` -> ``(R, K)`` non-negative weights
    with a positive sum, proportional to ``p_t``; ``observe(state, actions, losses)`` with
    ``losses`` the ``(R, K)`` loss vectors (full information) or the ``(R,)`` losses of the
    played actions (bandit: the runner never shows a bandit learner anything else).
    Learners whose ``p_t`` depends on the past only through the cumulative losses
    ``L_{t-1} = Σ_{s<t} ℓ_s`` (Hedge, follow-the-leader) set ``time_vectorised`` and implement
    ``block_weights(state, cum_prev, out)``: the weights of a whole block of rounds from the
    ``(C, R, K)`` cumulative losses before each round. Against an oblivious adversary the
    runner then never steps them round by round.

Adversaries (:class:`Adversary`)
    ``start(rngs)`` -> state (one :class:`numpy.random.Generator` per run; a run's losses are
    drawn from its own generator only, so a run is the same alone or in any batch);
    ``draw(state, n_rounds)``: an *oblivious* adversary returns the losses of the next
    ``n_rounds`` rounds, run-major ``(R, n_rounds, K)`` (each run draws its own); an *adaptive*
    one draws the randomness of those rounds and returns ``None``, and then gives each round's
    losses from ``respond(state, j, probabilities, last_actions)``, seeing the learner's
    strategy for the round and (if ``needs_actions``) the actions played in the previous round.
    ``means()`` is the vector of expected losses of a stochastic (i.i.d.) adversary, else
    ``None``.

Every draw of a run is made in the order of the rounds and does not depend on how the rounds
are split into blocks, so the same seed gives the same run bit for bit whatever the block size
and whatever the other runs of the batch.
"""

from __future__ import annotations

import abc
import numbers
from typing import Any, ClassVar, Sequence

import numpy as np

from ...theory.errors import InvalidInstanceError
from ...theory.validation import check_real

#: Kinds of feedback: the whole loss vector, or the loss of the played action only.
FEEDBACK = ("full", "bandit")


# --------------------------------------------------------------------------- validation

def check_count(name: str, value, low: int = 1) -> int:
    """``value`` as an ``int``, or :class:`InvalidInstanceError` naming ``name`` if it is not an
    integer ``>= low`` (``bool`` is refused)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < low:
        raise InvalidInstanceError(name, f"must be an integer >= {low}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- randomness

def run_generators(seeds: Sequence[int]) -> tuple[list[np.random.Generator], list[np.random.Generator]]:
    """One pair of independent generators per seed: ``(adversary, learner)``, the two children
    of ``numpy.random.SeedSequence(seed)``. The adversary's generator draws the losses, the
    learner's the actions, so the losses an oblivious adversary deals to a seed are the same
    whichever learner faces them."""
    adversary, learner = [], []
    for seed in seeds:
        a, b = np.random.SeedSequence(int(seed)).spawn(2)
        adversary.append(np.random.Generator(np.random.PCG64(a)))
        learner.append(np.random.Generator(np.random.PCG64(b)))
    return adversary, learner


def draw_uniforms(rngs: Sequence[np.random.Generator], n_rounds: int, per_round: int = 1) -> np.ndarray:
    """``(n_rounds, R, per_round)`` uniforms on ``[0, 1)``, run ``r``'s from ``rngs[r]`` in the order of
    the rounds (so the same for any split of the rounds into blocks)."""
    out = np.empty((n_rounds, len(rngs), per_round))
    for r, rng in enumerate(rngs):
        out[:, r] = rng.random((n_rounds, per_round))
    return out


def min_last_axis(x: np.ndarray) -> np.ndarray:
    """``x.min(axis=-1)`` (exact either way). On large arrays it is computed as ``K − 1`` elementwise
    minima over the slices of the last axis, several times faster than numpy's reduction along a
    short last axis; on small ones that reduction's single call is faster."""
    if x.size <= 4096:
        return x.min(axis=-1)
    m = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        np.minimum(m, x[..., k], out=m)
    return m


def sample_actions(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw from the weights along the last axis: ``A = min{i : u·c_K < c_i}`` with
    ``c`` the cumulative weights and ``u ∈ [0, 1)`` one uniform per distribution. An action of
    weight 0 is never drawn (except, with probability about 2^-53, the last action when
    ``u·c_K`` rounds up to ``c_K``)."""
    c = weights.cumsum(axis=-1)
    a = (c <= u[..., None] * c[..., -1:]).sum(axis=-1)
    return np.minimum(a, weights.shape[-1] - 1, out=a)


# --------------------------------------------------------------------------- interfaces

class Learner(abc.ABC):
    """A no-regret learner over ``n_actions`` actions, stepping ``R`` runs at once (see the module
    docstring for the protocol). Subclasses are frozen dataclasses with a field ``n_actions``."""

    #: ``"full"`` (observes the loss vector) or ``"bandit"`` (observes the played loss only).
    feedback: ClassVar[str] = "full"
    #: ``True`` if ``p_t`` depends on the past only through ``L_{t-1}`` (``block_weights`` exists).
    time_vectorised: ClassVar[bool] = False
    n_actions: int

    @abc.abstractmethod
    def start(self, n_runs: int, horizon: int) -> Any:
        """The state of ``n_runs`` fresh runs of ``horizon`` rounds (some learners tune on it)."""

    @abc.abstractmethod
    def weights(self, state) -> np.ndarray:
        """``(R, K)`` non-negative weights with a positive sum: ``p_t`` is their normalisation."""

    @abc.abstractmethod
    def observe(self, state, actions: np.ndarray, losses: np.ndarray) -> None:
        """Update on round ``t``: ``actions`` ``(R,)`` are the actions played; ``losses`` are
        ``(R, K)`` (full information) or the ``(R,)`` losses of ``actions`` (bandit). Full-information
        learners that never sample (see :func:`~.run.run`) get ``actions = None``."""

    def block_weights(self, state, cum_prev: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Weights of a block of rounds, ``out[j]`` for round ``t0 + j`` from ``cum_prev[j] = L_{t0+j-1}``
        (``(C, R, K)``); must equal ``weights`` of a state that has observed those losses, bit
        for bit. Only for ``time_vectorised`` learners."""
        raise NotImplementedError(f"{type(self).__name__} is not time-vectorised")

    def probabilities(self, state) -> np.ndarray:
        """``p_t``, ``(R, K)``: the weights normalised."""
        w = self.weights(state)
        return w / w.sum(axis=-1, keepdims=True)


class Adversary(abc.ABC):
    """Chooses the losses ``ℓ_t ∈ [0, 1]^K`` of ``R`` runs (see the module docstring). Subclasses
    are frozen dataclasses with a field or property ``n_actions``."""

    #: ``True`` if the losses of round ``t`` may depend on the learner's play (``respond``).
    adaptive: ClassVar[bool] = False
    #: ``True`` if ``respond`` needs the actions played in the previous round.
    needs_actions: ClassVar[bool] = False
    n_actions: int

    @abc.abstractmethod
    def start(self, rngs: Sequence[np.random.Generator]) -> Any:
        """The state of ``len(rngs)`` fresh runs, run ``r`` drawing from ``rngs[r]`` only."""

    @abc.abstractmethod
    def draw(self, state, n_rounds: int) -> np.ndarray | None:
        """Oblivious: the losses of the next ``n_rounds`` rounds, run-major ``(R, n_rounds, K)``
        (any real or boolean dtype; possibly a read-only broadcast view, or an array that the next
        draw overwrites: copy it to keep it). Adaptive: draw the randomness of the next
        ``n_rounds`` rounds and return ``None``."""

    def respond(self, state, j: int, probabilities: np.ndarray, last_actions: np.ndarray | None) -> np.ndarray:
        """Adaptive only: the ``(R, K)`` losses of round ``j`` of the block last drawn, given the
        learner's ``probabilities`` ``p_t`` ``(R, K)`` and the actions of the previous round
        (``None`` in round 1, or if not ``needs_actions``)."""
        raise NotImplementedError(f"{type(self).__name__} is oblivious")

    def means(self) -> np.ndarray | None:
        """``E[ℓ_t]`` ``(K,)`` of a stochastic i.i.d. adversary (for the pseudo-regret), else ``None``."""
        return None


__all__ = ["FEEDBACK", "Learner", "Adversary", "check_count", "check_real", "run_generators",
           "draw_uniforms", "min_last_axis", "sample_actions"]
