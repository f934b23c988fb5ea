"""Mutation benchmark: does ``contractlab verify`` catch planted solver bugs?

    python benchmarks/mutation.py [--workers 2] [--only NAME ...] [--theorem ID ...] [--count N] [--seed S]
                                  [--timeout 300] [--tests | --suite] [--markdown] [--list]

What is measured
----------------
A catalogue (:data:`CATALOGUE`) of small, named, realistic semantic bugs in the modules of
``contractlab/solvers/``: a flipped sign, a dropped factor, an off-by-one loop bound, a tie
broken the other way, a tolerance on the wrong side, a constraint left out, a reversed
inequality in a certificate check, an evidence field with the wrong sign. Each entry names the
module, the exact source snippet to replace (it must occur exactly once in the file; an entry
whose snippet is missing or ambiguous is reported as *stale*, not run and not counted) and its
replacement.

For every mutation the ``contractlab`` package is copied to a fresh temporary folder (the
working tree is never modified), the replacement is applied there, and

    python -m contractlab verify --no-progress --out <tmp>/r.json [--count N] [--seed S]

runs with ``PYTHONPATH=<tmp>`` and ``<tmp>`` as working directory, so that the mutated copy is
the one imported (checked once at start: the child's ``contractlab.__file__`` must lie in the
temporary folder). The mutant is *killed* when verify exits non-zero: by a failing theorem (the
failing ids are read from the results JSON) or by a crash (a non-zero exit without failing
theorems in the JSON); a run longer than ``--timeout`` seconds counts as killed by timeout.
With ``--tests`` the test suite (a temporary copy of the repository tree around the mutated
package) also runs on verify's survivors, ``pytest -x -q --hypothesis-profile=ci``, and a failing
test also kills. With ``--suite`` the test suite replaces verify: it runs on every mutant (after a
control run that must pass on the unmutated copy), so its own kill rate is measured; the killers
are the failing test ids.

The kill rate is killed / (mutants run that are not marked ``equivalent``). The script always
exits 0 once it has run (the table is the answer); 2 on misuse (e.g. an unknown ``--only``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "contractlab"
SOLVERS = "contractlab/solvers/"


@dataclass(frozen=True)
class Mutation:
    name: str
    module: str          # path relative to the repository root
    old: str             # exact snippet, must occur exactly once
    new: str
    description: str
    equivalent: str | None = None   # why the mutant is judged equivalent (then not counted)


def M(name, module, old, new, description, equivalent=None) -> Mutation:
    return Mutation(name, SOLVERS + module, old, new, description, equivalent)


CATALOGUE: list[Mutation] = [
    # ---- lp.py --------------------------------------------------------------------------------
    M("lp_accurate_skip_optimality", "lp.py",
      '(res["dual"] <= tol)\n            & (suboptimality <= tol * terms + GAP_FLOOR))',
      '(res["dual"] <= tol))',
      "accurate(): the duality-gap / reduced-cost check is left out"),
    M("lp_farkas_reversed", "lp.py",
      "return valid & (beta > 0) & (g <= slack).all(axis=1)",
      "return valid & (beta > 0) & (g >= -slack).all(axis=1)",
      "farkas_certified(): A^T y <= 0 checked as A^T y >= 0 (reversed inequality)"),
    M("lp_trivial_farkas_eq_sign", "lp.py",
      "out.farkas_eq[b, r] = 1.0 if lp.b_eq[b, r] > 0 else -1.0",
      "out.farkas_eq[b, r] = -1.0 if lp.b_eq[b, r] > 0 else 1.0",
      "trivially infeasible = row: Farkas multiplier stored with the wrong sign"),
    M("lp_agreement_reversed", "lp.py",
      "close = np.abs(first.objective - second.objective) <= tol * np.maximum(1.0, np.abs(first.objective))",
      "close = np.abs(first.objective - second.objective) >= tol * np.maximum(1.0, np.abs(first.objective))",
      "agreement(): objectives agree when they differ (tolerance direction)"),
    # ---- lp_scaling.py ------------------------------------------------------------------------
    M("scaling_drop_beta", "lp_scaling.py",
      "x = sol.x * scaling.cols * scaling.beta[:, None]",
      "x = sol.x * scaling.cols",
      "unscale(): primal solution not multiplied back by the rhs factor beta"),
    M("scaling_drop_gamma", "lp_scaling.py",
      "y = np.concatenate([sol.y_ge, sol.y_eq], axis=1) * scaling.rows * scaling.gamma[:, None]",
      "y = np.concatenate([sol.y_ge, sol.y_eq], axis=1) * scaling.rows",
      "unscale(): duals not multiplied back by the objective factor gamma"),
    M("scaling_cost_gamma_inverted", "lp_scaling.py",
      "c = lp.c * C / gamma[:, None]",
      "c = lp.c * C * gamma[:, None]",
      "equilibrate(): objective multiplied instead of divided by gamma"),
    # ---- backend_highs.py ---------------------------------------------------------------------
    M("highs_dual_sign", "backend_highs.py",
      "out.y_ge[idx] = y[:, :nge]",
      "out.y_ge[idx] = -y[:, :nge]",
      "HiGHS row duals of >= rows stored with the wrong sign"),
    M("highs_ray_orientation", "backend_highs.py",
      "if float(np.dot(np.concatenate([lp.b_ge[0], lp.b_eq[0]]), ray)) < 0:",
      "if float(np.dot(np.concatenate([lp.b_ge[0], lp.b_eq[0]]), ray)) > 0:",
      "dual ray flipped when b.y > 0 instead of < 0 (Farkas certificate of wrong orientation)"),
    M("highs_phase_one_tolerance", "backend_highs.py",
      "infeasible = violation > INFEASIBILITY_GAP",
      "infeasible = violation > -INFEASIBILITY_GAP",
      "large-batch phase 1: a violation above -gap (i.e. any) declares infeasibility"),
    # ---- backend_cvxpy.py ---------------------------------------------------------------------
    M("cvxpy_eq_dual_sign", "backend_cvxpy.py",
      "y_eq = -_dual(cons[-1], A_eq.shape[0])",
      "y_eq = _dual(cons[-1], A_eq.shape[0])",
      "cvxpy equality duals not negated into the LP layer's sign convention"),
    M("cvxpy_ge_reversed", "backend_cvxpy.py",
      "cons.append(A_ge @ x >= b_ge)",
      "cons.append(A_ge @ x <= b_ge)",
      "cvxpy model: >= rows built as <="),
    # ---- min_pay.py ---------------------------------------------------------------------------
    M("minpay_ic_margin_sign", "min_pay.py",
      "b_ge = ci[:, None] - c[rows[:, None], others] + ic_margin",
      "b_ge = ci[:, None] - c[rows[:, None], others] - ic_margin",
      "IC margin epsilon subtracted instead of added"),
    M("minpay_participation_sign", "min_pay.py",
      "b_ge = np.concatenate([b_ge, (ci + participation)[:, None]], axis=1)",
      "b_ge = np.concatenate([b_ge, (ci - participation)[:, None]], axis=1)",
      "participation row F_i t >= c_i - U_0 instead of c_i + U_0"),
    M("minpay_ic_row_flipped", "min_pay.py",
      "A_ge = Fi[:, None, :] - Fk\n",
      "A_ge = Fk - Fi[:, None, :]\n",
      "IC rows built as (F_k - F_i) t >= c_i - c_k (flipped sign)"),
    M("minpay_skip_last_ic", "min_pay.py",
      "    b_ge = ci[:, None] - c[rows[:, None], others] + ic_margin\n",
      "    b_ge = ci[:, None] - c[rows[:, None], others] + ic_margin\n"
      "    A_ge[:, -1] = 0.0\n    b_ge[:, -1] = 0.0\n",
      "the IC row against the last other action is left out (0 >= 0)"),
    M("minpay_slack_sign", "min_pay.py",
      "slacks = utilities[action] - utilities",
      "slacks = utilities - utilities[action]",
      "evidence field ic_slacks reported with the wrong sign"),
    # ---- min_pay_vertex.py --------------------------------------------------------------------
    M("vertex_two_action_argmax", "min_pay_vertex.py",
      "j = np.argmax(unit <= (umin",
      "j = np.argmax(unit >= (umin",
      "two-action closed form: the cheapest-outcome test reversed (pays on the first outcome, not the best "
      "likelihood ratio)"),
    M("vertex_zero_contract_any", "min_pay_vertex.py",
      "found = (b <= feasibility_tol * scale_b).all(axis=0)",
      "found = (b <= feasibility_tol * scale_b).any(axis=0)",
      "zero contract accepted when any (not every) IC row holds"),
    M("vertex_skip_last_row", "min_pay_vertex.py",
      "        for row in range(r):                                               # IC slack of every row",
      "        for row in range(r - 1):                                           # IC slack of every row",
      "vertex enumeration: feasibility of the last IC row not checked (off by one)"),
    M("vertex_tie_tolerance_sign", "min_pay_vertex.py",
      "better = finite & (pay_k < best_pay - payment_tie_scale(pay_k, finite, tie_tol))",
      "better = finite & (pay_k < best_pay + payment_tie_scale(pay_k, finite, tie_tol))",
      "larger supports replace an equal-payment vertex (tie tolerance on the wrong side)"),
    # ---- implementability.py ------------------------------------------------------------------
    M("impl_tolerance_direction", "implementability.py",
      "if advantage < -tol * spread and lam[action] < 1.0 - 1e-12:",
      "if advantage < tol * spread and lam[action] < 1.0 - 1e-12:",
      "a combination only as cheap (within tol) already refutes implementability"),
    M("impl_advantage_sign", "implementability.py",
      "advantage = c - c[np.arange(B), actions][:, None]",
      "advantage = c[np.arange(B), actions][:, None] - c",
      "convex-combination LP maximises instead of minimises the cost advantage"),
    # ---- optimal.py ---------------------------------------------------------------------------
    M("optimal_tie_highest", "optimal.py",
      "a = int(np.flatnonzero(utilities >= best - tol)[0])",
      "a = int(np.flatnonzero(utilities >= best - tol)[-1])",
      "ties in principal utility go to the highest index"),
    M("optimal_cost_twice", "optimal.py",
      "problem.expected_rewards - np.where(np.isfinite(pay), pay, 0.0)",
      "problem.expected_rewards - problem.costs - np.where(np.isfinite(pay), pay, 0.0)",
      "principal utility R_i - c_i - MINPAY(i) (cost subtracted as in welfare)"),
    # ---- linear.py ----------------------------------------------------------------------------
    M("linear_start_lowest_slope", "linear.py",
      "start = np.flatnonzero(intercepts[order] == top)[-1]",
      "start = np.flatnonzero(intercepts[order] == top)[0]",
      "envelope at alpha = 0 starts with the lowest-R cheapest action (tie against the principal)",
      equivalent="the lines are sorted by increasing slope, so the highest-slope line b among those of top "
                 "intercept comes later in the scan; it crosses every line on the stack at alpha <= 0 and pops "
                 "them all (the bottom one at exactly 0, float-exact), leaving [b] as the original does; "
                 "300,000 random inputs gave identical envelopes"),
    M("linear_hull_strict", "linear.py",
      "if len(hull) >= 2 and x_ak <= _crossing(slopes, intercepts, hull[-2], a):",
      "if len(hull) >= 2 and x_ak < _crossing(slopes, intercepts, hull[-2], a):",
      "lines through a common crossing point are kept on the envelope"),
    M("linear_alpha_open", "linear.py",
      "inside = alphas <= 1.0",
      "inside = alphas < 1.0",
      "critical value alpha = 1 dropped (open instead of closed interval)"),
    # ---- best_response.py ---------------------------------------------------------------------
    M("br_tie_adversarial", "best_response.py",
      'scores = principal[best] if tie_break == "principal" else -principal[best]',
      'scores = -principal[best] if tie_break == "principal" else principal[best]',
      "agent ties broken adversarially when the principal's favour is asked for (and vice versa)"),
    # ---- stackelberg.py -----------------------------------------------------------------------
    M("stackelberg_tie_highest", "stackelberg.py",
      "return int(np.flatnonzero(values >= best - tie_tol * max(1.0, abs(best)))[0])",
      "return int(np.flatnonzero(values >= best - tie_tol * max(1.0, abs(best)))[-1])",
      "tied follower actions: highest index instead of lowest"),
    M("stackelberg_payoff_tol_direction", "stackelberg.py",
      "A_ge[np.abs(A_ge) <= payoff_tol * max(1.0, float(np.abs(B).max()))] = 0.0",
      "A_ge[np.abs(A_ge) >= payoff_tol * max(1.0, float(np.abs(B).max()))] = 0.0",
      "payoff differences above (not below) the tolerance zeroed: every IC row dropped"),
    M("stackelberg_eval_adversarial", "stackelberg.py",
      "pick = int(np.argmax(leader))",
      "pick = int(np.argmin(leader))",
      "leader_payoff_with_best_response: follower ties broken against the leader"),
    # ---- grossman_hart.py ---------------------------------------------------------------------
    M("gh_reservation_sign", "grossman_hart.py",
      "rhs = [np.array([c[action] + u0]), c[action] - c[kept]]",
      "rhs = [np.array([c[action] - u0]), c[action] - c[kept]]",
      "IR row with -U_0 instead of +U_0"),
    M("gh_duplicate_rows_weakest", "grossman_hart.py",
      'order = np.argsort(-rhs[1], kind="stable")',
      'order = np.argsort(rhs[1], kind="stable")',
      "duplicate IC rows: the weakest right-hand side kept (binding IC row left out)"),
    M("gh_tie_highest", "grossman_hart.py",
      "i = int(np.flatnonzero(values >= best - tie_tol * max(1.0, abs(best)))[0])",
      "i = int(np.flatnonzero(values >= best - tie_tol * max(1.0, abs(best)))[-1])",
      "optimal action under risk aversion: ties to the highest index"),
    # ---- spe.py -------------------------------------------------------------------------------
    M("spe_principal_no_discount", "spe.py",
      "gross = _weighted(O, mdp.principal_rewards[rows] + gamma * continuation(mdp, rows, vp))",
      "gross = _weighted(O, mdp.principal_rewards[rows] + continuation(mdp, rows, vp))",
      "principal continuation value not discounted (dropped gamma)"),
    M("spe_agent_no_discount", "spe.py",
      "agent_q = mdp.agent_rewards[rows] + gamma * _weighted(O, continuation(mdp, rows, va))",
      "agent_q = mdp.agent_rewards[rows] + _weighted(O, continuation(mdp, rows, va))",
      "agent continuation value not discounted (dropped gamma)"),
    M("spe_two_action_tie_highest", "spe.py",
      "second = ~tied[:, 0] & tied[:, 1]",
      "second = tied[:, 1]",
      "two-action backup: principal ties go to action 1 (highest index)"),
    # ---- pamdp_policy.py ----------------------------------------------------------------------
    M("pamdp_bound_drop_factor", "pamdp_policy.py",
      "bound = float(np.max(np.abs(rhs - M @ V))) / (1.0 - mdp.discount)",
      "bound = float(np.max(np.abs(rhs - M @ V)))",
      "a-posteriori bound of the linear solve without the 1/(1-gamma) factor"),
    M("pamdp_tie_swapped", "pamdp_policy.py",
      'score = qp if tie_break == "principal" else -qp',
      'score = -qp if tie_break == "principal" else qp',
      "agent ties: adversarial instead of principal (and vice versa)"),
    M("pamdp_horizon_off_by_one", "pamdp_policy.py",
      "    for t in range(H - 1, -1, -1):\n        rec[t], contract = contract_policy.at_step(t)",
      "    for t in range(H - 1, 0, -1):\n        rec[t], contract = contract_policy.at_step(t)",
      "finite-horizon agent best response skips step 0 (off-by-one horizon)"),
    M("pamdp_improve_tolerance", "pamdp_policy.py",
      "improve = score.max(axis=1) > score[states, policy] + tol",
      "improve = score.max(axis=1) > score[states, policy] - tol",
      "principal-side policy iteration switches on ties (tolerance on the wrong side)"),
    # ---- meta_algorithm.py --------------------------------------------------------------------
    M("meta_bound_drop_factor", "meta_algorithm.py",
      "bound = g / (1.0 - g) * step if g > 0 else 0.0",
      "bound = step if g > 0 else 0.0",
      "fixed-point stopping bound without the gamma/(1-gamma) factor"),
    M("meta_horizon_off_by_one", "meta_algorithm.py",
      "nxt_p = vp[t + 1] if t + 1 < H else np.zeros(S)",
      "nxt_p = vp[t] if t + 1 < H else np.zeros(S)",
      "finite-horizon principal step reads the continuation of the same step (off by one)"),
    M("meta_policy_diff_actions_only", "meta_algorithm.py",
      "diff = (a.action != b.action) | (np.abs(a.contract - b.contract).max(axis=-1) > POLICY_TOL)",
      "diff = (a.action != b.action)",
      "convergence test ignores changed contracts (only actions compared)"),
    M("meta_iteration_budget_off_by_one", "meta_algorithm.py",
      "for k in range(1, max_iter + 1):",
      "for k in range(1, max_iter):",
      "meta-algorithm runs one iteration fewer than its budget"),
    # ---- exact.py -----------------------------------------------------------------------------
    M("exact_tie_highest", "exact.py",
      "a = max(candidates, key=lambda k: (utilities[k], -k))",
      "a = max(candidates, key=lambda k: (utilities[k], k))",
      "exact optimal action: ties to the highest index"),
    M("exact_agent_utility_sign", "exact.py",
      "best.expected_payment - c[a], table, utilities)",
      "best.expected_payment + c[a], table, utilities)",
      "exact agent utility reported as payment + cost"),
    # ---- exact_lp.py --------------------------------------------------------------------------
    M("exact_lp_farkas_weak", "exact_lp.py",
      "and all(v <= 0 for v in g) and dot(b, y) > 0:",
      "and all(v <= 0 for v in g) and dot(b, y) >= 0:",
      "exact Farkas check accepts b.y = 0 (strict inequality made weak)",
      equivalent="reached only when the phase-1 optimum (sum of artificials) is > 0, and b.y of the exact "
                 "phase-1 duals equals that optimum, so b.y > 0 always holds there"),
    M("exact_lp_skip_strong_duality", "exact_lp.py",
      "if primal and dual_ok and dot(cost, xs) == dot(b, y):",
      "if primal and dual_ok:",
      "exact LP optimum accepted without checking equal objectives",
      equivalent="x and y = c_B B^-1 come from the same exact basis, so c.x = c_B B^-1 b = b.y by construction"),
    M("exact_lp_dual_feasibility_reversed", "exact_lp.py",
      "cost[j] - sum((y[r] * A[r][j] for r in range(R)), zero) >= 0 for j in range(nv))",
      "cost[j] - sum((y[r] * A[r][j] for r in range(R)), zero) <= 0 for j in range(nv))",
      "exact dual feasibility (reduced costs >= 0) checked reversed"),
    # ---- certify.py ---------------------------------------------------------------------------
    M("certify_primal_rows_reversed", "certify.py",
      "bad = [r for r in range(R) if _dot(A[r], t) < b[r]]",
      "bad = [r for r in range(R) if _dot(A[r], t) > b[r]]",
      "exact certificate: primal rows a_r t >= b_r checked reversed"),
    M("certify_dual_feasible_reversed", "certify.py",
      "over = [j for j in range(m) if lhs[j] > Fi[j]]",
      "over = [j for j in range(m) if lhs[j] < Fi[j]]",
      "exact certificate: dual feasibility sum y_r a_r <= F_i checked reversed"),
    M("certify_weak_duality_only", "certify.py",
      'Check("F_i·t == Σ y_r b_r", pv == dv, True,',
      'Check("F_i·t == Σ y_r b_r", pv >= dv, True,',
      "exact certificate: equal objectives replaced by weak duality",
      equivalent="t_J solves M t_J = b_B and y_B solves M^T y_B = F_i[J] exactly (Fractions) for the same square "
                 "M, so F_i.t = (M^T y_B).t_J = y_B.(M t_J) = y_B.b_B: pv == dv always holds, and so does pv >= dv"),
    M("certify_farkas_short_reversed", "certify.py",
      "short = [j for j in range(m) if lamF[j] < F[i][j]]",
      "short = [j for j in range(m) if lamF[j] > F[i][j]]",
      "exact Farkas witness: lambda F >= F_i checked reversed"),
    M("certify_farkas_cost_weak", "certify.py",
      'Check("λ·c < c_i + ε", cost < c[i] + eps, True,',
      'Check("λ·c < c_i + ε", cost <= c[i] + eps, True,',
      "exact Farkas witness: lambda c < c_i + eps made weak"),
    M("certify_dual_sign_reversed", "certify.py",
      "ny = [r for r in range(R) if y[r] < 0]",
      "ny = [r for r in range(R) if y[r] > 0]",
      "exact certificate: y >= 0 checked as y <= 0"),
]


def MP(name, path, old, new, description, equivalent=None) -> Mutation:
    """A mutation of a module anywhere in the package: ``path`` from the repository root (``M`` is the
    short form for ``contractlab/solvers/``)."""
    return Mutation(name, path, old, new, description, equivalent)


NO_REGRET = "contractlab/learning/no_regret/"

# ---- no-regret learners, self-play and games (issue 12); killed by the regret.* and games.* theorems
CATALOGUE += [
    MP("hedge_eta_sign_blocks", NO_REGRET + "hedge.py",
       "np.multiply(out, -state.eta, out=out)",
       "np.multiply(out, state.eta, out=out)",
       "Hedge block_weights: exp(+eta L) (learning rate with the wrong sign; the time-vectorised path)"),
    MP("hedge_eta_sign_steps", NO_REGRET + "hedge.py",
       "np.multiply(w, -state.eta, out=w)",
       "np.multiply(w, state.eta, out=w)",
       "Hedge weights: exp(+eta L) (learning rate with the wrong sign; the round-by-round path)"),
    MP("hedge_tuned_rate_factor", NO_REGRET + "hedge.py",
       'return math.sqrt(8.0 * math.log(self.n_actions) / check_count("horizon", horizon))',
       'return math.sqrt(math.log(self.n_actions) / check_count("horizon", horizon))',
       "Hedge tuned rate sqrt(ln K / T): the factor 8 dropped"),
    MP("exp3_no_importance_weight", NO_REGRET + "exp3.py",
       "state.estimates[state.runs, actions] += losses / p",
       "state.estimates[state.runs, actions] += losses",
       "EXP3 estimate adds the raw loss, without dividing by the probability of the action played"),
    MP("exp3_eta_sign", NO_REGRET + "exp3.py",
       "w *= -state.eta",
       "w *= state.eta",
       "EXP3 weights exp(+eta L_hat) (learning rate with the wrong sign)"),
    MP("ucb1_loss_as_reward", NO_REGRET + "ucb1.py",
       "state.reward_sums[state.runs, actions] += 1.0 - losses",
       "state.reward_sums[state.runs, actions] += losses",
       "UCB1 index built on the mean loss instead of the mean reward"),
    MP("rm_plus_no_clip", NO_REGRET + "regret_matching.py",
       "        if self.plus:\n            np.maximum(state.regrets, 0.0, out=state.regrets)",
       "        if self.plus:\n            pass",
       "RM+ does not clip its cumulative regrets at 0 (it is plain regret matching)"),
    MP("rm_wrong_normaliser", NO_REGRET + "regret_matching.py",
       'mixed = np.einsum("rk,rk->r", state.w, losses) / state.total',
       'mixed = np.einsum("rk,rk->r", state.w, losses) / self.n_actions',
       "regret matching: the mixed loss normalised by K instead of the sum of the weights"),
    MP("self_play_payoffs_as_losses", NO_REGRET + "self_play.py",
       "loss1, loss2 = (a_top - v1) / a_span, (b_top - v2) / b_span",
       "loss1, loss2 = (v1 - a_top) / a_span + 1.0, (v2 - b_top) / b_span + 1.0",
       "self-play hands the learners rescaled payoffs where they expect losses"),
    MP("self_play_regret_min", NO_REGRET + "self_play.py",
       "regret[:, h, 0] = U1.max(axis=1) - got[:, 0]",
       "regret[:, h, 0] = U1.min(axis=1) - got[:, 0]",
       "self-play: the row player's regret against the worst fixed action instead of the best"),
    M("cce_constraint_reversed", "cce.py",
      "A_ge=np.broadcast_to(-G, (n, *G.shape)).copy()",
      "A_ge=np.broadcast_to(G, (n, *G.shape)).copy()",
      "CCE LP: deviation gains >= -eps instead of <= eps (constraint reversed)"),
    M("cce_min_epsilon_floor_sign", "cce.py",
      "return float(sol.objective[0] + gain_floor(game)), ",
      "return float(sol.objective[0] - gain_floor(game)), ",
      "smallest CCE epsilon: the shift of the LP variable undone with the wrong sign"),
    M("zero_sum_dual_sign", "cce.py",
      "q = _distribution(sol.y_ge[0], ",
      "q = _distribution(-sol.y_ge[0], ",
      "zero-sum game: the column strategy read from the duals with the wrong sign"),
    M("zero_sum_value_shift_sign", "cce.py",
      "float(sol.objective[0] + (M.min() - 1.0))",
      "float(sol.objective[0] - (M.min() - 1.0))",
      "zero-sum game value: the shift of the value variable undone with the wrong sign"),
    M("zero_sum_row_sign", "cce.py",
      "A_ge = np.concatenate([-M0.T, np.ones((l, 1))], axis=1)",
      "A_ge = np.concatenate([M0.T, np.ones((l, 1))], axis=1)",
      "zero-sum LP: the column rows v' + M[:, j].p >= 0 (sign of the payoff flipped)"),
]


LEARNING = "contractlab/learning/"

# ---- issue 12, second part: the two-phase mechanism and its episode core, the welfare DP, steering in
# games, online contracts; killed by the two_phase.*, welfare.*, steering_games.* and online_contract.* theorems
CATALOGUE += [
    MP("two_phase_hi_on_wrong_response", LEARNING + "two_phase.py",
       "hi = np.where(is_star[..., None], np.minimum(hi, gb), hi)",
       "hi = np.where(((resp >= 0) & ~is_star)[..., None], np.minimum(hi, gb), hi)",
       "Phase 1 lowers the upper ends when the agent plays a competitor (instead of the target)"),
    MP("two_phase_final_at_midpoint", LEARNING + "two_phase.py",
       "contract, ok = _min_pay(m, a_star, hi + cfg.margin)",
       "contract, ok = _min_pay(m, a_star, (lo + hi) / 2 + cfg.margin)",
       "Phase 2 posts MIN-PAY for the bracket midpoints (may undercut the true advantages)"),
    MP("two_phase_margin_dropped", LEARNING + "two_phase.py",
       "contract, ok = _min_pay(m, a_star, hi + cfg.margin)",
       "contract, ok = _min_pay(m, a_star, hi)",
       "Phase 2 forgets the IC margin"),
    MP("two_phase_prior_without_later_transfers", LEARNING + "two_phase.py",
       "later = sum(g ** k for k in range(1, H - t)) * np.maximum(0.0, later_max)",
       "later = 0.0 * later_max",
       "the prior bound C_t on the advantages leaves out the later steps' transfers"),
    MP("sim_welfare_undiscounted", "contractlab/theory/externality_sim.py",
       "qw = w_sa + g * np.matmul(O, cont[..., None])[..., 0]",
       "qw = w_sa + np.matmul(O, cont[..., None])[..., 0]",
       "episode core: the expected welfare of a policy ignores the discount"),
    MP("sim_agent_q_without_transfers", "contractlab/theory/externality_sim.py",
       "cont_a = transfers[:, t] + g * (V_next @ Pt).reshape(R, S1, K)",
       "cont_a = g * (V_next @ Pt).reshape(R, S1, K)",
       "episode core: the agent's action values leave out the posted transfers"),
    M("welfare_dp_undiscounted", "welfare.py",
      "q[t] = r + _expected(O, e + g * continuation(mdp, everything, W))",
      "q[t] = r + _expected(O, e + continuation(mdp, everything, W))",
      "welfare-optimal DP ignores the discount"),
    MP("steering_payment_not_floored", LEARNING + "steering.py",
       "return np.maximum(0.0, delta - m1), np.maximum(0.0, delta - m2)",
       "return delta - m1, np.maximum(0.0, delta - m2)",
       "steering in games: the row player's payment may be negative (a fine)"),
    MP("online_contract_regret_sign", LEARNING + "online_contract.py",
       "regret = np.cumsum(best.principal_utility - expected, axis=1)",
       "regret = np.cumsum(expected - best.principal_utility, axis=1)",
       "online contracts: the pseudo-regret with the wrong sign"),
]


# ---- issue 13: games with incentives, their exact references, the meta-gradient designer and its
# baselines, the taxed economy; killed by the incentives.*, metagrad.* and tax.* theorems (the torch
# designers, which verify cannot import on a core install, by the test suite)
CATALOGUE += [
    M("incentive_dp_myopic", "incentive_optimum.py",
      "q[t] = w + _lookup(W, game.next_state)",
      "q[t] = w + 0.0 * _lookup(W, game.next_state)",
      "welfare DP of a game with incentives forgets the continuation (myopic joint policy)"),
    M("incentive_lp_payment_sign", "incentive_optimum.py",
      "A[rr[paid], t[paid]] -= 1.0",
      "A[rr[paid], t[paid]] += 1.0",
      "Nash incentives LP: the incentive enters the agent's Bellman rows with the wrong sign"),
    MP("escape_room_game_strict_lever", "contractlab/theory/escape_room.py",
       "opened = n_lever >= m                                          # (A,)",
       "opened = n_lever > m                                           # (A,)",
       "Escape Room as a Markov game: the door needs more than M agents at the lever"),
    MP("closed_form_alpha_dropped", LEARNING + "lookahead_closed_form.py",
       "d_eta = -cost_weight * q + alpha * p * (dtheta_hat - p @ dtheta_hat)   # + α M_i (M̂_i u)",
       "d_eta = -cost_weight * q + p * (dtheta_hat - p @ dtheta_hat)   # + α M_i (M̂_i u)",
       "closed-form meta-gradient drops the agents' step size α from dθ̂/dη"),
    MP("closed_form_cost_sign", LEARNING + "lookahead_closed_form.py",
       "u = marginal(welfare, pis_hat, i) - cost_weight * etas[i]",
       "u = marginal(welfare, pis_hat, i) + cost_weight * etas[i]",
       "closed-form meta-gradient: the incentives paid count as a gain, not a cost"),
    MP("metagrad_lookahead_sign", LEARNING + "meta_gradient.py",
       "    return pg.step(theta, grads, config.agents.lr)",
       "    return pg.step(theta, grads, -config.agents.lr)",
       "the designer differentiates a descent step of the agents (they ascend)"),
    MP("amd_step_size_dropped", LEARNING + "incentive_baselines.py",
       "return W + config.agents.lr * lin - config.cost_weight * paid, gJ",
       "return W + lin - config.cost_weight * paid, gJ",
       "AMD's first-order expansion forgets the agents' step size"),
    MP("tax_cutoff_rates_shifted", "contractlab/theory/tax_economy.py",
       "below = r[..., :-1] * np.diff(b)",
       "below = r[..., 1:] * np.diff(b)",
       "tax due at a cutoff charges each bracket at the next bracket's rate"),
    M("tax_intercept_sign", "tax_planner.py",
      "intercept = lump_sum[:, None, None] + (rates * cutoffs - tax_at_cutoffs(cutoffs, rates))[:, None, :]",
      "intercept = lump_sum[:, None, None] + (rates * cutoffs + tax_at_cutoffs(cutoffs, rates))[:, None, :]",
      "exact best response: consumption on a bracket adds the tax below it instead of subtracting"),
]


# ---- issue 14: the exact Coin Game and its least recommendation payments; killed by the coin.* theorems
CATALOGUE += [
    M("coin_every_action_other_reward", "coin_game_exact.py",
      "q = _agent_view((tb.rewards[..., i] + cont[..., i]).reshape(S, n, n), i)   # (S, a_i, a_j)",
      "q = _agent_view((tb.rewards[..., 1 - i] + cont[..., i]).reshape(S, n, n), i)   # (S, a_i, a_j)",
      "every-action payments computed on the other agent's reward"),
    M("coin_tables_respawn_first_cell", "coin_game_exact.py",
      "prob[..., k] = np.where(ok, 1.0 / nfree, 0.0)",
      "prob[..., k] = np.where(ok & (k == 0), 1.0, 0.0)",
      "exact tables: the coin respawns at the first free cell (the continuation not expected over the respawn)"),
    M("coin_paper_payment_mean", "coin_game_exact.py",
      "table = br.q.max(axis=2, keepdims=True) - br.q",
      "table = br.q.mean(axis=2, keepdims=True) - br.q",
      "paper payments b_i = mean_a Q_i − Q_i(a_i) instead of max_a Q_i − Q_i(a_i)"),
    M("coin_lp_follow_side_sign", "coin_game_lp.py",
      "continuation(0, t_r, s_r, fol, 1.0)",
      "continuation(0, t_r, s_r, fol, -1.0)",
      "payment LP: the continuation after following enters the dominance rows with the wrong sign"),
    M("coin_lp_objective_horizon_short", "coin_game_lp.py",
      "    for t in range(H - 1):\n        a = policy[t]\n        np.add.at(d[t + 1]",
      "    for t in range(H - 2):\n        a = policy[t]\n        np.add.at(d[t + 1]",
      "payment LP: the state distribution of the objective stops one step early (last step's payments free)"),
]


# ---------------------------------------------------------------------------------------------
# running


def check_entry(mut: Mutation) -> str | None:
    """``None`` if the snippet occurs exactly once in the module, else why the entry is stale."""
    path = ROOT / mut.module
    if not path.is_file():
        return f"module {mut.module} not found"
    n = path.read_text(encoding="utf-8").count(mut.old)
    if n != 1:
        return f"snippet occurs {n} times in {mut.module} (must be exactly once)"
    return None


def _copy_package(dest: Path, with_tests: bool) -> None:
    """Copy the package to ``dest``; with ``with_tests`` the whole repository tree (tests read the
    README, ``docs/`` and ``benchmarks/``), without ``.git``, virtual environments and caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".venv", "venv", "build", "*.egg-info",
                                    ".hypothesis", ".pytest_cache", ".mypy_cache")
    if not with_tests:
        shutil.copytree(PACKAGE, dest / "contractlab", ignore=ignore)
        return
    for item in ROOT.iterdir():
        if ignore(str(ROOT), [item.name]):
            continue
        if item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=ignore)
        elif item.is_file():
            shutil.copy2(item, dest / item.name)


