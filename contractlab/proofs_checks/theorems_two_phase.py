"""Theorems of the two-phase steering mechanism (:mod:`contractlab.learning.two_phase`).

The mechanism is our design after Helou (arXiv 2601.03451; abstract only). Its Phase 1 is a
bracketing search on the agent's advantages ``c_a = Q̄_t(s, a) − Q̄_t(s, a*)``, read from the agent's
responses to probe contracts; Phase 2 posts MIN-PAY for the upper ends plus a margin. What can be
stated exactly is checked here against a *best-responding* agent
(:class:`~contractlab.learning.externality_agents.BestResponder`, the response read from its
actions), where every response is the agent's true preference:

* ``two_phase.brackets_contain_truth`` — every bracket contains the true advantage, recomputed
  independently from the model: the agent's optimal Q-function against the Phase-2 schedule by
  :func:`contractlab.solvers.pamdp_policy.agent_best_response`, minus the step's own transfer.
  This is the soundness of the update rules (a response ``a*`` proves ``c_a <= (O(a*) − O(a))·b``,
  a response ``a'`` proves ``c_{a'} >= (O(a*) − O(a'))·b``) and of the prior bound ``±C_t``.
* ``two_phase.contracts_implement`` — every posted Phase-2 contract implements its target with IC
  slack at least ``margin`` against the true advantages, the agent's best response to the schedule
  follows the target there, and the expected payment is at least MIN-PAY for the true advantages
  (the batched HiGHS LP, ``min_pay_batch(method="lp")``, a different solver from the vertex
  enumeration the mechanism uses): the estimates never undercut the exact minimum.
* ``two_phase.best_response_reaches_optimum`` — when a contract is posted at every ``(t, s)`` that
  the target policy reaches from ``s_0``, every Phase-2 episode has expected welfare ``W*`` (the
  DP optimum of :func:`contractlab.solvers.welfare.welfare_optimum`).
* ``two_phase.episode_core_exact`` — the episode core's exact values (with which the welfare regret
  is measured) equal the PA-MDP solvers': DP optimum and policy evaluation with transfers.
* ``two_phase.transfers_welfare_neutral`` — with learning agents (Hedge, RM+, EXP3, Q-learning) on
  every episode of every run: agent utility + principal utility = welfare (transfers cancel ex
  post; up to float rounding, ``TOL`` relative), transfers are ``>= 0`` (limited liability), and
  no Phase-2 episode pays more than the posted schedule can.

The sublinear welfare regret with the mechanism and the linear one without it are statistical
claims over many episodes and seeds; they are tested in ``tests/test_two_phase.py`` with the
sublinearity test of :mod:`contractlab.proofs_checks.sublinearity` (too slow for ``verify``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from hypothesis import strategies as st

from ..learning.externality_agents import BestResponder, make_agent
from ..learning.two_phase import TwoPhase, steer
from ..solvers.min_pay_vertex import min_pay_batch
from ..solvers.pamdp_policy import agent_best_response, evaluate
from ..solvers.welfare import welfare_optimum
from ..theory.contract_policy import ContractPolicy
from ..theory.externality_families import random_externality
from ..theory.externality_sim import pad, policy_values
from .registry import Evidence, theorem

#: Relative slack of the exact checks (sums of a few dozen products of probabilities and rewards).
TOL = 1e-9
#: Runs per drawn instance and Phase-2 episodes after Phase 1 (the best responder needs no more).
RUNS, PHASE_TWO = 2, 4
SOURCE = ("Helou, Microeconomic Foundations of Multi-Agent Learning (arXiv 2601.03451), the two-phase "
          "mechanism as designed in contractlab.learning.two_phase; MIN-PAY: Ivanov et al., arXiv 2407.18074, Sec. 3")


@dataclass(frozen=True)
class SteeringCase:
    """A drawn instance: ``random_externality(seed, S, A, K, H)``, a margin and a number of probes."""

    seed: int
    n_states: int
    n_actions: int
    n_outcomes: int
    horizon: int
    margin: float
    probes: int
    stochastic: bool
    discount: float = 1.0

    def model(self):
        m = random_externality(self.seed, self.n_states, self.n_actions, self.n_outcomes, self.horizon,
                               stochastic=self.stochastic)
        return m if self.discount == 1.0 else m.replace(discount=self.discount)

    def config(self) -> TwoPhase:
        # blocks of 2 episodes (min_block), the response read from the actions of the second one
        return TwoPhase(probes=self.probes, block_scale=1e-9, min_block=2, margin=self.margin, observe="actions",
                        min_visits=1)


def steering_cases():
    return st.builds(SteeringCase, seed=st.integers(0, 2**31 - 1), n_states=st.integers(1, 3),
                     n_actions=st.integers(2, 3), n_outcomes=st.integers(2, 3), horizon=st.integers(1, 3),
                     margin=st.sampled_from([0.0, 0.01, 0.1]), probes=st.integers(1, 6), stochastic=st.booleans(),
                     discount=st.sampled_from([1.0, 0.9, 0.5]))


@lru_cache(maxsize=64)
def _best_response_run(case: SteeringCase):
    model = case.model()
    cfg = case.config()
    T = model.horizon * cfg.probes * cfg.block_length(1) + PHASE_TWO
    return model, steer(model, BestResponder(), T, seeds=range(RUNS), config=cfg)


def true_advantages(model, run, r: int):
    """``(c, response)``: the agent's true advantages ``c[t, s, a] = Q̄(a) − Q̄(a*)`` against run
    ``r``'s Phase-2 schedule, and its best response to that schedule (solvers, not the mechanism)."""
    mdp = model.to_pamdp()
    response = agent_best_response(mdp, ContractPolicy(np.asarray(run.target), run.contract[r]))
    q = np.asarray(response.q)
    qbar = q - np.einsum("sak,tsk->tsa", mdp.outcome_probs, run.contract[r])
    c = qbar - np.take_along_axis(qbar, np.asarray(run.target)[..., None], axis=2)
    return c, response


