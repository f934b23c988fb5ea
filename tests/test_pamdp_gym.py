"""The Gymnasium environments of a principal-agent MDP (:mod:`contractlab.envs.pamdp_gym`) and the
environment registry (:mod:`contractlab.envs.registry`).

* Gymnasium's own ``check_env`` on both sides, both observation modes, on a tree (the example
  file), a random tree, a DAG, a discounted cyclic instance with stochastic transitions, a
  deterministic cyclic one and a finite horizon with a time-indexed SPE.
* The reward identity of arXiv 2407.18074, Section 3: the discounted return of the agent's side
  under the exact best response has expectation the agent's SPE value, and that of the principal's
  side under the SPE contract policy (exact best-responding agent) the principal's SPE value.
  Exactly (one episode) on instances whose outcomes and transitions are deterministic; on
  stochastic ones the mean over ``N`` episodes must lie within ``5`` standard errors (a normal
  tail of ~6e-7 per check) plus, for truncated discounted episodes, the largest tail cut off.
* Seeding, the contract handling of the principal's side, bad arguments, ``gymnasium.make`` by id,
  the PettingZoo games through :func:`contractlab.envs.make`, and that importing contractlab does
  not import gymnasium.
"""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import contractlab.envs as envs
from contractlab.envs.pamdp_gym import AgentEnv, PrincipalEnv, default_max_steps, reference_profile
from contractlab.solvers.pamdp_policy import agent_best_response, evaluate
from contractlab.theory import fileio
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp import PrincipalAgentMDP
from contractlab.theory.pamdp_families import contractual_rl, random_dag, random_discounted, random_tree

ROOT = Path(__file__).resolve().parent.parent
TREE_FILE = ROOT / "examples" / "binary_tree_depth3.json"

#: Standard errors of slack of a Monte Carlo mean (normal tail ~5.7e-7 two-sided per check).
Z = 5.0


def _with(m: PrincipalAgentMDP, **changes) -> PrincipalAgentMDP:
    fields = dict(outcome_probs=m.outcome_probs, agent_rewards=m.agent_rewards,
                  principal_rewards=m.principal_rewards, next_state=m.next_state, transitions=m.transitions,
                  discount=m.discount, horizon=m.horizon, initial_state=m.initial_state)
    fields.update(changes)
    return PrincipalAgentMDP(**fields)


def _one_hot_outcomes(m: PrincipalAgentMDP, seed: int) -> PrincipalAgentMDP:
    """``m`` with every ``O(s, a)`` replaced by a point mass on a random outcome."""
    rng = np.random.default_rng(seed)
    S, A, K = m.outcome_probs.shape
    O = np.zeros((S, A, K))
    O[np.arange(S)[:, None], np.arange(A)[None, :], rng.integers(0, K, (S, A))] = 1.0
    return _with(m, outcome_probs=O)


def _horizon_instance() -> PrincipalAgentMDP:
    return _with(random_discounted(4, discount=0.9, seed=5), horizon=4)


INSTANCES = {
    "example_tree": lambda: fileio.load(TREE_FILE),
    "random_tree": lambda: random_tree(2, n_actions=3, n_outcomes=3, seed=4),
    "dag": lambda: random_dag(8, seed=3),
    "discounted_cyclic": lambda: random_discounted(4, discount=0.8, seed=1),
    "contractual_rl": lambda: contractual_rl(3, discount=0.8, seed=2),
    "horizon": _horizon_instance,
}


def _check(env) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Gymnasium recommends Box actions in [-1, 1] or [0, 1]; payments are in their own units.
        warnings.filterwarnings("ignore", message=".*symmetric and normalized space")
        check_env(env, skip_render_check=True)


# --------------------------------------------------------------------------- check_env

@pytest.mark.parametrize("name", sorted(INSTANCES))
@pytest.mark.parametrize("observation", ["discrete", "dict"])
def test_check_env_passes_for_both_sides(name, observation):
    m = INSTANCES[name]()
    _check(AgentEnv(m, "spe", observation=observation))
    _check(PrincipalEnv(m, observation=observation))


def test_observation_spaces_follow_the_horizon():
    m = _horizon_instance()
    agent = AgentEnv(m, observation="dict")
    assert set(agent.observation_space.spaces) == {"state", "step", "contract", "recommended"}
    assert AgentEnv(m).observation_space.n == m.horizon * m.n_states
    tree = fileio.load(TREE_FILE)
    assert AgentEnv(tree).observation_space.n == tree.n_states
    assert "step" not in PrincipalEnv(tree, observation="dict").observation_space.spaces


