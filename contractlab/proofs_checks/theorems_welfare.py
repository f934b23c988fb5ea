"""Theorems about the exact welfare benchmarks of MDPs with externalities (``solvers/welfare.py``).

The model is :class:`~contractlab.theory.externality.ExternalityMDP`: a finite-horizon
principal-agent MDP (Ivanov et al., arXiv 2407.18074, Section 3) whose principal reward is the
externality ``e(s, o)`` borne by the others; social welfare is ``Σ_t γ^t (r(s_t, a_t) + e(s_t, o_t))``
and transfers ``b(t, s, o) >= 0`` move utility from the principal to the agent (the benchmarks of
Helou, arXiv 2601.03451, abstract only; the definitions are those of ``solvers/welfare.py``).

Nothing below reuses the code paths under test. Every check recomputes from the model's arrays:

- **policy evaluation** (:func:`evaluate_policies`): backward over the horizon, vectorised over a
  batch of deterministic time-indexed policies, with a successor matrix built here
  (:func:`successors`) from ``next_state`` / ``transitions``;
- **MIN-PAY**: the exact rational vertex enumeration of
  :func:`~contractlab.proofs_checks.theorems_minpay.exact_min_pay` (from the LP's definition,
  sharing no code with the solvers), on the float data read exactly as rationals;
- **the LP over a whole transfer schedule** (:func:`global_min_agent_value`): scipy's ``linprog``.

Theorems (``welfare.*``):

- ``welfare.optimum_dominates`` — ``W_0(s)`` of :func:`~contractlab.solvers.welfare.welfare_optimum`
  equals the largest welfare from ``s`` of all ``A^(H·S)`` deterministic time-indexed Markov
  policies (so it dominates every one of them, the selfish policy included, and is attained by
  the DP's policy); the selfish policy is the agent's best response to zero transfers and its
  reported welfare is its evaluated welfare. (Deterministic Markov policies suffice: a finite-horizon
  MDP has an optimal one among all history-dependent randomised policies; Puterman 1994, Sections 4.3-4.5.)
- ``welfare.transfers_cancel`` — for the implemented policy and its transfers, the agent's value
  plus the principal's value equals the welfare of the policy evaluated without transfers, at every
  ``(t, s)``; and each of the two values is the evaluated one.
- ``welfare.stepwise_min_pay_minimal`` — for the welfare optimum or a drawn target (whatever
  :func:`~contractlab.solvers.welfare.implement_policy` implements, ``Implementation.policy``):
  (a) the schedule implements the policy as a subgame-perfect best response of the agent (limited liability; weak IC at every ``(t, s)`` given
  the continuation values of following the policy with the transfers); (b) its expected payment at
  every ``(t, s)`` is the exact MIN-PAY of the policy's action for the agent's truncated
  ``Q̄(t, s, a) = r(s, a) + γ Σ_o O(s, a, o) E[U_{t+1}(s') | s, o]`` given the *implemented*
  continuation ``U`` (future transfers included); (c) it is **globally minimal**, in this sense:
  among all limited-liability Markov schedules ``b(t, s, o) >= 0`` under which the policy is the
  agent's best response at every ``(t, s)``, it gives the agent the smallest value ``U(t, s)`` at
  every ``(t, s)`` simultaneously, so the smallest expected discounted total transfer from every
  ``(t, s)`` (``U`` minus the private value of the policy, which the transfers do not change).
  Proof (backward induction): if another schedule gives continuation ``U* + Δ``, ``Δ >= 0``, then
  ``b + γ E[Δ | s, o] >= 0`` leaves every action's ``Q`` unchanged, so it is a feasible MIN-PAY
  contract given ``U*``: it costs at least the stepwise minimum. What is *not* true is that every
  step's payment is minimal: a schedule that promises more later (``Δ > 0``) may pay less now
  (``tests/test_theorems_welfare.py`` builds one). (c) is checked at ``t = 0`` by one LP per start
  state over the whole schedule, ``min U(0, s)``; the claim at ``t > 0`` is the claim at ``t = 0``
  for the instance cut to its last ``H − t`` steps (the schedule from step ``t`` on is the stepwise
  schedule of that instance), and shorter horizons are drawn as well.
- ``welfare.optimal_actions_implementable`` — given the implemented continuation, every
  welfare-optimal action is implementable at every ``(t, s)``; more precisely every action ``a``
  is implementable once the agent's IC is relaxed by its welfare shortfall
  ``δ(t, s, a) = max_a' Q_W(t, s, a') − Q_W(t, s, a)`` (``δ = 0``: implementable). This needs no
  assumption on the outcome rows (full support, distinct likelihoods): by Farkas' lemma ``a`` fails
  with slack ``δ`` only if a mixture ``λ`` of the other actions has ``a``'s outcome distribution and
  ``Σ λ Q̄ > Q̄(a) + δ``; welfare is ``Q̄`` plus a term linear in the outcome distribution, so the
  mixture's welfare would exceed ``max Q_W``. It is not vacuous in the environments: insurance's
  outcome rows lie on one line (``(1 − p, p(1 − ℓ), p ℓ)``), so its middle effort is often not
  implementable — but never where it is welfare-optimal. Checked on pollution and insurance
  (defaults, degenerate variants with tied or vanishing likelihoods, drawn parameters) and on
  unstructured random instances.

Tolerances: values computed by two routes agree to :data:`EXACT_TOL` relative to
``max(1, the largest value or transfer involved)`` (float64 round-off over <= 8 steps); IC and
limited liability hold to :data:`IC_TOL` relative to the largest ``|Q|``; the exact MIN-PAY
equals the payment to :data:`MINPAY_TOL` relative (the exact LP is solved on the checker's
``Q̄``, which differs from the solver's by round-off); the LP over the schedule to :data:`LP_TOL`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
from hypothesis import strategies as st
from scipy.optimize import linprog

from ..solvers.welfare import implement_policy, selfish_play, welfare_optimum
from ..theory.externality import ExternalityMDP
from ..theory.externality_families import (insurance, pollution_control, random_externality, random_insurance,
                                           random_pollution)
from .registry import Evidence, theorem
from .theorems_minpay import exact_min_pay

#: Two computations of the same value by different routes (float64 round-off), relative.
EXACT_TOL = 1e-9
#: Slack of the agent's IC and of limited liability, relative to ``max(1, max |Q|)``.
IC_TOL = 1e-9
#: The exact MIN-PAY on the checker's ``Q̄`` against the solver's payment, relative.
MINPAY_TOL = 1e-8
#: scipy's HiGHS on the LP over the whole schedule (tolerances 1e-10 asked), relative.
LP_TOL = 1e-7
#: Most deterministic time-indexed policies enumerated (``A^(H·S)``) by ``welfare.optimum_dominates``.
MAX_POLICIES = 729
#: Tighter feasibility and optimality tolerances handed to scipy's HiGHS.
_LP_OPTIONS = {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}

PARL = "Ivanov, Dütting, Talgam-Cohen, Wang, Parkes, Principal-Agent Reinforcement Learning (arXiv 2407.18074)"
HELOU = "Helou, Microeconomic Foundations of Multi-Agent Learning (arXiv 2601.03451; abstract)"
PUTERMAN = "Puterman, Markov Decision Processes (1994)"
DRT19 = "Dütting, Roughgarden, Talgam-Cohen, Simple versus Optimal Contracts (EC 2019)"


# --------------------------------------------------------------------------- independent evaluation

def successors(m: ExternalityMDP) -> np.ndarray:
    """``P[s, o, s']``, shape ``(S, K, S)``: the distribution of the next state (a zero row ends the episode)."""
    if m.transitions is not None:
        return np.array(m.transitions, dtype=float)
    S, K = m.n_states, m.n_outcomes
    P = np.zeros((S, K, S))
    s, o = np.nonzero(m.next_state >= 0)
    P[s, o, m.next_state[s, o]] = 1.0
    return P


def evaluate_policies(m: ExternalityMDP, policies: np.ndarray, contract: np.ndarray | None = None):
    """Both parties' values of deterministic time-indexed policies, by backward induction.

    ``policies`` is ``(N, H, S)``, ``contract`` ``(H, S, K)`` (no transfers if ``None``). Returns
    ``agent, principal`` of shape ``(N, H + 1, S)`` (row ``H`` is 0): ``agent = r + Σ_o O (b + γ
    E[agent_{t+1}])`` and ``principal = Σ_o O (e − b + γ E[principal_{t+1}])``."""
    O, r, e, g = m.outcome_probs, m.private_rewards, m.externality, m.discount
    P = successors(m)
    N, H, S = policies.shape
    b = np.zeros((H, S, m.n_outcomes)) if contract is None else np.asarray(contract, dtype=float)
    agent, principal = np.zeros((N, H + 1, S)), np.zeros((N, H + 1, S))
    states = np.arange(S)
    for t in range(H - 1, -1, -1):
        a = policies[:, t, :]                                            # (N, S)
        probs = O[states, a]                                             # (N, S, K)
        next_agent = np.einsum("skx,nx->nsk", P, agent[:, t + 1])
        next_principal = np.einsum("skx,nx->nsk", P, principal[:, t + 1])
        agent[:, t] = r[states, a] + np.einsum("nsk,nsk->ns", probs, b[t] + g * next_agent)
        principal[:, t] = np.einsum("nsk,nsk->ns", probs, e - b[t] + g * next_principal)
    return agent, principal


def truncated_q(m: ExternalityMDP, agent_value: np.ndarray) -> np.ndarray:
    """``Q̄(t, s, a) = r(s, a) + γ Σ_o O(s, a, o) E[U_{t+1}(s') | s, o]`` ``(H, S, A)`` for agent
    values ``U`` ``(H + 1, S)`` (the step's own transfer left out)."""
    nxt = np.einsum("skx,tx->tsk", successors(m), agent_value[1:])
    return m.private_rewards[None] + m.discount * np.einsum("sak,tsk->tsa", m.outcome_probs, nxt)


def welfare_dp(m: ExternalityMDP) -> np.ndarray:
    """``Q_W(t, s, a)`` ``(H, S, A)`` of the optimal welfare, by backward induction written here."""
    P, O, g = successors(m), m.outcome_probs, m.discount
    H, S, A = m.horizon, m.n_states, m.n_actions
    q = np.empty((H, S, A))
    W = np.zeros(S)
    for t in range(H - 1, -1, -1):
        q[t] = m.private_rewards + np.einsum("sak,sk->sa", O, m.externality + g * (P @ W))
        W = q[t].max(axis=1)
    return q


def _fractions(x) -> list:
    return [Fraction(float(v)) for v in x]


def _worst_equal(measured, expected, atol: float, what: str) -> Evidence:
    """``measured == expected`` entrywise within the absolute tolerance ``atol``; the evidence of the
    worst entry (margin ``−|difference|``)."""
    measured, expected = np.asarray(measured, dtype=float), np.asarray(expected, dtype=float)
    diff = np.abs(measured - expected)
    if not diff.size:
        return Evidence(0.0, 0.0, 0.0, True, what)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    worst = float(diff[idx]) if np.isfinite(diff[idx]) else np.inf
    return Evidence(float(measured[idx]), float(expected[idx]), -worst, bool(worst <= atol),
                    f"{what} at {tuple(int(i) for i in idx)} (tolerance {atol:.3g})")


def _scale(*arrays) -> float:
    """``max(1, the largest |entry|)`` of the arrays: what a relative tolerance is relative to."""
    return max([1.0] + [float(np.abs(a).max()) for a in arrays if np.size(a)])


# --------------------------------------------------------------------------- instances

_SEEDS = st.integers(0, 2**32 - 1)
_DISCOUNTS = st.one_of(st.just(1.0), st.sampled_from([0.5, 0.9]), st.floats(0.05, 0.95))


def _with_discount(m: ExternalityMDP, discount: float) -> ExternalityMDP:
    return m if discount == m.discount else m.replace(discount=discount)


@st.composite
def tiny_models(draw) -> ExternalityMDP:
    """Instances small enough to enumerate every deterministic time-indexed policy
    (``A^(H·S) <=`` :data:`MAX_POLICIES`): unstructured ones (1–3 states, actions and outcomes,
    stochastic or deterministic successors, the externality scaled by 1 or 3 so that the planner
    and the agent disagree more often) and pollution / insurance with drawn parameters and 1–3
    levels; ``H`` up to 3 (longer horizons first: the continuation is what is tested); discount 1
    or drawn."""
    kind = draw(st.sampled_from(["random", "pollution", "insurance"]))
    seed = draw(_SEEDS)
    H = draw(st.sampled_from([3, 2, 1]))
    A = 3 if kind != "random" else draw(st.sampled_from([2, 3, 1]))
    S = draw(st.integers(1, max(s for s in (1, 2, 3) if s == 1 or A ** (H * s) <= MAX_POLICIES)))
    if kind == "random":
        m = random_externality(seed, S, A, draw(st.integers(1, 3)), H, stochastic=draw(st.booleans()))
        m = m.replace(externality=draw(st.sampled_from([3.0, 1.0])) * m.externality)
    elif kind == "pollution":
        m = random_pollution(seed, n_levels=S, horizon=H)
    else:
        m = random_insurance(seed, n_levels=S, horizon=H)
    return _with_discount(m, draw(_DISCOUNTS))


@lru_cache(maxsize=None)
def fixed_environments() -> tuple[ExternalityMDP, ...]:
    """The two environments with their defaults, and variants: pollution with the emission rows
    of ``abate`` and ``curtail`` equal (curtailing is then dominated and never implementable);
    insurance with no claims at risk 0 (every action has the same outcome row there) and equal
    effects of ``some`` and ``full`` effort; insurance with a costly middle effort (``some`` costs
    0.2 for the effect 0.35, ``full`` 0.25 for 0.6: the outcome row of ``some`` is the mixture
    7/12 ``full`` + 5/12 ``none``, which costs 0.146 < 0.2, so ``some`` is not implementable at the
    last step, where the agent's ``Q̄`` is its private reward)."""
    rows = ((0.1, 0.3, 0.6), (0.5, 0.4, 0.1), (0.5, 0.4, 0.1))
    return (pollution_control(), insurance(), pollution_control(n_levels=4, horizon=5, emissions=rows),
            insurance(n_levels=3, horizon=5, base_claim=0.0, risk_slope=0.2, effort_effect=(0.0, 0.5, 0.5)),
            insurance(effort_costs=(0.0, 0.2, 0.25)))


@st.composite
def environment_models(draw) -> ExternalityMDP:
    """Pollution and insurance (defaults and degenerate variants, :func:`fixed_environments`;
    drawn parameters with 1–5 levels and horizons 1–6) and unstructured instances (1–3 states,
    1–4 actions, 1–3 outcomes); discount 1 or drawn."""
    kind = draw(st.sampled_from(["fixed", "pollution", "insurance", "random"]))
    seed = draw(_SEEDS)
    if kind == "fixed":
        m = draw(st.sampled_from(fixed_environments()))
    elif kind == "pollution":
        m = random_pollution(seed, n_levels=draw(st.integers(1, 5)), horizon=draw(st.integers(1, 6)))
    elif kind == "insurance":
        m = random_insurance(seed, n_levels=draw(st.integers(1, 5)), horizon=draw(st.integers(1, 6)))
    else:
        m = random_externality(seed, draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3)),
                               draw(st.integers(1, 4)), stochastic=draw(st.booleans()))
    return _with_discount(m, draw(_DISCOUNTS))