def _env(tmp: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tmp)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.pop("PYTHONSTARTUP", None)
    return env


def check_import(python: str) -> str:
    """Assert that a child with ``PYTHONPATH=<tmp>`` imports the copy in ``<tmp>``."""
    with tempfile.TemporaryDirectory(prefix="mutation-check-") as d:
        tmp = Path(d).resolve()
        _copy_package(tmp, with_tests=False)
        out = subprocess.run([python, "-c", "import contractlab; print(contractlab.__file__)"], cwd=tmp,
                             env=_env(tmp), capture_output=True, text=True, timeout=120)
        got = out.stdout.strip()
        if out.returncode != 0 or not Path(got).resolve().is_relative_to(tmp):
            raise SystemExit(f"mutation.py: the child imports contractlab from {got!r}, not from the "
                             f"temporary copy {tmp} (stderr: {out.stderr.strip()[-500:]})")
        return got


def _failed_theorems(path: Path) -> list[str] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return [t["id"] for t in doc.get("theorems", []) if not t.get("passed", False)]


def _tail(text: str, n: int = 300) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[-n:]


def _failed_tests(stdout: str) -> list[str]:
    """Node ids of the failing tests in ``pytest -rfE`` output."""
    out = []
    for ln in stdout.splitlines():
        if ln.startswith(("FAILED ", "ERROR ")):
            out.append(ln.split(" ", 1)[1].split(" - ", 1)[0].strip())
    return out