def _scale(model) -> float:
    return max(1.0, float(np.abs(model.private_rewards).max()) * model.horizon)


@theorem("two_phase.brackets_contain_truth",
         "Against a best-responding agent, after Phase 1 every bracket [lo_a, hi_a] of the two-phase mechanism "
         "contains the agent's true advantage c_a = Q̄_t(s, a) − Q̄_t(s, a*) at every step t, state s and "
         "competitor a (probed or not: the prior ±C_t is a sure bound).",
         SOURCE, steering_cases)
def check_brackets(case: SteeringCase) -> Evidence:
    return brackets_evidence(*_best_response_run(case))


def brackets_evidence(model, run) -> Evidence:
    """The check of ``two_phase.brackets_contain_truth`` on a finished best-responder run."""
    tol = TOL * _scale(model)
    worst = []
    for r in range(len(run.seeds)):
        c, _ = true_advantages(model, run, r)
        other = ~np.isnan(run.low[r])
        below = np.where(other, c - run.low[r], np.inf).min(initial=np.inf)
        above = np.where(other, run.high[r] - c, np.inf).min(initial=np.inf)
        worst.append(min(below, above))
    margin = float(min(worst))
    if not np.isfinite(margin):
        return Evidence.vacuous("one action: nothing to bracket")
    return Evidence.at_least(margin, -tol, 0.0, f"smallest distance of a true advantage inside its bracket "
                                               f"over {len(run.seeds)} runs")


@theorem("two_phase.contracts_implement",
         "Against a best-responding agent, every Phase-2 contract b posted at (t, s) satisfies "
         "(O(a*) − O(a))·b >= c_a + margin for every competitor a (true advantages), the agent's best response "
         "to the Phase-2 schedule plays a* there, and O(a*)·b >= MIN-PAY(c) (the HiGHS LP, not the mechanism's vertex method): the estimates "
         "never undercut the exact minimal transfer.",
         SOURCE, steering_cases)
def check_contracts(case: SteeringCase) -> Evidence:
    return contracts_evidence(*_best_response_run(case))