# --------------------------------------------------------------------------- episodes

def _agent_return(env, actions, seed=None) -> float:
    """Discounted return of one episode of the agent's side, playing ``actions[t, s]`` / ``actions[s]``."""
    env.reset(seed=seed)
    g, total, done = env.unwrapped.mdp.discount, 0.0, False
    u = env.unwrapped
    while not done:
        t, s = u._t, u._s
        a = actions[t, s] if actions.ndim == 2 else actions[s]
        _, r, term, trunc, _ = env.step(int(a))
        total += g ** t * r
        done = term or trunc
    return total


def _principal_return(env, policy: ContractPolicy, seed=None) -> float:
    env.reset(seed=seed)
    u = env.unwrapped
    g, total, done = u.mdp.discount, 0.0, False
    while not done:
        t, s = u._t, u._s
        action, contract = policy.at_step(t)
        _, r, term, trunc, _ = env.step({"action": int(action[s]), "contract": contract[s]})
        total += g ** t * r
        done = term or trunc
    return total


def _mc_mean(play, n: int, seed: int) -> tuple[float, float]:
    """Mean of ``n`` episode returns (first episode seeded) and its standard error."""
    x = np.array([play(seed if i == 0 else None) for i in range(n)])
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(n))


def _reward_bound(m: PrincipalAgentMDP, policy: ContractPolicy) -> float:
    """The largest absolute one-step reward of either side under ``policy``."""
    b = float(policy.contract.max())
    return max(float(np.abs(m.agent_rewards).max()), float(np.abs(m.principal_rewards).max())) + b


DETERMINISTIC = {
    "tree": lambda: _one_hot_outcomes(random_tree(3, n_actions=3, n_outcomes=3, seed=7), seed=1),
    "horizon_cyclic": lambda: _with(_one_hot_outcomes(contractual_rl(4, discount=0.9, seed=3), seed=2), horizon=6),
    "discounted_cyclic": lambda: _one_hot_outcomes(contractual_rl(4, discount=0.7, seed=8), seed=3),
}


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_returns_equal_the_spe_values_exactly_when_everything_is_deterministic(name):
    m = DETERMINISTIC[name]()
    policy, va, vp = reference_profile(m)
    s0 = m.initial_state
    v_agent = float(va[0, s0] if va.ndim == 2 else va[s0])
    v_principal = float(vp[0, s0] if vp.ndim == 2 else vp[s0])
    steps = default_max_steps(m)
    # a truncated discounted episode misses at most γ^T · R / (1 − γ)
    tail = 0.0 if steps is None else m.discount ** steps * _reward_bound(m, policy) / (1 - m.discount)
    br = agent_best_response(m, policy)
    agent_env = AgentEnv(m, policy)
    for seed in (0, 1):
        assert _agent_return(agent_env, np.asarray(br.policy), seed) == pytest.approx(v_agent, abs=1e-9 + tail)
        assert _agent_return(agent_env, np.asarray(br.policy), seed) == pytest.approx(br.agent_start,
                                                                                      abs=1e-9 + tail)
    principal_env = PrincipalEnv(m)
    for seed in (0, 1):
        assert _principal_return(principal_env, policy, seed) == pytest.approx(v_principal, abs=1e-9 + tail)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_example_tree_returns_estimate_the_spe_values(seed):
    m = fileio.load(TREE_FILE)
    policy, va, vp = reference_profile(m)
    br = agent_best_response(m, policy)
    agent_env, principal_env = AgentEnv(m, policy), PrincipalEnv(m)
    mean, se = _mc_mean(lambda s: _agent_return(agent_env, np.asarray(br.policy), s), 10_000, seed)
    assert abs(mean - va[m.initial_state]) <= Z * se
    mean, se = _mc_mean(lambda s: _principal_return(principal_env, policy, s), 6000, seed + 100)
    assert abs(mean - vp[m.initial_state]) <= Z * se