def run_suite(tmp: Path, args) -> tuple[str, list[str], str]:
    """Run the test suite in ``tmp``: ``("killed"|"survived", failing ids, detail)``."""
    pcmd = [args.python, "-m", "pytest", "-x", "-q", "-rfE", "--hypothesis-profile=ci", "-p", "no:cacheprovider",
            "--rootdir", str(tmp), "tests/"]
    try:
        tp = subprocess.run(pcmd, cwd=tmp, env=_env(tmp), capture_output=True, text=True, timeout=args.timeout)
    except subprocess.TimeoutExpired:
        return "killed", ["tests-timeout"], f"pytest exceeded {args.timeout:g} s"
    if tp.returncode == 0:
        return "survived", [], ""
    failed = _failed_tests(tp.stdout) or ["tests"]
    return "killed", failed, f"pytest exit {tp.returncode}: {_tail(tp.stdout)}"


def control_suite(args) -> None:
    """The suite must pass on an unmutated copy, or every kill in ``--suite`` mode would be false."""
    with tempfile.TemporaryDirectory(prefix="mutation-control-") as d:
        tmp = Path(d).resolve()
        _copy_package(tmp, with_tests=True)
        t0 = time.perf_counter()
        outcome, failed, detail = run_suite(tmp, args)
        if outcome != "survived":
            raise SystemExit(f"mutation.py: the test suite fails on the unmutated copy ({', '.join(failed)}; "
                             f"{detail}); fix that before measuring its kill rate")
        print(f"control: the suite passes on the unmutated copy ({time.perf_counter() - t0:.0f} s)",
              file=sys.stderr, flush=True)


