"""Theorems about the meta-gradient designer's lookahead and its gradient (Yang, Wang, Trivedi,
Zhao, Zha, arXiv 2112.10859, Section 4), checked in numpy on normal-form games with the closed
form of :mod:`contractlab.learning.lookahead_closed_form` (no torch: a core install verifies them).

Instances (:func:`metagrad_cases`): games with one state and one step, 2-3 agents with 2-3 actions,
rewards in ``[-5, 5]``; tabular logits ``θ ∈ [-2, 2]``, incentive parameters ``φ ∈ [-3, 3]``
(``η = 2σ(φ) ∈ (0.095, 1.9)``), agents' step ``α ∈ [0.01, 2]``, cost weight ``c ∈ [0, 2]``.

Theorems (``metagrad.*``):

- ``metagrad.gradient_finite_differences`` — the closed-form ``∇_φ F`` equals central finite
  differences of the closed-form objective ``F`` (step :data:`FD_STEP`, tolerance :data:`FD_TOL` relative
  to ``max(1, max|∇F|)``); and ``F`` itself equals the welfare minus ``c`` times the incentives of the
  looked-ahead policies as evaluated by :func:`~contractlab.theory.markov_game.evaluate` (the
  forward DP, independent of the closed form), to :data:`TOL`.
- ``metagrad.lookahead_is_pg_step`` — the lookahead is the agents' policy-gradient step:
  ``θ̂_i − θ_i = α ∇_{θ_i} J_i(θ; r + η)`` where the gradient is taken by central finite differences
  of ``J_i`` evaluated by :func:`~contractlab.theory.markov_game.evaluate` (to :data:`FD_TOL`); and
  it is exactly linear in the incentive: for two incentive parameters ``φ, φ'``,
  ``θ̂_i(φ) − θ̂_i(φ') = α (diag π_i − π_i π_iᵀ)(η_i − η'_i)`` (to :data:`TOL`; an identity, the
  derivation is in the closed-form module's docstring).
- ``metagrad.lookahead_unilateral_ascent`` — the step ascends each agent's own objective when the
  others stay put: ``J_i(θ̂_i, θ_{-i}) >= J_i(θ) + α‖g_i‖² (1 − (3/2) Δ_i α)``, ``g_i = ∇_{θ_i} J_i``,
  ``Δ_i`` the spread (max − min) of agent ``i``'s incentivised reward marginalised over the others
  ``Q_i``. Proof: ``f(θ_i) = softmax(θ_i)ᵀ Q_i`` has Hessian
  ``diag(π⊙d) − π(π⊙d)ᵀ − (π⊙d)πᵀ`` with ``d = Q_i − f`` (``|d_k| <= Δ_i`` since ``f`` averages
  ``Q_i``), each term of operator norm at most ``Δ_i`` (``‖π‖_2 <= 1``), so ``f`` is ``3Δ_i``-smooth
  and ``f(θ + αg) >= f(θ) + α‖g‖² − (3Δ_i/2) α²‖g‖²`` (the descent lemma). (Mei, Xiao, Szepesvári,
  Schuurmans, ICML 2020, Lemma 2 give the sharper constant ``5/2`` for rewards in ``[0, 1]``.) A sure
  bound; slack :data:`TOL` for round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from ..learning import lookahead_closed_form as cf
from ..theory.markov_game import TabularMarkovGame, evaluate
from .registry import Evidence, theorem

#: Central finite-difference step.
FD_STEP = 1e-5
#: Tolerance of a finite-difference comparison, relative to ``max(1, max|gradient|)``: the truncation
#: error ``h² |f'''|/6`` (``|f'''| <= ~1e3`` on the drawn ranges) plus round-off ``~1e-16 |f|/h`` are
#: below ``1e-7``.
FD_TOL = 1e-6
#: Slack of an identity between two float64 computations (relative to ``max(1, scale)``).
TOL = 1e-9

SOURCE = ("Yang, Wang, Trivedi, Zhao, Zha, Adaptive Incentive Design with Multi-Agent Meta-Gradient "
          "Reinforcement Learning (AAMAS 2022, arXiv 2112.10859), Section 4")


@dataclass(frozen=True, eq=False)
class MetaCase:
    """A normal-form game with the agents' logits, the designer's parameters, ``α`` and ``c``."""

    game: TabularMarkovGame
    theta: tuple
    phi: tuple
    alpha: float
    cost_weight: float
    phi_other: tuple     # a second incentive parameter (the linearity identity)


def _floats(lo: float, hi: float):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


@st.composite
def metagrad_cases(draw) -> MetaCase:
    n = draw(st.integers(2, 3))
    ks = tuple(draw(st.integers(2, 3)) for _ in range(n))
    A = int(np.prod(ks))
    r = np.array(draw(st.lists(_floats(-5, 5), min_size=A * n, max_size=A * n))).reshape(1, A, n)
    game = TabularMarkovGame(ks, np.full((1, A), -1), r, 0, 1)

    def per_agent(lo, hi):
        return tuple(np.array(draw(st.lists(_floats(lo, hi), min_size=k, max_size=k))).reshape(1, k) for k in ks)

    return MetaCase(game, per_agent(-2, 2), per_agent(-3, 3), draw(_floats(0.01, 2.0)), draw(_floats(0.0, 2.0)),
                    per_agent(-3, 3))


def _with_incentive(game: TabularMarkovGame, phi) -> TabularMarkovGame:
    """The game whose rewards are ``r + η`` (``η_i(a_i) = b σ(φ_i[a_i])``)."""
    return TabularMarkovGame(game.n_actions, game.next_state, game.rewards + _eta_table(game, phi), 0, 1)


def _eta_table(game: TabularMarkovGame, phi) -> np.ndarray:
    acts, etas = game.joint_actions(), cf.incentives(phi)
    return np.stack([etas[i].reshape(-1)[acts[:, i]] for i in range(game.n_agents)], -1)[None]


def _pols(theta) -> list[np.ndarray]:
    return [cf.softmax(np.asarray(t, dtype=float).reshape(1, -1)) for t in theta]


@theorem("metagrad.gradient_finite_differences",
         "For tabular softmax agents in a normal-form game and tabular incentives η_i(a_i) = 2σ(φ_i[a_i]), the "
         "closed-form meta-gradient ∇_φ F of F(φ) = W(θ̂(φ)) − c Σ_i π̂_iᵀη_i, θ̂ = θ + α∇_θ J(θ; r + η), equals "
         f"central finite differences of F (h = {FD_STEP:g}, tolerance {FD_TOL:g}·max(1, max|∇F|)); F equals the "
         "welfare minus c times the incentives of the looked-ahead policies by the forward DP.",
         SOURCE + "; chain rule through the one-step lookahead", metagrad_cases, tags=("metagrad",))
def check_gradient_finite_differences(case: MetaCase) -> Evidence:
    g, th, ph, a, c = case.game, case.theta, case.phi, case.alpha, case.cost_weight
    grad = cf.objective_gradient(th, ph, g, a, c)
    worst, where = 0.0, ""
    for i, p in enumerate(ph):
        for k in range(p.size):
            plus, minus = [q.copy() for q in ph], [q.copy() for q in ph]
            plus[i].reshape(-1)[k] += FD_STEP
            minus[i].reshape(-1)[k] -= FD_STEP
            fd = (cf.objective(th, plus, g, a, c) - cf.objective(th, minus, g, a, c)) / (2 * FD_STEP)
            err = abs(fd - grad[i][k])
            if err >= worst:
                worst, where = err, f"∂F/∂φ[{i}][{k}]: closed form {grad[i][k]:.10g}, FD {fd:.10g}"
    scale = max(1.0, max(float(np.abs(x).max()) for x in grad))
    fd_ev = Evidence.at_most(worst, FD_TOL * scale, 0.0, where)
    pols_hat = _pols(cf.lookahead(th, ph, g, a))
    W = float(evaluate(g, pols_hat).sum())
    paid_game = TabularMarkovGame(g.n_actions, g.next_state, _eta_table(g, ph), 0, 1)
    F_dp = W - c * float(evaluate(paid_game, pols_hat).sum())
    F_cf = cf.objective(th, ph, g, a, c)
    dp_ev = Evidence.equal(F_cf, F_dp, TOL, f"F closed form {F_cf:.12g} vs forward DP {F_dp:.12g}")
    return Evidence.combine([fd_ev, dp_ev])


@theorem("metagrad.lookahead_is_pg_step",
         "The designer's lookahead is the agents' policy-gradient step: θ̂_i − θ_i = α∇_{θ_i}J_i(θ; r + η) with the "
         "gradient by central finite differences of J_i from the forward DP; and θ̂ is affine in the incentive: "
         "θ̂_i(φ) − θ̂_i(φ') = α(diag π_i − π_iπ_iᵀ)(η_i − η'_i).",
         SOURCE + " (the lookahead θ̂ = θ + α∇_θ J); softmax Jacobian", metagrad_cases, tags=("metagrad",))
def check_lookahead_is_pg_step(case: MetaCase) -> Evidence:
    g, th, ph, a = case.game, case.theta, case.phi, case.alpha
    look = cf.lookahead(th, ph, g, a)
    gi = _with_incentive(g, ph)
    worst, where, scale = 0.0, "", 1.0
    for i, t in enumerate(th):
        for k in range(t.size):
            plus, minus = [q.copy() for q in th], [q.copy() for q in th]
            plus[i].reshape(-1)[k] += FD_STEP
            minus[i].reshape(-1)[k] -= FD_STEP
            fd = (evaluate(gi, _pols(plus))[i] - evaluate(gi, _pols(minus))[i]) / (2 * FD_STEP)
            step = (look[i][k] - t.reshape(-1)[k]) / a
            scale = max(scale, abs(fd))
            if abs(fd - step) >= worst:
                worst, where = abs(fd - step), f"agent {i} action {k}: (θ̂−θ)/α = {step:.10g}, FD ∇J = {fd:.10g}"
    step_ev = Evidence.at_most(worst, FD_TOL * scale, 0.0, where)
    other = cf.lookahead(th, case.phi_other, g, a)
    etas, etas_o = cf.incentives(ph), cf.incentives(case.phi_other)
    lin_worst, lin_where = 0.0, ""
    for i, t in enumerate(th):
        pi = cf.softmax(t.reshape(-1))
        de = (etas[i] - etas_o[i]).reshape(-1)
        want = a * (pi * de - pi * (pi @ de))
        err = float(np.abs((look[i] - other[i]) - want).max())
        if err >= lin_worst:
            lin_worst, lin_where = err, f"agent {i}: |θ̂(φ) − θ̂(φ') − αM(η − η')| = {err:.3g}"
    lin_ev = Evidence.at_most(lin_worst, TOL * max(1.0, a), 0.0, lin_where)
    return Evidence.combine([step_ev, lin_ev])


@theorem("metagrad.lookahead_unilateral_ascent",
         "Each agent's lookahead step ascends its own incentivised return against the others' current policies: "
         "J_i(θ̂_i, θ_{-i}) >= J_i(θ) + α‖g_i‖²(1 − (3/2)Δ_i α), g_i = ∇_{θ_i}J_i, Δ_i the spread of agent i's "
         "incentivised reward marginalised over the others (softmax returns are 3Δ_i-smooth).",
         SOURCE + "; descent lemma with the softmax Hessian bound (cf. Mei, Xiao, Szepesvári, Schuurmans, ICML 2020, "
         "Lemma 2)", metagrad_cases, tags=("metagrad",))
def check_lookahead_unilateral_ascent(case: MetaCase) -> Evidence:
    g, th, ph, a = case.game, case.theta, case.phi, case.alpha
    look = cf.lookahead(th, ph, g, a)
    grads = cf.policy_gradient(th, ph, g)
    gi = _with_incentive(g, ph)
    J0 = evaluate(gi, _pols(th))
    pis = [cf.softmax(t.reshape(-1)) for t in th]
    tables = np.moveaxis(gi.rewards[0], -1, 0).reshape((g.n_agents,) + g.n_actions)
    items = []
    for i in range(g.n_agents):
        Q = cf.marginal(tables[i], pis, i)
        spread = float(Q.max() - Q.min())
        moved = [q.copy() for q in th]
        moved[i] = look[i].reshape(1, -1)
        Ji = float(evaluate(gi, _pols(moved))[i])
        sq = float(grads[i] @ grads[i])
        bound = float(J0[i]) + a * sq * (1.0 - 1.5 * spread * a)
        items.append(Evidence.at_least(Ji, bound, TOL,
                                       f"agent {i}: J_i(θ̂_i, θ_-i) = {Ji:.10g}, bound {bound:.10g} (Δ_i = {spread:.4g})"))
    return Evidence.combine(items)