def test_discounted_cyclic_returns_estimate_the_reference_values():
    m = random_discounted(4, discount=0.5, seed=1)
    policy, va, vp = reference_profile(m)
    steps = 25
    tail = m.discount ** steps * _reward_bound(m, policy) / (1 - m.discount)
    br = agent_best_response(m, policy)
    agent_env, principal_env = AgentEnv(m, policy, max_steps=steps), PrincipalEnv(m, max_steps=steps)
    mean, se = _mc_mean(lambda s: _agent_return(agent_env, np.asarray(br.policy), s), 3000, 3)
    assert abs(mean - br.agent_start) <= Z * se + tail
    assert abs(mean - va[m.initial_state]) <= Z * se + tail + 1e-8        # the reference's values are its own BR's
    mean, se = _mc_mean(lambda s: _principal_return(principal_env, policy, s), 2000, 4)
    assert abs(mean - vp[m.initial_state]) <= Z * se + tail + 1e-8


def test_a_given_agent_policy_earns_its_evaluated_value():
    """PrincipalEnv with a fixed agent policy (array, callable, file) against ``evaluate``."""
    m = DETERMINISTIC["tree"]()
    policy = reference_profile(m)[0]
    rng = np.random.default_rng(0)
    agent = rng.integers(0, m.n_actions, m.n_states)
    value = evaluate(m, policy, agent).principal_start
    assert _principal_return(PrincipalEnv(m, agent=agent), policy, 0) == pytest.approx(value, abs=1e-9)
    fn = PrincipalEnv(m, agent=lambda obs: int(agent[obs["state"]]))
    assert _principal_return(fn, policy, 0) == pytest.approx(value, abs=1e-9)


def test_adversarial_tie_break_matches_the_exact_adversarial_best_response():
    """Min-pay contracts leave the agent indifferent; the tie-break decides the principal's return."""
    m = DETERMINISTIC["tree"]()
    policy = reference_profile(m)[0]
    for tie_break in ("principal", "adversarial"):
        br = agent_best_response(m, policy, tie_break=tie_break)
        env = PrincipalEnv(m, tie_break=tie_break, continuation=policy)
        assert _principal_return(env, policy, 0) == pytest.approx(br.principal_start, abs=1e-9)


# --------------------------------------------------------------------------- seeding

@pytest.mark.parametrize("side", ["agent", "principal"])
def test_same_seed_same_episode_and_no_global_rng(side):
    m = random_discounted(5, discount=0.8, seed=2)
    policy = reference_profile(m)[0]

    def trajectory(seed):
        env = AgentEnv(m, policy) if side == "agent" else PrincipalEnv(m)
        env.reset(seed=seed)
        np.random.seed(seed + 1000)                          # a global generator must not matter
        out, done, k = [], False, 0
        while not done and k < 30:
            s = env._s
            act = k % m.n_actions if side == "agent" else {"action": k % m.n_actions, "contract": policy.contract[s]}
            obs, r, term, trunc, info = env.step(act)
            out.append((int(obs), r, info["outcome"]))
            done, k = term or trunc, k + 1
        return out

    assert trajectory(7) == trajectory(7)
    assert len({tuple(trajectory(seed)) for seed in range(6)}) > 1


# --------------------------------------------------------------------------- contracts and arguments

def test_illegal_contracts_are_clipped_or_refused():
    m = fileio.load(TREE_FILE)
    env = PrincipalEnv(m, max_payment=2.0)
    env.reset(seed=0)
    _, _, _, _, info = env.step({"action": 1, "contract": [-1.0, 5.0]})
    assert info["clipped"] and info["payment"] in (0.0, 2.0)
    strict = PrincipalEnv(m, illegal_contract="raise", max_payment=2.0)
    strict.reset(seed=0)
    with pytest.raises(InvalidInstanceError) as exc:
        strict.step({"action": 1, "contract": [0.5, -0.25]})
    assert exc.value.field == "contract" and exc.value.index == (1,)
    with pytest.raises(InvalidInstanceError, match="not finite"):
        env.step({"action": 0, "contract": [np.nan, 0.0]})
    _, _, _, _, info = strict.step({"action": 1, "contract": [0.0, 0.5]})
    assert not info["clipped"]