def run_one(mut: Mutation, args) -> dict:
    t0 = time.perf_counter()
    row = {"name": mut.name, "module": mut.module, "description": mut.description,
           "equivalent": mut.equivalent, "outcome": None, "killed_by": [], "detail": "", "seconds": 0.0}
    with tempfile.TemporaryDirectory(prefix=f"mutation-{mut.name}-") as d:
        tmp = Path(d).resolve()
        _copy_package(tmp, with_tests=args.tests or args.suite)
        target = tmp / mut.module
        src = target.read_text(encoding="utf-8")
        if src.count(mut.old) != 1:
            row.update(outcome="stale", detail=f"snippet occurs {src.count(mut.old)} times")
            return row
        target.write_text(src.replace(mut.old, mut.new), encoding="utf-8")
        if args.suite:
            outcome, failed, detail = run_suite(tmp, args)
            row.update(outcome=outcome, killed_by=failed, detail=detail, seconds=time.perf_counter() - t0)
            return row
        out = tmp / "r.json"
        cmd = [args.python, "-m", "contractlab", "verify", "--no-progress", "--out", str(out)]
        if args.count is not None:
            cmd += ["--count", str(args.count)]
        if args.seed is not None:
            cmd += ["--seed", str(args.seed)]
        for tid in args.theorem or ():
            cmd += ["--theorem", tid]
        try:
            proc = subprocess.run(cmd, cwd=tmp, env=_env(tmp), capture_output=True, text=True,
                                  timeout=args.timeout)
        except subprocess.TimeoutExpired:
            row.update(outcome="killed", killed_by=["timeout"], detail=f"verify exceeded {args.timeout:g} s",
                       seconds=time.perf_counter() - t0)
            return row
        failed = _failed_theorems(out)
        if proc.returncode != 0:
            if failed:
                row.update(outcome="killed", killed_by=failed)
            else:
                row.update(outcome="killed", killed_by=["crash"],
                           detail=f"verify exit {proc.returncode}: {_tail(proc.stderr or proc.stdout)}")
        else:
            row["outcome"] = "survived"
        if args.tests and row["outcome"] == "survived":
            outcome, failed, detail = run_suite(tmp, args)
            if outcome == "killed":
                row.update(outcome="killed", killed_by=["tests"] + [f for f in failed if f != "tests"],
                           detail=detail)
    row["seconds"] = time.perf_counter() - t0
    return row


