"""Theorems about learned contract policies: nudging on an estimated ``Q̄``, the policy check, and
the contraction of the tabular learner's synchronous expected updates.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*
(arXiv 2407.18074), Section 5 / Appendix D. The proofs are in the docstring of
:mod:`contractlab.proofs_checks.nudging`. Drawn instances: the paper's binary game trees
(App. D.1), random trees and DAGs with 1–3 actions and 2–3 outcomes, and cyclic instances
with a finite horizon, with discounts over (0, 1) and non-degenerate agent values
(:func:`~contractlab.proofs_checks.theorems_pamdp.pamdp_instances`); noise levels ``E`` in
``[0.001, 0.5]``.

Contraction against the learner (issue 12): the tabular learned principal of
:mod:`contractlab.learning.tabular`, run in its synchronous expected-update mode with the agent
held at fixed continuation values, is the principal's operator ``T`` of Section 3.2
(``tabular.sweep_is_operator``), so it moves toward the exact fixed point ``q*`` of
:func:`~contractlab.solvers.meta_algorithm.principal_fixed_point` at rate ``γ`` per sweep
(``tabular.sweep_contraction``), and at rate ``1 − α + αγ`` with step ``α``
(``tabular.relaxed_sweep_contraction``). Drawn instances: small discounted cyclic ones, as for
``operator.contraction``. The learner's normal asynchronous sampled mode has no per-step bound
(``tests/test_tabular_contraction.py`` shows an instance).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..learning.tabular import UPDATES, TabularConfig, TabularLearner
from ..solvers.meta_algorithm import principal_fixed_point, principal_operator
from ..solvers.pamdp_policy import agent_best_response
from ..solvers.spe import TIE_TOL, solve_spe, spe_backup
from ..theory.pamdp import PrincipalAgentMDP
from .nudging import margin_cost, nudging_experiment
from .policy_check import check_policy
from .registry import Evidence, theorem
from .theorems_pamdp import PARL, _discounted_instances, pamdp_instances

TOL = 1e-7


def nudging_mdps():
    """Trees, DAGs and finite horizons (what backward induction handles), at least 2 outcomes: the
    paper's binary trees as published and every family with a discount drawn over (0, 1) and shifted
    agent rewards (:func:`~contractlab.proofs_checks.theorems_pamdp.pamdp_instances`)."""
    return pamdp_instances(min_outcomes=2)


def nudging_instances():
    """``(mdp, E, seed)``."""
    return st.tuples(nudging_mdps(), st.floats(0.001, 0.5), st.integers(0, 2**32 - 1))


def _all_nudged(run) -> bool:
    return bool(np.all(run.nudged))


def check_followed(args, factor: float = 2.0, error_factor: float = 2.0) -> Evidence:
    """Margins ``ξ = 0`` and ``ξ = factor·E``: the true IC margin is at least ``ξ − error_factor·E`` at
    every nudged state, and with ``ξ = factor·E`` the exact best-responding agent follows at every
    nudged state. The theorem is ``factor = error_factor = 2``; smaller values show the check can
    fail (``factor < 2``: the agent deviates; ``error_factor < 2``: the margin bound is wrong)."""
    mdp, E, seed = args
    spe = solve_spe(mdp)
    items = []
    for xi in (0.0, factor * E):
        run = nudging_experiment(mdp, E, xi, seed, spe=spe)
        if not run.nudged.any():
            return Evidence.vacuous("no state has a nudged contract")
        slack = float(np.min(run.ic_margin[run.nudged])) - (xi - error_factor * E)
        items.append(Evidence.at_least(slack, 0.0, TOL,
                                       f"min true IC margin − (ξ − {error_factor:g}E), ξ = {xi:.3g}, E = {E:.3g}"))
    misses = int((~run.follow[run.nudged]).sum())
    items.append(Evidence.at_most(misses, 0, 0.0, f"nudged states where the true agent deviates, ξ = {xi:.3g}"))
    return Evidence.combine(items)


@theorem("nudging.followed",
         "Nudging: if the principal's estimate Q̂ of the agent's truncated Q̄ has sup-norm error at most E and "
         "every contract satisfies the IC constraints on Q̂ with margin ξ, the true IC margin of every "
         "recommendation is at least ξ − 2E (at every state where such a contract exists); with ξ = 2E every "
         "recommendation is a best response of the true agent, and the exactly best-responding agent follows it.",
         f"{PARL}, Section 5 / Appendix D (nudging with margin ξ = 2E)", nudging_instances)
def _check_followed(args) -> Evidence:
    return check_followed(args)


def one_shot_gain_and_bound(mdp: PrincipalAgentMDP, run) -> tuple[np.ndarray, np.ndarray]:
    """The principal's one-shot gain at every state of the nudged profile (the best exact one-shot
    contract given the profile's continuation, minus her value) and the bound ``(ξ + 2E) κ(s, â)``,
    ``â`` the cheapest-to-nudge of the tied-best actions of that one-shot problem."""
    br = agent_best_response(mdp, run.policy)
    kappa = margin_cost(mdp)
    delta = run.margin + 2 * run.error
    S = mdp.n_states
    states = np.arange(S)

    def at(vp_next, va_next, vp_now):
        b = spe_backup(mdp, states, vp_next, va_next)
        q = np.asarray(b.principal_q)
        best = q.max(axis=1, keepdims=True)
        tied = q >= best - TIE_TOL * np.maximum(1.0, np.abs(best))
        k = np.where(tied, kappa, np.inf).min(axis=1)
        with np.errstate(invalid="ignore"):
            bound = np.where(np.isfinite(k), delta * k, np.inf)
        return np.asarray(b.principal_value) - vp_now, bound

    if mdp.horizon is None:
        return at(br.principal_value, br.agent_value, br.principal_value)
    H = mdp.horizon
    gains, bounds = np.zeros((H, S)), np.zeros((H, S))
    zeros = np.zeros(S)
    for t in range(H):
        nxt = (br.principal_value[t + 1], br.agent_value[t + 1]) if t + 1 < H else (zeros, zeros)
        gains[t], bounds[t] = at(*nxt, br.principal_value[t])
    return gains, bounds


def check_epsilon_spe(args, factor: float = 2.0, scale: float = 1.0) -> Evidence:
    """``ξ = factor·E``: the principal's one-shot gain is at most ``scale·(ξ + 2E) κ(s, â)`` at every
    state. ``scale < 1`` is there to show the check can fail."""
    mdp, E, seed = args
    run = nudging_experiment(mdp, E, factor * E, seed)
    if not _all_nudged(run):
        return Evidence.vacuous("some state has no nudged contract (all outcome rows equal)")
    gain, bound = one_shot_gain_and_bound(mdp, run)
    finite = np.isfinite(bound)
    if not finite.any():
        return Evidence.vacuous("κ is infinite at every state")
    excess = gain[finite] - scale * bound[finite]
    i = int(np.argmax(excess))
    return Evidence.at_most(float(excess[i]), 0.0, TOL,
                            f"max over states of one-shot gain − (ξ + 2E)κ: gain {gain[finite][i]:.3g}, "
                            f"bound {scale * bound[finite][i]:.3g} (ξ = {factor * E:.3g}, E = {E:.3g})")


@theorem("nudging.epsilon_spe",
         "Nudging with ξ >= 2E yields an ε-subgame-perfect profile: at every state the principal's one-shot "
         "gain (best exact contract given the profile's continuation, minus her value) is at most "
         "(ξ + 2E)·κ(s, â), where κ(s, a) = min{O(s,a)·u : u >= 0, (O(s,a) − O(s,a'))·u >= 1 for all a' != a} "
         "is the expected payment per unit of IC margin and â the action of the best one-shot contract "
         "(checked with ξ = 2E and ξ = 4E). At a state whose successors all end the episode this bounds her "
         "loss against the SPE.",
         f"{PARL}, Section 5 / Appendix D (nudging); bound proved in contractlab.proofs_checks.nudging",
         lambda: st.tuples(nudging_instances(), st.sampled_from([2.0, 4.0])))
def _check_epsilon_spe(args) -> Evidence:
    inst, factor = args
    return check_epsilon_spe(inst, factor)


@theorem("nudging.exact_without_noise",
         "Nudging without noise and without margin (E = 0, ξ = 0) is backward induction itself: the true agent "
         "follows everywhere and both players' values equal the SPE values at every state (principal loss 0).",
         f"{PARL}, Section 3 (backward induction) and Section 5 (nudging with ξ = 0)", nudging_mdps)
def check_exact_without_noise(mdp: PrincipalAgentMDP, margin: float = 0.0) -> Evidence:
    spe = solve_spe(mdp)
    run = nudging_experiment(mdp, 0.0, margin, 0, spe=spe)
    br = agent_best_response(mdp, run.policy)
    return Evidence.combine([
        Evidence.equal(run.loss, 0.0, TOL, "principal loss at the initial state"),
        Evidence.equal(float(np.abs(br.principal_value - spe.principal_value).max()), 0.0, TOL, "principal values"),
        Evidence.equal(float(np.abs(br.agent_value - spe.agent_value).max()), 0.0, TOL, "agent values"),
        Evidence.at_least(run.follow_rate, 1.0, 0.0, "follow rate")])


def check_policy_is_perfect(mdp: PrincipalAgentMDP, policy=None) -> Evidence:
    """``check_policy`` on ``policy`` (default: the exact SPE policy) reports a perfect policy."""
    spe = solve_spe(mdp)
    rep = check_policy(mdp, spe.policy if policy is None else policy, spe=spe)
    return Evidence.combine([
        Evidence.equal(rep.value_gap, 0.0, TOL, "SPE value − policy value"),
        Evidence.equal(1.0 if rep.value_ratio is None else rep.value_ratio, 1.0, TOL, "value ratio"),
        Evidence.at_least(min(rep.agreement, rep.agreement_spe_reachable, rep.agreement_policy_reachable), 1.0, 0.0,
                          "agreement with the SPE (all, SPE path, policy path)"),
        Evidence.at_least(rep.follow_rate, 1.0, 0.0, "follow rate"),
        Evidence.at_most(rep.ic_violations, 0, 0.0, "IC violations"),
        Evidence.at_most(rep.ic_violation_max, 0.0, TOL, "largest IC violation"),
        Evidence.at_most(rep.spe_gap, 0.0, TOL, "SPE gap")])


@theorem("policy_check.spe_is_perfect",
         "check_policy on the exact SPE policy reports value ratio 1 (gap 0), 100% agreement with the SPE (on all "
         "states and on both paths), follow rate 1, no IC violation under the true Q̄ and SPE gap 0.",
         f"{PARL}, Section 3 (SPE); contractlab's policy check", pamdp_instances)
def _check_policy_is_perfect(mdp: PrincipalAgentMDP) -> Evidence:
    return check_policy_is_perfect(mdp)


# --------------------------------------------------------------------------- contraction of the learner

#: Synchronous expected sweeps per instance in the contraction checks.
SWEEPS = 8
#: Round-off allowed between a sweep of the learner and the operator computed by the solver
#: (relative to ``max(1, ||T q||_∞)``): the same sums in a different order.
SWEEP_TOL = 1e-12
#: Distances to q* below this (relative to ``max(1, ||q*||_∞)``) are round-off: the rate is not
#: measured from there on.
RATE_FLOOR = 1e-6
#: Tolerance on a measured rate: round-off in ``Q`` (~1e-15 of its scale) over a distance of at
#: least :data:`RATE_FLOOR` of it.
RATE_TOL = 1e-8


def sweep_instances():
    """``(mdp, principal_update, scale, seed)``: a small discounted cyclic instance with a discount
    over (0, 1) and shifted agent rewards (the strategy of ``operator.contraction``), the learner's
    principal update rule, the scale of its random initial tables (0: the fresh learner's) and the
    seed of the agent's continuation values and of those tables."""
    return st.tuples(_discounted_instances(), st.sampled_from(UPDATES), st.sampled_from([0.0, 1.0, 10.0]),
                     st.integers(0, 2**32 - 1))


def held_learner(mdp: PrincipalAgentMDP, principal_update: str, scale: float,
                 seed: int) -> tuple[TabularLearner, np.ndarray]:
    """``(learner, agent_value)``: a :class:`~contractlab.learning.tabular.TabularLearner` whose agent
    is held at continuation values ``agent_value`` ~ N(0, 2²) per state (arbitrary fixed agent
    values, as in ``operator.contraction``) and whose principal tables are N(0, scale²) (``r̂_p`` and
    ``U`` for the ``"outcome"`` update, ``Q_p`` for ``"sample"``)."""
    rng = np.random.default_rng(seed)
    agent_value = rng.normal(0.0, 2.0, mdp.n_states)
    learner = TabularLearner(mdp, TabularConfig(n_envs=1, principal_update=principal_update), seed=0)
    if scale:
        if principal_update == "outcome":
            learner.principal_reward_est[:] = rng.normal(0.0, scale, learner.principal_reward_est.shape)
            learner.principal_outcome_value[:] = rng.normal(0.0, scale, learner.principal_outcome_value.shape)
        else:
            learner.principal_q_table[:] = rng.normal(0.0, scale, learner.principal_q_table.shape)
    learner.set_agent_continuation(agent_value)
    return learner, agent_value


def learner_q(learner: TabularLearner) -> np.ndarray:
    """The learner's ``Q_p`` as the operator sees it: ``−inf`` at actions it does not allow."""
    return np.where(learner.allowed, learner.principal_q_table, -np.inf)


@theorem("tabular.sweep_is_operator",
         "A synchronous expected sweep of the tabular learned principal with step 1 (her update rule applied at "
         "every state at once, with the expectation over outcomes and next states computed from the model; the "
         "agent held at fixed continuation values) is the principal's operator T applied to her Q table: the "
         "actions she may recommend are exactly those T finds implementable, and on them the swept table equals "
         "T Q (to round-off), for both update rules ('outcome' and 'sample').",
         f"{PARL}, Section 3.2 (the principal's operator T) and Section 5 / Appendix D (the tabular learner); "
         "contractlab.learning.tabular.TabularLearner.expected_sweep", sweep_instances)
def check_sweep_is_operator(args) -> Evidence:
    mdp, update, scale, seed = args
    learner, agent_value = held_learner(mdp, update, scale, seed)
    q = learner_q(learner)
    tq = principal_operator(mdp, q, agent_value)
    learner.expected_sweep(1.0)
    finite = np.isfinite(tq)
    mismatched = int((finite != learner.allowed).sum())
    if mismatched:
        return Evidence.at_most(mismatched, 0, 0.0, f"({update}) actions allowed by the learner but not "
                                                    "implementable under T, or the reverse")
    err = float(np.abs(learner.principal_q_table[finite] - tq[finite]).max(initial=0.0))
    scale_tq = max(1.0, float(np.abs(tq[finite]).max(initial=0.0)))
    return Evidence.at_most(err / scale_tq, 0.0, SWEEP_TOL,
                            f"({update}) ||sweep(Q) − T Q||_∞ / max(1, ||T Q||_∞)")


def check_sweeps_contract(mdp: PrincipalAgentMDP, update: str, scale: float, seed: int, step: float = 1.0,
                          rate: float | None = None, sweeps: int = SWEEPS) -> Evidence:
    """Up to ``sweeps`` synchronous expected sweeps with step ``α = step`` from :func:`held_learner`:
    every one has ``||Q_{k+1} − q*||_∞ <= ρ ||Q_k − q*||_∞``, ``ρ = rate`` (default the theorem's
    ``1 − α + αγ``), ``q*`` the fixed point of ``T`` for the same agent values computed by
    :func:`~contractlab.solvers.meta_algorithm.principal_fixed_point`.

    Measured per sweep: the rate ``(||Q_{k+1} − q̂|| − (1 + ρ)ε) / ||Q_k − q̂||`` against ``ρ``, where
    ``q̂`` is the computed fixed point and ``ε`` its a-posteriori error bound (each distance to ``q̂``
    is within ``ε`` of the distance to ``q*``), with tolerance :data:`RATE_TOL`. Sweeps stop once
    ``||Q_k − q̂||`` is below :data:`RATE_FLOOR` ``× max(1, ||q̂||)``, where round-off, not the rate,
    would decide. A ``rate`` below the theorem's shows the check can fail."""
    learner, agent_value = held_learner(mdp, update, scale, seed)
    fp = principal_fixed_point(mdp, agent_value)
    if not fp.converged:
        return Evidence.vacuous(f"the fixed point of T was not reached ({fp.reason})")
    finite = np.isfinite(fp.q)
    if not np.array_equal(finite, learner.allowed):
        return Evidence.at_most(int((finite != learner.allowed).sum()), 0, 0.0,
                                "actions allowed by the learner but not implementable under T, or the reverse")
    rho = (1.0 - step + step * mdp.discount) if rate is None else rate
    slack = (1.0 + rho) * fp.error_bound
    floor = RATE_FLOOR * max(1.0, float(np.abs(fp.q[finite]).max(initial=0.0)))

    def distance() -> float:
        return float(np.abs(learner.principal_q_table[finite] - fp.q[finite]).max(initial=0.0))

    items = []
    err = distance()
    for k in range(sweeps):
        if err <= floor:
            break
        learner.expected_sweep(step)
        new = distance()
        items.append(Evidence.at_most((new - slack) / err, rho, RATE_TOL,
                                      f"({update}, γ = {mdp.discount:.3g}, α = {step:.3g}) sweep {k + 1}: "
                                      f"||Q_{k + 1} − q*|| / ||Q_{k} − q*|| = {new:.3g} / {err:.3g} "
                                      f"vs ρ = {rho:.3g}"))
        err = new
    if not items:
        return Evidence.vacuous("the initial table is already at the fixed point (to round-off)")
    return Evidence.combine(items)


@theorem("tabular.sweep_contraction",
         "For fixed agent continuation values, the tabular learned principal run in the synchronous expected-update "
         "mode with step 1 moves toward the exact fixed point q* of the principal's operator at rate γ per sweep: "
         "||Q_{k+1} − q*||_∞ <= γ ||Q_k − q*||_∞ for every sweep k (on the implementable actions; q* from "
         "principal_fixed_point; both update rules, fresh or random initial tables).",
         f"{PARL}, Section 3.2 (T is a γ-contraction with fixed point q*); the learner's sweep is T "
         "(tabular.sweep_is_operator)", sweep_instances)
def check_sweep_contraction(args) -> Evidence:
    return check_sweeps_contract(*args)


@theorem("tabular.relaxed_sweep_contraction",
         "With step size α in (0, 1], a synchronous expected sweep of the tabular learned principal is "
         "Q ← (1 − α) Q + α T Q, so ||Q_{k+1} − q*||_∞ <= (1 − α + αγ) ||Q_k − q*||_∞ for every sweep k (fixed "
         "agent continuation values; q* the exact fixed point of T; both update rules).",
         f"{PARL}, Section 3.2 (T is a γ-contraction); the bound is the triangle inequality on "
         "Q_{k+1} − q* = (1 − α)(Q_k − q*) + α(T Q_k − T q*)",
         lambda: st.tuples(sweep_instances(), st.one_of(st.floats(0.01, 1.0), st.just(1.0))))
def check_relaxed_sweep_contraction(args) -> Evidence:
    inst, step = args
    return check_sweeps_contract(*inst, step=step)
