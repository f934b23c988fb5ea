"""Theorems about the one-shot contract problem: MIN-PAY, implementability, OPT, LIN and FB.

Main source: Dütting, Roughgarden and Talgam-Cohen, *Simple versus Optimal Contracts*
(EC 2019), abbreviated DRT19 below. Each checker takes one drawn instance and returns
:class:`~contractlab.proofs_checks.registry.Evidence`.
"""

from __future__ import annotations

import math

import numpy as np
import sympy
from hypothesis import strategies as st

from ..solvers.best_response import agent_best_response
from ..solvers.implementability import implementability_all
from ..solvers.linear import best_linear_contract
from ..solvers.lp import BACKENDS
from ..solvers.min_pay import min_pay_all
from ..solvers.optimal import first_best, optimal_contract
from ..theory.contract_problem import ContractProblem
from ..theory.families import linear_gap_family, linear_gap_ratio
from .registry import Evidence, theorem
from .strategies import contract_problems, mlrp_problems

TOL = 1e-7
DRT19 = "Dütting, Roughgarden, Talgam-Cohen, Simple versus Optimal Contracts (EC 2019)"


def _certified(evidence: Evidence, problem: ContractProblem, results) -> Evidence:
    """Certify every LP answer the check used (exactly, in rationals); a refuted answer fails the check."""
    from dataclasses import replace

    from ..solvers.certify import CERTIFIED, REFUTED, certify
    certs = [certify(r, problem) for r in results]
    refuted = [c for c in certs if c.verdict == REFUTED]
    if refuted:
        return Evidence(evidence.measured, evidence.bound, -math.inf, False,
                        f"an LP answer was refuted by its exact certificate: {refuted[0].reason}", len(certs),
                        len(certs) - len(refuted))
    return replace(evidence, lp_answers=len(certs), certified=sum(c.verdict == CERTIFIED for c in certs))


def _with_free_action(p: ContractProblem) -> ContractProblem:
    """Shift costs so the cheapest action costs 0 (DRT19's standing assumption; IC is unchanged)."""
    return p.replace(costs=p.costs - p.costs.min())


def free_action_problems():
    return contract_problems().map(_with_free_action)


def _premise_free_action(p: ContractProblem) -> bool:
    return bool(p.costs.min() == 0.0)


@theorem("minpay.strong_duality",
         "For every implementable action, the MIN-PAY LP's dual multipliers (λ ≥ 0 on IC) are dual feasible "
         "and the dual objective Σ_k λ_k (c_i − c_k) equals the minimum expected payment.",
         f"{DRT19}, Section 2, LP (1) and its dual; LP strong duality", contract_problems)
def check_strong_duality(p: ContractProblem) -> Evidence:
    items = []
    results = min_pay_all(p)
    for res in results:
        if not res.implementable:
            continue
        F, c, i = p.outcome_probs, p.costs, res.action
        lam = res.ic_duals
        # dual feasibility: Σ_k λ_k (F_i − F_k) <= F_i componentwise, λ >= 0
        lhs = lam.sum() * F[i] - lam @ F
        items.append(Evidence.at_least(float(lam.min()), 0.0, TOL, f"action {i}: IC multiplier sign"))
        items.append(Evidence.at_most(float((lhs - F[i]).max()), 0.0, TOL, f"action {i}: dual feasibility"))
        dual = float(lam @ (c[i] - c))
        items.append(Evidence.equal(dual, res.expected_payment, TOL, f"action {i}: dual objective = MINPAY"))
    if not items:
        return Evidence.vacuous("no implementable action")
    return _certified(Evidence.combine(items), p, results)


@theorem("minpay.ic_and_limited_liability",
         "Every contract returned by MIN-PAY pays t ≥ 0 on every outcome and makes the recommended action a "
         "best response: F_i·t − c_i ≥ F_k·t − c_k for all k (recomputed from the data, not the solver).",
         f"{DRT19}, Section 2 (limited liability, IC)", contract_problems)