@dataclass(frozen=True, eq=False)
class TargetCase:
    """A model and the policy to implement: the welfare optimum (``target_seed is None``) or a
    uniformly drawn time-indexed policy (which may not be implementable: the solver then
    implements its welfare-best implementable replacement)."""

    model: ExternalityMDP
    target_seed: int | None

    def target(self) -> np.ndarray:
        m = self.model
        if self.target_seed is None:
            return welfare_optimum(m).policy
        return np.random.default_rng(self.target_seed).integers(0, m.n_actions, (m.horizon, m.n_states))


@st.composite
def target_cases(draw, tiny: bool = False) -> TargetCase:
    """An :func:`environment_models` instance (:func:`tiny_models` if ``tiny``) and the welfare
    optimum or a drawn target."""
    return TargetCase(draw(tiny_models() if tiny else environment_models()), draw(st.one_of(st.none(), _SEEDS)))


# --------------------------------------------------------------------------- welfare.optimum_dominates

def optimum_evidence(m: ExternalityMDP, value0: np.ndarray, policy: np.ndarray, selfish_policy: np.ndarray,
                     selfish_welfare: float) -> Evidence:
    """``value0`` (the claimed ``W_0``, ``(S,)``) is the best welfare of all deterministic time-indexed
    policies from every state, and the claimed optimal ``policy`` attains it; ``selfish_policy`` is
    the agent's best response to zero transfers and ``selfish_welfare`` its welfare from ``s_0``."""
    H, S, A = m.horizon, m.n_states, m.n_actions
    every = np.array(list(itertools.product(range(A), repeat=H * S)), dtype=np.int64).reshape(-1, H, S)
    agent, principal = evaluate_policies(m, every)
    best = (agent + principal)[:, 0].max(axis=0)                           # (S,)
    pa, pp = evaluate_policies(m, np.asarray(policy)[None])
    sa, sp = evaluate_policies(m, np.asarray(selfish_policy)[None])
    s0 = m.initial_state
    atol = EXACT_TOL * _scale(agent, principal)
    items = [_worst_equal(value0, best, atol, f"W_0 against the best of {every.shape[0]} policies"),
             _worst_equal((pa + pp)[0, 0], best, atol, "welfare of the DP policy against the best"),
             Evidence.at_least(float(value0[s0]), float((sa + sp)[0, 0, s0]), EXACT_TOL,
                               "W* against the selfish welfare"),
             Evidence.equal(selfish_welfare, float((sa + sp)[0, 0, s0]), EXACT_TOL, "reported selfish welfare")]
    # selfish: no deviation at any (t, s) raises the agent's private value (zero transfers)
    q = truncated_q(m, sa[0])
    gain = q.max(axis=2) - sa[0, :H]
    t, s = np.unravel_index(int(np.argmax(gain)), gain.shape)
    items.append(Evidence.at_most(float(gain[t, s]), 0.0, IC_TOL * _scale(q),
                                  f"selfish agent's gain from deviating at (t, s) = ({t}, {s})"))
    return Evidence.combine(items)


