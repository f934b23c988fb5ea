"""Contraction checked against the tabular learner, not only the exact operator (issue 12).

The tabular learned principal (:mod:`contractlab.learning.tabular`; Ivanov et al., arXiv
2407.18074, Section 5 / Appendix D), run in its *synchronous expected-update* mode with the agent
held at fixed continuation values (:meth:`TabularLearner.set_agent_continuation`,
:meth:`TabularLearner.expected_sweep`), is the principal's operator ``T`` of Section 3.2 —
averaged with the identity for a step ``α < 1`` — so it moves toward the exact fixed point ``q*``
(:func:`~contractlab.solvers.meta_algorithm.principal_fixed_point`) at rate ``1 − α + αγ`` per
sweep; on trees, DAGs and finite horizons ``depth`` sweeps are backward induction. Its normal
*asynchronous sampled* mode (:meth:`TabularLearner.train`, one sampled transition per step) has
no such per-step bound: on a concrete instance it fails the rate-γ inequality at most steps,
its error even grows at some steps, and yet it converges over many steps.

The registered theorems ``tabular.sweep_is_operator``, ``tabular.sweep_contraction`` and
``tabular.relaxed_sweep_contraction`` are run on drawn instances by ``tests/test_theorems.py``;
here are the invariants around them and the asynchronous counterexample.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contractlab.learning.tabular import TabularConfig, TabularLearner
from contractlab.proofs_checks.theorems_learning import (check_sweep_is_operator, check_sweeps_contract,
                                                         held_learner, learner_q, sweep_instances)
from contractlab.proofs_checks.theorems_pamdp import _discounted_instances, pamdp_instances
from contractlab.solvers.meta_algorithm import principal_fixed_point, principal_operator
from contractlab.solvers.spe import solve_spe
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp import PrincipalAgentMDP
from contractlab.theory.pamdp_families import random_discounted

#: The same sums in a different order (learner vs solver), relative to max(1, |value|).
ROUND_OFF = 1e-12
seeds = st.integers(0, 2**32 - 1)


def sup_error(learner: TabularLearner, q: np.ndarray) -> float:
    """``||Q_p − q||_∞`` over the entries where ``q`` is finite (the implementable actions)."""
    finite = np.isfinite(q)
    return float(np.abs(learner.principal_q[finite] - q[finite]).max(initial=0.0))


def rel(x: float, scale) -> float:
    return x / max(1.0, float(np.max(np.abs(scale), initial=0.0)))


# --------------------------------------------------------------------------- the synchronous expected mode

@settings(max_examples=40)
@given(sweep_instances(), st.one_of(st.floats(0.01, 1.0), st.just(1.0)))
def test_a_sweep_with_step_alpha_is_the_averaged_operator(instance, alpha):
    """Q_{k+1} = (1 − α) Q_k + α T Q_k on the implementable actions, T = principal_operator for the
    agent values the learner is held at, and the learner allows exactly the implementable actions."""
    mdp, update, scale, seed = instance
    learner, agent_value = held_learner(mdp, update, scale, seed)
    q = learner_q(learner)
    tq = principal_operator(mdp, q, agent_value)
    finite = np.isfinite(tq)
    assert np.array_equal(finite, learner.allowed)
    learner.expected_sweep(alpha)
    expected = (1 - alpha) * q[finite] + alpha * tq[finite]
    assert rel(np.abs(learner.principal_q[finite] - expected).max(initial=0.0), expected) <= ROUND_OFF


@settings(max_examples=25)
@given(_discounted_instances(), st.floats(0.05, 1.0), seeds)
def test_both_update_rules_sweep_the_same_q_table(mdp, alpha, seed):
    """The "outcome" rule moves r̂_p and U, the "sample" rule moves Q_p itself; started from the same
    Q_p, their sweeps give the same tables (Q_p is affine in r̂_p and U with weights summing to 1)."""
    outcome, agent_value = held_learner(mdp, "outcome", 3.0, seed)
    sample = TabularLearner(mdp, TabularConfig(n_envs=1, principal_update="sample"), seed=0)
    sample.principal_q_table[:] = outcome.principal_q_table
    sample.set_agent_continuation(agent_value)
    assert np.array_equal(sample.principal_q, outcome.principal_q)
    for _ in range(5):
        outcome.expected_sweep(alpha)
        sample.expected_sweep(alpha)
        allowed = outcome.allowed
        diff = np.abs(sample.principal_q_table[allowed] - outcome.principal_q_table[allowed]).max(initial=0.0)
        assert rel(diff, outcome.principal_q_table[allowed]) <= ROUND_OFF
        assert rel(np.abs(sample.principal_value - outcome.principal_value).max(), outcome.principal_value) \
            <= ROUND_OFF


@settings(max_examples=25)
@given(sweep_instances())
def test_sweeps_reach_the_exact_fixed_point(instance):
    """After n sweeps with step 1, ||Q_n − q*|| <= γ^n ||Q_0 − q*|| + 2ε (ε: the a-posteriori bound of
    the computed q*): with n chosen so that γ^n ||Q_0 − q*|| <= 1e-10, the learner's table IS q*."""
    mdp, update, scale, seed = instance
    learner, agent_value = held_learner(mdp, update, scale, seed)
    fp = principal_fixed_point(mdp, agent_value)
    assert fp.converged
    e0 = sup_error(learner, fp.q)
    g = mdp.discount
    n = 1 if e0 <= 1e-10 else int(np.ceil(np.log(1e-10 / e0) / np.log(g)))
    for _ in range(n):
        learner.expected_sweep(1.0)
    assert sup_error(learner, fp.q) <= g**n * e0 + 2 * fp.error_bound + ROUND_OFF * max(1.0, e0)
    # and so the learner's greedy choice is a maximiser of q* at every state
    finite = np.isfinite(fp.q)
    chosen = fp.q[np.arange(mdp.n_states), learner.greedy]
    assert np.all(chosen >= np.max(np.where(finite, fp.q, -np.inf), axis=1) - 1e-8)


