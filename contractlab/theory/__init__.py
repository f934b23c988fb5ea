"""What the objects are: validated, immutable models, instance families and the file format."""

from .contract_problem import ContractProblem
from .errors import InvalidFileError, InvalidInstanceError
from .fileio import dumps, load, load_problem, loads, save

__all__ = ["ContractProblem", "InvalidInstanceError", "InvalidFileError", "load", "load_problem", "loads",
           "dumps", "save"]