@theorem("welfare.optimum_dominates",
         "In a finite-horizon MDP with externalities, the welfare-optimal value W_0(s) computed by dynamic "
         "programming equals the largest welfare (private reward + externality, transfers cancel) from s of all "
         "A^(H·S) deterministic time-indexed Markov policies, each evaluated by an independent backward "
         "evaluation; so W* >= the welfare of every policy, in particular of the selfish policy (the agent's best "
         "response to zero transfers, whose reported welfare is its evaluated welfare). Assumes: finite horizon, "
         "finitely many states and actions (then a deterministic Markov policy is optimal among all policies).",
         f"{PUTERMAN}, Sections 4.3-4.5 (optimality equations, deterministic Markov policies, backward induction); "
         f"the benchmarks of {HELOU} as defined in contractlab/solvers/welfare.py", tiny_models)
def check_optimum_dominates(m: ExternalityMDP) -> Evidence:
    opt = welfare_optimum(m)
    selfish = selfish_play(m)
    return optimum_evidence(m, opt.value[0], opt.policy, selfish.policy, selfish.welfare)


# --------------------------------------------------------------------------- welfare.transfers_cancel

def cancel_evidence(m: ExternalityMDP, policy: np.ndarray, contract: np.ndarray, agent_value: np.ndarray,
                    principal_value: np.ndarray) -> Evidence:
    """``agent_value + principal_value`` (``(H, S)``, as claimed) is the welfare of ``policy`` without
    transfers, and each is the value of ``policy`` with the transfers ``contract``."""
    H = m.horizon
    wa, wp = evaluate_policies(m, np.asarray(policy)[None])
    ta, tp = evaluate_policies(m, np.asarray(policy)[None], contract)
    atol = EXACT_TOL * _scale(ta, tp, wa, wp)
    welfare = (wa + wp)[0, :H]
    items = [_worst_equal(agent_value + principal_value, welfare, atol, "V_a + V_p against the welfare"),
             _worst_equal(agent_value, ta[0, :H], atol, "agent value against its evaluation"),
             _worst_equal(principal_value, tp[0, :H], atol, "principal value against its evaluation")]
    return Evidence.combine(items)


