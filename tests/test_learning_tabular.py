"""The tabular learned principal + Q-learning agent (contractlab.learning.tabular; arXiv
2407.18074, Section 5 / Appendix D), checked against the exact answers: the SPE of
:func:`solve_spe` on trees / DAGs / finite horizons, the meta-algorithm on discounted cyclic
instances, and always an EXACT best-responding agent (:func:`agent_best_response`) for the value
of the learned policy. Plus: exact resume from checkpoints, callback stop, learning curves,
refusal of bad configurations and of a checkpoint written for another MDP.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from contractlab.learning.checkpoint import save_checkpoint
from contractlab.learning.tabular import KIND, TabularConfig, TabularLearner, TrainResult, mdp_fingerprint
from contractlab.solvers.meta_algorithm import meta_algorithm
from contractlab.solvers.pamdp_policy import agent_best_response
from contractlab.solvers.spe import solve_spe
from contractlab.theory.errors import InvalidFileError, InvalidInstanceError
from contractlab.theory.pamdp import PrincipalAgentMDP
from contractlab.theory.pamdp_families import (binary_game_tree, contractual_rl, random_dag, random_discounted,
                                               random_tree)

#: A short run for trees of depth <= 5: 64 lockstep episodes, 300 iterations (~20k transitions).
SMALL = TabularConfig(n_envs=64, iterations=300)
#: The spec'd bar: learned value >= RATIO × SPE value against an exact best-responding agent.
RATIO = 0.99
#: Exact computations of the same quantity by different routes agree to this (float64 round-off).
EXACT_TOL = 1e-9


def replace(m: PrincipalAgentMDP, **kw) -> PrincipalAgentMDP:
    data = dict(outcome_probs=m.outcome_probs, agent_rewards=m.agent_rewards, principal_rewards=m.principal_rewards,
                next_state=m.next_state, transitions=m.transitions, discount=m.discount, horizon=m.horizon,
                initial_state=m.initial_state)
    data.update(kw)
    return PrincipalAgentMDP(**data)


def true_truncated_q(mdp: PrincipalAgentMDP, policy, response) -> np.ndarray:
    """``Q̄`` of the exact agent against ``policy``: its Q-function minus this step's expected payment."""
    O = mdp.outcome_probs if response.q.ndim == 2 else mdp.outcome_probs[None]
    return response.q - np.einsum("...ak,...k->...a", O, policy.contract)


def strict_gap(response, policy) -> np.ndarray:
    """Per state: exact agent's Q of the recommended action minus its best other action."""
    q = np.asarray(response.q)
    rec = policy.action
    chosen = np.take_along_axis(q, rec[..., None], axis=-1)[..., 0]
    others = q.copy()
    np.put_along_axis(others, rec[..., None], -np.inf, axis=-1)
    return chosen - others.max(axis=-1)


def value_ratio(mdp, learner, reference: float) -> float:
    return agent_best_response(mdp, learner.policy()).principal_start / reference


# --------------------------------------------------------------------------- convergence to SPE

@pytest.mark.parametrize("depth", [3, 4, 5])
def test_binary_trees_reach_spe_value(depth):
    """App. D.1 binary game trees, 3 trees × 2 learner seeds: the learned policy against the EXACT
    best-responding agent gets >= 0.99 of the SPE value, and recommends the SPE action wherever
    the SPE's best action beats the runner-up by more than 1e-7. Slack: with the default
    ("outcome") updates the learner is exact on deterministic trees (measured ratio 1.000000 on
    all 18 runs); 0.99 is the bar of the spec."""
    for tree in range(3):
        mdp = binary_game_tree(depth, seed=tree)
        spe = solve_spe(mdp)
        q = np.sort(spe.principal_q, axis=1)
        clear = q[:, -1] - q[:, -2] > 1e-7
        for seed in range(2):
            learner = TabularLearner(mdp, SMALL, seed=seed)
            learner.train()
            ratio = value_ratio(mdp, learner, spe.principal_value_initial)
            assert ratio >= RATIO, (depth, tree, seed, ratio)
            assert np.array_equal(learner.policy().action[clear], spe.policy.action[clear])


@pytest.mark.parametrize("make", [lambda s: random_tree(3, 3, 3, seed=s), lambda s: random_dag(30, 3, 3, seed=s)],
                         ids=["random_tree", "random_dag"])
