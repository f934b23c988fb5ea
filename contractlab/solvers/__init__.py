"""Exact answers: MIN-PAY, implementability, optimal / linear / first-best contracts."""

from .best_response import BestResponse, agent_best_response
from .implementability import Implementability, is_implementable
from .linear import LinearContractResult, best_linear_contract
from .min_pay import MinPayResult, min_pay, min_pay_all
from .optimal import FirstBest, OptimalContract, first_best, optimal_contract

__all__ = ["agent_best_response", "BestResponse", "is_implementable", "Implementability", "best_linear_contract",
           "LinearContractResult", "min_pay", "min_pay_all", "MinPayResult", "optimal_contract", "OptimalContract",
           "first_best", "FirstBest"]
