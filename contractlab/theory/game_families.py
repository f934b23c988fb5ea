"""Bimatrix game families for equilibrium-selection experiments: the prisoner's dilemma, the stag
hunt, and random games.

Both named games are symmetric 2x2 games with action 0 the "cooperative" one. The row player's
payoff matrix is ``A`` and the column player's ``B = Aᵀ`` (notation of
:mod:`contractlab.theory.bimatrix`). They are the test cases of the steering experiments
(:mod:`contractlab.learning.steering`, after Zhang et al., *Steering No-Regret Learners to a
Desired Equilibrium*, arXiv 2306.05221): an equilibrium, (stag, stag), that learners miss without
help, and cooperation, which is not an equilibrium and cannot be steered to cheaply.
"""

from __future__ import annotations

import numbers

import numpy as np

from .bimatrix import BimatrixGame
from .errors import InvalidInstanceError
from .validation import check_real

#: Largest number of rows or columns of :func:`random_bimatrix`.
MAX_RANDOM_ACTIONS = 1000


def prisoners_dilemma(temptation: float = 5.0, reward: float = 3.0, punishment: float = 1.0,
                      sucker: float = 0.0) -> BimatrixGame:
    """The prisoner's dilemma, actions ``("cooperate", "defect")``:

    ``A = [[R, S], [T, P]]`` (row player), ``B = Aᵀ``, with the defaults ``T = 5, R = 3, P = 1, S = 0``
    (Axelrod, *The Evolution of Cooperation*, 1984). Requires ``T > R > P > S``: defection then
    strictly dominates for both players, (defect, defect) is the unique Nash equilibrium, and
    (cooperate, cooperate) is not one: each player gains ``T − R > 0`` by deviating from it.
    (``2R > T + S``, the usual condition for the repeated game, is not needed here.)

    Raises :class:`InvalidInstanceError` naming the payoff that breaks the order.
    """
    t, r, p, s = (check_real(name, v, -1e150) for name, v in
                  (("temptation", temptation), ("reward", reward), ("punishment", punishment), ("sucker", sucker)))
    for (hi_name, hi), (lo_name, lo) in ((("temptation", t), ("reward", r)), (("reward", r), ("punishment", p)),
                                         (("punishment", p), ("sucker", s))):
        if not hi > lo:
            raise InvalidInstanceError(hi_name, f"must exceed {lo_name} ({lo:g}) in a prisoner's dilemma "
                                       f"(temptation > reward > punishment > sucker), got {hi:g}")
    A = np.array([[r, s], [t, p]])
    return BimatrixGame(A, A.T.copy(), ("cooperate", "defect"), ("cooperate", "defect"))


def stag_hunt(stag: float = 4.0, hare_alone: float = 3.0, hare_both: float = 3.0,
              stag_alone: float = 0.0) -> BimatrixGame:
    """The stag hunt, actions ``("stag", "hare")``:

    ``A = [[a, c], [b, d]]`` (row player), ``B = Aᵀ``, with ``a = stag`` (both hunt the stag),
    ``b = hare_alone`` (hare while the other hunts the stag), ``d = hare_both``, ``c = stag_alone``
    (stag while the other hunts hare); defaults ``a, b, d, c = 4, 3, 3, 0`` (hunting hare pays 3
    whatever the other does). Required, so that the game has the two strict pure equilibria of
    the stag hunt (Harsanyi & Selten, *A General Theory of Equilibrium Selection in Games*, 1988,
    for payoff and risk dominance):

    * ``a > b`` and ``d > c``: (stag, stag) and (hare, hare) are strict Nash equilibria;
    * ``a > d``: (stag, stag) is payoff-dominant;
    * ``d − c > a − b``: (hare, hare) is risk-dominant (the product of the deviation losses,
      ``(d − c)²`` against ``(a − b)²``, is larger at (hare, hare)). Then hare is the best
      response to an opponent who hunts the stag with probability 1/2, so learners that start
      uniform drift to (hare, hare).

    Raises :class:`InvalidInstanceError` naming the payoff that breaks a condition.
    """
    a, b, d, c = (check_real(name, v, -1e150) for name, v in
                  (("stag", stag), ("hare_alone", hare_alone), ("hare_both", hare_both), ("stag_alone", stag_alone)))
    if not a > b:
        raise InvalidInstanceError("stag", f"must exceed hare_alone ({b:g}) for (stag, stag) to be a strict "
                                   f"equilibrium, got {a:g}")
    if not d > c:
        raise InvalidInstanceError("hare_both", f"must exceed stag_alone ({c:g}) for (hare, hare) to be a strict "
                                   f"equilibrium, got {d:g}")
    if not a > d:
        raise InvalidInstanceError("stag", f"must exceed hare_both ({d:g}) for (stag, stag) to be payoff-dominant, "
                                   f"got {a:g}")
    if not d - c > a - b:
        raise InvalidInstanceError("hare_both", f"hare_both − stag_alone ({d - c:g}) must exceed stag − hare_alone "
                                   f"({a - b:g}) for (hare, hare) to be risk-dominant")
    A = np.array([[a, c], [b, d]])
    return BimatrixGame(A, A.T.copy(), ("stag", "hare"), ("stag", "hare"))


def random_bimatrix(seed: int, n_rows: int = 3, n_columns: int = 3, *, low: float = 0.0, high: float = 1.0,
                    levels: int | None = None) -> BimatrixGame:
    """A random ``n_rows x n_columns`` bimatrix game: every payoff of ``A`` then of ``B`` i.i.d.
    uniform on ``[low, high)`` from ``numpy.random.default_rng(seed)`` (so the same seed gives the
    same game, bit for bit). With ``levels = n`` (an integer >= 2) the payoffs are instead drawn
    uniformly from the ``n`` values ``low + (high − low)·j/(n − 1)``, ``j = 0..n−1``, which gives
    ties and weak equilibria.

    Raises :class:`InvalidInstanceError` for a negative or non-integer seed, sizes outside
    ``1..MAX_RANDOM_ACTIONS``, ``high <= low``, or ``levels < 2``.
    """
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise InvalidInstanceError("seed", f"must be an integer >= 0, got {seed!r}")
    for name, n in (("n_rows", n_rows), ("n_columns", n_columns)):
        if isinstance(n, bool) or not isinstance(n, (numbers.Integral, np.integer)) or not 1 <= n <= MAX_RANDOM_ACTIONS:
            raise InvalidInstanceError(name, f"must be an integer in 1..{MAX_RANDOM_ACTIONS}, got {n!r}")
    lo, hi = check_real("low", low, -1e150), check_real("high", high, -1e150, 1e150)
    if not hi > lo:
        raise InvalidInstanceError("high", f"must exceed low ({lo:g}), got {hi:g}")
    if levels is not None and (isinstance(levels, bool) or not isinstance(levels, (numbers.Integral, np.integer))
                               or levels < 2):
        raise InvalidInstanceError("levels", f"must be None or an integer >= 2, got {levels!r}")
    rng = np.random.default_rng(int(seed))
    shape = (2, int(n_rows), int(n_columns))
    if levels is None:
        M = lo + (hi - lo) * rng.random(shape)
    else:
        M = lo + (hi - lo) * rng.integers(0, levels, size=shape) / (levels - 1)
    return BimatrixGame(M[0], M[1])


__all__ = ["prisoners_dilemma", "stag_hunt", "random_bimatrix", "MAX_RANDOM_ACTIONS"]
