"""The two externality environments of issue 12 — pollution control and insurance — and seeded
random families (:class:`~contractlab.theory.externality.ExternalityMDP` instances).

Helou (*Microeconomic Foundations of Multi-Agent Learning*, arXiv 2601.03451) simulates a
pollution-control environment and names insurance; only the abstract is known, so both
environments below are our design. Every modelling choice is listed with its default. The
defaults are chosen so that the agent's selfish policy is strictly worse for welfare than the
welfare-optimal one (``tests/test_welfare.py`` checks this), and the instances are small (a
handful of stock levels, ``H <= 10``) so that the exact benchmarks of
:mod:`contractlab.solvers.welfare` take milliseconds.

Pollution control (:func:`pollution_control`)
---------------------------------------------
- **States**: pollution stock ``x ∈ {0, …, L − 1}`` (``n_levels = L``, default 5), starting at
  ``initial_stock`` (0).
- **Actions** (a firm producing every step): ``produce`` (profit ``profit``, 1.0), ``abate``
  (the same output with abatement equipment: ``profit − abatement_cost``, 1.0 − 0.3) and
  ``curtail`` (reduced output: ``curtail_profit``, 0.3). Private reward = profit.
- **Outcomes**: measured emissions ``e ∈ {0, 1, 2}`` units, observed by the regulator (the
  principal), who does not see the action. ``emissions[a]`` is the distribution of ``e`` under
  action ``a`` (defaults ``(0.1, 0.3, 0.6)``, ``(0.5, 0.4, 0.1)``, ``(0.8, 0.2, 0.0)``).
- **Stock dynamics**: the emissions are added, ``y = min(L − 1, x + e)`` (the stock saturates at
  the top level), then one unit decays with probability ``decay`` (0.5):
  ``x' = max(0, y − 1)`` with probability ``decay``, else ``x' = y`` (stochastic ``transitions``).
- **Damage**: the others suffer ``D(z) = damage_scale · z^damage_power`` (0.05, 2: convex in the
  stock) during the step, at the stock ``z = x + e`` the emissions leave *before* saturation
  (so emitting at the top level still harms); the externality is ``e(x, o) = −D(x + o)``.
- Selfishly the firm always produces (abatement and curtailment only cost it); the welfare
  optimum abates (or curtails) once the stock, and so the marginal damage, is high enough.

Insurance (:func:`insurance`)
-----------------------------
- **States**: risk level ``x ∈ {0, …, L − 1}`` of the insured property (default ``L = 4``),
  starting at ``initial_risk`` (0).
- **Actions**: prevention effort ``none``, ``some``, ``full`` with costs ``effort_costs``
  (0, 0.1, 0.25); effort ``a`` cuts the claim probability by the factor ``1 − effort_effect[a]``
  (``effort_effect`` = 0, 0.35, 0.6).
- **Outcomes** (observed by the insurer, the principal standing for the pool of other
  policyholders): ``no claim``, ``small claim``, ``large claim``. At risk ``x`` the claim
  probability is ``p(x, a) = min(0.95, base_claim + risk_slope · x) · (1 − effort_effect[a])``
  (0.2, 0.1); a claim is large with probability ``large_share`` (0.3).
- **Premiums and payouts**: the agent is fully insured and pays a fixed ``premium`` (0.5) each
  step; the pool pays ``small_loss`` (1.0) or ``large_loss`` (4.0) on a claim. Private reward
  ``r(x, a) = −premium − effort_costs[a]``; externality ``e(x, o) = premium − payout(o)``. The
  premium cancels in the welfare (``−effort − losses``); transfers on outcomes are the insurer's
  contingent rebates (a no-claim bonus), on top of the premium.
- **Risk dynamics** (the stock): a large claim raises the risk level by one (the damage weakens
  the property), a small claim leaves it, and without a claim it falls by one with probability
  ``recovery`` (0.5). Effort moves the risk only through the claims it prevents (the stock moves
  on outcomes, as in every principal-agent MDP).
- Selfishly the insured makes no effort (it bears none of the loss: moral hazard); the welfare
  optimum makes effort where the expected losses it prevents exceed its cost.

Random families
---------------
:func:`random_pollution` and :func:`random_insurance` draw the parameters above from stated
ranges; :func:`random_externality` is an unstructured instance for property tests. Every
generator takes a ``seed`` (an integer or a ``numpy.random.Generator``) and is reproducible bit
for bit.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InvalidInstanceError
from .externality import ExternalityMDP
from .pamdp_families import _check_int, _check_size, _rng
from .validation import as_float_array, check_probability_rows, echo

#: Largest horizon and number of stock levels the generators accept: the exact benchmarks are
#: meant for small instances (``(H, S, A)`` tables, a dense ``(S, K, S)`` transition array).
MAX_HORIZON = 10_000
MAX_LEVELS = 2_000

POLLUTION_ACTIONS = ("produce", "abate", "curtail")
POLLUTION_OUTCOMES = ("0 units", "1 unit", "2 units")
INSURANCE_ACTIONS = ("none", "some", "full")
INSURANCE_OUTCOMES = ("no claim", "small claim", "large claim")

#: Defaults of :func:`pollution_control` (also what :func:`random_pollution` varies).
POLLUTION_DEFAULTS = dict(n_levels=5, horizon=8, profit=1.0, abatement_cost=0.3, curtail_profit=0.3,
                          emissions=((0.1, 0.3, 0.6), (0.5, 0.4, 0.1), (0.8, 0.2, 0.0)), decay=0.5,
                          damage_scale=0.05, damage_power=2.0, initial_stock=0)

#: Defaults of :func:`insurance`.
INSURANCE_DEFAULTS = dict(n_levels=4, horizon=8, premium=0.5, effort_costs=(0.0, 0.1, 0.25),
                          effort_effect=(0.0, 0.35, 0.6), base_claim=0.2, risk_slope=0.1, large_share=0.3,
                          small_loss=1.0, large_loss=4.0, recovery=0.5, initial_risk=0)


def _real(name: str, value, low: float, high: float = np.inf) -> float:
    """A finite real number in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low <= float(value) <= high:
        span = f">= {low:g}" if high == np.inf else f"in [{low:g}, {high:g}]"
        raise InvalidInstanceError(name, f"must be a number {span}, got {echo(value)}")
    return float(value)