@theorem("welfare.transfers_cancel",
         "For the policy implemented by the minimal transfers (the welfare optimum, or a drawn target policy or "
         "its welfare-best implementable replacement), the agent's value plus the principal's value equals, at "
         "every step and state, the welfare of that policy evaluated without transfers; and each value is the "
         "policy's evaluated value with the transfers. Assumes: nothing beyond the model (transfers enter the "
         "agent's utility with + and the principal's with −, on every trajectory).",
         f"{PARL}, Section 3 (payments are transfers between the players); the welfare of "
         "contractlab/theory/externality.py", target_cases)
def check_transfers_cancel(case: TargetCase) -> Evidence:
    impl = implement_policy(case.model, case.target())
    return cancel_evidence(case.model, impl.policy, impl.contract, impl.agent_value, impl.principal_value)


# --------------------------------------------------------------------------- welfare.stepwise_min_pay_minimal

def _schedule_lp(m: ExternalityMDP, policy: np.ndarray):
    """The LP over a whole schedule: variables ``b (H, S, K) >= 0`` then ``U (H, S)`` free;
    ``U(t, s) = Q(t, s, π)`` and ``Q(t, s, a) <= U(t, s)`` for every ``a``, where ``Q(t, s, a) = r(s, a)
    + Σ_o O(s, a, o) (b(t, s, o) + γ Σ_s' P(s' | s, o) U(t + 1, s'))`` and ``U(H, ·) = 0``."""
    H, S, A, K, g = m.horizon, m.n_states, m.n_actions, m.n_outcomes, m.discount
    O, r = m.outcome_probs, m.private_rewards
    M = np.einsum("sak,skx->sax", O, successors(m))                     # next-state distribution per action
    nb = H * S * K
    n = nb + H * S

    def q_row(t: int, s: int, a: int) -> np.ndarray:
        """Coefficients of ``Q(t, s, a) − r(s, a)`` in the variables."""
        row = np.zeros(n)
        row[(t * S + s) * K:(t * S + s + 1) * K] = O[s, a]
        if t + 1 < H:
            row[nb + (t + 1) * S:nb + (t + 2) * S] = g * M[s, a]
        return row

    eq, eq_rhs, ub, ub_rhs = [], [], [], []
    for t in range(H):
        for s in range(S):
            u = np.zeros(n)
            u[nb + t * S + s] = 1.0
            pi = int(policy[t, s])
            eq.append(u - q_row(t, s, pi))
            eq_rhs.append(r[s, pi])
            for a in range(A):
                if a != pi:
                    ub.append(q_row(t, s, a) - u)
                    ub_rhs.append(-r[s, a])
    return (n, nb, np.array(eq), np.array(eq_rhs), np.array(ub).reshape(-1, n), np.array(ub_rhs))


