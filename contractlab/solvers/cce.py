"""Coarse correlated equilibria and zero-sum game values, exactly, by linear programming.

Coarse correlated equilibria
----------------------------
A distribution ``σ`` over the action profiles ``(i, j)`` of a bimatrix game (row payoffs
``A``, column payoffs ``B``, both ``(k, l)``; :class:`~contractlab.theory.bimatrix.BimatrixGame`)
is an *ε-coarse correlated equilibrium* (ε-CCE) when no player gains more than ``ε`` by
committing in advance to a fixed action instead of following ``σ`` (Moulin & Vial, *Strategically
zero-sum games*, IJGT 7, 1978; Hannan consistency: Hart & Mas-Colell, Econometrica 68, 2000;
Cesa-Bianchi & Lugosi, *Prediction, Learning, and Games*, 2006, Section 7.4):

    g_{1,i'}(σ) = Σ_{i,j} σ_{ij} (A[i', j] − A[i, j]) <= ε     for every row i',
    g_{2,j'}(σ) = Σ_{i,j} σ_{ij} (B[i, j'] − B[i, j]) <= ε     for every column j'.

The ``k + l`` numbers ``g(σ)`` are the *deviation gains* (:func:`deviation_gains`, computed from
the marginals of ``σ``, the definition); the smallest ``ε`` for which ``σ`` is an ε-CCE is their
maximum (:func:`cce_epsilon`; it may be negative). If two players of a repeated game have
external regrets ``R_1, R_2`` after ``T`` rounds, the empirical distribution of their play has
``ε = max(R_1, R_2)/T`` exactly (:data:`~contractlab.theory.regret_bounds.CCE_FROM_REGRET`).

The LPs, in the standard form of :mod:`contractlab.solvers.lp` (minimise ``c·x``,
``A_ge x >= b_ge``, ``A_eq x = b_eq``, ``x >= 0``), with ``σ`` flattened row-major
(``x[i l + j] = σ_{ij}``) and ``G`` the ``(k + l, k l)`` matrix of :func:`deviation_matrix`:

* :func:`cce_lps` — the ε-CCE polytope with a linear objective to maximise (welfare by default):
  minimise ``−w·σ`` subject to ``−G σ >= −ε``, ``Σ σ = 1``. Always feasible at ``ε >= 0`` (a Nash
  equilibrium is a CCE; Nash, 1951).
* :func:`min_epsilon_lps` — the smallest ``ε`` for which an ε-CCE exists (``<= 0`` by the same
  argument): minimise ``e`` subject to ``e − G σ >= −lo``, ``Σ σ = 1``, where ``ε = e + lo`` and
  ``lo = −max(span A, span B) − 1`` is below every gain (so ``e >= 0`` loses nothing; :func:`gain_floor`).
  With ``σ`` given (:func:`epsilon_lps`) only ``e`` is left: the LP's value is ``cce_epsilon(σ)``
  and its dual is a distribution over the deviations that attain it.

Zero-sum games
--------------
In the zero-sum game with matrix ``M`` (``k × l``; the row player pays ``p'Mq`` to the column
player, so the row player minimises and the column player maximises, the convention of
:data:`~contractlab.theory.regret_bounds.ZERO_SUM_DUALITY_GAP`) the value is
``v = min_p max_q p'Mq = max_q min_p p'Mq`` (von Neumann, 1928). :func:`zero_sum_lp` is the row
player's LP (Dantzig, *Linear Programming and Extensions*, 1963, Section 13.2), shifted so that
the value variable is positive (``m = min M − 1``, ``v = m + v'``, so ``v' >= 1``):

    minimise v'  subject to  v' − (M − m)[:, j]·p >= 0 (every column j),  Σ p = 1,  p, v' >= 0.

Its dual (in the sign convention of the LP layer) is the column player's LP: the multipliers
``y_ge`` of the column rows are an optimal strategy ``q`` and ``y_eq = v'``. (The dual row of
``v'`` reads ``Σ y <= 1``; it is tight because ``v' >= 1 > 0`` at the optimum — complementary
slackness — which is why the shift keeps ``v'`` away from 0.) :func:`zero_sum_value`
returns both strategies; :func:`duality_gap` is ``max_j (p'M)_j − min_i (Mq)_i``, zero exactly at a
pair of optimal strategies.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..theory.bimatrix import BimatrixGame
from ..theory.errors import InvalidInstanceError, SolverFailure
from ..theory.validation import as_float_array
from .lp import BACKENDS, LPBatch, LPSolution, solve_lp_batch

#: Objectives of :func:`solve_cce` given by name: the sum of the two payoffs, maximised or minimised.
OBJECTIVES = ("welfare", "min_welfare")

#: An LP answer read as a probability distribution (``σ``, ``p``, or the duals ``q``) may have entries
#: below 0 or a sum off 1 by at most this (the LP layer's verification tolerance, ``lp.VERIFY_TOL``);
#: such round-off is removed and the vector renormalised. Anything larger is a solver failure.
DISTRIBUTION_TOL = 1e-7


# --------------------------------------------------------------------------------------
# Definitions (numpy, no LP)
# --------------------------------------------------------------------------------------

def deviation_gains(game: BimatrixGame, sigma: Any) -> np.ndarray:
    """``g(σ)``, shape ``(..., k + l)``: the gain of each fixed deviation under ``σ`` (``(..., k, l)``,
    a batch of distributions allowed): first the row player's ``E_σ[A[i', j]] − E_σ[A[i, j]]`` for
    ``i' = 0..k−1``, then the column player's ``E_σ[B[i, j']] − E_σ[B[i, j]]``. From the marginals:
    ``A @ σ_col − Σ σ∘A`` and ``σ_row @ B − Σ σ∘B``."""
    A, B = game.leader_payoffs, game.follower_payoffs
    s = np.asarray(sigma, dtype=float)
    if s.shape[-2:] != A.shape:
        raise InvalidInstanceError("sigma", f"has shape {s.shape}, expected (..., {A.shape[0]}, {A.shape[1]})")
    row_gain = s.sum(axis=-2) @ A.T - np.einsum("...ij,ij->...", s, A)[..., None]
    col_gain = s.sum(axis=-1) @ B - np.einsum("...ij,ij->...", s, B)[..., None]
    return np.concatenate([row_gain, col_gain], axis=-1)


def cce_epsilon(game: BimatrixGame, sigma: Any) -> np.ndarray | float:
    """The smallest ``ε`` for which ``σ`` is an ε-CCE: ``max g(σ)`` (may be ``< 0``). A float for one
    ``(k, l)`` distribution, an array for a batch."""
    eps = deviation_gains(game, sigma).max(axis=-1)
    return float(eps) if np.ndim(eps) == 0 else eps


def deviation_matrix(game: BimatrixGame) -> tuple[np.ndarray, np.ndarray]:
    """``G``, ``(k + l, k l)``, with ``g(σ) = G σ`` for ``σ`` flattened row-major, and the magnitude of
    the payoffs each entry is the difference of (``|A[i', j]| + |A[i, j]|``, ...), for the LP layer's
    judgement of infeasibility (:attr:`~contractlab.solvers.lp.LPBatch.A_scale`)."""
    A, B = game.leader_payoffs, game.follower_payoffs
    k, l = A.shape
    # row deviation i': G[i', (i, j)] = A[i', j] − A[i, j]
    G1 = A[:, None, :] - A[None, :, :]                       # (i', i, j)
    S1 = np.abs(A)[:, None, :] + np.abs(A)[None, :, :]
    # column deviation j': G[k + j', (i, j)] = B[i, j'] − B[i, j]
    G2 = (B.T[:, :, None] - B[None, :, :])                   # (j', i, j)
    S2 = np.abs(B.T)[:, :, None] + np.abs(B)[None, :, :]
    G = np.concatenate([G1.reshape(k, k * l), G2.reshape(l, k * l)])
    S = np.concatenate([S1.reshape(k, k * l), S2.reshape(l, k * l)])
    return G, S


def gain_floor(game: BimatrixGame) -> float:
    """``lo = −max(span A, span B) − 1``: every deviation gain is at least ``lo + 1`` (``span = max − min``).
    The ``− 1`` keeps the LP variable ``e = ε − lo`` at least 1 at the optimum, so that its dual row
    ``Σ y <= 1`` is tight (complementary slackness) and the duals of :func:`epsilon_lps` are a distribution."""
    A, B = game.leader_payoffs, game.follower_payoffs
    return -float(max(np.ptp(A), np.ptp(B))) - 1.0


def welfare(game: BimatrixGame, sigma: Any) -> np.ndarray | float:
    """``E_σ[A + B]``, the expected sum of the payoffs."""
    w = np.einsum("...ij,ij->...", np.asarray(sigma, dtype=float), game.leader_payoffs + game.follower_payoffs)
    return float(w) if np.ndim(w) == 0 else w


# --------------------------------------------------------------------------------------
# CCE LPs
# --------------------------------------------------------------------------------------

def cce_lps(game: BimatrixGame, epsilons: Any, objectives: Any) -> LPBatch:
    """One LP per ``(ε_b, w_b)``: maximise ``w_b·σ`` over the ε_b-CCE (module docstring); ``objectives``
    ``(B, k, l)``, ``epsilons`` ``(B,)``."""
    k, l = game.shape
    eps = np.atleast_1d(np.asarray(epsilons, dtype=float))
    W = np.asarray(objectives, dtype=float).reshape(len(eps), k * l)
    G, S = deviation_matrix(game)
    n = len(eps)
    return LPBatch(c=-W, A_ge=np.broadcast_to(-G, (n, *G.shape)).copy(), b_ge=-np.repeat(eps[:, None], k + l, 1),
                   A_eq=np.ones((n, 1, k * l)), b_eq=np.ones((n, 1)),
                   A_scale=np.concatenate([np.broadcast_to(S, (n, *S.shape)), np.ones((n, 1, k * l))], axis=1))


def min_epsilon_lps(game: BimatrixGame) -> LPBatch:
    """The LP of the smallest ε with an ε-CCE: variables ``(σ, e)``, ``ε = e + lo`` (module docstring)."""
    k, l = game.shape
    G, S = deviation_matrix(game)
    lo = gain_floor(game)
    A_ge = np.concatenate([-G, np.ones((k + l, 1))], axis=1)
    scale = np.concatenate([S, np.ones((k + l, 1))], axis=1)
    A_eq = np.concatenate([np.ones((1, k * l)), np.zeros((1, 1))], axis=1)
    c = np.zeros(k * l + 1)
    c[-1] = 1.0
    return LPBatch(c=c[None], A_ge=A_ge[None], b_ge=np.full((1, k + l), -lo), A_eq=A_eq[None],
                   b_eq=np.ones((1, 1)), A_scale=np.concatenate([scale, np.abs(A_eq)])[None])


def epsilon_lps(game: BimatrixGame, sigmas: Any) -> LPBatch:
    """For given ``σ_b`` (``(B, k, l)``): minimise ``e`` subject to ``e >= (G σ_b)_r − lo`` for every
    deviation ``r``. The value plus ``lo`` is ``cce_epsilon(σ_b)``; the duals ``y >= 0``, ``Σ y = 1``,
    weigh the deviations that attain it."""
    k, l = game.shape
    s = np.asarray(sigmas, dtype=float).reshape(-1, k * l)
    G, _ = deviation_matrix(game)
    n = s.shape[0]
    return LPBatch(c=np.ones((n, 1)), A_ge=np.ones((n, k + l, 1)), b_ge=s @ G.T - gain_floor(game),
                   A_eq=np.zeros((n, 0, 1)), b_eq=np.zeros((n, 0)))


@dataclass(frozen=True, eq=False)
class CCEResult:
    """An optimal ε-CCE for a linear objective (:func:`solve_cce`).

    ``sigma`` ``(k, l)`` (round-off below 0 removed, renormalised); ``value`` the LP optimum
    ``w·σ`` (NaN if infeasible); ``gains`` ``g(σ)`` recomputed from the definition;
    ``feasible`` is ``False`` only for ``ε`` below :func:`min_cce_epsilon` (then ``sigma`` is None).
    """

    epsilon: float
    objective: np.ndarray
    sigma: np.ndarray | None
    value: float
    gains: np.ndarray | None
    feasible: bool
    status: str
    backend: str


def _objective(game: BimatrixGame, objective: Any) -> np.ndarray:
    if isinstance(objective, str):
        if objective not in OBJECTIVES:
            raise InvalidInstanceError("objective", f"unknown objective {objective!r} (choose one of "
                                       f"{', '.join(OBJECTIVES)} or give a (k, l) array)")
        w = game.leader_payoffs + game.follower_payoffs
        return w if objective == "welfare" else -w
    w = as_float_array("objective", objective, 2)
    if w.shape != game.shape:
        raise InvalidInstanceError("objective", f"has shape {w.shape}, expected {game.shape}")
    return w


def _check_backend(backend: str) -> None:
    if backend not in BACKENDS + ("both",):
        raise InvalidInstanceError("backend", f"unknown backend {backend!r} (choose one of "
                                   f"{', '.join(BACKENDS + ('both',))})")


def _check_clean(sol: LPSolution, what: str, allowed=("optimal",)) -> None:
    bad = np.flatnonzero(~np.isin(sol.status, allowed))
    if bad.size:
        b = int(bad[0])
        raise SolverFailure(f"{what}: LP {b} has status {sol.status[b]!r} (backend {sol.backend!r})")


def _distribution(x: np.ndarray, shape, what: str) -> np.ndarray:
    """``x`` as a distribution of ``shape``, after checking it is one up to :data:`DISTRIBUTION_TOL`."""
    ok = np.all(np.isfinite(x)) and x.min() >= -DISTRIBUTION_TOL and abs(x.sum() - 1.0) <= DISTRIBUTION_TOL * x.size
    if not ok:
        raise SolverFailure(f"{what}: the LP answer is not a probability distribution (min {x.min():.3g}, "
                            f"sum {x.sum():.17g})")
    s = np.clip(x, 0.0, None)
    return (s / s.sum()).reshape(shape)


def _solve_many(game: BimatrixGame, epsilons: list[float], objectives: list[np.ndarray],
                backend: str) -> list[CCEResult]:
    """One batched solve of the LPs ``(ε_b, w_b)``; a :class:`CCEResult` each."""
    for e in epsilons:
        if not np.isfinite(e):
            raise InvalidInstanceError("epsilon", f"must be finite, got {e!r}")
    sol = solve_lp_batch(cce_lps(game, epsilons, np.stack(objectives)), backend=backend)
    _check_clean(sol, "solve_cce", ("optimal", "infeasible"))
    out = []
    for b, (e, w) in enumerate(zip(epsilons, objectives)):
        if sol.status[b] != "optimal":
            out.append(CCEResult(float(e), w, None, float("nan"), None, False, str(sol.status[b]), sol.backend))
            continue
        sigma = _distribution(sol.x[b], game.shape, "solve_cce")
        sigma.setflags(write=False)
        gains = deviation_gains(game, sigma)
        gains.setflags(write=False)
        out.append(CCEResult(float(e), w, sigma, float(-sol.objective[b]), gains, True, "optimal", sol.backend))
    return out


def solve_cce(game: BimatrixGame, epsilon: float = 0.0, objective: Any = "welfare",
              backend: str = "highs") -> CCEResult:
    """Maximise ``objective`` (``"welfare"``: ``E_σ[A + B]``; ``"min_welfare"``: its negative; or a
    ``(k, l)`` array ``w``, maximising ``w·σ``) over the ε-CCE of ``game``.

    Raises :class:`InvalidInstanceError` for a non-finite ``epsilon``, an unknown objective or
    backend, and :class:`~contractlab.theory.errors.SolverFailure` if the LP ends neither optimal
    nor infeasible.
    """
    _check_backend(backend)
    return _solve_many(game, [epsilon], [_objective(game, objective)], backend)[0]


def cce_welfare_range(game: BimatrixGame, epsilon: float = 0.0, backend: str = "highs") -> tuple[CCEResult, CCEResult]:
    """The ε-CCE of least and of greatest welfare ``E_σ[A + B]`` (two LPs in one batched solve):
    ``(lowest, highest)``, with ``lowest.value = −(its welfare)`` as :func:`solve_cce` with
    ``"min_welfare"`` reports it."""
    _check_backend(backend)
    low, high = _solve_many(game, [epsilon, epsilon], [_objective(game, "min_welfare"),
                                                       _objective(game, "welfare")], backend)
    return low, high


def min_cce_epsilon(game: BimatrixGame, backend: str = "highs") -> tuple[float, np.ndarray]:
    """``(ε*, σ*)``: the smallest ``ε`` for which an ε-CCE exists and one that attains it. ``ε* <= 0``
    (a Nash equilibrium has all gains ``<= 0``)."""
    _check_backend(backend)
    sol = solve_lp_batch(min_epsilon_lps(game), backend=backend)
    _check_clean(sol, "min_cce_epsilon")
    k, l = game.shape
    return float(sol.objective[0] + gain_floor(game)), _distribution(sol.x[0, :k * l], (k, l), "min_cce_epsilon")


def cce_epsilon_lp(game: BimatrixGame, sigmas: Any, backend: str = "highs") -> tuple[np.ndarray, np.ndarray]:
    """``cce_epsilon`` of each ``σ_b`` (``(B, k, l)`` or one ``(k, l)``) computed by the LP of
    :func:`epsilon_lps`, and the dual weights ``(B, k + l)`` on the deviations (a distribution
    supported on the deviations of largest gain)."""
    _check_backend(backend)
    s = np.asarray(sigmas, dtype=float)
    single = s.ndim == 2
    s = s.reshape(-1, *game.shape)
    sol = solve_lp_batch(epsilon_lps(game, s), backend=backend)
    _check_clean(sol, "cce_epsilon_lp")
    eps, y = sol.objective + gain_floor(game), sol.y_ge
    return (eps[0], y[0]) if single else (eps, y)


# --------------------------------------------------------------------------------------
# Zero-sum games
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class ZeroSumSolution:
    """The value of the zero-sum game ``M`` and a pair of optimal strategies (:func:`zero_sum_value`).

    ``row_strategy`` ``p*`` (the minimiser, from the primal) guarantees ``max_j (p*'M)_j = value``;
    ``column_strategy`` ``q*`` (the maximiser, from the duals of the column rows) guarantees
    ``min_i (M q*)_i = value``; ``gap`` is their :func:`duality_gap` (0 up to round-off).
    """

    value: float
    row_strategy: np.ndarray
    column_strategy: np.ndarray
    gap: float
    backend: str


def zero_sum_matrix(value: Any) -> np.ndarray:
    """``M`` as a finite 2-D float array (the row player's loss, the column player's gain)."""
    return as_float_array("matrix", value, 2)


def zero_sum_game(matrix: Any) -> BimatrixGame:
    """The bimatrix game of ``M``: the row player's payoffs ``−M``, the column player's ``M``."""
    M = zero_sum_matrix(matrix)
    return BimatrixGame(-M, M.copy())


def duality_gap(matrix: Any, p: Any, q: Any) -> float:
    """``max_j (p'M)_j − min_i (Mq)_i >= 0``: how far ``(p, q)`` is from a pair of optimal strategies
    (each side's best response payoff; zero iff both are optimal)."""
    M = zero_sum_matrix(matrix)
    return float(np.max(np.asarray(p, dtype=float) @ M) - np.min(M @ np.asarray(q, dtype=float)))


def zero_sum_lp(matrix: Any) -> LPBatch:
    """The row player's LP of ``M`` (module docstring): variables ``(p, v')``, ``v = v' + min M − 1``."""
    M = zero_sum_matrix(matrix)
    k, l = M.shape
    M0 = M - (M.min() - 1.0)
    A_ge = np.concatenate([-M0.T, np.ones((l, 1))], axis=1)                     # v' − M0[:, j]·p >= 0
    A_eq = np.concatenate([np.ones((1, k)), np.zeros((1, 1))], axis=1)
    c = np.zeros(k + 1)
    c[-1] = 1.0
    return LPBatch.build(c, A_ge, np.zeros(l), A_eq, np.ones(1))


def zero_sum_value(matrix: Any, backend: str = "highs") -> ZeroSumSolution:
    """The value of the zero-sum game ``M`` (row player minimises ``p'Mq``) and optimal strategies
    of both players, from one LP and its dual. Raises
    :class:`~contractlab.theory.errors.SolverFailure` if the LP is not solved to optimality (it is
    always feasible and bounded)."""
    _check_backend(backend)
    M = zero_sum_matrix(matrix)
    k, l = M.shape
    sol = solve_lp_batch(zero_sum_lp(M), backend=backend)
    _check_clean(sol, "zero_sum_value")
    p = _distribution(sol.x[0, :k], (k,), "zero_sum_value (row strategy)")
    q = _distribution(sol.y_ge[0], (l,), "zero_sum_value (column strategy, the duals)")
    for a in (p, q):
        a.setflags(write=False)
    return ZeroSumSolution(float(sol.objective[0] + (M.min() - 1.0)), p, q, duality_gap(M, p, q), sol.backend)


__all__ = ["OBJECTIVES", "DISTRIBUTION_TOL", "deviation_gains", "cce_epsilon", "deviation_matrix", "gain_floor",
           "welfare", "cce_lps", "min_epsilon_lps", "epsilon_lps", "CCEResult", "solve_cce", "cce_welfare_range",
           "min_cce_epsilon", "cce_epsilon_lp", "ZeroSumSolution", "zero_sum_matrix", "zero_sum_game", "duality_gap",
           "zero_sum_lp", "zero_sum_value"]