def _vector(name: str, value, length: int, low: float, high: float) -> np.ndarray:
    v = as_float_array(name, value, 1)
    if v.shape != (length,):
        raise InvalidInstanceError(name, f"has {v.shape[0]} entries, expected {length}")
    bad = np.flatnonzero((v < low) | (v > high))
    if bad.size:
        raise InvalidInstanceError(name, f"value {float(v[bad[0]])!r} is outside [{low:g}, {high:g}]", int(bad[0]))
    return v


def _sizes(n_levels, horizon, initial: tuple[str, object], K: int, A: int) -> tuple[int, int, int]:
    L = _check_int("n_levels", n_levels, 1, MAX_LEVELS)
    H = _check_int("horizon", horizon, 1, MAX_HORIZON)
    x0 = _check_int(initial[0], initial[1], 0, L - 1)
    _check_size("n_levels", L, A, K, dense=True, what=f"an environment of {L} stock levels")
    return L, H, x0


# --------------------------------------------------------------------------- pollution control

def pollution_control(n_levels: int = 5, horizon: int = 8, profit: float = 1.0, abatement_cost: float = 0.3,
                      curtail_profit: float = 0.3, emissions=POLLUTION_DEFAULTS["emissions"], decay: float = 0.5,
                      damage_scale: float = 0.05, damage_power: float = 2.0,
                      initial_stock: int = 0) -> ExternalityMDP:
    """The pollution-control environment (module docstring): a firm chooses ``produce``,
    ``abate`` or ``curtail``; emissions of 0, 1 or 2 units are measured and added to a stock that
    decays by one unit with probability ``decay``; the others suffer the convex damage
    ``damage_scale · stock^damage_power``. Deterministic given its parameters."""
    L, H, x0 = _sizes(n_levels, horizon, ("initial_stock", initial_stock), 3, 3)
    profit = _real("profit", profit, -1e6, 1e6)
    abatement_cost = _real("abatement_cost", abatement_cost, 0.0, 1e6)
    curtail_profit = _real("curtail_profit", curtail_profit, -1e6, 1e6)
    decay = _real("decay", decay, 0.0, 1.0)
    damage_scale = _real("damage_scale", damage_scale, 0.0, 1e6)
    damage_power = _real("damage_power", damage_power, 1.0, 8.0)        # >= 1: convex in the stock
    E = as_float_array("emissions", emissions, 2)
    if E.shape != (3, 3):
        raise InvalidInstanceError("emissions", f"has shape {E.shape}, expected (actions, outcomes) = (3, 3)")
    check_probability_rows("emissions", E)

    x = np.arange(L)
    emitted = x[:, None] + np.arange(3)[None, :]                          # (L, K): stock after the emissions
    y = np.minimum(L - 1, emitted)                                       # ... as a state (saturated)
    T = np.zeros((L, 3, L))
    rows, cols = np.indices((L, 3))
    T[rows, cols, y] += 1.0 - decay
    T[rows, cols, np.maximum(0, y - 1)] += decay
    damage = damage_scale * emitted.astype(float) ** damage_power         # every emitted unit harms, even at the top
    O = np.broadcast_to(E, (L, 3, 3)).copy()
    r = np.broadcast_to(np.array([profit, profit - abatement_cost, curtail_profit]), (L, 3)).copy()
    params = dict(n_levels=L, horizon=H, profit=profit, abatement_cost=abatement_cost, curtail_profit=curtail_profit,
                  decay=decay, damage_scale=damage_scale, damage_power=damage_power, initial_stock=x0)
    params.update({f"emissions_{a}_{k}": float(E[a, k]) for a in range(3) for k in range(3)})
    return ExternalityMDP(outcome_probs=O, private_rewards=r, externality=-damage, transitions=T, horizon=H,
                          initial_state=x0, stock=x.astype(float), action_names=POLLUTION_ACTIONS,
                          outcome_names=POLLUTION_OUTCOMES, environment="pollution", parameters=params)


