"""What the objects are: validated, immutable models, instance families and the file format."""

from . import bimatrix  # noqa: F401  (registers the "bimatrix_game" file kind)
from .bimatrix import BimatrixGame
from .contract_problem import ContractProblem
from .errors import InvalidFileError, InvalidInstanceError
from .fileio import dumps, load, load_problem, loads, save

__all__ = ["ContractProblem", "BimatrixGame", "InvalidInstanceError", "InvalidFileError", "load", "load_problem", "loads",
           "dumps", "save"]
