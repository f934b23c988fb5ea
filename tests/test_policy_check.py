"""check_policy and ``contractlab check``: the exact SPE checks perfectly, corrupted policies are caught."""

import json
import subprocess
import sys

import numpy as np
import pytest

from contractlab.cli import main
from contractlab.proofs_checks.policy_check import check_policy, load_agent_policy, reachable_states
from contractlab.proofs_checks.theorems_pamdp import _with_horizon
from contractlab.solvers.meta_algorithm import meta_algorithm
from contractlab.solvers.pamdp_policy import agent_best_response
from contractlab.solvers.spe import solve_spe
from contractlab.theory import fileio
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp import PrincipalAgentMDP
from contractlab.theory.pamdp_families import binary_game_tree, random_dag, random_discounted, random_tree

TOL = 1e-9


def assert_perfect(rep):
    assert rep.value_ratio == pytest.approx(1.0, abs=TOL) and abs(rep.value_gap) <= TOL
    assert rep.agreement == rep.agreement_spe_reachable == rep.agreement_policy_reachable == 1.0
    assert rep.exact_agreement == 1.0
    assert rep.follow_rate == rep.follow_rate_on_path == 1.0
    assert rep.ic_violations == 0 and rep.ic_violation_max <= TOL
    assert rep.spe_gap <= TOL


@pytest.mark.parametrize("mdp", [binary_game_tree(6, 0), random_tree(3, 3, 3, 1), random_dag(30, 3, 2, 2),
                                 _with_horizon(random_discounted(5, 3, 2, 0.9, 3), 4)],
                         ids=["binary_tree", "random_tree", "random_dag", "horizon"])
def test_the_spe_policy_checks_perfectly(mdp):
    spe = solve_spe(mdp)
    rep = check_policy(mdp, spe.policy)
    assert_perfect(rep)
    assert rep.reference == "spe" and rep.time_indexed == (mdp.horizon is not None)
    assert rep.spe_value == spe.principal_value_initial
    doc = json.loads(json.dumps(rep.to_json(), allow_nan=False))
    assert doc["disagreeing_states"] == [] and doc["ic_violating_states"] == [] and doc["agent_policy"] is None


def test_discounted_cyclic_instances_use_the_meta_algorithm():
    mdp = random_discounted(6, 2, 2, 0.8, 4)
    res = meta_algorithm(mdp)
    rep = check_policy(mdp, res.policy)
    assert rep.reference == "meta_algorithm" and rep.reference_converged and rep.reference_spe_gap <= 1e-8
    assert rep.agreement == 1.0 and rep.follow_rate == 1.0 and rep.ic_violations == 0
    assert rep.value_gap == pytest.approx(0.0, abs=1e-9)
    bad = ContractPolicy(1 - res.policy.action, np.zeros_like(res.policy.contract))
    assert check_policy(mdp, bad, spe=res).agreement < 1.0


def _strictly_preferred_state(spe, reach):
    """A reachable state where the SPE's action beats every other by more than the tie tolerance."""
    q = np.asarray(spe.principal_q)
    best = q.max(axis=1)
    second = np.where(np.arange(q.shape[1]) == spe.policy.action[:, None], -np.inf, q).max(axis=1)
    ok = np.flatnonzero(reach & (best - second > 1e-6))
    assert ok.size
    return int(ok[0])


def test_a_corrupted_policy_is_detected():
    mdp = binary_game_tree(6, 1)
    spe = solve_spe(mdp)
    s = _strictly_preferred_state(spe, reachable_states(mdp, spe.policy.action))
    action = spe.policy.action.copy()
    action[s] = 1 - action[s]
    contract = spe.policy.contract * 0.5                       # below the minimal implementing payments
    rep = check_policy(mdp, ContractPolicy(action, contract))
    assert rep.agreement < 1.0 and rep.agreement_spe_reachable < 1.0 and not rep.agree[s]
    assert rep.exact_agreement == pytest.approx(1 - 1 / mdp.n_states)
    assert rep.ic_violations > 0 and rep.ic_violation_max > 1e-3
    assert rep.value_ratio < 1.0 and rep.value_gap > 0.0
    assert rep.follow_rate < 1.0 and rep.spe_gap > 1e-6
    doc = rep.to_json()
    assert s in doc["disagreeing_states"] and len(doc["ic_violating_states"]) == rep.ic_violations
    # the IC violation is exactly the agent's gain from its best action over the recommended one
    q = rep.agent_response.q
    assert np.allclose(rep.ic_violation, q.max(axis=1) - q[np.arange(mdp.n_states), action])


