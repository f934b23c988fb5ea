"""Exact best responses, the lump-sum equilibrium and the planner's optimum of the taxed economy.

The model is :mod:`contractlab.theory.tax_economy` (the AI Economist's bracket tax with lump-sum
rebate, as in the tax experiment of Yang et al., arXiv 2112.10859; Zheng et al., arXiv
2004.13332). Each agent is small: it takes the lump sum ``R`` as given and maximises
``f(l) = U(z − T(z) + R) − κ v(l)``, ``z = s l``, over ``l ∈ [0, l_max]``.

**Best response, exactly** (:func:`best_response`). On bracket ``k`` consumption is affine in
``l``, ``c = R + τ_k b_k − T(b_k) + (1 − τ_k) s l``, so ``f`` is concave there (``U`` concave,
``v`` convex) and strictly so (``v`` strictly convex); its maximum on the bracket's labour
interval ``[b_k/s, b_{k+1}/s] ∩ [0, l_max]`` is the interval's left end if ``f' <= 0`` there, its
right end if ``f' >= 0`` there, and otherwise the unique root of the decreasing
``f'(l) = s(1 − τ_k) U'(c) − κ l^(1/ε)``, found by safeguarded Newton (a Newton step when it stays
inside the bracket, else bisection) to the width
:data:`ROOT_TOL` (relative to ``l_max``). The best response is the best of these ``K`` candidates
(ties: the smallest labour). This needs no global concavity: a regressive schedule makes ``f``
non-concave across kinks, and the enumeration is still exact. Vectorised over schedules, agents
and brackets at once. Cross-checks: :func:`best_response_cvxpy` (cvxpy, one concave problem per
bracket, or one problem ``max U(t) − κ v(l)``, ``t <= c_k(l)`` for all ``k`` when the rates are
nondecreasing, where ``c(z)`` is the minimum of its affine pieces) and, at ``η = 0``, the closed
form ``l = (s(1 − τ)/κ)^ε`` inside a bracket.

**Equilibrium lump sum** (:func:`equilibrium`). ``R`` must equal ``Φ(R) = Σ_i T(s_i l_i(R))/N``.
*Uniqueness:* for ``l' > l`` the gain ``f(l'; R) − f(l; R) = U(g(l') + R) − U(g(l) + R)`` (``g`` the
after-tax income, nondecreasing as rates are ``<= 1``) is nonincreasing in ``R`` since ``U`` is
concave: decreasing differences, so the best response (the smallest maximiser, where there are
several) is nonincreasing in ``R`` (Topkis 1978), taxes are nondecreasing in labour, and ``Φ`` is
nonincreasing; hence ``Φ(R) − R`` is strictly decreasing and has at most one zero, which lies in
``[0, Φ(0)]``. *Existence:* when ``Φ`` is continuous — always when the rates are nondecreasing (``f`` strictly concave on ``[0, l_max]``, the
argmax continuous in ``R`` by Berge's theorem) — by the intermediate value theorem. Regula falsi
with the Illinois rule on ``R`` over ``[0, Φ(0)]`` finds it (bracket width or ``|Φ(R) − R|`` below
:data:`LUMP_TOL` relative; the bracket always holds the zero). For a regressive schedule an
agent's choice can jump between two local maxima, ``Φ`` can jump across the diagonal and no
pure equilibrium exists; such schedules are reported (``converged = False``: the residual
``|Φ(R) − R|`` exceeds :data:`EQUILIBRIUM_TOL`) and excluded from the planner's optimum.

**Planner** (:func:`grid_optimum`, :func:`refine`). The objective of a schedule is computed at its
equilibrium (``theory.tax_economy.planner_objective``); the grid optimum is the best schedule of
the product grid of rates (all schedules solved at once, in chunks); :func:`refine` is a compass
search in ``[0, 1]^K`` from given starting points (the best grid points), with exact equilibrium
evaluations, halving its step down to :data:`REFINE_MIN_STEP`: a local improvement of the grid
optimum off the grid (not a global certificate).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.tax_economy import (TaxEconomy, check_schedule, outcome, planner_objective, tax, tax_at_cutoffs)

#: Most safeguarded Newton steps of a stationary labour (each halves the bracket or is a Newton step).
MAX_ROOT_STEPS = 200
#: Bracket width of a piece's stationary labour, relative to ``l_max`` (2^-50 ≈ 9e-16).
ROOT_TOL = 2.0 ** -50
#: Bracket width (or ``|Φ(R) − R|``) at which the lump-sum search stops, relative to ``max(1, Φ(0))``.
LUMP_TOL = 1e-13
#: Most regula-falsi steps of the lump sum (then the closest point found is reported).
MAX_LUMP_STEPS = 200
#: Largest ``|Φ(R) − R|`` (relative to ``max(1, R)``) of a reported equilibrium.
EQUILIBRIUM_TOL = 1e-9
#: Schedules solved at once by :func:`grid_optimum` (memory: ``chunk × N × K`` floats per array).
GRID_CHUNK = 4096
#: Smallest step of :func:`refine`'s compass search.
REFINE_MIN_STEP = 1e-4


def _piece_data(economy: TaxEconomy, cutoffs: np.ndarray, rates: np.ndarray, lump_sum: np.ndarray):
    """Per ``(G, N, K)`` piece: the labour interval ``[lo, hi]``, the slope ``(1 − τ_k) s`` and the
    intercept ``R + τ_k b_k − T(b_k)`` of consumption, and whether the piece is reachable."""
    s = economy.skills[None, :, None]
    b = cutoffs[None, None, :]
    upper = np.append(cutoffs[1:], np.inf)[None, None, :]
    lo = np.minimum(b / s, economy.l_max)
    hi = np.minimum(upper / s, economy.l_max)
    valid = (b / s < economy.l_max) | (cutoffs[None, None, :] == 0)
    net = 1.0 - rates[:, None, :]
    slope = net * s
    intercept = lump_sum[:, None, None] + (rates * cutoffs - tax_at_cutoffs(cutoffs, rates))[:, None, :]
    return lo, hi, valid, slope, intercept


def _derivative(economy: TaxEconomy, l, slope, intercept):
    """``f'(l) = (1 − τ) s U'(c) − κ l^(1/ε)`` on a piece (``0 · ∞ = 0`` where the rate is 1)."""
    c = intercept + slope * l
    with np.errstate(invalid="ignore", over="ignore"):
        gain = np.where(slope > 0, slope * economy.marginal_consumption_utility(c), 0.0)
    return gain - economy.marginal_labour_cost(l)


def _second_derivative(economy: TaxEconomy, l, slope, intercept):
    """``f''(l) = ((1 − τ) s)^2 U''(c) − (κ/ε) l^(1/ε − 1)`` on a piece (``U'' = −η c^(−η−1)``)."""
    c = np.maximum(intercept + slope * l, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        curv = np.where(slope > 0, -economy.eta * slope ** 2 * c ** (-economy.eta - 1), 0.0)
        cost = economy.labour_coefficient / economy.elasticity * np.maximum(l, 0.0) ** (1.0 / economy.elasticity - 1)
    return curv - cost


def _piece_values(economy: TaxEconomy, l, slope, intercept):
    return economy.consumption_utility(intercept + slope * l) - economy.labour_cost(l)


def best_response(economy: TaxEconomy, cutoffs, rates, lump_sum) -> np.ndarray:
    """Exact best responses ``(G, N)`` to rates ``(G, K)`` (or ``(K,)``) and lump sums ``(G,)``
    (module docstring)."""
    b, r = check_schedule(cutoffs, rates)
    r2 = np.atleast_2d(r)
    R = np.broadcast_to(np.asarray(lump_sum, dtype=float), r2.shape[:1])
    lo, hi, valid, slope, intercept = _piece_data(economy, b, r2, R)
    lo, hi = np.broadcast_to(lo, slope.shape).copy(), np.broadcast_to(hi, slope.shape).copy()
    d_lo = _derivative(economy, lo, slope, intercept)
    d_hi = _derivative(economy, hi, slope, intercept)
    interior = (d_lo > 0) & (d_hi < 0)
    a, z = lo.copy(), hi.copy()
    x = 0.5 * (a + z)
    width = ROOT_TOL * economy.l_max
    for _ in range(MAX_ROOT_STEPS):
        open_ = interior & (z - a > width)
        if not open_.any():
            break
        d = _derivative(economy, x, slope, intercept)
        up = d > 0
        a = np.where(open_ & up, x, a)
        z = np.where(open_ & ~up, x, z)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - d / _second_derivative(economy, x, slope, intercept)
        inside = (newton >= a) & (newton <= z)
        step = np.where(inside, newton, 0.5 * (a + z))
        # a Newton step that moves by <= width/4 has converged (quadratically): close the bracket
        # to [newton ± width/2]
        tiny = inside & (np.abs(newton - x) <= 0.25 * width)
        a = np.where(open_ & tiny, np.maximum(a, newton - 0.5 * width), a)
        z = np.where(open_ & tiny, np.minimum(z, newton + 0.5 * width), z)
        step = np.where(tiny, newton, step)
        x = np.where(open_, np.clip(step, a, z), x)
    else:
        raise RuntimeError("best_response: bisection did not close (MAX_ROOT_STEPS)")
    x = np.where(interior, np.clip(x, a, z), x)
    cand = np.where(d_lo <= 0, lo, np.where(d_hi >= 0, hi, x))
    values = np.where(np.broadcast_to(valid, cand.shape), _piece_values(economy, cand, slope, intercept), -np.inf)
    best = np.argmax(values, axis=-1)       # first maximum: pieces are ordered by labour
    labour = np.take_along_axis(cand, best[..., None], axis=-1)[..., 0]
    return labour if r.ndim > 1 else labour[0]


def agent_objective(economy: TaxEconomy, cutoffs, rates, lump_sum, labour) -> np.ndarray:
    """``f_i(l) = U(s_i l − T(s_i l) + R) − κ v(l)`` with ``R`` taken as given; ``labour (..., N)``."""
    z = economy.skills * np.asarray(labour, dtype=float)
    c = z - tax(z, cutoffs, rates) + np.asarray(lump_sum, dtype=float)[..., None]
    return economy.utility(labour, c)


def best_response_cvxpy(economy: TaxEconomy, cutoffs, rates, lump_sum: float, agent: int,
                        concave: bool = False) -> float:
    """One agent's best response by cvxpy (Clarabel): the best of one concave problem per bracket,
    or, with ``concave=True`` (nondecreasing rates only), the single problem
    ``max U(t) − κ v(l)`` s.t. ``t <= c_k(l)`` for every bracket ``k``, ``0 <= l <= l_max``."""
    import cvxpy as cp

    b, r = check_schedule(cutoffs, rates)
    if r.ndim != 1:
        raise InvalidInstanceError("rates", "best_response_cvxpy takes one schedule (K,)")
    if concave and np.any(np.diff(r) < 0):
        raise InvalidInstanceError("rates", "concave=True needs nondecreasing rates")
    lo, hi, valid, slope, intercept = _piece_data(economy, b, r[None], np.array([float(lump_sum)]))
    lo, hi, valid = lo[0, agent], hi[0, agent], valid[0, agent]
    slope, intercept = slope[0, agent], np.broadcast_to(intercept, slope.shape)[0, agent]
    p = 1.0 + 1.0 / economy.elasticity

    def solve(ks, l_lo, l_hi):
        l, t = cp.Variable(), cp.Variable()
        eta = economy.eta
        if eta == 0:
            u = t
        elif eta == 1:
            u = cp.log(t)
        elif eta < 1:
            u = cp.power(t, 1 - eta, approx=False) / (1 - eta)
        else:
            u = -cp.power(t, 1 - eta, approx=False) / (eta - 1)
        cons = [l >= l_lo, l <= l_hi] + [t <= intercept[k] + slope[k] * l for k in ks]
        cost = economy.labour_coefficient * cp.power(l, p, approx=False) / p
        cp.Problem(cp.Maximize(u - cost), cons).solve(solver=cp.CLARABEL)
        return float(np.clip(l.value, l_lo, l_hi))

    if concave:
        return solve(range(b.size), 0.0, economy.l_max)
    cands = [solve([k], lo[k], hi[k]) for k in range(b.size) if valid[k]]
    vals = agent_objective(economy, b, r, lump_sum, np.outer(cands, np.ones(economy.n_agents)))[:, agent]
    return cands[int(np.argmax(vals))]


@dataclass(frozen=True, eq=False)
class Equilibrium:
    """The lump-sum equilibrium of ``G`` schedules: ``labour (G, N)`` (every agent's exact best
    response to ``lump_sum``), ``lump_sum (G,)``, ``residual = Φ(R) − R`` and ``converged``
    (``|residual| <= EQUILIBRIUM_TOL · max(1, R)``), and the root finder's ``iterations``."""

    rates: np.ndarray
    labour: np.ndarray
    lump_sum: np.ndarray
    residual: np.ndarray
    converged: np.ndarray
    iterations: int


