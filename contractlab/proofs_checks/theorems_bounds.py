"""What the PA-MDP solvers report about their own answers, checked against the data.

Every quantity a solver reports about itself — an a-posteriori error bound, the number of
iterations a budget allowed, the tie it broke, the payment it called minimal — is compared with
the same quantity recomputed here from the instance by dense linear algebra (exact policy
evaluation, Howard's policy iteration) and by the one-shot MIN-PAY LP, not by the solver code
under test:

* ``bounds.*``: the error bounds of runs *stopped early* (a Krylov solve cut by its time
  budget, value iteration cut after a few sweeps, the principal's fixed-point iteration cut after
  a few iterations or stopped at a loose tolerance) hold against the exact answer, and every
  iteration budget is honoured exactly as documented;
* ``spe.twin_actions_lowest_index`` and ``best_response.twin_ties_stable``: the tie rules as
  documented, on instances where ties are certain because some actions are exact duplicates
  (including states with exactly two actions) or, for the agent, because an action's reward is
  raised to tie exactly with the best one (:func:`with_agent_ties`);
* ``spe.per_state_min_pay``: the payment at every state of the SPE is the one-shot MIN-PAY
  optimum with the continuation values folded into the agent's rewards.

Instances are small discounted PA-MDPs with discounts over ``(0, 1)`` and per-state shifts of
the agent's rewards (:func:`~contractlab.proofs_checks.theorems_pamdp.lively`), so that agent
values and continuations are not degenerate.

Sources: Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, *Principal-Agent Reinforcement Learning*
(arXiv 2407.18074), Section 3 (SPE, minimal implementation, Algorithm 1, the principal's operator
as a ``γ``-contraction); Puterman, *Markov Decision Processes* (Wiley, 1994), Theorem 6.1.1
(``(I − γP)^{-1} = Σ_t γ^t P^t``, so ``||(I − γP)^{-1}||_∞ <= 1/(1 − γ)``), Section 6.3 (value
iteration and its a-posteriori bounds) and Section 6.4 (policy iteration: monotone, finite);
the Banach fixed-point theorem's a-posteriori estimate ``||x_k − x*|| <= γ/(1 − γ)·||x_k − x_{k−1}||``;
Dütting, Roughgarden, Talgam-Cohen, *Simple versus Optimal Contracts* (EC 2019), Section 2, LP (1).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from ..solvers.meta_algorithm import meta_algorithm, principal_fixed_point
from ..solvers.min_pay_vertex import min_pay_all_actions
from ..solvers.pamdp_policy import VI_TOL, agent_best_response, evaluate
from ..solvers.spe import TIE_TOL as PRINCIPAL_TIE_TOL
from ..solvers.spe import solve_spe
from ..theory.contract_policy import ContractPolicy
from ..theory.pamdp import PrincipalAgentMDP
from ..theory.pamdp_families import contractual_rl, random_discounted
from .registry import Evidence, theorem
from .theorems_pamdp import PARL, _finite_families, discounts, lively, pamdp_instances

#: Slack for comparing a reported bound with the error measured against the dense reference
#: solve: that solve's own error is below cond·ε·|V| <= (2/(1−γ))·2.2e-16·60 < 1e-11 on these
#: instances (|V| <= 3/(1−γ), γ <= 0.95), so 1e-9 (times max(1, bound)) is round-off only.
ROUND_OFF = 1e-9
#: Slack for comparing two independently computed LP optima or values built from them (the
#: LP layer verifies its answers to 1e-7 relative; see docs/tolerances.md).
TOL = 1e-7
PUTERMAN = "Puterman, Markov Decision Processes (1994)"
DRT19 = "Dütting, Roughgarden, Talgam-Cohen, Simple versus Optimal Contracts (EC 2019), Section 2, LP (1)"

_SEEDS = st.integers(0, 2**32 - 1)


# --- instances ---------------------------------------------------------------------------

def random_graph(n_states: int, n_actions: int, n_outcomes: int, seed: int) -> PrincipalAgentMDP:
    """A cyclic discounted PA-MDP with deterministic successors: outcome 0 moves around the ring
    ``s -> s + 1 (mod S)``, every other outcome to a uniformly drawn state or, with probability 1/8,
    to the end; Dirichlet outcome rows, effort costs."""
    rng = np.random.default_rng(seed)
    S, A, K = n_states, n_actions, n_outcomes
    O = rng.dirichlet(np.ones(K), size=(S, A))
    r = -rng.uniform(0.0, 1.0, (S, A))
    r[:, 0] = 0.0
    ns = np.where(rng.uniform(0.0, 1.0, (S, K)) < 0.125, -1, rng.integers(0, S, (S, K)))
    ns[:, 0] = (np.arange(S) + 1) % S
    return PrincipalAgentMDP(O, r, rng.uniform(0.0, 1.0, (S, K)), next_state=ns, discount=0.5)


def twinned(mdp: PrincipalAgentMDP, seed: int, insert: bool) -> PrincipalAgentMDP:
    """``mdp`` with exact duplicates among its actions (same outcome row, same agent reward).

    ``insert``: at every state a copy of one of its actions (drawn per state) is inserted at one
    position (drawn once), so there is one more action. Otherwise (or with a single action, which
    has nothing to overwrite) at about half of the states, at least one, one action is overwritten
    by a copy of another: with two actions those states have two identical actions.
    """
    rng = np.random.default_rng(seed)
    S, A = mdp.n_states, mdp.n_actions
    O, r = mdp.outcome_probs.copy(), mdp.agent_rewards.copy()
    states = np.arange(S)
    if insert or A == 1:
        src, pos = rng.integers(0, A, S), int(rng.integers(0, A + 1))
        O = np.concatenate([O[:, :pos], O[states, src][:, None], O[:, pos:]], axis=1)
        r = np.concatenate([r[:, :pos], r[states, src][:, None], r[:, pos:]], axis=1)
    else:
        chosen = rng.uniform(0.0, 1.0, S) < 0.5
        chosen[rng.integers(0, S)] = True
        src = rng.integers(0, A, S)
        dst = (src + rng.integers(1, A, S)) % A
        s = states[chosen]
        O[s, dst[s]] = O[s, src[s]]
        r[s, dst[s]] = r[s, src[s]]
    return PrincipalAgentMDP(O, r, mdp.principal_rewards, transitions=mdp.transitions, next_state=mdp.next_state,
                             discount=mdp.discount, horizon=mdp.horizon, initial_state=mdp.initial_state)


def cyclic_instances():
    """Small discounted cyclic PA-MDPs (1–5 states, 1–3 actions and outcomes), discount drawn over
    (0, 1), agent rewards shifted per state: deterministic successors (a random graph, or outcome =
    next state; their evaluation may use the Krylov solver) and stochastic transitions."""
    return st.builds(lively, st.one_of(
        st.builds(random_graph, st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), _SEEDS),
        st.builds(contractual_rl, st.integers(1, 4), st.integers(1, 3), st.just(0.5), _SEEDS),
        st.builds(random_discounted, st.integers(1, 5), st.integers(1, 3), st.integers(1, 3), st.just(0.5), _SEEDS),
    ), discounts(finite=False), _SEEDS)


def _twin_finite_instances():
    """Trees, DAGs and finite horizons with duplicated actions (both kinds of :func:`twinned`)."""
    return st.builds(twinned, st.builds(lively, _finite_families(), discounts(), _SEEDS), _SEEDS, st.booleans())


def _twin_cyclic_instances():
    """Discounted cyclic instances with duplicated actions (both kinds of :func:`twinned`)."""
    return st.builds(twinned, cyclic_instances(), _SEEDS, st.booleans())


def random_contract_policy(mdp: PrincipalAgentMDP, seed: int) -> ContractPolicy:
    """A stationary contract policy with uniform recommendations and payments in [0, 1]."""
    rng = np.random.default_rng(seed)
    S, K = mdp.n_states, mdp.n_outcomes
    return ContractPolicy(rng.integers(0, mdp.n_actions, S), rng.uniform(0.0, 1.0, (S, K)))


# --- independent reference computations ----------------------------------------------------

def _action_transitions(mdp: PrincipalAgentMDP) -> np.ndarray:
    """``P[s, a, s'] = Σ_o O(s, a, o) P(s' | s, o)`` (dense; an ending outcome contributes nothing)."""
    return np.einsum("sak,skt->sat", mdp.outcome_probs, mdp.successor_matrix())


def exact_values(mdp: PrincipalAgentMDP, actions: np.ndarray, contract: np.ndarray) -> np.ndarray:
    """Columns (principal, agent, payment) of the values of a stationary profile, by one dense
    solve of ``(I − γ P_π) V = r_π`` (Section 3 of PARL: V_p = Σ_o O (r_p − b + γ E V_p),
    V_a = r + Σ_o O (b + γ E V_a))."""
    S = mdp.n_states
    idx = np.arange(S)
    O = mdp.outcome_probs[idx, actions]                                        # (S, K)
    pay = np.einsum("sk,sk->s", O, contract)
    rhs = np.stack([np.einsum("sk,sk->s", O, mdp.principal_rewards) - pay,
                    mdp.agent_rewards[idx, actions] + pay, pay], axis=1)
    P = np.einsum("sk,skt->st", O, mdp.successor_matrix())
    return np.linalg.solve(np.eye(S) - mdp.discount * P, rhs)


def optimal_q(reward: np.ndarray, P: np.ndarray, discount: float) -> tuple[np.ndarray, np.ndarray]:
    """``(V*, Q*)`` of the MDP with rewards ``reward (S, A)`` (``−inf``: action unavailable) and
    transitions ``P (S, A, S)`` by Howard's policy iteration with exact linear solves (Puterman,
    Section 6.4: every round improves, so it ends, at the optimum)."""
    S = reward.shape[0]
    idx = np.arange(S)
    policy = np.argmax(reward, axis=1)
    for _ in range(10_000):
        V = np.linalg.solve(np.eye(S) - discount * P[idx, policy], reward[idx, policy])
        Q = reward + discount * np.einsum("sat,t->sa", P, V)
        best = Q.max(axis=1)
        better = best > Q[idx, policy] + 1e-12 * np.maximum(1.0, np.abs(best))
        if not better.any():
            return V, Q
        policy = np.where(better, np.argmax(Q, axis=1), policy)
    raise AssertionError("reference policy iteration did not end")


def lp_min_pay(O: np.ndarray, agent_q: np.ndarray):
    """The one-shot MIN-PAY LP (DRT19 LP (1)) of every action of every problem: outcome rows
    ``O (P, A, K)``, costs ``−agent_q`` — solved by the LP layer (HiGHS, KKT-verified), not by the
    closed forms or the vertex enumeration the SPE solver uses on small instances."""
    return min_pay_all_actions(O, -agent_q, method="lp")


def principal_mdp(mdp: PrincipalAgentMDP, agent_value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(reward, P)`` of the principal's MDP for fixed agent continuation values: recommending ``a``
    at ``s`` earns ``Σ_o O r_p − MINPAY(s, a)`` (``−inf`` if not implementable), MINPAY of the one-shot
    problem with agent rewards ``Q̄ = r + γ Σ_o O E[V_a]`` (by :func:`lp_min_pay`)."""
    P = _action_transitions(mdp)
    qbar = mdp.agent_rewards + mdp.discount * np.einsum("sat,t->sa", P, agent_value)
    pay = lp_min_pay(mdp.outcome_probs, qbar).expected_payment
    R = np.einsum("sak,sk->sa", mdp.outcome_probs, mdp.principal_rewards)
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(pay), R - np.where(np.isfinite(pay), pay, 0.0), -np.inf), P


