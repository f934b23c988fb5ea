"""Theorems about learned contract policies: nudging on an estimated ``Q̄`` and the policy check.

Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*
(arXiv 2407.18074), Section 5 / Appendix D. The proofs are in the docstring of
:mod:`contractlab.proofs_checks.nudging`. Drawn instances: the paper's binary game trees
(App. D.1), random trees and DAGs with 1–3 actions and 2–3 outcomes, and cyclic instances
with a finite horizon, with discounts over (0, 1) and non-degenerate agent values
(:func:`~contractlab.proofs_checks.theorems_pamdp.pamdp_instances`); noise levels ``E`` in
``[0.001, 0.5]``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..solvers.pamdp_policy import agent_best_response
from ..solvers.spe import TIE_TOL, solve_spe, spe_backup
from ..theory.pamdp import PrincipalAgentMDP
from .nudging import margin_cost, nudging_experiment
from .policy_check import check_policy
from .registry import Evidence, theorem
from .theorems_pamdp import PARL, pamdp_instances

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