def contracts_evidence(model, run) -> Evidence:
    """The check of ``two_phase.contracts_implement`` on a finished best-responder run."""
    tol = TOL * _scale(model)
    O = model.outcome_probs
    items, F, costs, actions, paid, where = [], [], [], [], [], []
    for r in range(len(run.seeds)):
        c, response = true_advantages(model, run, r)
        for t, s in zip(*np.nonzero(run.implemented[r])):
            a_star = int(run.target[t, s])
            b = run.contract[r, t, s]
            slack = (O[s, a_star] - O[s]) @ b - c[t, s]
            slack[a_star] = np.inf
            items.append(Evidence.at_least(float(slack.min()), run.config.margin, tol,
                                           f"IC slack at run {r}, (t, s) = ({t}, {s})"))
            follows = int(np.asarray(response.policy)[t, s]) == a_star
            items.append(Evidence.at_least(float(follows), 1.0, 0.0, f"best response follows a* at ({t}, {s})"))
            F.append(O[s]), costs.append(-c[t, s]), actions.append(a_star), paid.append(float(O[s, a_star] @ b))
            where.append((r, int(t), int(s)))
    if not items:
        return Evidence.vacuous("no contract posted (no state informed)")
    exact = min_pay_batch(np.array(F), np.array(costs), np.array(actions), method="lp")
    for (r, t, s), pay, low, ok in zip(where, paid, exact.expected_payment, exact.implementable):
        items.append(Evidence.at_least(float(ok), 1.0, 0.0, f"MIN-PAY LP finds a* implementable at run {r}, ({t}, {s})"))
        items.append(Evidence.at_least(pay, float(low), tol, f"payment vs MIN-PAY (LP) at run {r}, ({t}, {s})"))
    return Evidence.combine(items)


def _reached(model, policy: np.ndarray) -> np.ndarray:
    """``(H, S)``: the states the deterministic ``policy`` reaches with positive probability."""
    mdp = model.to_pamdp()
    S, H = mdp.n_states, mdp.horizon
    reach = np.zeros((H, S), dtype=bool)
    dist = np.zeros(S)
    dist[mdp.initial_state] = 1.0
    for t in range(H):
        reach[t] = dist > 0
        out = np.einsum("s,sk->sk", dist, mdp.outcome_probs[np.arange(S), policy[t]])
        if mdp.next_state is not None:
            nxt = np.zeros(S)
            ok = mdp.next_state >= 0
            np.add.at(nxt, mdp.next_state[ok], out[ok])
            dist = nxt
        else:
            dist = np.einsum("sk,skp->p", out, mdp.transitions)
    return reach


@theorem("two_phase.best_response_reaches_optimum",
         "Against a best-responding agent, if Phase 1 posts a contract at every (t, s) that the welfare-optimal "
         "policy reaches from s_0, every Phase-2 episode has expected welfare W* (the DP optimum).",
         SOURCE, steering_cases)
def check_reaches_optimum(case: SteeringCase) -> Evidence:
    model, run = _best_response_run(case)
    reach = _reached(model, np.asarray(run.target))
    covered = [bool(run.implemented[r][reach].all()) for r in range(len(run.seeds))]
    if not any(covered):
        return Evidence.vacuous("no run covered every state the optimum reaches")
    w_star = welfare_optimum(model).welfare
    tail = run.expected_welfare[np.array(covered), run.phase_one_length:]
    worst = float(tail.min())
    return Evidence.at_least(worst, w_star, TOL, f"lowest Phase-2 expected welfare over {sum(covered)} covered runs")


@theorem("two_phase.episode_core_exact",
         "The episode core's exact values (contractlab.theory.externality_sim.policy_values, with which the "
         "welfare regret is measured and the full-information agents learn) equal the PA-MDP solvers': the "
         "welfare of the optimal policy is W* (DP), and for a drawn deterministic policy and drawn transfers "
         "the welfare and the agent's value at every (t, s) equal policy evaluation.",
         "Puterman, Markov Decision Processes (1994), Sec. 4.2 (finite-horizon policy evaluation); Ivanov et al., "
         "arXiv 2407.18074, Sec. 3 (the agent's value with transfers)", steering_cases)