def _steps_to_end(mdp: PrincipalAgentMDP) -> int:
    return mdp.horizon if mdp.horizon is not None else len(mdp.levels())


@settings(max_examples=30)
@given(pamdp_instances())
def test_depth_sweeps_are_backward_induction(mdp):
    """Trees, DAGs and finite horizons (γ up to 1, where the contraction factor is 1): with the agent
    held at its SPE values, as many sweeps as there are steps to the end give the SPE principal Q
    on every implementable action (and the same implementable actions), from the fresh learner."""
    spe = solve_spe(mdp)
    learner = TabularLearner(mdp, TabularConfig(n_envs=1), seed=0)
    learner.set_agent_continuation(spe.agent_value)
    assert np.array_equal(learner.allowed.reshape(spe.implementable.shape), spe.implementable)
    for _ in range(_steps_to_end(mdp)):
        learner.expected_sweep()
    finite = spe.implementable
    err = np.abs(learner.principal_q[finite] - spe.principal_q[finite]).max(initial=0.0)
    assert rel(err, spe.principal_q[finite]) <= 1e-9
    values = learner.principal_value.reshape(spe.principal_value.shape)
    assert rel(np.abs(values - spe.principal_value).max(), spe.principal_value) <= 1e-9


def test_sweeps_draw_nothing_and_resume_exactly(tmp_path):
    """set_agent_continuation and expected_sweep draw no random numbers and leave the iteration and the
    visit counters alone; a checkpoint saved after them resumes bit for bit."""
    mdp = random_discounted(4, 3, 2, 0.8, seed=3)
    cfg = TabularConfig(n_envs=4, iterations=40)
    learner = TabularLearner(mdp, cfg, seed=1)
    learner.train(10)
    before = (learner.iteration, learner.rng.bit_generator.state, learner.sim.rng.bit_generator.state,
              learner.sim.state.copy(), learner.agent_count.copy(), learner.principal_count.copy(),
              learner.principal_outcome_count.copy())
    learner.set_agent_continuation(np.linspace(-1.0, 1.0, 4))
    q0 = learner.principal_q.copy()
    for _ in range(3):
        learner.expected_sweep(0.5)
    assert not np.array_equal(learner.principal_q, q0)
    after = (learner.iteration, learner.rng.bit_generator.state, learner.sim.rng.bit_generator.state,
             learner.sim.state.copy(), learner.agent_count.copy(), learner.principal_count.copy(),
             learner.principal_outcome_count.copy())
    assert before[:3] == after[:3]
    assert all(np.array_equal(a, b) for a, b in zip(before[3:], after[3:]))
    learner.save(tmp_path / "swept.npz")
    resumed = TabularLearner.load(tmp_path / "swept.npz", mdp)
    learner.train(10)
    resumed.train(10)
    learner.save(tmp_path / "a.npz")
    resumed.save(tmp_path / "b.npz")
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for name in a.files:
            assert np.array_equal(a[name], b[name]), name


