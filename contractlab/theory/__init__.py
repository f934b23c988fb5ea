"""What the objects are: validated, immutable models, instance families and the file format."""

from . import bimatrix  # noqa: F401  (registers the "bimatrix_game" file kind)
from . import documents  # noqa: F401  (registers "pamdp_solution" and "agent_policy")
from . import externality  # noqa: F401  (registers the "externality_mdp" file kind)
from . import incentive_games  # noqa: F401  (registers the "normal_form_game" file kind)
from . import escape_room  # noqa: F401  (registers the "escape_room" file kind)
from . import coin_game  # noqa: F401  (registers the "coin_game" file kind)
from .bimatrix import BimatrixGame
from .contract_policy import ContractPolicy
from .contract_problem import ContractProblem
from .pamdp import PrincipalAgentMDP
from .errors import InvalidFileError, InvalidInstanceError
from .fileio import dumps, load, load_problem, loads, save

__all__ = ["ContractProblem", "BimatrixGame", "PrincipalAgentMDP", "ContractPolicy", "InvalidInstanceError", "InvalidFileError", "load", "load_problem", "loads",
           "dumps", "save"]