def test_three_actions_reach_spe_value(make):
    """3 actions × 3 outcomes (vertex enumeration of MIN-PAY with bases up to 2x2), trees and DAGs,
    3 instances: >= 0.99 of the SPE value (measured 1.000000)."""
    for s in range(3):
        mdp = make(s)
        spe = solve_spe(mdp)
        learner = TabularLearner(mdp, SMALL, seed=s)
        learner.train()
        assert value_ratio(mdp, learner, spe.principal_value_initial) >= RATIO


def test_learned_tables_match_spe_on_visited_states():
    """Depth-5 tree: at every (state, action) visited at least 20 times the learned Q̄ equals the
    SPE's truncated agent_q, and the principal's Q_p its principal_q (implementable actions), to
    round-off — the "outcome" targets carry no sampling noise on a tree."""
    mdp = binary_game_tree(5, seed=7)
    spe = solve_spe(mdp)
    learner = TabularLearner(mdp, SMALL, seed=3)
    learner.train()
    often = learner.visits >= 20
    assert often.mean() > 0.9                              # the check covers almost every pair
    assert np.abs(learner.agent_q - spe.agent_q)[often].max() <= EXACT_TOL
    mask = often & spe.implementable
    assert np.abs(learner.principal_q - spe.principal_q)[mask].max() <= EXACT_TOL


# --------------------------------------------------------------------------- the textbook ("sample") updates

def test_sample_agent_learns_truncated_q_and_is_followed():
    """Plain Q-learning agent (``agent_update="sample"``) with margin ξ = 0.02 on depth-4 trees:
    on (state, action) pairs visited >= 500 times its Q̄ is within ξ/2 = 0.01 of the exact agent's
    truncated Q-function against the learned policy (measured <= 0.003), so the exact agent
    follows there; and the policy keeps >= 0.9 of the SPE value (measured 0.956-0.973: the margin
    costs about ξ·P(o|a)/ΔP per step)."""
    xi = 0.02
    cfg = TabularConfig(n_envs=128, iterations=1000, agent_update="sample", margin=xi)
    for tree in range(3):
        mdp = binary_game_tree(4, seed=tree)
        learner = TabularLearner(mdp, cfg, seed=tree)
        learner.train()
        policy = learner.policy()
        response = agent_best_response(mdp, policy)
        often = learner.visits >= 500
        assert often.any()
        err = np.abs(learner.agent_q - true_truncated_q(mdp, policy, response))[often]
        assert err.max() < xi / 2, err.max()
        assert response.follow[often.all(axis=1)].all()
        assert response.principal_start >= 0.9 * solve_spe(mdp).principal_value_initial


def test_sample_principal_with_small_margin():
    """Plain Q-learning principal (``principal_update="sample"``) with ξ = 1e-3 on depth-4 trees,
    3 trees × 2 seeds: >= 0.98 of the SPE value (measured >= 0.9978)."""
    cfg = TabularConfig(n_envs=128, iterations=1000, principal_update="sample", margin=1e-3)
    for tree in range(3):
        mdp = binary_game_tree(4, seed=tree)
        value = solve_spe(mdp).principal_value_initial
        for seed in range(2):
            learner = TabularLearner(mdp, cfg, seed=seed)
            learner.train()
            assert value_ratio(mdp, learner, value) >= 0.98


# --------------------------------------------------------------------------- nudging

def test_margin_makes_following_strict_on_a_tree():
    """ξ = 0.05, depth-5 tree: the learned Q̄ is accurate (error <= 1e-9 against the exact agent's
    truncated Q of the learned policy), so the exact agent prefers every recommendation by at
    least ξ − 2·error at EVERY state (Section 5: the margin absorbs an error below ξ/2)."""
    xi = 0.05
    mdp = binary_game_tree(5, seed=1)
    learner = TabularLearner(mdp, dataclasses.replace(SMALL, margin=xi), seed=0)
    learner.train()
    policy = learner.policy()
    response = agent_best_response(mdp, policy)
    err = np.abs(learner.agent_q - true_truncated_q(mdp, policy, response)).max()
    assert err <= EXACT_TOL
    assert response.follow.all()
    assert strict_gap(response, policy).min() >= xi - 2 * err - EXACT_TOL


