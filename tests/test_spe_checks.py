"""The SPE gap: zero at the computed SPE, positive at a Nash equilibrium held up by a non-credible threat."""

import numpy as np
import pytest

from contractlab.proofs_checks.spe_checks import spe_gap
from contractlab.solvers.pamdp_policy import agent_best_response, evaluate
from contractlab.solvers.spe import solve_spe
from contractlab.theory import ContractPolicy, PrincipalAgentMDP


def threat_game() -> PrincipalAgentMDP:
    """Root 0: the agent's free action a0 leads to state 1 (worth 5 to the principal at once), a1 to state 2.
    At state 2 the principal would, in the SPE, induce effort (reward 2 on success) and leave the agent a
    rent of 1/16; anticipating that rent, the agent must be paid 1/16 at the root to choose a0."""
    O = np.array([[[1.0, 0.0], [0.0, 1.0]],      # root: a0 -> outcome 0, a1 -> outcome 1
                  [[0.5, 0.5], [0.5, 0.5]],      # state 1: nothing happens
                  [[0.9, 0.1], [0.1, 0.9]]])     # state 2: effort raises the chance of success
    r = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, -0.5]])
    rp = np.array([[5.0, 0.0], [0.0, 0.0], [0.0, 2.0]])
    return PrincipalAgentMDP(O, r, rp, next_state=[[1, 2], [-1, -1], [-1, -1]])


def test_spe_of_the_threat_game_by_hand():
    res = solve_spe(threat_game())
    # state 2: pay t on success with 0.9 t - 0.5 = 0.1 t -> t = 5/8, payment 0.5625, rent 1/16
    assert res.policy.action[2] == 1
    np.testing.assert_allclose(res.policy.contract[2], [0.0, 0.625], atol=1e-12)
    assert res.agent_value[2] == pytest.approx(1 / 16)
    # root: keep the agent on a0 by paying its rent 1/16 on outcome 0
    assert res.policy.action[0] == 0
    np.testing.assert_allclose(res.policy.contract[0], [1 / 16, 0.0], atol=1e-12)
    assert res.principal_value_initial == pytest.approx(5 - 1 / 16)
    assert spe_gap(threat_game(), res.policy).gap == pytest.approx(0.0, abs=1e-12)


def test_non_credible_threat_is_nash_but_not_subgame_perfect():
    """Regression: the principal threatens to pay nothing at state 2, so the agent is indifferent at the
    root and (ties to the principal) takes a0 for free. On the path nobody can gain (Nash-conv 0) and the
    principal earns 5 > the SPE's 5 - 1/16; but at the unreached state 2 the threat is not credible:
    inducing effort there would give her 2*0.9 - 0.5625 = 1.2375 instead of 0.2."""
    mdp = threat_game()
    threat = ContractPolicy([0, 0, 0], np.zeros((3, 2)))
    agent = agent_best_response(mdp, threat).policy
    assert agent.tolist() == [0, 0, 0]
    assert evaluate(mdp, threat, agent).principal_value[0] == pytest.approx(5.0)
    g = spe_gap(mdp, threat, agent)
    assert g.nash_conv == pytest.approx(0.0, abs=1e-12)
    assert g.gap == pytest.approx(1.2375 - 0.2)
    assert not g.reachable[2] and g.principal_gain[2] == pytest.approx(1.0375)


def test_gap_detects_an_agent_that_ignores_its_incentives():
    """Without a bonus, effort at state 2 costs the agent 0.5 and earns it nothing: a one-shot gain of 0.5."""
    mdp = threat_game()
    unpaid = ContractPolicy([0, 0, 1], np.zeros((3, 2)))
    g = spe_gap(mdp, unpaid, np.array([0, 0, 1]))
    assert g.agent_gain[2] == pytest.approx(0.5)
    assert g.agent_gain[0] == pytest.approx(0.0, abs=1e-12)