@pytest.mark.parametrize("step", [0.0, -0.5, 1.5, float("nan"), float("inf"), True, "1"])
def test_bad_step_names_the_field(step):
    learner = TabularLearner(random_discounted(2, 2, 2, 0.5, seed=0), TabularConfig(n_envs=1))
    with pytest.raises(InvalidInstanceError) as err:
        learner.expected_sweep(step)
    assert err.value.field == "step"


@pytest.mark.parametrize("value", [np.zeros(3), np.zeros((2, 1)), np.array([0.0, np.nan]), np.array([np.inf, 0.0])])
def test_bad_agent_values_name_the_field(value):
    learner = TabularLearner(random_discounted(2, 2, 2, 0.5, seed=0), TabularConfig(n_envs=1))
    with pytest.raises(InvalidInstanceError) as err:
        learner.set_agent_continuation(value)
    assert err.value.field == "agent_value"


# --------------------------------------------------------------------------- the checks can fail

#: A random discounted instance, fresh learner: the measured rate approaches γ = 0.9 (0.89999).
TIGHT = (random_discounted(4, 3, 2, 0.9, seed=3), "outcome", 0.0, 0)


def test_the_rate_gamma_is_attained():
    """From q* + c·γ (every U(s, o) shifted by the same c: Q_p is shifted by γc on every action, as
    Σ_o O(s, a, o) = 1), one sweep gives q* + γ²c: the ratio is γ exactly, so no smaller rate holds."""
    mdp, update, scale, seed = TIGHT
    learner, agent_value = held_learner(mdp, update, scale, seed)
    fp = principal_fixed_point(mdp, agent_value)
    for _ in range(400):                                           # 0.9^400 ~ 5e-19
        learner.expected_sweep()
    learner.principal_outcome_value += 1.0
    learner.set_agent_continuation(agent_value)                    # rebuilds Q_p from the shifted U
    e0 = sup_error(learner, fp.q)
    learner.expected_sweep()
    e1 = sup_error(learner, fp.q)
    assert abs(e0 - mdp.discount) <= 1e-9 and abs(e1 / e0 - mdp.discount) <= 1e-9


def test_a_smaller_rate_fails_the_check():
    """The contraction check passes at ρ = γ and fails at ρ = γ − 0.05 (measured rate 0.89999 for γ = 0.9):
    it is not vacuous."""
    mdp, update, scale, seed = TIGHT
    assert check_sweeps_contract(mdp, update, scale, seed).passed
    assert not check_sweeps_contract(mdp, update, scale, seed, rate=mdp.discount - 0.05).passed


def test_a_wrong_sweep_is_caught(monkeypatch):
    """A learner whose expected target is 1% off (a wrong continuation) is not the operator T."""
    mdp, update, scale, seed = TIGHT
    real = TabularLearner._expected_next
    monkeypatch.setattr(TabularLearner, "_expected_next", lambda self, v: 0.99 * real(self, v))
    assert not check_sweep_is_operator((mdp, update, scale, seed)).passed


# --------------------------------------------------------------------------- the asynchronous sampled mode

def noisy_instance() -> PrincipalAgentMDP:
    """Two states, two actions, two outcomes, next state uniform whatever the outcome (so a sampled
    target is noisy), γ = 0.9, and an agent with zero rewards: it is indifferent between its actions,
    follows every recommendation for the zero contract, and its learned tables stay exactly 0 — so the
    fixed agent continuation values 0 hold throughout the sampled run and q* = the fixed point of T
    for them is the right target at every step (the test asserts this premise)."""
    O = np.array([[[0.8, 0.2], [0.3, 0.7]], [[0.6, 0.4], [0.1, 0.9]]])
    rp = np.array([[1.0, 0.0], [0.0, 2.0]])
    return PrincipalAgentMDP(O, np.zeros((2, 2)), rp, transitions=np.full((2, 2, 2), 0.5), discount=0.9)


