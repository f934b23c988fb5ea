"""The nudging experiment: contracts built on an estimated ``Q̄`` with an IC margin ``ξ``.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*
(arXiv 2407.18074), Section 5 / Appendix D: a learning principal knows the agent's truncated
Q-function ``Q̄`` only approximately. If her estimate ``Q̂`` has sup-norm error at most ``E``,
contracts that satisfy every IC constraint on ``Q̂`` with margin ``ξ = 2E`` are followed by
the true agent.

:func:`nudging_experiment` builds such a contract policy by backward induction (levels of an
acyclic MDP, or the steps of a finite horizon, as :func:`~contractlab.solvers.spe.solve_spe`).
At every state ``s`` (a whole level at once):

1. ``Q̄(s, a) = r(s, a) + γ Σ_o O(s, a, o) E[V_agent(s') | s, o]`` with the TRUE agent's
   continuation values under the contracts already built below ``s``;
2. the principal sees ``Q̂(s, a) = Q̄(s, a) + E·u(s, a)``, ``u ~ U[−1, 1]`` drawn once per
   (state, action) (per (step, state, action) with a horizon) from ``seed`` — the same draws
   for every ``E``, so a sweep over ``E`` and ``ξ`` uses common random numbers;
3. she prices every action with :func:`~contractlab.learning.contracts.nudged_min_pay` on
   ``Q̂`` with margin ``ξ`` and recommends the best by her estimate
   ``Q̂_p(s, a) = Σ_o O(s,a,o)(r_p(s,o) + γ E[V̂_p(s')]) − MINPAY_ξ(s, a; Q̂)`` (ties as the SPE
   solver: within :data:`~contractlab.solvers.spe.TIE_TOL`, lowest index), where ``V̂_p`` is her
   own estimate of her continuation (it assumes she is followed below). If no action can be
   implemented with margin ``ξ`` on ``Q̂`` (e.g. all outcome rows equal and ``ξ > 0``), she
   recommends ``argmax Q̂`` and pays nothing; ``nudged`` is ``False`` there;
4. the true agent's value is ``V_agent(s) = max_a Q̄(s, a) + O(s, a)·b(s)``.

The finished policy is then evaluated against the exact best-responding true agent
(:func:`~contractlab.solvers.pamdp_policy.agent_best_response`): follow rate, strict follow
rate (IC margin ``> tol``), the principal's value and her loss against the SPE.

What is proved (registered in :mod:`~contractlab.proofs_checks.theorems_learning`):

* **Followed.** If ``ξ >= 2E``, at every state where the nudged contract exists the true IC
  margin ``Q_a(s, a*) − max_{a' ≠ a*} Q_a(s, a')`` is at least ``ξ − 2E``: the nudged contract
  gives ``Q̂(a*) + O(a*)·b >= Q̂(a') + O(a')·b + ξ``, and ``Q̄ = Q̂ − E·u`` with ``|u| <= 1``
  moves each side by at most ``E``.
* **ε-SPE.** Let ``κ(s, a) = min{O(s,a)·u : u >= 0, (O(s,a) − O(s,a'))·u >= 1 ∀a' ≠ a}`` be the
  expected payment per unit of IC margin (``inf`` when ``O(s, a)`` is not strictly outside the
  hull of the other rows; ``9/8`` everywhere in the binary game trees of App. D.1). If
  ``b0`` is a min-pay contract of ``a`` on the true ``Q̄`` and ``u`` attains ``κ``, then
  ``b0 + (ξ + 2E) u`` satisfies the nudged constraints on ``Q̂``, so
  ``MINPAY_ξ(s, a; Q̂) <= MINPAY_0(s, a; Q̄) + (ξ + 2E) κ(s, a)``. With ``ξ >= 2E`` the agent
  follows everywhere, so her estimate ``V̂_p`` is her true value, and since she maximises
  ``Q̂_p``, her one-shot gain at ``s`` (the SPE-gap term of :func:`spe_checks.spe_gap`: the best
  exact one-shot contract given the profile's own continuation, minus her value) is at most
  ``(ξ + 2E) κ(s, â)``, ``â`` the action of that best one-shot contract. The nudged profile is
  an ε-SPE with ``ε(s) = (ξ + 2E) κ(s, â)``; at a state whose successors all end the episode
  this is a bound on her loss against the SPE itself.
* **Exact without noise.** ``ξ = E = 0`` is backward induction itself: the SPE policy and
  loss ``0``.

A bound on the loss at ``s_0`` against the SPE for deeper trees does not follow from the
ε-SPE property: the agent's continuation values (its rents) under the nudged policy differ
from the SPE's, and the SPE value is not monotone in them (rents at a child can replace
payments at its parent), so the loss is reported, not bounded. For generic instances it
tends to 0 with ``ξ`` and ``E``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from ..learning.contracts import nudged_min_pay
from ..solvers.pamdp_policy import TIE_BREAKS, agent_best_response
from ..solvers.pamdp_policy import TIE_TOL as AGENT_TIE_TOL
from ..solvers.spe import TIE_TOL, SPEResult, _weighted, continuation, solve_spe
from ..theory.contract_policy import ContractPolicy
from ..theory.errors import InvalidInstanceError
from ..theory.pamdp import PrincipalAgentMDP

#: A state counts as *strictly* followed when the true IC margin exceeds this (the agent's tie
#: tolerance, :data:`contractlab.solvers.pamdp_policy.TIE_TOL`, ``1e-9``).
FOLLOW_TOL = AGENT_TIE_TOL


@dataclass(frozen=True, eq=False)
class NudgingRun:
    """One run of :func:`nudging_experiment` (arrays ``(S, …)``, or ``(H, S, …)`` with a horizon).

    Attributes
    ----------
    error, margin, seed:
        ``E``, ``ξ`` and the noise seed.
    policy:
        The nudged contract policy.
    agent_q_true, agent_q_estimate:
        ``Q̄`` (the true agent's truncated Q under ``policy``) and the principal's ``Q̂``.
    nudged:
        Where the recommended action was implementable with margin ``ξ`` on ``Q̂``.
    ic_margin:
        True IC margin ``Q_a(s, a*) − max_{a' ≠ a*} Q_a(s, a')`` under ``policy`` (``inf`` with
        one action); negative where the true agent prefers another action.
    follow:
        The exact best-responding agent's action is the recommendation (ties: ``tie_break``).
    follow_rate, strict_follow_rate:
        Fractions of all states (``(step, state)`` pairs) with ``follow`` and with
        ``ic_margin > FOLLOW_TOL``.
    principal_value, estimated_value, spe_value:
        The principal's true value at ``s_0`` against the best-responding agent, her own
        estimate of it, and the SPE value.
    loss, relative_loss:
        ``spe_value − principal_value`` and that over ``|spe_value|`` (``nan`` if it is 0).
    """

    error: float
    margin: float
    seed: int
    policy: ContractPolicy
    agent_q_true: np.ndarray
    agent_q_estimate: np.ndarray
    nudged: np.ndarray
    ic_margin: np.ndarray
    follow: np.ndarray
    follow_rate: float
    strict_follow_rate: float
    principal_value: float
    estimated_value: float
    spe_value: float
    loss: float
    relative_loss: float
    tie_break: str

    def to_json(self) -> dict:
        def num(x):
            return float(x) if math.isfinite(x) else None
        return {"error": self.error, "margin": self.margin, "seed": self.seed, "follow_rate": self.follow_rate,
                "strict_follow_rate": self.strict_follow_rate, "nudged_rate": float(self.nudged.mean()),
                "min_ic_margin": num(float(self.ic_margin.min())), "principal_value": self.principal_value,
                "estimated_value": self.estimated_value, "spe_value": self.spe_value, "loss": self.loss,
                "relative_loss": num(self.relative_loss), "tie_break": self.tie_break}


def _check_nonneg(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating)) or not np.isfinite(value) \
            or value < 0:
        raise InvalidInstanceError(name, f"must be a finite number >= 0, got {value!r}")
    return float(value)


def _check_mdp(mdp) -> None:
    if not isinstance(mdp, PrincipalAgentMDP):
        raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
    if mdp.horizon is None and not mdp.is_acyclic:
        raise InvalidInstanceError("horizon", "the nudging experiment runs backward induction: it needs an acyclic "
                                              "graph or a finite horizon")


def _stages(mdp: PrincipalAgentMDP):
    """``(write_row, read_row, states)`` of the backward pass over value tables of shape ``(R, S)``."""
    if mdp.horizon is not None:
        S, H = mdp.n_states, mdp.horizon
        return [(t, t + 1, np.arange(S)) for t in range(H - 1, -1, -1)]
    return [(0, 0, level) for level in mdp.levels()]


def _price_all_actions(O: np.ndarray, q_hat: np.ndarray, margin: float):
    """``nudged_min_pay`` of every action at every state of a batch: ``(pay (B, A), contract (B, A, K),
    implementable (B, A))``."""
    B, A, K = O.shape
    res = nudged_min_pay(np.repeat(O, A, axis=0), np.repeat(q_hat, A, axis=0), np.tile(np.arange(A), B), margin)
    return (res.expected_payment.reshape(B, A), res.contract.reshape(B, A, K), res.implementable.reshape(B, A))


def nudging_experiment(mdp: PrincipalAgentMDP, error: float, margin: float, seed: int = 0, *,
                       tie_break: str = "principal", spe: SPEResult | None = None) -> NudgingRun:
    """Build the nudged contract policy for noise level ``error`` (``E``) and IC margin ``margin``
    (``ξ``) and evaluate it against the true, exactly best-responding agent (module docstring).

    ``seed`` draws the noise; ``spe`` is the precomputed SPE (computed when ``None``).
    Acyclic MDPs and finite horizons; a cyclic instance without a horizon is refused.
    """
    _check_mdp(mdp)
    E = _check_nonneg("error", error)
    xi = _check_nonneg("margin", margin)
    if isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0:
        raise InvalidInstanceError("seed", f"must be an integer >= 0, got {seed!r}")
    if tie_break not in TIE_BREAKS:
        raise InvalidInstanceError("tie_break", f"must be one of {TIE_BREAKS}, got {tie_break!r}")
    S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
    H = mdp.horizon
    lead = (H, S) if H is not None else (S,)
    noise = E * np.random.default_rng(int(seed)).uniform(-1.0, 1.0, lead + (A,))

    rows = H + 1 if H is not None else 1
    v_agent, v_hat = np.zeros((rows, S)), np.zeros((rows, S))   # true agent values, principal's estimate
    action = np.zeros(lead, dtype=np.int64)
    contract = np.zeros(lead + (K,))
    q_true, q_est = np.zeros(lead + (A,)), np.zeros(lead + (A,))
    nudged = np.zeros(lead, dtype=bool)
    gamma = mdp.discount
    for write, read, states in _stages(mdp):
        where = (write, states) if H is not None else (states,)
        O = mdp.outcome_probs[states]                                          # (B, A, K)
        qbar = mdp.agent_rewards[states] + gamma * _weighted(O, continuation(mdp, states, v_agent[read]))
        q_hat = qbar + noise[where]
        pay, con, ok = _price_all_actions(O, q_hat, xi)
        gross = _weighted(O, mdp.principal_rewards[states] + gamma * continuation(mdp, states, v_hat[read]))
        qp_hat = np.where(ok, gross - np.where(ok, pay, 0.0), -np.inf)
        best = qp_hat.max(axis=1)
        any_ok = np.isfinite(best)
        threshold = best - TIE_TOL * np.maximum(1.0, np.abs(np.where(any_ok, best, 0.0)))
        chosen = np.where(any_ok, np.argmax(qp_hat >= threshold[:, None], axis=1), np.argmax(q_hat, axis=1))
        idx = np.arange(len(states))
        b = np.where(any_ok[:, None], np.nan_to_num(con[idx, chosen]), 0.0) + 0.0
        paid = np.einsum("bak,bk->ba", O, b)
        action[where], contract[where], nudged[where] = chosen, b, any_ok
        q_true[where], q_est[where] = qbar, q_hat
        v_agent[write, states] = (qbar + paid).max(axis=1)
        v_hat[write, states] = gross[idx, chosen] - paid[idx, chosen]
    policy = ContractPolicy(action, contract)

    br = agent_best_response(mdp, policy, tie_break=tie_break)
    util = np.asarray(br.q)
    at_rec = np.take_along_axis(util, action[..., None], axis=-1)[..., 0]
    others = util.copy()
    np.put_along_axis(others, action[..., None], -np.inf, axis=-1)
    ic_margin = at_rec - others.max(axis=-1)
    if spe is None:
        spe = solve_spe(mdp)
    v_star = spe.principal_value_initial
    value = br.principal_start
    s0 = mdp.initial_state
    estimated = float(v_hat[0, s0])
    for arr in (q_true, q_est, nudged, ic_margin):
        arr.setflags(write=False)
    return NudgingRun(error=E, margin=xi, seed=int(seed), policy=policy, agent_q_true=q_true, agent_q_estimate=q_est,
                      nudged=nudged, ic_margin=ic_margin, follow=np.asarray(br.follow),
                      follow_rate=float(np.mean(br.follow)), strict_follow_rate=float(np.mean(ic_margin > FOLLOW_TOL)),
                      principal_value=value, estimated_value=estimated, spe_value=v_star, loss=v_star - value,
                      relative_loss=(v_star - value) / abs(v_star) if v_star != 0 else math.nan, tie_break=tie_break)


def nudging_sweep(mdp: PrincipalAgentMDP, error: float, margins, seed: int = 0, *, tie_break: str = "principal",
                  spe: SPEResult | None = None) -> tuple[NudgingRun, ...]:
    """:func:`nudging_experiment` for every margin ``ξ`` in ``margins`` (same noise draws, one SPE)."""
    _check_mdp(mdp)
    if spe is None:
        spe = solve_spe(mdp)
    return tuple(nudging_experiment(mdp, error, xi, seed, tie_break=tie_break, spe=spe) for xi in margins)


def margin_cost(mdp: PrincipalAgentMDP) -> np.ndarray:
    """``κ(s, a) = min{O(s,a)·u : u >= 0, (O(s,a) − O(s,a'))·u >= 1 ∀a' ≠ a}``, shape ``(S, A)``:
    the expected payment that buys one unit of IC margin for ``a`` against every other action
    (``inf`` where no contract does; ``0`` with a single action). It is MIN-PAY with costs 0 and
    margin 1 (:func:`nudged_min_pay` with ``Q̄ = 0``)."""
    if not isinstance(mdp, PrincipalAgentMDP):
        raise InvalidInstanceError("mdp", f"expected a PrincipalAgentMDP, got {type(mdp).__name__}")
    pay, _, _ = _price_all_actions(mdp.outcome_probs, np.zeros((mdp.n_states, mdp.n_actions)), 1.0)
    return pay


__all__ = ["nudging_experiment", "nudging_sweep", "margin_cost", "NudgingRun", "FOLLOW_TOL"]