def test_low_pay_breaks_ic_and_a_margin_makes_following_strict():
    mdp = binary_game_tree(5, 2)
    spe = solve_spe(mdp)
    scaled = check_policy(mdp, ContractPolicy(spe.policy.action, spe.policy.contract * 0.9))
    assert scaled.agreement == 1.0 and scaled.ic_violations > 0 and scaled.follow_rate < 1.0
    # contracts with IC margin 0.05 on the true Q̄ (nudging without noise): followed strictly, but overpaid
    from contractlab.proofs_checks.nudging import nudging_experiment
    overpaid = check_policy(mdp, nudging_experiment(mdp, 0.0, 0.05, 0).policy, spe=spe)
    assert overpaid.ic_violations == 0 and overpaid.follow_rate == 1.0 and overpaid.strict_follow_rate == 1.0
    assert overpaid.value_ratio < 1.0 and check_policy(mdp, spe.policy).strict_follow_rate < 1.0


def test_spe_ties_count_as_agreement():
    # two identical actions: the SPE is indifferent between them and recommends the lower index
    O = np.array([[[0.8, 0.2], [0.8, 0.2]]])
    mdp = PrincipalAgentMDP(O, np.zeros((1, 2)), np.array([[1.0, 0.0]]), next_state=[[-1, -1]])
    spe = solve_spe(mdp)
    assert spe.policy.action[0] == 0
    rep = check_policy(mdp, ContractPolicy([1], [[0.0, 0.0]]))
    assert rep.agreement == 1.0 and rep.exact_agreement == 0.0


