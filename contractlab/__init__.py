"""contractlab: exact contracts, incentive design and numerically verified theorems.

The layers (see ``DESIGN.md``): :mod:`contractlab.theory` (what the objects are),
:mod:`contractlab.solvers` (exact answers), :mod:`contractlab.proofs_checks` (theorems,
checks and the CLI). The most used names are re-exported here.
"""

__version__ = "0.1.0"

from .theory import ContractProblem, InvalidInstanceError, load, load_problem, save  # noqa: E402
from .solvers.exact import solve  # noqa: E402
from .solvers import (  # noqa: E402
    agent_best_response,
    best_linear_contract,
    first_best,
    is_implementable,
    min_pay,
    min_pay_all,
    optimal_contract,
)

__all__ = ["solve", "ContractProblem", "InvalidInstanceError", "load", "load_problem", "save", "min_pay", "min_pay_all",
           "is_implementable", "optimal_contract", "best_linear_contract", "first_best", "agent_best_response"]