def global_min_agent_value(m: ExternalityMDP, policy: np.ndarray) -> np.ndarray:
    """``min U(0, s)`` over every limited-liability Markov schedule under which ``policy`` is the
    agent's best response at every ``(t, s)``, for every ``s`` (one scipy LP per state)."""
    n, nb, A_eq, b_eq, A_ub, b_ub = _schedule_lp(m, policy)
    bounds = [(0, None)] * nb + [(None, None)] * (n - nb)
    out = np.empty(m.n_states)
    for s in range(m.n_states):
        c = np.zeros(n)
        c[nb + s] = 1.0
        res = linprog(c, A_ub=A_ub if A_ub.size else None, b_ub=b_ub if A_ub.size else None, A_eq=A_eq, b_eq=b_eq,
                      bounds=bounds, method="highs", options=_LP_OPTIONS)
        if res.status != 0:
            raise RuntimeError(f"linprog status {res.status} ({res.message}) minimising U(0, {s})")
        out[s] = res.fun
    return out


def minimality_evidence(m: ExternalityMDP, policy: np.ndarray, contract: np.ndarray, expected_payment: np.ndarray,
                        global_check: bool = True) -> Evidence:
    """(a) ``contract`` implements ``policy`` (limited liability, weak IC at every ``(t, s)`` given the
    evaluated continuation); (b) the claimed ``expected_payment`` is the payment of ``contract`` and the
    exact MIN-PAY at every ``(t, s)``; (c) with ``global_check``, the agent's value at ``t = 0`` is the
    minimum over all implementing schedules (module docstring)."""
    H, S = m.horizon, m.n_states
    policy, contract = np.asarray(policy), np.asarray(contract, dtype=float)
    U = evaluate_policies(m, policy[None], contract)[0][0]              # (H + 1, S)
    qbar = truncated_q(m, U)                                             # (H, S, A)
    q = qbar + np.einsum("sak,tsk->tsa", m.outcome_probs, contract)
    ic_scale = _scale(q)
    chosen = np.take_along_axis(q, policy[..., None], axis=2)[..., 0]
    gain = q.max(axis=2) - chosen
    t, s = np.unravel_index(int(np.argmax(gain)), gain.shape)
    items = [Evidence.at_most(float(gain[t, s]), 0.0, IC_TOL * ic_scale,
                              f"agent's gain from deviating at (t, s) = ({t}, {s})")]
    j = np.unravel_index(int(np.argmin(contract)), contract.shape)
    items.append(Evidence.at_least(float(contract[j]), 0.0, IC_TOL * ic_scale,
                                   f"limited liability at (t, s, o) = {tuple(int(i) for i in j)}"))
    states = np.arange(S)
    paid = np.einsum("tsk,tsk->ts", m.outcome_probs[states[None, :], policy], contract)
    items.append(_worst_equal(expected_payment, paid, EXACT_TOL * _scale(contract), "claimed expected payment"))
    F = [[_fractions(row) for row in m.outcome_probs[s]] for s in range(S)]
    for t in range(H):
        for s in range(S):
            exact = exact_min_pay(F[s], _fractions(-qbar[t, s]), int(policy[t, s]))
            if exact.value is None:
                items.append(Evidence(float(paid[t, s]), float("nan"), -np.inf, False,
                                      f"action {int(policy[t, s])} is not implementable at (t, s) = ({t}, {s}) "
                                      "given the continuation (exact)"))
                continue
            items.append(_worst_equal(paid[t, s], float(exact.value), MINPAY_TOL * _scale(qbar[t, s], paid[t, s]),
                                      f"payment against the exact MIN-PAY at (t, s) = ({t}, {s})"))
    if global_check:
        lowest = global_min_agent_value(m, policy)
        items.append(_worst_equal(U[0], lowest, LP_TOL * _scale(U),
                                  "agent value U(0, s) against min over all implementing schedules"))
    return Evidence.combine(items)