def check_episode_core(case: SteeringCase) -> Evidence:
    model = case.model()
    m = pad(model)
    H, S, A, K = model.horizon, model.n_states, model.n_actions, model.n_outcomes
    rng = np.random.default_rng(case.seed)
    opt = welfare_optimum(model)
    drawn = rng.integers(0, A, (H, S))
    transfers = np.zeros((2, H, S + 1, K))
    transfers[:, :, :S] = rng.uniform(0.0, 1.0, (2, H, S, K))
    policy = np.zeros((2, H, S + 1, A))
    for r, pol in enumerate((np.asarray(opt.policy), drawn)):
        policy[r, np.arange(H)[:, None], np.arange(S)[None, :], pol] = 1.0
    policy[:, :, S, 0] = 1.0
    values = policy_values(m, policy, transfers)
    scale = _scale(model)
    items = [Evidence.equal(float(values["welfare"][0, 0, model.initial_state]), opt.welfare, TOL * scale,
                            "welfare of the optimal policy vs the DP's W*")]
    mdp = model.to_pamdp()
    for r, pol in enumerate((np.asarray(opt.policy), drawn)):
        exact = evaluate(mdp, ContractPolicy(pol, transfers[r, :, :S]), pol)
        gap_w = float(np.abs(values["welfare"][r, :, :S] - exact.welfare).max())
        gap_a = float(np.abs(values["agent"][r, :, :S] - exact.agent_value).max())
        items.append(Evidence.at_most(gap_w, 0.0, TOL * scale, f"policy {r}: max |welfare − evaluate|"))
        items.append(Evidence.at_most(gap_a, 0.0, TOL * scale, f"policy {r}: max |agent value − evaluate|"))
    return Evidence.combine(items)


# --------------------------------------------------------------------------- learning agents


@dataclass(frozen=True)
class LearnerCase:
    seed: int
    agent: str
    mechanism: str
    n_states: int
    n_actions: int
    horizon: int
    episodes: int


def learner_cases():
    return st.builds(LearnerCase, seed=st.integers(0, 2**31 - 1),
                     agent=st.sampled_from(["hedge", "rm+", "exp3", "q-learning"]),
                     mechanism=st.sampled_from(["two-phase", "none"]), n_states=st.integers(1, 3),
                     n_actions=st.integers(2, 3), horizon=st.integers(1, 3), episodes=st.integers(1, 40))


@theorem("two_phase.transfers_welfare_neutral",
         "On every episode of every run of the mechanism against a learning agent: agent utility Σ γ^t (r + b) "
         "plus principal utility Σ γ^t (e − b) equals the welfare Σ γ^t (r + e) (transfers cancel ex post), "
         "every transfer is >= 0, and no Phase-2 episode pays more than the posted schedule's largest entry per step.",
         SOURCE + "; the accounting of contractlab.theory.externality", learner_cases)
def check_neutral(case: LearnerCase) -> Evidence:
    model = random_externality(case.seed, case.n_states, case.n_actions, 2, case.horizon)
    cfg = TwoPhase(probes=2, block_scale=1e-9, min_block=4, min_visits=1)
    run = steer(model, make_agent(case.agent), case.episodes, seeds=range(RUNS), mechanism=case.mechanism, config=cfg)
    scale = max(1.0, float(np.abs(run.welfare).max()), float(np.abs(run.transfer).max()))
    items = [Evidence.at_most(run.neutrality_error(), 0.0, TOL * scale, "max |agent + principal − welfare|"),
             Evidence.at_least(float(run.transfer.min()), 0.0, 0.0, "smallest transfer of an episode")]
    if run.horizon > run.phase_one_length:
        posted = run.contract.max(initial=0.0)
        items.append(Evidence.at_most(float(run.transfer[:, run.phase_one_length:].max(initial=0.0)),
                                      float(posted) * sum(model.discount ** k for k in range(model.horizon)),
                                      TOL * scale, "Phase-2 transfers within what the schedule can pay"))
    return Evidence.combine(items)


__all__ = ["SteeringCase", "LearnerCase", "steering_cases", "learner_cases", "brackets_evidence",
           "contracts_evidence", "true_advantages"]