def random_pollution(seed=0, n_levels: int = 5, horizon: int = 6) -> ExternalityMDP:
    """A pollution-control instance with drawn parameters: ``profit ~ U[0.8, 1.2]``,
    ``abatement_cost ~ U[0.1, 0.5]``, ``curtail_profit ~ profit · U[0.2, 0.6]``, ``decay ~ U[0.2,
    0.6]``, ``damage_scale ~ U[0.03, 0.15]``, ``damage_power ~ U[1.5, 2.5]``, and three Dirichlet(1)
    emission rows assigned by decreasing mean emission to ``produce``, ``abate``, ``curtail``."""
    rng = _rng(seed)
    profit = rng.uniform(0.8, 1.2)
    abatement_cost = rng.uniform(0.1, 0.5)
    curtail_profit = profit * rng.uniform(0.2, 0.6)
    decay = rng.uniform(0.2, 0.6)
    damage_scale = rng.uniform(0.03, 0.15)
    damage_power = rng.uniform(1.5, 2.5)
    E = rng.dirichlet(np.ones(3), size=3)
    E = E[np.argsort(-(E @ np.arange(3)), kind="stable")]
    return pollution_control(n_levels, horizon, profit, abatement_cost, curtail_profit, E, decay, damage_scale,
                             damage_power)


# --------------------------------------------------------------------------- insurance

def insurance(n_levels: int = 4, horizon: int = 8, premium: float = 0.5, effort_costs=(0.0, 0.1, 0.25),
              effort_effect=(0.0, 0.35, 0.6), base_claim: float = 0.2, risk_slope: float = 0.1,
              large_share: float = 0.3, small_loss: float = 1.0, large_loss: float = 4.0, recovery: float = 0.5,
              initial_risk: int = 0) -> ExternalityMDP:
    """The insurance environment (module docstring): a fully insured agent chooses prevention
    effort; claims (none, small, large) are the observed outcomes; the pool pays the losses and
    receives a fixed premium; large claims raise the risk level, claim-free steps may lower it.
    Deterministic given its parameters."""
    L, H, x0 = _sizes(n_levels, horizon, ("initial_risk", initial_risk), 3, 3)
    premium = _real("premium", premium, 0.0, 1e6)
    costs = _vector("effort_costs", effort_costs, 3, 0.0, 1e6)
    effect = _vector("effort_effect", effort_effect, 3, 0.0, 1.0)
    base_claim = _real("base_claim", base_claim, 0.0, 1.0)
    risk_slope = _real("risk_slope", risk_slope, 0.0, 1.0)
    large_share = _real("large_share", large_share, 0.0, 1.0)
    small_loss = _real("small_loss", small_loss, 0.0, 1e6)
    large_loss = _real("large_loss", large_loss, 0.0, 1e6)
    recovery = _real("recovery", recovery, 0.0, 1.0)

    x = np.arange(L)
    p_claim = np.minimum(0.95, base_claim + risk_slope * x)[:, None] * (1.0 - effect)[None, :]    # (L, A)
    O = np.stack([1.0 - p_claim, p_claim * (1.0 - large_share), p_claim * large_share], axis=2)
    r = np.broadcast_to(-premium - costs, (L, 3)).copy()
    e = np.broadcast_to(premium - np.array([0.0, small_loss, large_loss]), (L, 3)).copy()
    T = np.zeros((L, 3, L))
    T[x, 0, np.maximum(0, x - 1)] += recovery
    T[x, 0, x] += 1.0 - recovery
    T[x, 1, x] = 1.0
    T[x, 2, np.minimum(L - 1, x + 1)] = 1.0
    params = dict(n_levels=L, horizon=H, premium=premium, base_claim=base_claim, risk_slope=risk_slope,
                  large_share=large_share, small_loss=small_loss, large_loss=large_loss, recovery=recovery,
                  initial_risk=x0)
    params.update({f"effort_cost_{a}": float(costs[a]) for a in range(3)})
    params.update({f"effort_effect_{a}": float(effect[a]) for a in range(3)})
    return ExternalityMDP(outcome_probs=O, private_rewards=r, externality=e, transitions=T, horizon=H,
                          initial_state=x0, stock=x.astype(float), action_names=INSURANCE_ACTIONS,
                          outcome_names=INSURANCE_OUTCOMES, environment="insurance", parameters=params)