@theorem("welfare.stepwise_min_pay_minimal",
         "The transfers of implement_policy for the welfare optimum or any target policy (backward over the "
         "horizon, MIN-PAY at every (t, s) given the implemented continuation) (a) make the policy the agent's "
         "best response at every (t, s) with b >= 0; "
         "(b) pay in expectation, at every (t, s), exactly the MIN-PAY optimum (exact rational vertex "
         "enumeration) of the agent's truncated Q given the continuation values including future transfers; "
         "(c) are globally minimal: among all limited-liability Markov schedules under which the policy is the "
         "agent's best response at every (t, s), they give the agent the smallest value, hence the smallest "
         "expected total transfer, from every (t, s) (one LP over the whole schedule per start state; later "
         "steps are the start of shorter horizons). Not claimed: that each step's payment is minimal (promising "
         "more later can lower it). Assumes: limited liability, outcome-contingent Markov transfers, weak IC "
         "(the agent's ties go to the principal).",
         f"{DRT19}, LP (1) (MIN-PAY); {PARL}, Section 3 (minimal implementing contracts by backward induction); "
         "the minimality argument of contractlab/solvers/welfare.py", lambda: target_cases(tiny=True))
def check_stepwise_min_pay_minimal(case: TargetCase) -> Evidence:
    impl = implement_policy(case.model, case.target())
    return minimality_evidence(case.model, impl.policy, impl.contract, impl.expected_payment)