def check_ic_ll(p: ContractProblem) -> Evidence:
    items = []
    for backend in BACKENDS:
        for res in min_pay_all(p, backend=backend):
            if not res.implementable:
                continue
            t = res.contract
            u = p.outcome_probs @ t - p.costs
            items.append(Evidence.at_least(float(t.min()), 0.0, TOL, f"{backend} action {res.action}: t >= 0"))
            items.append(Evidence.at_least(float(u[res.action] - u.max()), 0.0, TOL,
                                           f"{backend} action {res.action}: IC"))
    return Evidence.combine(items)


@theorem("implementability.characterisation",
         "Action i is implementable (MIN-PAY feasible) iff no convex combination λ of the other actions has "
         "λ·F = F_i and λ·c < c_i; every returned witness satisfies both.",
         f"{DRT19}, Section 2 (Proposition on implementability via LP duality)", contract_problems)
def check_implementability(p: ContractProblem) -> Evidence:
    items = []
    results = min_pay_all(p)
    for res, imp in zip(results, implementability_all(p)):
        i = res.action
        agree = res.implementable == imp.implementable
        items.append(Evidence(float(res.implementable), float(imp.implementable), 0.0 if agree else -np.inf, agree,
                              f"action {i}: MIN-PAY feasible vs convex-combination LP"))
        if imp.witness is not None:
            w = imp.witness
            items.append(Evidence.equal(float(np.abs(w @ p.outcome_probs - p.outcome_probs[i]).max()), 0.0, TOL,
                                        f"action {i}: witness reproduces F_i"))
            items.append(Evidence.at_most(float(w @ p.costs), float(p.costs[i]), 0.0,
                                          f"action {i}: witness is cheaper"))
            items.append(Evidence.equal(float(w.sum()), 1.0, TOL, f"action {i}: witness is a convex combination"))
            items.append(Evidence.equal(float(w[i]), 0.0, 0.0, f"action {i}: witness excludes i"))
    return _certified(Evidence.combine(items), p, results)


@theorem("minpay.basic_support",
         "A basic optimal solution of MIN-PAY (the simplex answer) pays on at most n − 1 outcomes: it has m "
         "active constraints among n − 1 IC rows and m non-negativity bounds.",
         f"{DRT19}, Section 2; LP vertex structure", contract_problems)
def check_basic_support(p: ContractProblem) -> Evidence:
    items = []
    for res in min_pay_all(p, backend="highs"):
        if res.implementable:
            support = int((res.contract > 1e-12).sum())
            items.append(Evidence.at_most(support, p.n_actions - 1, 0.0, f"action {res.action}: support size"))
    return Evidence.combine(items) if items else Evidence.vacuous("no implementable action")


@theorem("minpay.cost_lower_bound",
         "MINPAY(i) ≥ c_i − min_k c_k: IC against the cheapest action plus t ≥ 0.",
         f"{DRT19}, Section 2 (IC against the cheapest action)", contract_problems)
def check_cost_lower_bound(p: ContractProblem) -> Evidence:
    items = [Evidence.at_least(res.expected_payment, float(p.costs[res.action] - p.costs.min()), TOL,
                               f"action {res.action}") for res in min_pay_all(p) if res.implementable]
    return Evidence.combine(items)


@theorem("contracts.lin_opt_fb",
         "With a zero-cost action, LIN ≤ OPT ≤ FB: the best linear contract, the optimal contract and the "
         "first-best welfare are ordered.",
         f"{DRT19}, Section 2 (benchmarks) and Section 3", free_action_problems)
def check_lin_opt_fb(p: ContractProblem) -> Evidence:
    if not _premise_free_action(p):
        return Evidence.vacuous("no zero-cost action")
    lin_res, opt_res = best_linear_contract(p), optimal_contract(p)
    lin, opt = lin_res.principal_utility, opt_res.principal_utility
    fb = first_best(p).welfare
    return _certified(Evidence.combine([Evidence.at_most(lin, opt, TOL, "LIN <= OPT"),
                                        Evidence.at_most(opt, fb, TOL, "OPT <= FB")]), p, [lin_res, opt_res])


_n = sympy.Symbol("n", positive=True, integer=True)
_FB, _LIN, _OPT = sympy.symbols("FB LIN OPT", nonnegative=True)