@pytest.mark.parametrize("make_env, field", [
    (lambda m: AgentEnv(42), "mdp"),
    (lambda m: AgentEnv(m, "nope.json"), "nope.json"),
    (lambda m: AgentEnv(m, ContractPolicy(action=[0, 0], contract=[[0, 0], [0, 0]])), "action"),
    (lambda m: AgentEnv(m, 3.5), "contract_policy"),
    (lambda m: AgentEnv(m, observation="pixels"), "observation"),
    (lambda m: AgentEnv(m, max_steps=0), "max_steps"),
    (lambda m: AgentEnv(m, render_mode="human"), "render_mode"),
    (lambda m: PrincipalEnv(m, tie_break="random"), "tie_break"),
    (lambda m: PrincipalEnv(m, illegal_contract="ignore"), "illegal_contract"),
    (lambda m: PrincipalEnv(m, agent=[0, 1]), "agent_policy"),
    (lambda m: PrincipalEnv(m, max_payment=-1.0), "max_payment"),
    (lambda m: PrincipalEnv(m, tol=float("nan")), "tol"),
])
def test_bad_arguments_name_the_field(make_env, field):
    m = fileio.load(TREE_FILE)
    with pytest.raises(InvalidInstanceError) as exc:
        make_env(m)
    assert field in str(exc.value)


def test_bad_actions_name_the_field():
    m = fileio.load(TREE_FILE)
    env = AgentEnv(m)
    env.reset(seed=0)
    with pytest.raises(InvalidInstanceError) as exc:
        env.step(2)
    assert exc.value.field == "action"
    p = PrincipalEnv(m)
    p.reset(seed=0)
    with pytest.raises(InvalidInstanceError) as exc:
        p.step({"action": 0, "contract": [0.0, 0.0, 0.0]})
    assert exc.value.field == "contract"
    with pytest.raises(InvalidInstanceError) as exc:
        p.step(0)
    assert exc.value.field == "action"
    bad = PrincipalEnv(m, agent=lambda obs: 7)
    bad.reset(seed=0)
    with pytest.raises(InvalidInstanceError) as exc:
        bad.step({"action": 0, "contract": [0.0, 0.0]})
    assert exc.value.field == "agent"


def test_stepping_after_the_end_is_refused():
    m = fileio.load(TREE_FILE)
    env = AgentEnv(m)
    env.reset(seed=0)
    done = False
    while not done:
        _, _, term, trunc, _ = env.step(0)
        done = term or trunc
    with pytest.raises(InvalidInstanceError, match="reset"):
        env.step(0)


# --------------------------------------------------------------------------- registry

def test_gymnasium_make_by_id():
    env = gymnasium.make("contractlab/PAMDPAgent-v0", mdp=str(TREE_FILE))
    assert isinstance(env.unwrapped, AgentEnv)
    _check(env.unwrapped)
    p = gymnasium.make("contractlab/PAMDPPrincipal-v0", mdp=str(TREE_FILE), tie_break="adversarial")
    assert isinstance(p.unwrapped, PrincipalEnv) and p.unwrapped.tie_break == "adversarial"
    assert isinstance(envs.make("contractlab/PAMDPAgent-v0", mdp=str(TREE_FILE)).unwrapped, AgentEnv)


def test_module_prefixed_id_imports_the_registry_in_a_fresh_process():
    code = ("import gymnasium; env = gymnasium.make('contractlab.envs:contractlab/PAMDPAgent-v0', "
            f"mdp={str(TREE_FILE)!r}); print(type(env.unwrapped).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "AgentEnv"


@pytest.mark.parametrize("name, kwargs", [("contractlab/EscapeRoom-v0", {"n_agents": 2, "min_at_lever": 1}),
                                          ("contractlab/CoinGame-v0", {"grid": 3})])
def test_pettingzoo_games_by_id_pass_the_parallel_api_test(name, kwargs, capsys):
    from pettingzoo.test import parallel_api_test

    assert name in envs.ids()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parallel_api_test(envs.make(name, **kwargs), num_cycles=30)
    assert "Passed Parallel API test" in capsys.readouterr().out


def test_unknown_id_is_refused_with_the_list():
    with pytest.raises(InvalidInstanceError) as exc:
        envs.make("contractlab/Nope-v0")
    assert exc.value.field == "name" and "contractlab/PAMDPAgent-v0" in str(exc.value)


def test_importing_contractlab_does_not_import_gymnasium():
    code = ("import sys, contractlab, contractlab.solvers.spe, contractlab.cli; "
            "print(sorted(m for m in ('gymnasium', 'pettingzoo', 'contractlab.envs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