def test_margin_makes_following_strict_when_discounted():
    """Discounted cyclic instance with stochastic transitions (so Q̄ carries sampling noise and a
    lag), ξ = 0.01: at every state ``s`` the exact agent prefers the recommendation by at least
    ``ξ − 2·e_s`` with ``e_s`` the error of the learned Q̄(s, ·) (the contract satisfies IC with
    margin ξ on the learned Q̄; an error of e_s moves each side by at most e_s); the states with
    ``e_s < ξ/2`` are therefore followed strictly. Measured: e_s of 0.004-0.008 (the learned Q̄
    lags the rents the margin creates), and the exact agent follows everywhere."""
    xi = 0.01
    mdp = random_discounted(8, 3, 3, discount=0.9, seed=1)
    learner = TabularLearner(mdp, TabularConfig(n_envs=256, iterations=2000, margin=xi), seed=0)
    learner.train()
    policy = learner.policy()
    response = agent_best_response(mdp, policy)
    e_s = np.abs(learner.agent_q - true_truncated_q(mdp, policy, response)).max(axis=1)
    gap = strict_gap(response, policy)
    assert np.all(gap >= xi - 2 * e_s - 1e-9), (gap, e_s)
    assert (e_s < xi / 2).sum() >= 4                     # the bound is informative at most states
    assert np.all(gap[e_s < xi / 2] > 0)
    assert response.follow.all()


# --------------------------------------------------------------------------- discounted and horizon

@pytest.mark.parametrize("shape,seed", [((8, 3, 3), 1), ((8, 3, 3), 3), ((6, 3, 4), 1)])
def test_discounted_cyclic_close_to_meta_algorithm(shape, seed):
    """random_discounted (γ = 0.9, cyclic, stochastic transitions; instances on which the SPE pays
    for effort), ξ = 0.003: the learned policy gets >= 0.98 of the value of the meta-algorithm's
    converged policy (both against the exact agent; measured 0.996-0.999)."""
    mdp = random_discounted(*shape, discount=0.9, seed=seed)
    meta = meta_algorithm(mdp)
    assert meta.converged and meta.policy.contract.max() > 0
    learner = TabularLearner(mdp, TabularConfig(n_envs=256, iterations=2000, margin=0.003), seed=0)
    learner.train()
    response = agent_best_response(mdp, learner.policy())
    assert response.follow.all()
    assert response.principal_start >= 0.98 * meta.principal_value_initial


def test_finite_horizon_is_time_indexed():
    """A cyclic MDP with a finite horizon: time-indexed tables and policy, >= 0.99 of the
    time-indexed SPE (deterministic next states: measured 1.000000)."""
    mdp = replace(contractual_rl(4, 3, seed=1), horizon=5, discount=1.0)
    spe = solve_spe(mdp)
    learner = TabularLearner(mdp, SMALL, seed=0)
    learner.train()
    policy = learner.policy()
    assert policy.time_indexed and policy.action.shape == (5, 4) and policy.contract.shape == (5, 4, 4)
    assert learner.agent_q.shape == learner.principal_q.shape == (5, 4, 3)
    assert value_ratio(mdp, learner, spe.principal_value_initial) >= RATIO


# --------------------------------------------------------------------------- resume, determinism, callbacks

def _state(learner: TabularLearner, tmp_path, name: str) -> tuple[dict, dict]:
    path = tmp_path / name
    learner.save(path)
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = arrays.pop("__meta__")
    return arrays, meta