@theorem("linear.n_approximation",
         "With a zero-cost action and non-negative rewards, OPT/LIN ≤ FB/LIN ≤ n: a linear contract "
         "recovers at least a 1/n share of the first-best welfare (checked as OPT ≤ FB ≤ n·LIN).",
         f"{DRT19}, Section 4, Theorem 4.1 (linear contracts are an n-approximation)", free_action_problems,
         expression=sympy.Le(_FB, _n * _LIN))
def check_n_approximation(p: ContractProblem) -> Evidence:
    if not _premise_free_action(p):
        return Evidence.vacuous("no zero-cost action")
    lin = best_linear_contract(p).principal_utility
    opt = optimal_contract(p).principal_utility
    fb = first_best(p).welfare
    return Evidence.combine([Evidence.at_most(opt, fb, TOL, "OPT <= FB"),
                             Evidence.at_most(fb, p.n_actions * lin, TOL, "FB <= n LIN")])


@theorem("linear.n_approximation_tight",
         "The bound n is tight: on linear_gap_family(n, ε), OPT = FB = n − (n−1)ε and LIN = 1, so "
         "OPT/LIN = n − (n−1)ε → n as ε → 0.",
         f"{DRT19}, Section 4 (tightness of Theorem 4.1)",
         lambda: st.tuples(st.integers(1, 6), st.floats(0.01, 0.5)))
def check_n_approximation_tight(args) -> Evidence:
    n, eps = args
    p = linear_gap_family(n, eps)
    lin = best_linear_contract(p).principal_utility
    opt = optimal_contract(p).principal_utility
    ratio = opt / lin
    return Evidence.combine([Evidence.equal(ratio, linear_gap_ratio(n, eps), 1e-6, "OPT/LIN = n − (n−1)ε"),
                             Evidence.at_most(ratio, float(n), 1e-6, "OPT/LIN <= n")])


def _two_outcome_zero_reward():
    @st.composite
    def draw(draw):
        p = draw(contract_problems(min_outcomes=2, max_outcomes=2))
        zero = draw(st.integers(0, 1))
        r = p.rewards.copy()
        r[zero] = 0.0
        return p.replace(rewards=r)
    return draw()


@theorem("linear.optimal_two_outcomes",
         "With two outcomes and zero reward on one of them, the best linear contract is optimal: LIN = OPT.",
         f"{DRT19}, Section 3 (linear contracts are optimal with two outcomes)", _two_outcome_zero_reward)
def check_linear_optimal_two_outcomes(p: ContractProblem) -> Evidence:
    if p.n_outcomes != 2 or (p.rewards != 0).all():
        return Evidence.vacuous("needs two outcomes, one of them with zero reward")
    lin = best_linear_contract(p).principal_utility
    opt = optimal_contract(p).principal_utility
    return Evidence.equal(lin, opt, TOL, "LIN = OPT")


@st.composite
def _garbled(draw):
    p = draw(contract_problems())
    m2 = draw(st.integers(1, 5))
    w = np.array(draw(st.lists(st.lists(st.integers(0, 5), min_size=m2, max_size=m2).filter(lambda v: sum(v) > 0),
                               min_size=p.n_outcomes, max_size=p.n_outcomes)), dtype=float)
    return p, w / w.sum(axis=1, keepdims=True)


@theorem("garbling.monotone",
         "Garbling the outcomes (the contract sees only a signal drawn by G from the outcome, F → F·G with G "
         "row-stochastic; the principal still values R_i) never lowers any MINPAY(i) and never raises OPT.",
         f"{DRT19}, Section 2; Blackwell's informativeness order", lambda: _garbled())
def check_garbling(args) -> Evidence:
    p, G = args
    g = ContractProblem(p.outcome_probs @ G, p.costs, np.zeros(G.shape[1]), prob_tol=1e-8)
    items = []
    pay = np.array([r.expected_payment for r in min_pay_all(p)])
    pay_g = np.array([r.expected_payment for r in min_pay_all(g)])
    for i in range(p.n_actions):
        if np.isfinite(pay_g[i]):
            if not np.isfinite(pay[i]):
                items.append(Evidence(pay_g[i], np.inf, -np.inf, False, f"action {i}: implementable only after garbling"))
            else:
                items.append(Evidence.at_least(pay_g[i], pay[i], TOL, f"action {i}: MINPAY_G >= MINPAY"))
    R = p.expected_rewards
    opt = float(np.max(np.where(np.isfinite(pay), R - np.nan_to_num(pay, posinf=0.0), -np.inf)))
    opt_g = float(np.max(np.where(np.isfinite(pay_g), R - np.nan_to_num(pay_g, posinf=0.0), -np.inf)))
    items.append(Evidence.at_most(opt_g, opt, TOL, "OPT_G <= OPT"))
    return Evidence.combine(items)


