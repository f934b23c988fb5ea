"""A principal's contract policy in a principal-agent MDP: per state, a recommended action
and a contract (payment per outcome, limited liability ``b >= 0``).

Stationary policies have arrays of shape ``(S,)`` and ``(S, K)``. For an MDP with a finite
``horizon`` ``H`` the policy may depend on the step ``t``: shapes ``(H, S)`` and ``(H, S, K)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InvalidInstanceError
from .pamdp import PrincipalAgentMDP, _as_int_array
from .validation import as_float_array


def _ndim_of(value) -> int:
    """2 for a time-indexed ``(H, S)`` action array, else 1 (without building an array: a ragged
    nested list must reach the validation, which names the index, not ``numpy.asarray``)."""
    if isinstance(value, np.ndarray):
        return 2 if value.ndim == 2 else 1
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (list, tuple, np.ndarray)):
        return 2
    return 1


@dataclass(frozen=True, eq=False)
class ContractPolicy:
    """Recommended ``action`` and ``contract`` per state (or per step and state)."""

    action: np.ndarray
    contract: np.ndarray

    def __post_init__(self) -> None:
        ndim = _ndim_of(self.action)
        a = _as_int_array("action", self.action, ndim)
        b = as_float_array("contract", self.contract, ndim + 1)
        if b.shape[:-1] != a.shape:
            raise InvalidInstanceError("contract", f"has shape {b.shape}, expected {a.shape} + (outcomes,)")
        neg = np.argwhere(b < 0)
        if neg.size:
            idx = tuple(int(i) for i in neg[0])
            raise InvalidInstanceError("contract", f"payment {float(b[idx])!r} is negative (limited liability)", idx)
        object.__setattr__(self, "action", a)
        object.__setattr__(self, "contract", b)

    @property
    def time_indexed(self) -> bool:
        return self.action.ndim == 2

    def check_fits(self, mdp: PrincipalAgentMDP) -> None:
        """Raise :class:`InvalidInstanceError` unless the policy's shapes fit ``mdp``."""
        S, A, K = mdp.n_states, mdp.n_actions, mdp.n_outcomes
        expected = (S,) if not self.time_indexed else (mdp.horizon or -1, S)
        if self.time_indexed and mdp.horizon is None:
            raise InvalidInstanceError("action", "a time-indexed policy needs an MDP with a finite horizon")
        if self.action.shape != expected:
            raise InvalidInstanceError("action", f"has shape {self.action.shape}, expected {expected}")
        if self.contract.shape[-1] != K:
            raise InvalidInstanceError("contract", f"has {self.contract.shape[-1]} outcomes, the MDP has {K}")
        bad = np.argwhere((self.action < 0) | (self.action >= A))
        if bad.size:
            idx = tuple(int(i) for i in bad[0])
            raise InvalidInstanceError("action", f"action {int(self.action[idx])} is out of range [0, {A})", idx)

    def at_step(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """``(action, contract)`` used at step ``t`` (the same arrays for a stationary policy)."""
        if self.time_indexed:
            return self.action[t], self.contract[t]
        return self.action, self.contract


def _policy_from_dict(data: dict) -> ContractPolicy:
    from .fileio import require_fields
    require_fields(data, ("action", "contract"), {"kind", "version", "action", "contract"})
    return ContractPolicy(action=data["action"], contract=data["contract"])


def _policy_to_dict(p: ContractPolicy) -> dict:
    return {"kind": "contract_policy", "version": 1, "action": p.action, "contract": p.contract}


def _register() -> None:
    from .fileio import FileKind, register_kind
    register_kind(FileKind("contract_policy", 1, ContractPolicy, _policy_from_dict, _policy_to_dict,
                           array_fields=("action", "contract")))


_register()