def test_reachability_under_the_spe_and_under_the_policy_differ():
    # state 0: action 0 goes to state 1, action 1 (costly, paid) to state 2; states 1 and 2 end
    O = np.array([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    r = np.array([[0.0, -0.5], [0.0, -0.5], [0.0, -0.5]])
    rp = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    mdp = PrincipalAgentMDP(O, r, rp, next_state=[[1, 2], [-1, -1], [-1, -1]])
    spe = solve_spe(mdp)
    assert spe.policy.action[0] == 0
    policy = ContractPolicy([1, 1, 1], [[0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])     # pays for action 1 at state 0
    rep = check_policy(mdp, policy)
    assert rep.spe_reachable.tolist() == [True, True, False]
    assert rep.policy_reachable.tolist() == [True, False, True]
    # state 1's action 1 disagrees with the SPE (on the SPE path), state 2's too (on the policy path)
    assert rep.agreement_spe_reachable == 0.0 and rep.agreement_policy_reachable == 0.0
    assert rep.follow.tolist() == [True, False, False] and rep.follow_rate_on_path == 0.5


def test_horizon_reachability_is_per_step():
    mdp = _with_horizon(random_discounted(4, 2, 2, 0.9, 0), 3)
    reach = reachable_states(mdp, np.zeros(4, dtype=int))
    assert reach.shape == (3, 4) and reach[0].tolist() == [True, False, False, False] and reach[1:].any(axis=1).all()


def test_time_indexed_and_stationary_policies_on_a_horizon():
    mdp = _with_horizon(random_discounted(5, 3, 2, 0.9, 5), 3)
    spe = solve_spe(mdp)
    assert_perfect(check_policy(mdp, spe.policy))
    stationary = ContractPolicy(spe.policy.action[0], spe.policy.contract[0])
    rep = check_policy(mdp, stationary)
    assert rep.n_states == 15 and rep.value_gap >= -TOL
    assert rep.exact_agreement == np.mean(spe.policy.action == spe.policy.action[0])


def test_agent_regret():
    mdp = binary_game_tree(5, 3)
    spe = solve_spe(mdp)
    br = agent_best_response(mdp, spe.policy)
    rep = check_policy(mdp, spe.policy, br.policy)
    assert rep.agent_regret_initial == pytest.approx(0.0, abs=TOL) and abs(rep.agent_regret_max) <= TOL
    assert rep.agent_policy_principal_value == pytest.approx(rep.policy_value)
    bad = 1 - br.policy                                          # the wrong action everywhere
    rep = check_policy(mdp, spe.policy, bad)
    assert rep.agent_regret_initial > 1e-3 and rep.agent_regret_max >= rep.agent_regret_initial
    assert rep.agent_policy_principal_value < rep.policy_value
    assert rep.agent_policy_spe_gap > 1e-3
    assert json.loads(json.dumps(rep.to_json()))["agent_policy"]["regret_initial"] > 0


def test_adversarial_ties_break_the_spe_contracts():
    mdp = binary_game_tree(5, 0)
    spe = solve_spe(mdp)
    rep = check_policy(mdp, spe.policy, tie_break="adversarial")
    assert rep.follow_rate < 1.0 and rep.ic_violations == 0 and rep.tie_break == "adversarial"


def test_bad_inputs_name_the_field():
    mdp = binary_game_tree(3, 0)
    spe = solve_spe(mdp)
    with pytest.raises(InvalidInstanceError) as e:
        check_policy(mdp, ContractPolicy(np.zeros(5, int), np.zeros((5, 2))))
    assert e.value.field == "action"
    with pytest.raises(InvalidInstanceError) as e:
        check_policy(mdp, ContractPolicy(np.zeros(7, int), np.zeros((7, 3))))
    assert e.value.field == "contract"
    with pytest.raises(InvalidInstanceError) as e:
        check_policy(mdp, ContractPolicy(np.zeros((2, 7), int), np.zeros((2, 7, 2))))
    assert e.value.field == "action"
    with pytest.raises(InvalidInstanceError) as e:
        check_policy(mdp, spe.policy, np.zeros(6, int))
    assert e.value.field == "agent_policy"
    with pytest.raises(InvalidInstanceError) as e:
        check_policy(mdp, spe.policy, tie_break="random")
    assert e.value.field == "tie_break"
    with pytest.raises(InvalidInstanceError) as e:
        check_policy(mdp, spe.policy, spe=solve_spe(binary_game_tree(4, 0)))
    assert e.value.field == "spe"
    with pytest.raises(InvalidInstanceError) as e:
        check_policy(mdp, "not a policy")
    assert e.value.field == "contract_policy"


# --------------------------------------------------------------------------- the CLI

@pytest.fixture()
def files(tmp_path):
    mdp = binary_game_tree(4, 0)
    spe = solve_spe(mdp)
    paths = {name: tmp_path / f"{name}.json" for name in ("mdp", "spe", "bad", "wrong_shape", "agent")}
    fileio.save(mdp, paths["mdp"])
    fileio.save(spe.policy, paths["spe"], npz_threshold=10)          # contract in a sibling .npz
    fileio.save(ContractPolicy(spe.policy.action, spe.policy.contract * 0.5), paths["bad"])
    fileio.save(ContractPolicy(np.zeros(3, int), np.zeros((3, 2))), paths["wrong_shape"])
    paths["agent"].write_text(json.dumps({"kind": "agent_policy", "version": 1, "action": [1] * 15}))
    return paths


def test_cli_check_json(files, capsys):
    assert (files["spe"].with_suffix(".npz")).exists()
    assert main(["check", str(files["mdp"]), str(files["spe"]), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kind"] == "policy_check"
    assert set(doc) >= {"spe_value", "policy_value", "value_ratio", "value_gap", "agreement",
                        "agreement_spe_reachable", "agreement_policy_reachable", "follow_rate", "strict_follow_rate",
                        "ic_violation_max", "ic_violations", "spe_gap", "tie_break", "agent_policy"}
    assert doc["value_ratio"] == pytest.approx(1.0) and doc["agreement"] == 1.0 and doc["ic_violations"] == 0
    assert main(["check", str(files["mdp"]), str(files["bad"]), "--json", "--agent-policy", str(files["agent"]),
                 "--tie-break", "adversarial"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ic_violations"] > 0 and doc["tie_break"] == "adversarial"
    assert set(doc["agent_policy"]) == {"regret_initial", "regret_max", "principal_value", "agent_value", "spe_gap"}


def test_cli_check_table(files, capsys):
    assert main(["check", str(files["mdp"]), str(files["bad"])]) == 0
    out = capsys.readouterr().out
    assert "IC violations" in out and "follow rate" in out and "SPE principal value" in out


@pytest.mark.parametrize("which, field", [("wrong_shape", "action"), ("mdp", "kind")])
def test_cli_check_bad_policy_exits_2_with_one_line(files, capsys, which, field):
    assert main(["check", str(files["mdp"]), str(files[which])]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and f"error: {field}" in err


def test_cli_check_bad_agent_policy_exits_2(files, tmp_path, capsys):
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps({"kind": "agent_policy", "version": 1, "action": [0, 1]}))
    assert main(["check", str(files["mdp"]), str(files["spe"]), "--agent-policy", str(bad)]) == 2
    assert "agent_policy" in capsys.readouterr().err
    floats = tmp_path / "floats.json"
    floats.write_text(json.dumps({"kind": "agent_policy", "version": 1, "action": [0.5] * 15}))
    assert main(["check", str(files["mdp"]), str(files["spe"]), "--agent-policy", str(floats)]) == 2
    assert main(["check", str(files["mdp"]), str(files["spe"]), "--agent-policy", str(tmp_path / "none.json")]) == 2
    with pytest.raises(SystemExit) as e:                        # argparse: exit 2, one line
        main(["check", str(files["mdp"]), str(files["spe"]), "--tie-break", "nope"])
    assert e.value.code == 2


def test_load_agent_policy_accepts_a_contract_policy_file(files):
    assert load_agent_policy(files["spe"]).tolist() == fileio.load(files["spe"]).action.tolist()
    assert load_agent_policy(files["agent"]).tolist() == [1] * 15


def test_cli_check_as_a_subprocess(files):
    ok = subprocess.run([sys.executable, "-m", "contractlab", "check", str(files["mdp"]), str(files["spe"]), "--json"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["follow_rate"] == 1.0
    bad = subprocess.run([sys.executable, "-m", "contractlab", "check", str(files["mdp"]), str(files["wrong_shape"])],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