def operator_iterates(reward: np.ndarray, P: np.ndarray, discount: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(q_n, q_{n−1})`` of ``q <- reward + γ P max_a q`` from ``q_0 = 0`` (``−inf`` where
    ``reward`` is): the principal's operator of Section 3.2 on her MDP."""
    prev = q = np.where(np.isfinite(reward), 0.0, -np.inf)
    for _ in range(n):
        prev, q = q, reward + discount * np.einsum("sat,t->sa", P, q.max(axis=1))
    return q, prev


def _worst(errors: np.ndarray) -> float:
    return float(np.max(errors, initial=0.0))


def _flag(ok: bool, detail: str) -> Evidence:
    """A yes/no fact as evidence (margin 0 when it holds, −inf when it does not)."""
    return Evidence(float(ok), 1.0, 0.0 if ok else -math.inf, bool(ok), detail)


# --- a-posteriori bounds of runs stopped early --------------------------------------------

@theorem("bounds.evaluation_error_bound",
         "On a discounted cyclic PA-MDP (γ < 1), for ANY approximate solution V of (I − γP_π)V = r_π, "
         "||V − V_π||_∞ <= ||r_π − (I − γP_π)V||_∞ / (1 − γ), because P_π is sub-stochastic and "
         "(I − γP_π)^{-1} = Σ_t γ^t P_π^t. So evaluate's reported error_bound bounds the distance of each of its "
         "value columns (principal, agent, payments) to the exact values of the profile (an independent dense "
         "solve) — also when the Krylov solver is stopped by its time budget after one iteration, which must "
         "then be reported as converged=False, reason 'time budget'. Within 1e-9 (round-off of the reference).",
         f"{PARL}, Section 3 (value functions of a profile); {PUTERMAN}, Theorem 6.1.1 (Neumann series)",
         lambda: st.tuples(cyclic_instances(), _SEEDS, st.sampled_from(["cut", "cut", "iterative", "auto"])))
def check_evaluation_error_bound(args) -> Evidence:
    mdp, seed, mode = args
    rng = np.random.default_rng(seed)
    policy = random_contract_policy(mdp, seed)
    actions = rng.integers(0, mdp.n_actions, mdp.n_states)
    ev = evaluate(mdp, policy, actions, linear_solver="auto" if mode == "auto" else "iterative",
                  time_limit=0.0 if mode == "cut" else None)
    exact = exact_values(mdp, actions, policy.contract)
    got = np.stack([ev.principal_value, ev.agent_value, ev.payment_value], axis=1)
    err = _worst(np.abs(got - exact))
    items = [Evidence.at_most(err, ev.error_bound, ROUND_OFF,
                              f"max |V − V_exact| vs error_bound ({ev.method}, γ = {mdp.discount:.3g}, {mode})")]
    if not ev.converged:
        items.append(_flag(ev.reason == "time budget" and ev.method == "linear_solve_iterative",
                           f"stopped: reason {ev.reason!r}, method {ev.method!r}"))
    return Evidence.combine(items)


def _budget_kind():
    """How to stop the agent's value iteration early: after ``k`` sweeps, or at once by the clock."""
    return st.one_of(st.tuples(st.just("sweeps"), st.integers(1, 6)), st.just(("time", 0)))


def _sweep_budget(br, kind: str, k: int) -> Evidence:
    """The value-iteration budget as documented: at most ``k`` sweeps, exactly ``k`` when that budget
    cut it; a zero time budget stops after the first sweep (which is always done)."""
    if kind == "sweeps":
        return _flag(br.iterations <= k and (br.reason != "iteration budget" or br.iterations == k),
                     f"sweep budget {k}: {br.iterations} sweeps, reason {br.reason!r}")
    return _flag(br.iterations == 1 and br.reason in ("converged", "time budget"),
                 f"zero time budget: {br.iterations} sweeps, reason {br.reason!r}")


@theorem("bounds.agent_response_stopped_early",
         "The agent's best response on a discounted cyclic PA-MDP, stopped early (value iteration cut after "
         "k <= 6 sweeps, or by a zero time budget after its first sweep), reports valid certificates: "
         "(a) error_bound = γ/(1 − γ)·||V_n − V_{n−1}||_∞ >= ||V_n − V*||_∞, with V_n = T^n 0 the value-iteration "
         "iterate after its n = iterations sweeps (recomputed) and V* the agent's exact optimal value; (b) its "
         "values of both parties are within value_error_bound of the exact values of its policy π; (c) "
         "policy_gap is at least the largest one-step improvement max_s (max_a Q_π(s,a) − V_π(s)) of the exact "
         "Q_π, and V* − V_π <= policy_gap/(1 − γ) at every state; (d) the budget is honoured as documented: "
         "iterations <= k, a run cut by the sweep budget did exactly k sweeps (reason 'iteration budget'), a "
         "zero time budget stops after exactly one sweep (reason 'time budget' unless converged), and converged "
         "implies error_bound <= VI_TOL. Within 1e-9.",
         f"{PARL}, Section 3 (the agent's best response); {PUTERMAN}, Section 6.3 (value iteration: "
         "||V_n − V*|| <= γ/(1 − γ)·||V_n − V_{n−1}||, and ||V* − V|| <= ||TV − V||/(1 − γ) since T is a "
         "γ-contraction) and Theorem 6.1.1",
         lambda: st.tuples(cyclic_instances(), _SEEDS, _budget_kind()))
def check_agent_response_stopped_early(args) -> Evidence:
    mdp, seed, (kind, k) = args
    cp = random_contract_policy(mdp, seed)
    if kind == "sweeps":
        br = agent_best_response(mdp, cp, max_iter=k)
    else:
        br = agent_best_response(mdp, cp, time_limit=0.0)
    P = _action_transitions(mdp)
    reward = mdp.agent_rewards + np.einsum("sak,sk->sa", mdp.outcome_probs, cp.contract)
    v_star, _ = optimal_q(reward, P, mdp.discount)
    items = _response_certificates(mdp, br, cp, reward, P, v_star)
    if br.method == "value_iteration":           # (an acyclic instance is one exact backward pass)
        g, n = mdp.discount, br.iterations
        v_n, v_prev = _value_iterates(reward, P, g, n)
        items.append(Evidence.at_most(_worst(np.abs(v_n - v_star)), br.error_bound, ROUND_OFF,
                                      f"||V_n − V*|| vs error_bound after n = {n} sweeps"))
        items.append(Evidence.equal(br.error_bound, g / (1.0 - g) * _worst(np.abs(v_n - v_prev)), ROUND_OFF,
                                    f"error_bound vs γ/(1−γ)·||V_n − V_(n−1)|| recomputed, n = {n}"))
        items.append(_sweep_budget(br, kind, k))
    if br.converged:
        items.append(Evidence.at_most(br.error_bound, VI_TOL, 0.0, "converged: error_bound <= VI_TOL"))
    return Evidence.combine(items)


def _value_iterates(reward: np.ndarray, P: np.ndarray, discount: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(V_n, V_{n−1})``, ``V_n = T^n 0``: sweeps of value iteration ``V <- max_a (reward + γ P V)`` from 0."""
    prev = V = np.zeros(reward.shape[0])
    for _ in range(n):
        prev, V = V, (reward + discount * np.einsum("sat,t->sa", P, V)).max(axis=1)
    return V, prev


def _response_certificates(mdp, br, cp, reward, P, v_star) -> list[Evidence]:
    """(b) and (c) of ``bounds.agent_response_stopped_early``: the values of the returned policy
    against its exact evaluation, and ``policy_gap`` against the exact improvement and loss."""
    g = mdp.discount
    exact = exact_values(mdp, br.policy, cp.contract)
    q_pi = reward + g * np.einsum("sat,t->sa", P, exact[:, 1])
    gap = float(np.max(q_pi.max(axis=1) - exact[:, 1]))
    return [Evidence.at_most(_worst(np.abs(br.principal_value - exact[:, 0])), br.value_error_bound, ROUND_OFF,
                             "principal values vs value_error_bound"),
            Evidence.at_most(_worst(np.abs(br.agent_value - exact[:, 1])), br.value_error_bound, ROUND_OFF,
                             "agent values vs value_error_bound"),
            Evidence.at_least(br.policy_gap, gap, ROUND_OFF, "policy_gap vs the exact one-step improvement"),
            Evidence.at_most(float(np.max(v_star - exact[:, 1])), br.policy_gap / (1.0 - g), ROUND_OFF,
                             f"V* − V_π vs policy_gap/(1 − γ), γ = {g:.3g}")]


@theorem("bounds.fixed_point_error_bound",
         "For fixed agent continuation values the principal's operator T of Section 3.2 is a γ-contraction, so "
         "its iterates satisfy ||q_n − q*||_∞ <= γ/(1 − γ)·||q_n − q_{n−1}||_∞. principal_fixed_point, stopped by "
         "an iteration budget of 1–12 iterations or at a loose tolerance, returns the iterate q_n = T^n q_0 "
         "(q_0 = 0 on the implementable entries, n = iterations) and error_bound = γ/(1 − γ)·||q_n − q_{n−1}||_∞ "
         "(both recomputed, with MINPAY from the one-shot LP), and that bound holds against the exact fixed "
         "point q* (Howard's policy iteration on the principal's MDP); the budget is honoured: 1 <= iterations "
         "<= max_iter, reason 'iteration budget' only with iterations = max_iter, converged iff error_bound <= "
         "tol. The meta-algorithm stopped inside its fixed point (stage 'principal fixed point') reports a bound "
         "that holds for its last principal Q-table in the same way. Within 1e-7 relative.",
         f"{PARL}, Section 3.2 (the principal's operator is a contraction); Banach fixed-point theorem "
         f"(a-posteriori estimate); {PUTERMAN}, Section 6.3",
         lambda: st.tuples(cyclic_instances(), _SEEDS, st.integers(1, 12), st.sampled_from([0.0, 0.0, 1e-3, 0.1])))
def check_fixed_point_error_bound(args) -> Evidence:
    mdp, seed, k, tol = args
    rng = np.random.default_rng(seed)
    va = rng.normal(0.0, 2.0, mdp.n_states)
    fp = principal_fixed_point(mdp, va, tol=tol, max_iter=k)
    items = _fixed_point_evidence(mdp, fp.q, va, fp.error_bound, fp.iterations,
                                  f"fixed point, {fp.iterations} of {k} iterations, tol {tol:g}")
    items += [_flag(1 <= fp.iterations <= k, f"iterations {fp.iterations} within the budget {k}"),
             _flag(fp.converged == (fp.error_bound <= tol), f"converged {fp.converged}, bound {fp.error_bound:.3g}"),
             _flag(fp.reason == ("converged" if fp.converged else "iteration budget"), f"reason {fp.reason!r}")]
    if fp.reason == "iteration budget":
        items.append(_flag(fp.iterations == k, f"cut by the budget after {fp.iterations} of {k} iterations"))
    res = meta_algorithm(mdp, max_iter=2, fixed_point_max_iter=k)
    if res.stage == "principal fixed point":
        last = res.iterates[-1]
        items += _fixed_point_evidence(mdp, last.step.principal_q, last.agent_value, res.bound,
                                       last.step.fixed_point.iterations,
                                       f"meta-algorithm stopped in its fixed point after {k} iterations")
    return Evidence.combine(items)


def _fixed_point_evidence(mdp, q: np.ndarray, agent_value: np.ndarray, bound: float, n: int,
                          what: str) -> list[Evidence]:
    """``q`` (the iterate after ``n`` iterations) and its ``bound`` against the data: the same
    implementable entries, ``max |q − q*| <= bound``, and both ``q = q_n`` and
    ``bound = γ/(1−γ)·||q_n − q_{n−1}||`` recomputed by :func:`operator_iterates`."""
    reward, P = principal_mdp(mdp, np.asarray(agent_value, dtype=float))
    finite = np.isfinite(reward)
    if not np.array_equal(finite, np.isfinite(q)):
        return [_flag(False, f"{what}: implementable entries differ from the LP's")]
    g = mdp.discount
    q_star = optimal_q(reward, P, g)[1]
    q_n, q_prev = operator_iterates(reward, P, g, n)
    scale = max(1.0, _worst(np.abs(q_n[finite])))
    return [Evidence.at_most(_worst(np.abs(q[finite] - q_star[finite])), bound, TOL,
                             f"{what}: max |q − q*| vs bound"),
            Evidence.equal(_worst(np.abs(q[finite] - q_n[finite])) / scale, 0.0, TOL,
                           f"{what}: q vs q_n recomputed (relative)"),
            Evidence.equal(bound, g / (1.0 - g) * _worst(np.abs(q_n[finite] - q_prev[finite])), TOL,
                           f"{what}: bound vs γ/(1−γ)·||q_n − q_(n−1)|| recomputed")]


# --- budgets of the meta-algorithm --------------------------------------------------------

def _same_policy(a: ContractPolicy, b: ContractPolicy) -> bool:
    return bool(np.array_equal(a.action, b.action) and np.array_equal(a.contract, b.contract))


def _random_initial(mdp: PrincipalAgentMDP, seed: int) -> ContractPolicy:
    rng = np.random.default_rng(seed)
    lead = (mdp.horizon, mdp.n_states) if mdp.horizon is not None else (mdp.n_states,)
    return ContractPolicy(rng.integers(0, mdp.n_actions, lead), rng.uniform(0.0, 1.0, lead + (mdp.n_outcomes,)))


@theorem("bounds.meta_iteration_budget",
         "meta_algorithm honours its outer budget max_iter = m exactly: it records iterations = len(iterates) "
         "= min(m, N) >= 1 outer iterations, N the number done with budget m + 1 (from the same initial "
         "policy), and they are the first iterations of that run (same contract policies); its policy is the "
         "last iterate's; a run that stops before m iterations has converged; a run cut by the budget reports "
         "converged=False, reason 'iteration budget', stage 'alternation' and bound inf. With a zero time budget "
         "it still does exactly one outer iteration (reason 'time budget' unless that one converged). Trees, "
         "DAGs, finite horizons and small discounted cyclic instances.",
         f"{PARL}, Section 3.2, Algorithm 1; the documented budget contract of contractlab.solvers.meta_algorithm",
         # finite games twice as often as cyclic ones, whose runs cost about five times more
         lambda: st.tuples(st.one_of(pamdp_instances(), pamdp_instances(), cyclic_instances()), _SEEDS,
                           st.integers(1, 3)))
def check_meta_iteration_budget(args) -> Evidence:
    mdp, seed, m = args
    init = _random_initial(mdp, seed)
    a = meta_algorithm(mdp, init, max_iter=m)
    b = meta_algorithm(mdp, init, max_iter=m + 1)
    n = len(a.iterates)
    items = [_flag(a.iterations == n >= 1, f"iterations {a.iterations}, iterates recorded {n}"),
             Evidence.equal(n, min(m, b.iterations), 0.0, f"iterations with budget {m} vs min(m, N = {b.iterations})"),
             _flag(all(_same_policy(x.step.policy, y.step.policy) for x, y in zip(a.iterates, b.iterates)),
                   "the iterates are the first ones of the run with a larger budget")]
    if n:
        items.append(_flag(_same_policy(a.policy, a.iterates[-1].step.policy), "policy = the last iterate's"))
    if n < m:
        items.append(_flag(a.converged, f"stopped after {n} < {m} iterations without converging ({a.reason!r})"))
    if a.stage == "alternation":
        items.append(_flag(a.reason == "iteration budget" and n == m and a.bound == math.inf,
                           f"cut by the budget: reason {a.reason!r}, {n} iterations, bound {a.bound}"))
    c = meta_algorithm(mdp, init, time_limit=0.0)
    items.append(_flag(c.iterations == len(c.iterates) == 1 and c.reason in ("converged", "time budget"),
                       f"zero time budget: {c.iterations} iterations, reason {c.reason!r}"))
    return Evidence.combine(items)


# --- tie rules where ties are certain ---------------------------------------------------------

def _twin_pairs(mdp: PrincipalAgentMDP) -> list[tuple[int, int, int]]:
    """``(s, i, k)`` with ``i < k`` exact duplicates at ``s`` (same outcome row and agent reward)."""
    O, r = mdp.outcome_probs, mdp.agent_rewards
    A = mdp.n_actions
    return [(s, i, k) for s in range(mdp.n_states) for i in range(A) for k in range(i + 1, A)
            if r[s, i] == r[s, k] and np.array_equal(O[s, i], O[s, k])]


def _lowest_tied(q: np.ndarray, tol: float) -> np.ndarray:
    """Per row: the lowest index whose value is within ``tol·max(1, |best|)`` of the row's best."""
    best = q.max(axis=-1, keepdims=True)
    return np.argmax(q >= best - tol * np.maximum(1.0, np.abs(best)), axis=-1)


@theorem("spe.twin_actions_lowest_index",
         "On PA-MDPs where some actions are exact duplicates at some states (same outcome distribution and agent "
         "reward; including states with exactly two actions), backward induction by either MIN-PAY method "
         "(vertex enumeration / closed forms, and the LP) gives duplicates the same implementability, MINPAY and "
         "principal value Q_p (within 1e-9 relative), recommends at every state (and step) the lowest index "
         "among the actions whose Q_p is within TIE_TOL (relative) of the best — so never the higher of two "
         "duplicates that are best — and the agent's best response to the SPE contracts (ties to the principal, "
         "then to the lowest index) follows every recommendation.",
         f"{PARL}, Section 3 (the principal's problem at s depends on an action only through O(s, a) and r(s, a)); "
         "the tie rules documented in contractlab.solvers.spe and docs/tolerances.md",
         _twin_finite_instances)
def check_twin_actions_lowest_index(mdp: PrincipalAgentMDP) -> Evidence:
    pairs = _twin_pairs(mdp)
    if not pairs:
        return Evidence.vacuous("no duplicated actions")
    items = []
    for method in ("vertex", "lp"):
        res = solve_spe(mdp, method=method)
        pq, pay, ok = (np.asarray(x) for x in (res.principal_q, res.min_pay, res.implementable))
        diff = 0.0
        for s, i, k in pairs:
            if not np.array_equal(ok[..., s, i], ok[..., s, k]):
                return _flag(False, f"{method}: duplicates {i} and {k} at state {s} differ in implementability")
            fin = ok[..., s, i]
            scale = np.maximum(1.0, np.abs(pq[..., s, i][fin]))
            diff = max(diff, _worst(np.abs(pq[..., s, i][fin] - pq[..., s, k][fin]) / scale),
                       _worst(np.abs(pay[..., s, i][fin] - pay[..., s, k][fin]) / np.maximum(1.0, pay[..., s, i][fin])))
        items.append(Evidence.equal(diff, 0.0, 1e-9, f"{method}: duplicates' Q_p and MINPAY"))
        wrong = int(np.sum(res.policy.action != _lowest_tied(pq, PRINCIPAL_TIE_TOL)))
        items.append(Evidence.at_most(wrong, 0, 0.0, f"{method}: states not recommending the lowest tied action"))
        br = agent_best_response(mdp, res.policy)
        items.append(Evidence.at_most(int((~br.follow).sum()), 0, 0.0,
                                      f"{method}: states where the best-responding agent deviates"))
    return Evidence.combine(items)


def with_agent_ties(mdp: PrincipalAgentMDP, cp: ContractPolicy, seed: int) -> PrincipalAgentMDP:
    """``mdp`` with agent rewards raised so that, against ``cp``, at about half of the states (with two
    or more actions) one more action is exactly as good for the agent as its best one.

    Raising ``r(s, k)`` by ``Q*(s, i) − Q*(s, k)`` (``i`` optimal) lifts ``Q*(s, k)`` to the maximum and
    leaves ``V*`` unchanged. Unlike a duplicate, ``k`` has its own outcome distribution, so the tie
    matters to the principal."""
    if mdp.n_actions < 2:
        return mdp
    rng = np.random.default_rng(seed)
    S, A = mdp.n_states, mdp.n_actions
    reward = mdp.agent_rewards + np.einsum("sak,sk->sa", mdp.outcome_probs, cp.contract)
    _, q = optimal_q(reward, _action_transitions(mdp), mdp.discount)
    best = np.argmax(q, axis=1)
    other = (best + rng.integers(1, A, S)) % A
    states = np.flatnonzero(rng.uniform(0.0, 1.0, S) < 0.5)
    r = mdp.agent_rewards.copy()
    r[states, other[states]] += q[states, best[states]] - q[states, other[states]]
    return PrincipalAgentMDP(mdp.outcome_probs, r, mdp.principal_rewards, transitions=mdp.transitions,
                             next_state=mdp.next_state, discount=mdp.discount, initial_state=mdp.initial_state)


@theorem("best_response.twin_ties_stable",
         "On a discounted cyclic PA-MDP where the agent's ties are certain — duplicated actions, and agent "
         "rewards raised so that at about half of the states a second action with its own outcome distribution "
         "ties exactly with the agent's best against the given contracts — and any stationary contract policy, "
         "the agent's best response with ample budgets: converges (policy iteration over the agent's tied sets "
         "improves strictly, so it ends within the number of policies, fewer than PI_MAX_ITER here); plays an "
         "agent-optimal action at every state (exact V*, within 1e-7); is stable for the principal: among the "
         "agent-optimal actions at a state, none has a principal value Q_p^π higher ('principal') or lower "
         "('adversarial') than the chosen one by more than 1e-7, with Q_p^π from an exact evaluation of the "
         "returned policy; and the chosen action is the lowest index among those tied for the principal.",
         f"{PARL}, Section 3 (the agent best-responds, ties in the principal's favour); {PUTERMAN}, Section 6.4 "
         "(policy iteration: monotone improvement, finite termination, optimality of a policy with no improving "
         "switch); the tie rules documented in contractlab.solvers.pamdp_policy",
         lambda: st.tuples(_twin_cyclic_instances(), _SEEDS, st.sampled_from(["principal", "adversarial"])))
def check_twin_ties_stable(args) -> Evidence:
    base, seed, tie_break = args
    cp = random_contract_policy(base, seed)
    mdp = with_agent_ties(base, cp, seed)
    if not _twin_pairs(mdp):
        return Evidence.vacuous("no duplicated actions")
    br = agent_best_response(mdp, cp, tie_break=tie_break)
    idx = np.arange(mdp.n_states)
    P = _action_transitions(mdp)
    reward = mdp.agent_rewards + np.einsum("sak,sk->sa", mdp.outcome_probs, cp.contract)
    _, q_star = optimal_q(reward, P, mdp.discount)
    best = q_star.max(axis=1, keepdims=True)
    optimal = q_star >= best - TOL * np.maximum(1.0, np.abs(best))
    pol = np.asarray(br.policy)
    exact = exact_values(mdp, pol, cp.contract)
    qp = np.einsum("sak,sk->sa", mdp.outcome_probs, mdp.principal_rewards - cp.contract) \
        + mdp.discount * np.einsum("sat,t->sa", P, exact[:, 0])
    score = np.where(optimal, qp if tie_break == "principal" else -qp, -np.inf)
    return Evidence.combine([
        _flag(br.converged and br.reason == "converged", f"converged {br.converged}, reason {br.reason!r}"),
        Evidence.at_most(int(np.sum(~optimal[idx, pol])), 0, 0.0, "states playing an agent-suboptimal action"),
        Evidence.at_most(float(np.max(score.max(axis=1) - score[idx, pol])), 0.0, TOL,
                         f"largest {tie_break} improvement among the agent-optimal actions"),
        Evidence.at_most(int(np.sum(pol != _lowest_tied(score, TOL))), 0, 0.0,
                         "states not playing the lowest index among the principal-tied actions")])


# --- minimality of the payment at every state ---------------------------------------------

def _profile_continuations(mdp: PrincipalAgentMDP, policy: ContractPolicy) -> tuple[np.ndarray, np.ndarray]:
    """Both parties' next-state values ``(T, S)`` for every decision (T = H steps, or 1 without a
    horizon), by exact evaluation of the profile in which the agent follows the recommendations:
    backward over the steps with a horizon, a dense solve otherwise."""
    S = mdp.n_states
    if mdp.horizon is None:
        v = exact_values(mdp, policy.action, policy.contract)
        return v[None, :, 0], v[None, :, 1]
    H = mdp.horizon
    P = _action_transitions(mdp)
    vp, va = np.zeros((H + 1, S)), np.zeros((H + 1, S))
    idx = np.arange(S)
    for t in range(H - 1, -1, -1):
        a, b = policy.action[t], policy.contract[t]
        O = mdp.outcome_probs[idx, a]
        pay = np.einsum("sk,sk->s", O, b)
        vp[t] = np.einsum("sk,sk->s", O, mdp.principal_rewards) - pay + mdp.discount * P[idx, a] @ vp[t + 1]
        va[t] = mdp.agent_rewards[idx, a] + pay + mdp.discount * P[idx, a] @ va[t + 1]
    return vp[1:], va[1:]


@theorem("spe.per_state_min_pay",
         "At every state (and step) of the subgame-perfect equilibrium, the subproblem is the one-shot MIN-PAY "
         "with the continuation folded into the agent's rewards, Q̄(s,a) = r(s,a) + γ Σ_o O(s,a,o) E[V_a(s')], "
         "V_a the exact value of the SPE profile: the solver's implementability and MINPAY of every action equal "
         "those of that LP (within 1e-7 relative), its contract pays b >= 0, makes the recommendation a best "
         "response on Q̄ + O·b, and costs O(s,a*)·b = expected_payment = the LP's minimum; and the "
         "recommendation maximises Σ_o O (r_p + γ E[V_p]) − MINPAY over the actions (recomputed). Includes "
         "instances with duplicated actions and states with exactly two actions.",
         f"{PARL}, Section 3 (minimal implementation on the truncated Q̄; backward induction); {DRT19}",
         lambda: st.one_of(pamdp_instances(), _twin_finite_instances()))
def check_per_state_min_pay(mdp: PrincipalAgentMDP) -> Evidence:
    res = solve_spe(mdp)
    qbar, gross = _per_state_problems(mdp, res.policy)
    T, S, A = qbar.shape
    lp = lp_min_pay(np.broadcast_to(mdp.outcome_probs, (T, S, A, mdp.n_outcomes)).reshape(T * S, A, -1),
                    qbar.reshape(T * S, A))
    lp_pay = np.asarray(lp.expected_payment).reshape(T, S, A)
    lp_ok = np.asarray(lp.implementable).reshape(T, S, A)
    ok = np.asarray(res.implementable).reshape(T, S, A)
    if not np.array_equal(ok, lp_ok):
        t, s, a = (int(i) for i in np.argwhere(ok != lp_ok)[0])
        return _flag(False, f"step {t}, state {s}, action {a}: implementable {ok[t, s, a]} vs LP {lp_ok[t, s, a]}")
    pay = np.asarray(res.min_pay).reshape(T, S, A)
    items = [Evidence.equal(_worst(np.abs(pay[ok] - lp_pay[ok]) / np.maximum(1.0, lp_pay[ok])), 0.0, TOL,
                            "max |MINPAY − LP MINPAY| (relative)")]
    items += _chosen_contract_evidence(mdp, res, qbar, lp_pay)
    with np.errstate(invalid="ignore"):
        qp = np.where(lp_ok, gross - np.where(lp_ok, lp_pay, 0.0), -np.inf)
    best = qp.max(axis=2)
    chosen = np.take_along_axis(qp, res.policy.action.reshape(T, S, 1), axis=2)[..., 0]
    items.append(Evidence.at_most(float(np.max((best - chosen) / np.maximum(1.0, np.abs(best)))), 0.0, TOL,
                                  "the recommendation maximises the recomputed Q_p (relative)"))
    return Evidence.combine(items)


def _per_state_problems(mdp: PrincipalAgentMDP, policy: ContractPolicy) -> tuple[np.ndarray, np.ndarray]:
    """``(Q̄, gross)`` of shape ``(T, S, A)``: the agent's truncated Q̄ = r + γ Σ_o O E[V_a] and the
    principal's Σ_o O (r_p + γ E[V_p]) at every decision, from the exact continuation of the profile."""
    nxt_p, nxt_a = _profile_continuations(mdp, policy)
    P, g = _action_transitions(mdp), mdp.discount
    qbar = mdp.agent_rewards[None] + g * np.einsum("sat,nt->nsa", P, nxt_a)
    gross = np.einsum("sak,sk->sa", mdp.outcome_probs, mdp.principal_rewards)[None] \
        + g * np.einsum("sat,nt->nsa", P, nxt_p)
    return qbar, gross


def _chosen_contract_evidence(mdp, res, qbar: np.ndarray, lp_pay: np.ndarray) -> list[Evidence]:
    """The recommended action's contract at every decision: ``b >= 0``, IC on ``Q̄ + O·b``, and
    ``O·b`` equal to the reported expected payment and to the LP's minimum."""
    T, S, _ = qbar.shape
    act = res.policy.action.reshape(T, S)
    b = res.policy.contract.reshape(T, S, -1)
    tt, ss = np.meshgrid(np.arange(T), np.arange(S), indexing="ij")
    util = qbar + np.einsum("sak,nsk->nsa", mdp.outcome_probs, b)
    chosen_pay = np.einsum("nsk,nsk->ns", mdp.outcome_probs[ss, act], b)
    minimum = lp_pay[tt, ss, act]
    return [Evidence.at_least(float(b.min(initial=0.0)), 0.0, ROUND_OFF, "limited liability b >= 0"),
            Evidence.at_most(float(np.max(util.max(axis=2) - util[tt, ss, act])), 0.0, ROUND_OFF,
                             "IC of the recommendation on Q̄ + O·b"),
            Evidence.equal(_worst(np.abs(chosen_pay - np.asarray(res.expected_payment).reshape(T, S))), 0.0,
                           ROUND_OFF, "O·b = expected_payment"),
            Evidence.equal(_worst(np.abs(chosen_pay - minimum) / np.maximum(1.0, minimum)), 0.0, TOL,
                           "O·b = the LP's minimum (relative)")]