RESUME_CASES = {
    "tree": (lambda: binary_game_tree(4, seed=2), TabularConfig(n_envs=16, iterations=60)),
    "discounted_sample": (lambda: random_discounted(5, 3, 2, seed=4),
                          TabularConfig(n_envs=16, iterations=60, agent_update="sample", principal_update="sample",
                                        margin=0.01)),
    "horizon": (lambda: replace(random_discounted(4, 2, 3, seed=0), horizon=3),
                TabularConfig(n_envs=8, iterations=60, agent_only_fraction=0.3)),
}


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_resume_is_exact(case, tmp_path):
    """train(N) == train(N/2), save, load, train(N/2): every table, counter, generator state and
    episode state, bit for bit (N = 60 spans the ε decay and, for "horizon", the agent-only phase)."""
    make, cfg = RESUME_CASES[case]
    mdp = make()
    straight = TabularLearner(mdp, cfg, seed=5)
    straight.train(eval_every=20)
    first = TabularLearner(mdp, cfg, seed=5)
    first.train(30, eval_every=20)
    first.save(tmp_path / "half.npz")
    resumed = TabularLearner.load(tmp_path / "half.npz", mdp)
    assert resumed.iteration == 30
    res = resumed.train(eval_every=20)
    assert res.iteration == 60 and list(res.iterations) == [40, 60]
    a, meta_a = _state(straight, tmp_path, "a.npz")
    b, meta_b = _state(resumed, tmp_path, "b.npz")
    assert str(meta_a) == str(meta_b)                   # iteration, config, both RNG states
    assert sorted(a) == sorted(b)
    for name in a:                                      # the learning curve too: no extra point at 30
        assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), name
    assert np.array_equal(straight.policy().contract, resumed.policy().contract)
    assert list(resumed.curve[0]) == list(straight.curve[0]) == [20, 40, 60]


def test_same_seed_same_run_and_seeds_differ():
    mdp = random_discounted(5, 2, 2, seed=0)
    cfg = TabularConfig(n_envs=8, iterations=40)
    runs = []
    for seed in (1, 1, 2):
        learner = TabularLearner(mdp, cfg, seed=seed)
        learner.train()
        runs.append(learner)
    assert np.array_equal(runs[0].agent_q, runs[1].agent_q)
    assert np.array_equal(runs[0].principal_q, runs[1].principal_q)
    assert not np.array_equal(runs[0].agent_q, runs[2].agent_q)


def test_callback_stops_and_reports_metrics():
    mdp = binary_game_tree(4, seed=0)
    learner = TabularLearner(mdp, TabularConfig(n_envs=16, iterations=50), seed=0)
    seen = []

    def callback(iteration, total, metrics):
        seen.append((iteration, total, dict(metrics)))
        if "principal_value" in metrics:
            assert metrics["principal_value"] == learner.evaluate()
        return iteration == 7

    res = learner.train(callback=callback, eval_every=5)
    assert isinstance(res, TrainResult)
    assert res.stopped_early and res.iteration == learner.iteration == 7
    assert [s[0] for s in seen] == list(range(1, 8)) and all(s[1] == 50 for s in seen)
    assert list(res.iterations) == [5] and len(res.principal_values) == 1
    assert {"epsilon", "follow_rate", "principal_return", "mean_payment"} <= set(seen[0][2])
    assert "principal_value" in seen[4][2] and "principal_value" not in seen[5][2]
    assert seen[0][2]["epsilon"] == 1.0
    # a callback returning None / False does not stop; train() then runs up to config.iterations
    res = learner.train(callback=lambda *a: None)
    assert not res.stopped_early and learner.iteration == 50
    assert learner.train().iteration == 50                # nothing left to do


def test_learning_curve():
    mdp = binary_game_tree(5, seed=3)
    learner = TabularLearner(mdp, SMALL, seed=0)
    res = learner.train(eval_every=100)
    assert list(res.iterations) == [100, 200, 300]
    assert res.principal_values[-1] == learner.evaluate()
    spe = solve_spe(mdp).principal_value_initial
    assert res.principal_values[-1] >= RATIO * spe
    its, vals = learner.curve
    assert np.array_equal(its, res.iterations) and np.array_equal(vals, res.principal_values)


def test_epsilon_schedule():
    cfg = TabularConfig(iterations=1000, epsilon_start=0.8, epsilon_end=0.1, epsilon_decay=0.5)
    assert cfg.epsilon(0) == 0.8
    assert cfg.epsilon(250) == pytest.approx(0.45)
    assert cfg.epsilon(500) == cfg.epsilon(999) == cfg.epsilon(5000) == pytest.approx(0.1)
    assert cfg.principal_learns(899) and not cfg.principal_learns(900)
    assert TabularConfig(epsilon_decay=0.0).epsilon(0) == 0.02


# --------------------------------------------------------------------------- degenerate instances