def equilibrium(economy: TaxEconomy, cutoffs, rates) -> Equilibrium:
    """The unique lump sum ``R = Φ(R)`` of every schedule in ``rates (G, K)`` (module docstring)."""
    b, r = check_schedule(cutoffs, rates)
    r2 = np.atleast_2d(r)

    def phi(R, rows=slice(None)):
        l = best_response(economy, b, r2[rows], R)
        return tax(economy.skills * l, b, r2[rows]).mean(axis=-1), l

    top, _ = phi(np.zeros(r2.shape[0]))
    lo, hi = np.zeros_like(top), top.copy()
    g_lo = top.copy()                                   # g(R) = Φ(R) − R: g(lo) >= 0 >= g(hi)
    g_hi = phi(hi)[0] - hi
    width = LUMP_TOL * np.maximum(1.0, top)
    side = np.zeros(top.shape, dtype=int)               # the end moved last (Illinois rule)
    best_x = np.where(np.abs(g_lo) <= np.abs(g_hi), lo, hi)
    best_g = np.minimum(np.abs(g_lo), np.abs(g_hi))
    it = 0
    while True:
        open_ = (hi - lo > width) & (best_g > width)
        if not open_.any():
            break
        if it >= MAX_LUMP_STEPS:
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(g_lo > g_hi, hi - g_hi * (hi - lo) / (g_hi - g_lo), 0.5 * (lo + hi))
        if it % 4 == 3:                 # a bisection step every 4th: the bracket shrinks even at a jump of Φ
            x = 0.5 * (lo + hi)
        x = np.where(np.isfinite(x), np.clip(x, lo, hi), 0.5 * (lo + hi))
        rows = np.flatnonzero(open_)
        gx = np.zeros_like(x)
        gx[rows] = phi(x[rows], rows)[0] - x[rows]
        up = open_ & (gx >= 0)
        down = open_ & (gx < 0)
        g_hi = np.where(up & (side == 1), 0.5 * g_hi, g_hi)
        g_lo = np.where(down & (side == -1), 0.5 * g_lo, g_lo)
        lo, g_lo = np.where(up, x, lo), np.where(up, gx, g_lo)
        hi, g_hi = np.where(down, x, hi), np.where(down, gx, g_hi)
        side = np.where(up, 1, np.where(down, -1, side))
        closer = open_ & (np.abs(gx) < best_g)
        best_x, best_g = np.where(closer, x, best_x), np.where(closer, np.abs(gx), best_g)
        it += 1
    R = np.where(hi - lo <= width, 0.5 * (lo + hi), best_x)
    val, l = phi(R)
    res = val - R
    ok = np.abs(res) <= EQUILIBRIUM_TOL * np.maximum(1.0, R)
    if r.ndim == 1:
        return Equilibrium(r, l[0], R[0], res[0], ok[0], it)
    return Equilibrium(r2, l, R, res, ok, it)