# ---------------------------------------------------------------------------------------------
# output


def _killers(row: dict, limit: int = 4) -> str:
    k = row["killed_by"]
    if not k:
        return ""
    more = f" (+{len(k) - limit})" if len(k) > limit else ""
    return ", ".join(k[:limit]) + more


def _verdict(row: dict) -> str:
    if row["outcome"] == "killed":
        kind = row["killed_by"][0] if row["killed_by"][0] in ("crash", "timeout", "tests", "tests-timeout") else ""
        v = "killed" + (f" ({kind})" if kind else "")
    else:
        v = row["outcome"]
    return v + (" [equivalent]" if row["equivalent"] else "")


def summary(rows: list[dict]) -> tuple[int, int, list[dict], list[dict]]:
    ran = [r for r in rows if r["outcome"] in ("killed", "survived")]
    counted = [r for r in ran if not r["equivalent"]]
    killed = [r for r in counted if r["outcome"] == "killed"]
    survivors = [r for r in counted if r["outcome"] == "survived"]
    stale = [r for r in rows if r["outcome"] == "stale"]
    return len(killed), len(counted), survivors, stale


def print_markdown(rows: list[dict]) -> None:
    print("| mutation | module | result | killed by | seconds |")
    print("|---|---|---|---|---:|")
    for r in rows:
        mod = r["module"].removeprefix(SOLVERS)
        print(f"| `{r['name']}` | {mod} | {_verdict(r)} | {_killers(r)} | {r['seconds']:.1f} |")
    killed, counted, survivors, stale = summary(rows)
    rate = f"{killed / counted:.0%}" if counted else "n/a"
    print()
    print(f"**Kill rate: {killed}/{counted} = {rate}** (killed / non-equivalent mutants run)")
    print()
    print("Survivors: " + (", ".join(f"`{r['name']}` ({r['description']})" for r in survivors) or "none"))
    if stale:
        print()
        print("Stale entries (not run): " + ", ".join(f"`{r['name']}` ({r['detail']})" for r in stale))


