"""Train the agent of a principal-agent MDP with Stable-Baselines3 and check it against the exact SPE.

The principal plays the exact subgame-perfect contract policy (Ivanov et al., arXiv 2407.18074,
Section 3); the agent is a PPO learner of Stable-Baselines3 on the registered Gymnasium id
``contractlab/PAMDPAgent-v0`` (:class:`contractlab.envs.pamdp_gym.AgentEnv`: observation the state,
or the step and state with a horizon; reward the agent's reward plus the payment). Its greedy
policy is written as an ``agent_policy`` file and judged by::

    contractlab check INSTANCE SPE_POLICY --agent-policy AGENT_POLICY --json

whose ``agent_policy.regret_initial`` is the agent's value loss at the initial state against its
exact best response. For scale, the exact regret of an agent that plays uniformly at random is
reported too (the uniform agent's value is the value of the one-action MDP whose outcome
distribution and reward are the averages over the actions: it induces the same process).

Needs ``contractlab[envs]`` and ``stable-baselines3`` (which brings ``torch``, the ``[deep]``
extra)::

    pip install "contractlab[envs,deep]" stable-baselines3
    python examples/train_agent_gym.py --instance examples/binary_tree_depth3.json --timesteps 4096

stdout holds one JSON document (the regrets and the full ``policy_check`` report); progress goes
to stderr. Files written (atomically) to ``--out`` (default: a new temporary directory):
``spe_policy.json`` (``contract_policy``) and ``agent_policy.json`` (``agent_policy``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def uniform_random_agent_value(mdp, policy) -> float:
    """The exact value at ``s_0`` of the agent that picks every action with probability ``1/A``."""
    from contractlab.solvers.pamdp_policy import evaluate
    from contractlab.theory.contract_policy import ContractPolicy
    from contractlab.theory.pamdp import PrincipalAgentMDP

    avg = PrincipalAgentMDP(outcome_probs=mdp.outcome_probs.mean(axis=1, keepdims=True),
                            agent_rewards=mdp.agent_rewards.mean(axis=1, keepdims=True),
                            principal_rewards=mdp.principal_rewards, next_state=mdp.next_state,
                            transitions=mdp.transitions, discount=mdp.discount, horizon=mdp.horizon,
                            initial_state=mdp.initial_state)
    flat = ContractPolicy(action=np.zeros_like(policy.action), contract=policy.contract)
    return evaluate(avg, flat, np.zeros_like(policy.action)).agent_start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default=str(Path(__file__).with_name("binary_tree_depth3.json")),
                        help="a pamdp file (default: examples/binary_tree_depth3.json)")
    parser.add_argument("--timesteps", type=int, default=4096, help="PPO environment steps (default 4096)")
    parser.add_argument("--seed", type=int, default=0, help="seed of PPO and the environment (default 0)")
    parser.add_argument("--out", help="folder for spe_policy.json and agent_policy.json (default: a new temp dir)")
    args = parser.parse_args(argv)
    if args.timesteps < 0:
        parser.error("--timesteps must be >= 0")

    import gymnasium
    import torch
    from stable_baselines3 import PPO

    import contractlab.envs  # noqa: F401  (registers the Gymnasium ids)
    from contractlab.envs.pamdp_gym import load_mdp, reference_profile
    from contractlab.theory import fileio
    from contractlab.theory.documents import AgentPolicy

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="train_agent_gym_"))
    out.mkdir(parents=True, exist_ok=True)
    mdp = load_mdp(args.instance)
    spe_policy = reference_profile(mdp)[0]
    policy_path = out / "spe_policy.json"
    fileio.save(spe_policy, policy_path)

    torch.set_num_threads(1)
    env = gymnasium.make("contractlab/PAMDPAgent-v0", mdp=mdp, contract_policy=spe_policy)
    env.reset(seed=args.seed)
    model = PPO("MlpPolicy", env, gamma=mdp.discount, seed=args.seed, n_steps=256, batch_size=64,
                learning_rate=3e-3, verbose=0, device="cpu")
    print(f"training PPO for {args.timesteps} steps on {args.instance}", file=sys.stderr)
    if args.timesteps:
        model.learn(total_timesteps=args.timesteps)

    # The greedy action at every observation: the state, or t·S + s with a horizon.
    n_obs = env.observation_space.n
    actions, _ = model.predict(np.arange(n_obs), deterministic=True)
    actions = np.asarray(actions, dtype=np.int64)
    if mdp.horizon is not None:
        actions = actions.reshape(mdp.horizon, mdp.n_states)
    agent_path = out / "agent_policy.json"
    fileio.save(AgentPolicy(actions), agent_path)
    print(f"wrote {policy_path} and {agent_path}", file=sys.stderr)

    cmd = [sys.executable, "-m", "contractlab", "check", str(args.instance), str(policy_path),
           "--agent-policy", str(agent_path), "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stderr.strip(), file=sys.stderr)
        return done.returncode
    report = json.loads(done.stdout)
    regret = report["agent_policy"]["regret_initial"]
    best = report["agent_policy"]["agent_value"] + regret          # the exact best response's value
    uniform = best - uniform_random_agent_value(mdp, spe_policy)
    print(f"agent regret at the initial state: {regret:.6g} (uniform random agent: {uniform:.6g})", file=sys.stderr)
    print(json.dumps({"instance": str(args.instance), "timesteps": args.timesteps, "seed": args.seed,
                      "spe_policy": str(policy_path), "agent_policy": str(agent_path),
                      "regret_initial": regret, "regret_max": report["agent_policy"]["regret_max"],
                      "uniform_random_regret_initial": uniform, "check": report}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