def schedule_objective(economy: TaxEconomy, cutoffs, rates, objective: str = "equality_productivity"):
    """``(values, equilibrium)``: the planner objective of each schedule at its equilibrium
    (accounts from :func:`~contractlab.theory.tax_economy.outcome`, budget-balanced); ``−∞`` where
    no equilibrium was found."""
    eq = equilibrium(economy, cutoffs, rates)
    vals = planner_objective(outcome(economy, cutoffs, eq.rates, eq.labour), objective)
    return np.where(eq.converged, vals, -np.inf), eq


def rate_grid(n_brackets: int, values=None) -> np.ndarray:
    """All ``len(values)^K`` schedules ``(G, K)`` of the product grid (default ``0, 0.1, ..., 1``)."""
    v = np.linspace(0.0, 1.0, 11) if values is None else np.asarray(values, dtype=float)
    return np.array(list(itertools.product(v, repeat=n_brackets)), dtype=float).reshape(-1, n_brackets)


@dataclass(frozen=True, eq=False)
class GridOptimum:
    """The best schedule of a grid: ``rates (K,)``, its exact ``value``; all ``values (G,)`` of
    ``grid (G, K)``; ``n_without_equilibrium`` schedules excluded (value ``−∞``)."""

    rates: np.ndarray
    value: float
    grid: np.ndarray
    values: np.ndarray
    n_without_equilibrium: int
    objective: str