@theorem("minpay.cost_scaling",
         "Scaling every cost by k > 0 scales every MINPAY(i) by k and leaves implementability unchanged.",
         f"{DRT19}, Section 2 (LP (1) is homogeneous in c)",
         lambda: st.tuples(contract_problems(), st.floats(0.01, 100.0)))
def check_cost_scaling(args) -> Evidence:
    p, k = args
    base = min_pay_all(p)
    scaled = min_pay_all(p.replace(costs=k * p.costs))
    items = []
    for a, b in zip(base, scaled):
        if a.implementable != b.implementable:
            return Evidence(float(b.implementable), float(a.implementable), -np.inf, False,
                            f"action {a.action}: implementability changed under scaling")
        if a.implementable:
            items.append(Evidence.equal(b.expected_payment, k * a.expected_payment, TOL, f"action {a.action}"))
    return Evidence.combine(items) if items else Evidence.vacuous("no implementable action")


@st.composite
def _relabelled(draw):
    p = draw(contract_problems())
    ap = draw(st.permutations(list(range(p.n_actions))))
    op = draw(st.permutations(list(range(p.n_outcomes))))
    return p, np.array(ap), np.array(op)


@theorem("contracts.relabelling_invariance",
         "Relabelling actions or outcomes changes nothing: MINPAY of each action, OPT, LIN and FB are invariant.",
         f"{DRT19}, Section 2 (the model is symmetric in labels)", lambda: _relabelled())
def check_relabelling(args) -> Evidence:
    p, ap, op = args
    q = p.permuted(ap, op)
    pay = np.array([r.expected_payment for r in min_pay_all(p)])
    pay_q = np.array([r.expected_payment for r in min_pay_all(q)])
    items = []
    for new, old in enumerate(ap):
        if np.isfinite(pay[old]) != np.isfinite(pay_q[new]):
            return Evidence(pay_q[new], pay[old], -np.inf, False, f"action {old}: implementability changed")
        if np.isfinite(pay[old]):
            items.append(Evidence.equal(pay_q[new], pay[old], TOL, f"MINPAY of action {old}"))
    items.append(Evidence.equal(optimal_contract(q).principal_utility, optimal_contract(p).principal_utility, TOL, "OPT"))
    items.append(Evidence.equal(first_best(q).welfare, first_best(p).welfare, TOL, "FB"))
    items.append(Evidence.equal(best_linear_contract(q).principal_utility, best_linear_contract(p).principal_utility,
                                TOL, "LIN"))
    return Evidence.combine(items)


@theorem("mlrp.top_outcome",
         "Under the monotone likelihood ratio property, the highest action's min-pay problem is solved by a "
         "contract paying only on the top outcome: t = MINPAY/F_{n,m} on outcome m is IC with the same payment.",
         f"{DRT19}, Section 2; Laffont and Martimort, The Theory of Incentives (2002), Section 4.5", mlrp_problems)
def check_mlrp(p: ContractProblem) -> Evidence:
    top = p.n_actions - 1
    res = min_pay_all(p, actions=[top])[0]
    if not res.implementable:
        return Evidence.vacuous("the highest action is not implementable")
    F = p.outcome_probs
    t = np.zeros(p.n_outcomes)
    t[-1] = res.expected_payment / F[top, -1]
    u = F @ t - p.costs
    return Evidence.at_least(float(u[top] - u.max()), 0.0, 1e-6, "IC slack of the top-outcome-only contract")


@theorem("linear.monotone_reward",
         "Under linear contracts t = α r the expected reward R of the induced action is non-decreasing in α "
         "(agent ties broken in the principal's favour).",
         f"{DRT19}, Section 3 (monotonicity of the induced action, Lemma 3.1)", contract_problems)
