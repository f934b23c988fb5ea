"""Learning principals and agents in principal-agent MDPs (Ivanov et al., arXiv 2407.18074,
Section 5 and Appendix D), checked against the exact SPE of :mod:`contractlab.solvers.spe`.

- :mod:`.simulator`: many episodes of a principal-agent MDP stepped in lockstep (numpy).
- :mod:`.contracts`: min-pay contracts on a (learned) truncated ``Q̄`` with a nudging margin ``ξ``.
- :mod:`.tabular`: the tabular learned principal and Q-learning agent (numpy).
- :mod:`.deep`: the deep version (torch; the extra ``contractlab[deep]``), imported on demand.
- :mod:`.checkpoint`: checkpoint files (``.npz`` + JSON metadata; never pickle).
- :mod:`.boundary`: iteration boundaries, the only places where training stops and checkpoints
  are written.

:func:`make_learner`, :func:`load_learner` and :func:`learning_curve` give both learners one
interface (used by ``contractlab learn``). Stopping a run so that it resumes exactly (e.g. on
SIGINT: the signal handler only sets a flag)::

    learner.train(callback=lambda iteration, total, metrics: flag_is_set(), eval_every=k)
    learner.save(path)                       # at the boundary where train returned
    learner = load_learner(kind, path, mdp)  # later, perhaps in another process
    learner.train(eval_every=k)              # ends bit-identical to an uninterrupted run

``learner.config.iterations`` / ``learner.config.margin`` (and ``learner.config.to_dict()``) of a
loaded learner are the values it was started with, as given.
"""

from __future__ import annotations

import numpy as np

LEARNERS = ("tabular", "deep")


def _classes(kind: str):
    from ..theory.errors import InvalidInstanceError
    if kind == "tabular":
        from .tabular import TabularConfig, TabularLearner
        return TabularLearner, TabularConfig
    if kind == "deep":
        try:
            from .deep import DeepConfig, DeepLearner
        except ImportError as exc:  # torch missing
            raise InvalidInstanceError("learner", f"the deep learner needs torch: pip install 'contractlab[deep]' "
                                       f"({exc})") from None
        return DeepLearner, DeepConfig
    raise InvalidInstanceError("learner", f"unknown learner {kind!r} (choose one of {', '.join(LEARNERS)})")


def make_learner(kind: str, mdp, seed: int = 0, **config):
    """A new learner of ``kind`` (``"tabular"`` or ``"deep"``) with its default config, some
    fields replaced by ``config`` (e.g. ``iterations=2000, margin=0.01``)."""
    cls, config_cls = _classes(kind)
    return cls(mdp, config_cls(**config), seed=seed)


def load_learner(kind: str, path, mdp):
    """Resume a learner of ``kind`` from its checkpoint (it must have been written for ``mdp``)."""
    cls, _ = _classes(kind)
    return cls.load(path, mdp)


def exact_value(learner) -> float:
    """The learner's greedy policy against an exact best-responding agent: the principal's value."""
    value = learner.evaluate()
    return float(value["principal_value"] if isinstance(value, dict) else value)


def learning_curve(learner) -> tuple[np.ndarray, np.ndarray]:
    """``(iterations, principal values)`` at every evaluation point so far (both learners)."""
    curve = learner.curve
    if isinstance(curve, tuple):
        return np.asarray(curve[0], dtype=np.int64), np.asarray(curve[1], dtype=float)
    return (np.array([int(r["iteration"]) for r in curve], dtype=np.int64),
            np.array([float(r["principal_value"]) for r in curve], dtype=float))