# --------------------------------------------------------------------------- welfare.optimal_actions_implementable

def implementability_evidence(m: ExternalityMDP, contract_policy: np.ndarray, contract: np.ndarray,
                              implementable: np.ndarray | None = None,
                              target_implementable: np.ndarray | None = None) -> Evidence:
    """Given the continuation ``U`` of ``contract_policy`` under ``contract`` (evaluated here), every
    action is implementable with its IC relaxed by its welfare shortfall ``δ`` (exact rational
    feasibility; ``δ`` from :func:`welfare_dp`), and, where given, the solver's ``implementable``
    ``(H, S, A)`` says so for every welfare-optimal action and ``target_implementable`` holds everywhere."""
    H, S, A = m.horizon, m.n_states, m.n_actions
    U = evaluate_policies(m, np.asarray(contract_policy)[None], contract)[0][0]
    qbar = truncated_q(m, U)
    qw = welfare_dp(m)
    delta = qw.max(axis=2, keepdims=True) - qw
    slack = IC_TOL * _scale(qbar, qw)
    F = [[_fractions(row) for row in m.outcome_probs[s]] for s in range(S)]
    failures, first, optimal = 0, "", 0
    for t in range(H):
        for s in range(S):
            cost = _fractions(-qbar[t, s])
            for a in range(A):
                optimal += bool(delta[t, s, a] <= slack)
                feasible = exact_min_pay(F[s], cost, a, margin=-Fraction(float(delta[t, s, a]) + slack)).feasible
                lib_ok = implementable is None or delta[t, s, a] > slack or bool(implementable[t, s, a])
                if not (feasible and lib_ok):
                    failures += 1
                    first = first or (f"action {a} at (t, s) = ({t}, {s}), welfare shortfall {delta[t, s, a]:.3g}: "
                                      + ("not implementable with that IC slack (exact)" if not feasible else
                                         "welfare-optimal but the solver calls it not implementable"))
    if target_implementable is not None and not np.asarray(target_implementable).all():
        failures += 1
        t, s = np.argwhere(~np.asarray(target_implementable))[0]
        first = first or f"the solver could not implement the welfare-optimal target at (t, s) = ({t}, {s})"
    return Evidence.at_most(float(failures), 0.0, 0.0, first or f"{H * S * A} (t, s, a) checked, {optimal} of them "
                                                                "welfare-optimal")