def grid_optimum(economy: TaxEconomy, cutoffs, values=None, objective: str = "equality_productivity",
                 chunk: int = GRID_CHUNK) -> GridOptimum:
    """The exact optimum over the product grid of rates (ties: the first in grid order)."""
    b = np.asarray(cutoffs, dtype=float)
    grid = rate_grid(b.size, values)
    vals = np.concatenate([schedule_objective(economy, b, grid[i:i + chunk], objective)[0]
                           for i in range(0, len(grid), chunk)])
    k = int(np.argmax(vals))
    return GridOptimum(grid[k], float(vals[k]), grid, vals, int(np.sum(~np.isfinite(vals))), objective)


@dataclass(frozen=True, eq=False)
class Refined:
    """A compass search's best ``rates`` and exact ``value``, and how many schedules it evaluated."""

    rates: np.ndarray
    value: float
    evaluations: int


def refine(economy: TaxEconomy, cutoffs, starts, objective: str = "equality_productivity", step: float = 0.05,
           min_step: float = REFINE_MIN_STEP) -> Refined:
    """Compass search in ``[0, 1]^K`` from each row of ``starts``: move to the best of the ``2K``
    neighbours ``rates ± step e_k`` (clipped) while it improves, else halve ``step``; stop below
    ``min_step``. Every value is exact at equilibrium. Returns the best over the starts."""
    b = np.asarray(cutoffs, dtype=float)
    K = b.size
    x = np.atleast_2d(np.asarray(starts, dtype=float)).copy()
    fx, _ = schedule_objective(economy, b, x, objective)
    h = np.full(len(x), float(step))
    evals = len(x)
    eye = np.concatenate([np.eye(K), -np.eye(K)])
    while np.any(h >= min_step):
        active = np.flatnonzero(h >= min_step)
        nb = np.clip(x[active, None, :] + h[active, None, None] * eye, 0.0, 1.0).reshape(-1, K)
        fn, _ = schedule_objective(economy, b, nb, objective)
        evals += len(nb)
        fn = fn.reshape(len(active), 2 * K)
        j = np.argmax(fn, axis=1)
        better = fn[np.arange(len(active)), j] > fx[active]
        idx = active[better]
        x[idx] = nb.reshape(len(active), 2 * K, K)[better, j[better]]
        fx[idx] = fn[better, j[better]]
        h[active[~better]] *= 0.5
    k = int(np.argmax(fx))
    return Refined(x[k], float(fx[k]), evals)


def grid_refined_optimum(economy: TaxEconomy, cutoffs, values=None, objective: str = "equality_productivity",
                         top: int = 5) -> tuple[GridOptimum, Refined]:
    """The grid optimum and the compass search from its ``top`` best grid points (step: half the
    grid spacing)."""
    g = grid_optimum(economy, cutoffs, values, objective)
    order = np.argsort(-g.values, kind="stable")[:top]
    spacing = float(np.min(np.diff(np.unique(g.grid)))) if g.grid.size > g.grid.shape[1] else 0.1
    return g, refine(economy, cutoffs, g.grid[order], objective, step=spacing / 2)