def test_nothing_implementable_with_margin_falls_back_to_unpaid_best_response():
    """Two actions with the same outcome row and the same reward: no contract separates them, so
    with ξ > 0 neither is implementable; the principal then recommends the agent's unpaid best
    response (lowest index on a tie) with the zero contract."""
    O = np.array([[[0.5, 0.5], [0.5, 0.5]]])
    mdp = PrincipalAgentMDP(O, np.zeros((1, 2)), np.array([[0.0, 1.0]]), next_state=[[-1, -1]])
    learner = TabularLearner(mdp, TabularConfig(n_envs=4, iterations=10, margin=0.1), seed=0)
    learner.train()
    assert not learner.implementable.any()
    policy = learner.policy()
    assert policy.action.tolist() == [0] and policy.contract.tolist() == [[0.0, 0.0]]
    assert learner.evaluate() == pytest.approx(0.5)


# --------------------------------------------------------------------------- bad input

BAD_CONFIGS = [
    ("n_envs", 0), ("n_envs", True), ("n_envs", 2.0), ("iterations", 0), ("epsilon_start", 1.5),
    ("epsilon_end", -0.1), ("epsilon_decay", float("nan")), ("margin", -0.01), ("margin", float("inf")),
    ("agent_only_fraction", 1.5), ("agent_update", "td"), ("principal_update", None),
    ("agent_step_power", 0.5), ("principal_step_power", 1.2), ("agent_min_step", 2.0),
    ("principal_min_step", -1.0), ("tie_tol", -1e-9), ("method", "simplex"), ("backend", "gurobi"),
]


@pytest.mark.parametrize("field,value", BAD_CONFIGS)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(InvalidInstanceError) as info:
        TabularConfig(**{field: value})
    assert info.value.field == field


def test_bad_arguments():
    mdp = binary_game_tree(2, seed=0)
    with pytest.raises(InvalidInstanceError) as info:
        TabularLearner(mdp, seed=-1)
    assert info.value.field == "seed"
    with pytest.raises(InvalidInstanceError) as info:
        TabularLearner(mdp, config={"n_envs": 4})
    assert info.value.field == "config"
    with pytest.raises(InvalidInstanceError) as info:
        TabularLearner("not an mdp")
    assert info.value.field == "mdp"
    learner = TabularLearner(mdp, TabularConfig(n_envs=2, iterations=5))
    for kwargs, field in (({"iterations": -1}, "iterations"), ({"eval_every": -2}, "eval_every"),
                          ({"callback": 3}, "callback")):
        with pytest.raises(InvalidInstanceError) as info:
            learner.train(**kwargs)
        assert info.value.field == field


def test_load_against_another_mdp_fails(tmp_path):
    mdp = binary_game_tree(3, seed=0)
    learner = TabularLearner(mdp, TabularConfig(n_envs=4, iterations=10))
    learner.train()
    learner.save(tmp_path / "ckpt.npz")
    other_rewards = replace(mdp, principal_rewards=mdp.principal_rewards + 1e-12)   # same shapes
    for other in (binary_game_tree(3, seed=1), binary_game_tree(4, seed=0), other_rewards):
        assert mdp_fingerprint(other) != mdp_fingerprint(mdp)
        with pytest.raises(InvalidInstanceError) as info:
            TabularLearner.load(tmp_path / "ckpt.npz", other)
        assert info.value.field == "mdp" and "different MDP" in str(info.value)
    assert mdp_fingerprint(replace(mdp)) == mdp_fingerprint(mdp)
    # the same MDP rebuilt from its arrays loads
    assert TabularLearner.load(tmp_path / "ckpt.npz", replace(mdp)).iteration == 10


def test_load_refuses_other_files(tmp_path):
    mdp = binary_game_tree(3, seed=0)
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(InvalidFileError):
        TabularLearner.load(tmp_path / "junk.npz", mdp)
    save_checkpoint(tmp_path / "other.npz", {"x": np.zeros(2)}, {"kind": "deep_learner"})
    with pytest.raises(InvalidFileError, match="kind"):
        TabularLearner.load(tmp_path / "other.npz", mdp)
    save_checkpoint(tmp_path / "broken.npz", {"x": np.zeros(2)},
                    {"kind": KIND, "layout": 1, "mdp_fingerprint": mdp_fingerprint(mdp)})
    with pytest.raises(InvalidFileError):
        TabularLearner.load(tmp_path / "broken.npz", mdp)