def sampled_errors(mdp: PrincipalAgentMDP, q: np.ndarray, steps: int, seed: int,
                   learner: TabularLearner | None = None) -> np.ndarray:
    """``||Q_k − q*||_∞`` for k = 0..steps of the learner's normal mode: one sampled transition per step
    (``n_envs = 1``), the principal learning throughout (``agent_only_fraction = 0``), default updates
    and step sizes; asserts at every step that the agent's tables and the contracts are still 0."""
    if learner is None:
        learner = TabularLearner(mdp, TabularConfig(n_envs=1, iterations=steps, agent_only_fraction=0.0), seed=seed)
    errors = [sup_error(learner, q)]

    def record(iteration, total, metrics):
        assert not learner.agent_q_table.any() and not learner.contracts.any()
        errors.append(sup_error(learner, q))

    learner.train(steps, callback=record)
    return np.asarray(errors)


def test_sampled_mode_does_not_contract_per_step_but_converges():
    """On :func:`noisy_instance`, 5 seeds × 2000 sampled steps from the fresh learner:

    - per step, ||Q_{k+1} − q*|| <= γ ||Q_k − q*|| FAILS — at most steps, since one step moves only the
      visited state's entries, and the error even GROWS (||Q_{k+1} − q*|| > ||Q_k − q*||) at some steps,
      because the target is a sampled next state;
    - over many steps it still converges (step sizes n^−0.7: Σα = ∞, Σα² < ∞, every state visited
      infinitely often — asynchronous stochastic approximation; Tsitsiklis 1994, Jaakkola, Jordan &
      Singh 1994). Checked at a finite horizon only: error after 2000 steps <= 0.25 of the initial one
      on every seed (measured 0.12–0.15 over 20 seeds; slack 0.1), and the mean over seeds decreases
      from step 20 to 200 to 2000.
    """
    mdp = noisy_instance()
    fp = principal_fixed_point(mdp, np.zeros(2))
    g = mdp.discount
    runs = np.array([sampled_errors(mdp, fp.q, 2000, seed) for seed in range(5)])
    slack = 2 * fp.error_bound
    for e in runs:
        assert (e[1:] > g * e[:-1] + slack).sum() >= 1000          # measured ~2000 of 2000
        assert (e[1:] > e[:-1] + slack).any()                      # the error grows at some step
        assert e[-1] <= 0.25 * e[0]
    mean = runs.mean(axis=0)
    assert mean[2000] < mean[200] < mean[20] < mean[0]


def test_one_sampled_step_leaves_the_fixed_point_a_sweep_does_not():
    """Bring the learner to q* with expected sweeps (error <= 1e-9); an expected sweep keeps it there
    (rate γ applied to ~0), but ONE sampled step of its normal mode moves it away by a visible
    amount: >= 0.1 on every one of 5 seeds. The first sample of an entry gets step 1, so U(s, o)
    jumps to V*(s') for the drawn s' — 0.5 away from its expectation (V* = 12.5 and 13.5) — and
    Q_p(s, ·) by γ·O(s, a, o)·0.5: measured 0.315 or 0.36 on 20 seeds."""
    mdp = noisy_instance()
    fp = principal_fixed_point(mdp, np.zeros(2))
    for seed in range(5):
        learner = TabularLearner(mdp, TabularConfig(n_envs=1, iterations=10, agent_only_fraction=0.0), seed=seed)
        learner.set_agent_continuation(np.zeros(2))
        for _ in range(400):                                       # 0.9^400 · 14 ~ 6e-18
            learner.expected_sweep()
        assert sup_error(learner, fp.q) <= 1e-9
        learner.expected_sweep()
        assert sup_error(learner, fp.q) <= 1e-9
        errors = sampled_errors(mdp, fp.q, 1, seed, learner)
        assert errors[1] >= 0.1 > 1e-9 >= errors[0]


def test_noise_free_sampled_mode_converges_but_not_at_rate_gamma_per_step():
    """Next state = outcome (no sampling noise in the targets; the default "outcome" update then has
    step 1): the sampled mode reaches q* (error <= 1e-9 after 2000 steps), yet the per-step rate-γ
    inequality fails at many steps (an update touches one state; the others keep their error)."""
    base = noisy_instance()
    mdp = PrincipalAgentMDP(base.outcome_probs, base.agent_rewards, base.principal_rewards,
                            next_state=np.array([[0, 1], [0, 1]]), discount=0.9)
    fp = principal_fixed_point(mdp, np.zeros(2))
    for seed in range(2):
        e = sampled_errors(mdp, fp.q, 2000, seed)
        assert (e[1:] > mdp.discount * e[:-1] + 2 * fp.error_bound).sum() >= 100   # measured ~800
        assert e[-1] <= 1e-9
