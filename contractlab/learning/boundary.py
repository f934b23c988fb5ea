"""Iteration boundaries of the learners: where training may stop and a checkpoint may be written.

Both learners (:mod:`.tabular`, :mod:`.deep`; arXiv 2407.18074, Section 5 / Appendix D) change
many pieces of state in one training iteration (random generators, the simulator's episodes,
tables or network parameters and optimizer moments, the replay ring, target copies, the learning
curve). Only *between* iterations is that state the state of a run of the algorithm, so only
there may training stop and a checkpoint be written: a checkpoint written part-way through an
iteration (e.g. from a ``KeyboardInterrupt`` handler) resumes into a different run.

- Training stops at a boundary through the ``train(callback=...)`` callback, which is called
  after every completed iteration; :func:`stop_requested` says whether its answer asks to stop.
- :class:`IterationGuard` records an iteration in progress; if an exception leaves it unfinished
  the learner is *torn*, and :meth:`IterationGuard.check` refuses to save or train it further.
"""

from __future__ import annotations

import numpy as np

from ..theory.errors import InvalidInstanceError


def stop_requested(answer) -> bool:
    """Whether a training callback's return value asks to stop: ``True`` or ``numpy.True_``
    only (``None``, ``False``, numbers and anything else continue)."""
    return answer is True or (isinstance(answer, np.bool_) and bool(answer))


class IterationGuard:
    """Marks the training iteration in progress, so that a learner whose iteration was cut short
    by an exception is recognised (:attr:`torn`) and never checkpointed or trained further.

    Use ``guard.begin(n)`` before the ``n``-th (1-based) iteration changes any state and
    ``guard.end()`` once it is complete (including its evaluation and learning-curve record).
    """

    def __init__(self) -> None:
        self._in_progress: int | None = None

    @property
    def torn(self) -> int | None:
        """The 1-based number of the iteration that was left unfinished, or ``None``."""
        return self._in_progress

    def begin(self, iteration: int) -> None:
        """Iteration ``iteration`` (1-based) starts changing the learner's state."""
        self._in_progress = int(iteration)

    def end(self) -> None:
        """The iteration in progress is complete: the learner is at an iteration boundary."""
        self._in_progress = None

    def check(self, action: str) -> None:
        """Raise :class:`InvalidInstanceError` (field ``"learner"``) if an iteration was left
        unfinished; ``action`` says what was refused (``"saved"``, ``"trained further"``)."""
        if self._in_progress is not None:
            raise InvalidInstanceError(
                "learner", f"training was interrupted part-way through iteration {self._in_progress}, so the "
                f"learner's state mixes two iterations and cannot be {action}; stop training at an iteration "
                "boundary instead (train(callback=...) returning True), or resume from the last checkpoint")


__all__ = ["IterationGuard", "stop_requested"]