def check_monotone_reward(p: ContractProblem) -> Evidence:
    lin = best_linear_contract(p)
    grid = np.unique(np.concatenate([np.linspace(0.0, 1.0, 41), lin.critical_values,
                                     np.clip(lin.critical_values + 1e-7, 0, 1)]))
    R = p.expected_rewards
    induced = np.array([R[agent_best_response(p, a * p.rewards).action] for a in grid])
    drops = induced[:-1] - induced[1:]
    return Evidence.at_most(float(drops.max(initial=0.0)), 0.0, TOL, "largest drop of R along increasing α")


@theorem("backends.agree",
         "The HiGHS (simplex) and cvxpy (Clarabel interior point) backends agree on implementability and on "
         "every MINPAY within 1e-8 (relative to max(1, MINPAY)).",
         "contractlab design: one LP layer, two independent backends", contract_problems)
def check_backends(p: ContractProblem) -> Evidence:
    items = []
    for a, b in zip(min_pay_all(p, backend="highs"), min_pay_all(p, backend="cvxpy")):
        if a.implementable != b.implementable:
            return Evidence(float(b.implementable), float(a.implementable), -np.inf, False,
                            f"action {a.action}: backends disagree on implementability ({a.status} vs {b.status})")
        if a.implementable:
            items.append(Evidence.equal(b.expected_payment, a.expected_payment, 1e-8, f"action {a.action}"))
    return Evidence.combine(items) if items else Evidence.vacuous("no implementable action")


@st.composite
def problems_with_twin(draw):
    """A contract problem with one action duplicated at another position (same outcome row,
    same cost): the two are equally good for everyone, so ties are certain, not rare."""
    p = draw(contract_problems())
    j = draw(st.integers(0, p.n_actions - 1))
    k = draw(st.integers(0, p.n_actions))
    F = np.insert(p.outcome_probs, k, p.outcome_probs[j], axis=0)
    c = np.insert(p.costs, k, p.costs[j])
    return ContractProblem(F, c, p.rewards)


@theorem("contracts.ties_to_lowest_index",
         "Two actions with the same outcome distribution and cost have the same minimum payment and the same "
         "principal utility; among actions whose utility is within OPTIMALITY_TOL of the best, the optimal "
         "contract implements the one with the lowest index, and the first best breaks ties the same way.",
         f"{DRT19}, Section 2 (the principal's problem depends on an action only through (F_i, c_i)); the tie "
         "rule documented in contractlab.solvers.optimal", problems_with_twin)
def check_ties_to_lowest_index(p: ContractProblem) -> Evidence:
    from ..solvers.optimal import OPTIMALITY_TOL
    F, c = p.outcome_probs, p.costs
    twins = [(i, k) for i in range(p.n_actions) for k in range(i + 1, p.n_actions)
             if np.array_equal(F[i], F[k]) and c[i] == c[k]]
    opt = optimal_contract(p)
    items = []
    pay = np.array([r.expected_payment for r in opt.table])
    for i, k in twins:
        if np.isfinite(pay[i]) != np.isfinite(pay[k]):
            return Evidence(pay[k], pay[i], -math.inf, False, f"twins {i} and {k}: one implementable, one not")
        if np.isfinite(pay[i]):
            items.append(Evidence.equal(pay[k], pay[i], TOL, f"twins {i} and {k}: MINPAY"))
    # utilities recomputed from the data and the table (R_i − MINPAY_i), not read from the result
    u = np.where(np.isfinite(pay), F @ p.rewards - np.where(np.isfinite(pay), pay, 0.0), -np.inf)
    best = u.max()
    tied = np.flatnonzero(u >= best - OPTIMALITY_TOL)
    lowest = int(tied[0])
    items.append(Evidence(opt.action, lowest, 0.0 if opt.action == lowest else -1.0, opt.action == lowest,
                          f"optimal action {opt.action}, lowest tied action {lowest} (tied: {tied.tolist()})"))
    w = F @ p.rewards - c
    fb_lowest = int(np.flatnonzero(w >= w.max() - TOL)[0])
    fb = first_best(p).action
    items.append(Evidence(fb, fb_lowest, 0.0 if fb == fb_lowest else -1.0, fb == fb_lowest,
                          f"first-best action {fb}, lowest tied action {fb_lowest}"))
    return Evidence.combine(items)
