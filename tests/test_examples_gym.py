"""``examples/train_agent_gym.py`` end to end: PPO (Stable-Baselines3) trains the agent of the example
tree through ``contractlab/PAMDPAgent-v0`` on a small budget, writes an ``agent_policy`` file, and
``contractlab check --agent-policy --json`` judges it against the exact best response to the SPE.

The bound: the trained agent's regret at the initial state is at most :data:`REGRET_BOUND`, below
the smallest positive regret of any deterministic agent policy on this tree (0.0080), so it asks
for play that is optimal wherever it matters. The agent that plays uniformly at random has an
exact regret of about 0.106, twenty times the bound. That regret is computed here independently of
the example: on a tree every state is visited at most once per episode, so drawing each action
uniformly when the state is reached is the same as drawing a deterministic policy uniformly
beforehand, and its value is the mean of the values of all ``A^S`` deterministic policies. Of those
policies, 1 in 8 meet the bound too: the SPE's min-pay contracts leave the agent indifferent at 4
of the 7 states, so only the 3 others count (the greedy policy of the untrained PPO network met it
on 1 of 6 seeds in our runs; the trained one on 8 of 8).
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from contractlab.solvers.pamdp_policy import agent_best_response, evaluate
from contractlab.solvers.spe import solve_spe
from contractlab.theory import fileio
from contractlab.theory.documents import load_agent_actions, load_contract_policy

pytest.importorskip("stable_baselines3", reason="the example trains with stable-baselines3")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "train_agent_gym.py"
TREE_FILE = ROOT / "examples" / "binary_tree_depth3.json"
#: Largest regret (agent value at s_0 lost against the exact best response) a trained agent may have.
REGRET_BOUND = 0.005
#: PPO steps of the test run (1024-step runs missed the bound on 1 seed in 8 in our runs; 4096 met it on 8 of 8).
TIMESTEPS = 4096


def _deterministic_regrets(mdp) -> np.ndarray:
    """The regret at ``s_0`` of every deterministic agent policy against the SPE contract policy."""
    spe = solve_spe(mdp)
    best = agent_best_response(mdp, spe.policy).agent_start
    return np.array([best - evaluate(mdp, spe.policy, np.array(p)).agent_start
                     for p in itertools.product(range(mdp.n_actions), repeat=mdp.n_states)])


def test_trained_agent_meets_the_regret_bound_and_uniform_play_does_not(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run([sys.executable, str(SCRIPT), "--instance", str(TREE_FILE), "--timesteps", str(TIMESTEPS),
                           "--seed", "0", "--out", str(tmp_path)],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)                              # stdout holds only the answer
    report = doc["check"]
    assert report["kind"] == "policy_check" and report["reference"] == "spe"
    assert report["agent_policy"]["regret_initial"] == doc["regret_initial"]

    mdp = fileio.load(TREE_FILE)
    agent = load_agent_actions(tmp_path / "agent_policy.json")
    assert agent.shape == (mdp.n_states,)
    policy = load_contract_policy(tmp_path / "spe_policy.json")
    # the check's regret is the exact one of the written policy
    regret = agent_best_response(mdp, policy).agent_start - evaluate(mdp, policy, agent).agent_start
    assert doc["regret_initial"] == pytest.approx(regret, abs=1e-12)

    regrets = _deterministic_regrets(mdp)
    uniform = float(regrets.mean())
    assert doc["uniform_random_regret_initial"] == pytest.approx(uniform, abs=1e-12)
    assert uniform > 10 * REGRET_BOUND
    assert np.mean(regrets <= REGRET_BOUND) <= 1 / 8
    assert doc["regret_initial"] <= REGRET_BOUND
