"""The tie rules the docstrings promise: among equally good actions the lowest index wins."""

import numpy as np

from contractlab import ContractProblem, first_best, optimal_contract
from contractlab.proofs_checks.theorems_contracts import check_ties_to_lowest_index


def _with_twin(position: int) -> ContractProblem:
    """The README's effort problem with the costly action duplicated at ``position``."""
    F = [[0.75, 0.25], [0.25, 0.75]]
    c = [0.0, 1.0]
    F.insert(position, F[1])
    c.insert(position, 1.0)
    return ContractProblem(outcome_probs=F, costs=c, rewards=[0.0, 4.0])


def test_twin_of_the_optimal_action_loses_the_tie():
    # "high" is optimal (utility 1.5 against 1.0 for "low"); its twin ties with it exactly
    for position, expected in ((0, 0), (1, 1), (2, 1)):
        p = _with_twin(position)
        opt = optimal_contract(p)
        twins = [i for i in range(3) if np.array_equal(p.outcome_probs[i], [0.25, 0.75])]
        assert opt.action == min(twins) == expected
        assert opt.principal_utility == 1.5
        assert first_best(p).action == expected


def test_the_theorem_holds_on_the_hand_made_instances():
    for position in range(3):
        assert check_ties_to_lowest_index(_with_twin(position)).passed