@theorem("welfare.optimal_actions_implementable",
         "Given the continuation of the implemented welfare optimum, every welfare-optimal action is implementable "
         "at every (t, s); more precisely, every action is implementable once the agent's IC is relaxed by its "
         "welfare shortfall max Q_W − Q_W(a) (exact rational feasibility), and the solver implements the "
         "welfare-optimal target everywhere. Holds in the pollution and insurance environments for all parameters "
         "(defaults, tied or vanishing likelihoods, drawn) and in every MDP with externalities. Assumes: nothing "
         "on the outcome rows (no full support or distinct likelihoods needed): welfare is the agent's truncated "
         "Q plus a term linear in the outcome distribution, and an action is not implementable only if a mixture "
         "of the others has its outcome distribution and a higher Q (Farkas).",
         f"{DRT19}, Section 2 (implementability via LP duality); the implementability argument of "
         f"contractlab/solvers/welfare.py, for the benchmarks of {HELOU}", environment_models)
def check_optimal_actions_implementable(m: ExternalityMDP) -> Evidence:
    impl = implement_policy(m, welfare_optimum(m).policy)
    return implementability_evidence(m, impl.policy, impl.contract, impl.implementable, impl.target_implementable)


__all__ = ["EXACT_TOL", "IC_TOL", "MINPAY_TOL", "LP_TOL", "MAX_POLICIES", "successors", "evaluate_policies",
           "truncated_q", "welfare_dp", "global_min_agent_value", "optimum_evidence", "cancel_evidence",
           "minimality_evidence", "implementability_evidence", "tiny_models", "environment_models", "target_cases",
           "fixed_environments", "TargetCase"]