def random_insurance(seed=0, n_levels: int = 4, horizon: int = 6) -> ExternalityMDP:
    """An insurance instance with drawn parameters: ``premium ~ U[0.3, 0.8]``, effort costs
    ``0 <= U[0, 0.3] <= U[0, 0.3]`` (sorted, the first is 0), effects likewise from ``U[0, 0.8]``,
    ``base_claim ~ U[0.05, 0.2]``, ``risk_slope ~ U[0.05, 0.15]``, ``large_share ~ U[0.1, 0.5]``,
    ``small_loss ~ U[0.5, 1.5]``, ``large_loss ~ small_loss · U[2, 4]``, ``recovery ~ U[0.3, 0.7]``."""
    rng = _rng(seed)
    premium = rng.uniform(0.3, 0.8)
    costs = np.concatenate([[0.0], np.sort(rng.uniform(0.0, 0.3, 2))])
    effect = np.concatenate([[0.0], np.sort(rng.uniform(0.0, 0.8, 2))])
    base_claim = rng.uniform(0.05, 0.2)
    risk_slope = rng.uniform(0.05, 0.15)
    large_share = rng.uniform(0.1, 0.5)
    small_loss = rng.uniform(0.5, 1.5)
    large_loss = small_loss * rng.uniform(2.0, 4.0)
    recovery = rng.uniform(0.3, 0.7)
    return insurance(n_levels, horizon, premium, costs, effect, base_claim, risk_slope, large_share, small_loss,
                     large_loss, recovery)


# --------------------------------------------------------------------------- unstructured

def random_externality(seed=0, n_states: int = 3, n_actions: int = 2, n_outcomes: int = 2, horizon: int = 3,
                       stochastic: bool = True) -> ExternalityMDP:
    """An unstructured instance for property tests: outcome rows Dirichlet(1), private rewards
    ``U[0, 1]``, externalities ``−U[0, 1]``, and either stochastic transitions (Dirichlet(1) rows)
    or a uniformly drawn ``next_state`` in ``[0, S)``; initial state 0."""
    S = _check_int("n_states", n_states, 1, MAX_LEVELS)
    A = _check_int("n_actions", n_actions, 1, 64)
    K = _check_int("n_outcomes", n_outcomes, 1, 64)
    H = _check_int("horizon", horizon, 1, MAX_HORIZON)
    _check_size("n_states", S, A, K, dense=bool(stochastic), what=f"an instance of {S} states")
    rng = _rng(seed)
    O = rng.dirichlet(np.ones(K), size=(S, A))
    r = rng.uniform(0.0, 1.0, (S, A))
    e = -rng.uniform(0.0, 1.0, (S, K))
    if stochastic:
        return ExternalityMDP(O, r, e, H, transitions=rng.dirichlet(np.ones(S), size=(S, K)),
                              environment="random")
    return ExternalityMDP(O, r, e, H, next_state=rng.integers(0, S, (S, K)), environment="random")


# --------------------------------------------------------------------------- the generate command

#: The families of ``contractlab generate`` (name -> generator). The two environments are
#: deterministic given their parameters; the others draw from a ``seed`` (:data:`SEEDED`).
FAMILIES = {"pollution": pollution_control, "insurance": insurance, "random_pollution": random_pollution,
            "random_insurance": random_insurance, "random_externality": random_externality}
#: The families of :data:`FAMILIES` that take a ``seed``.
SEEDED = frozenset({"random_pollution", "random_insurance", "random_externality"})


__all__ = ["FAMILIES", "SEEDED", "pollution_control", "insurance", "random_pollution", "random_insurance",
           "random_externality", "POLLUTION_DEFAULTS", "INSURANCE_DEFAULTS", "POLLUTION_ACTIONS", "POLLUTION_OUTCOMES",
           "INSURANCE_ACTIONS", "INSURANCE_OUTCOMES", "MAX_HORIZON", "MAX_LEVELS"]