def print_rich(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table
    console = Console()
    table = Table(title="contractlab verify vs planted solver bugs")
    for col, kw in (("mutation", {}), ("module", {}), ("result", {}), ("killed by", {}),
                    ("seconds", {"justify": "right"})):
        table.add_column(col, **kw)
    for r in rows:
        style = {"killed": "green", "survived": "bold red", "stale": "yellow"}.get(r["outcome"], "")
        table.add_row(r["name"], r["module"].removeprefix(SOLVERS), f"[{style}]{_verdict(r)}[/{style}]",
                      _killers(r), f"{r['seconds']:.1f}")
    console.print(table)
    killed, counted, survivors, stale = summary(rows)
    rate = f"{killed / counted:.0%}" if counted else "n/a"
    console.print(f"Kill rate: {killed}/{counted} = {rate} (killed / non-equivalent mutants run)", highlight=False)
    console.print("Survivors: " + (", ".join(r["name"] for r in survivors) or "none"), highlight=False)
    for r in survivors:
        console.print(f"  {r['name']} ({r['module'].removeprefix(SOLVERS)}): {r['description']}", highlight=False)
    for r in stale:
        console.print(f"[yellow]stale[/yellow] {r['name']}: {r['detail']}", highlight=False)


def print_list(muts: list[Mutation]) -> None:
    for m in muts:
        stale = check_entry(m)
        eq = f"  [equivalent: {m.equivalent}]" if m.equivalent else ""
        st = f"  [STALE: {stale}]" if stale else ""
        print(f"{m.name:38s} {m.module.removeprefix(SOLVERS):20s} {m.description}{eq}{st}")
    per: dict[str, int] = {}
    for m in muts:
        per[m.module] = per.get(m.module, 0) + 1
    print(f"\n{len(muts)} mutations: " + ", ".join(f"{k.removeprefix(SOLVERS)} {v}" for k, v in sorted(per.items())))


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2, help="mutants run in parallel (default 2)")
    p.add_argument("--only", action="append", metavar="NAME", help="run only this mutation (repeatable)")
    p.add_argument("--count", type=int, default=None, help="passed to verify --count")
    p.add_argument("--seed", type=int, default=None, help="passed to verify --seed")
    p.add_argument("--theorem", action="append", metavar="ID",
                   help="passed to verify --theorem (repeatable): check a mutant against these theorems only")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant (default 300)")
    p.add_argument("--tests", action="store_true", help="also run the test suite against surviving mutants")
    p.add_argument("--suite", action="store_true",
                   help="measure the test suite instead of verify: run it on every mutant (after a control run "
                        "on the unmutated copy); killers are the failing test ids")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON here")
    p.add_argument("--list", action="store_true", help="print the catalogue and exit")
    p.add_argument("--python", default=sys.executable, help="interpreter of the children (default: this one)")
    args = p.parse_args(argv)
    if args.workers < 1:
        p.error("--workers must be >= 1")
    if args.suite and (args.tests or args.count is not None or args.seed is not None or args.theorem):
        p.error("--suite measures the test suite alone; --tests/--count/--seed/--theorem apply to verify")
    names = [m.name for m in CATALOGUE]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        p.error(f"duplicate catalogue names: {sorted(dupes)}")
    muts = CATALOGUE
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            p.error(f"unknown mutation(s): {', '.join(unknown)} (see --list)")
        muts = [m for m in CATALOGUE if m.name in set(args.only)]
    if args.list:
        print_list(muts)
        return 0

    where = check_import(args.python)
    print(f"children import the mutated copy (e.g. {where})", file=sys.stderr)
    if args.suite:
        control_suite(args)
    rows: dict[str, dict] = {}
    runnable = []
    for m in muts:
        stale = check_entry(m)
        if stale:
            rows[m.name] = {"name": m.name, "module": m.module, "description": m.description,
                            "equivalent": m.equivalent, "outcome": "stale", "killed_by": [], "detail": stale,
                            "seconds": 0.0}
            print(f"[stale] {m.name}: {stale}", file=sys.stderr)
        else:
            runnable.append(m)
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(run_one, m, args): m for m in runnable}
        for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            m = futures[fut]
            try:
                row = fut.result()
            except Exception as exc:  # the harness itself failed on this mutant: report, keep going
                row = {"name": m.name, "module": m.module, "description": m.description,
                       "equivalent": m.equivalent, "outcome": "error", "killed_by": [],
                       "detail": f"{type(exc).__name__}: {exc}", "seconds": 0.0}
            rows[m.name] = row
            print(f"[{i}/{len(runnable)} {time.perf_counter() - t0:6.0f}s] {m.name}: {_verdict(row)}"
                  f"{' by ' + _killers(row) if row['killed_by'] else ''}"
                  f"{' -- ' + row['detail'] if row['detail'] else ''}", file=sys.stderr, flush=True)
    ordered = [rows[m.name] for m in muts]
    if args.json:
        Path(args.json).write_text(json.dumps(ordered, indent=1), encoding="utf-8")
    if args.markdown:
        print_markdown(ordered)
    else:
        print_rich(ordered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
