"""Finite-horizon MDPs with stateful externalities, as principal-agent MDPs.

The source is Helou, *Microeconomic Foundations of Multi-Agent Learning* (arXiv 2601.03451),
of which only the abstract is known: a repeated principal-agent interaction in a finite-horizon
MDP with strategic externalities, where the agent's actions change payoffs and the dynamics, and
a principal steers them with transfers towards the welfare-optimal behaviour. Everything below
is therefore our modelling, written down choice by choice.

The model
---------
States ``s`` are levels of a *stock* (a pollution stock; a risk level). At every step
``t = 0, …, H − 1`` of an episode of ``H`` steps:

1. the principal, who stands for the others (the people who bear the externality), offers a
   transfer ``b(t, s, o) >= 0`` on every outcome ``o`` (limited liability: she can pay the
   agent, not fine it);
2. the agent takes a hidden action ``a`` and earns its *private reward* ``r(s, a)``;
3. an outcome ``o ~ O(s, a, ·)`` is drawn and observed by both (emissions measured; a claim
   filed). The principal never sees ``a``;
4. the others receive the *externality* ``e(s, o)`` (a cost is a negative number), the
   principal pays ``b(t, s, o)``;
5. the stock moves to ``next_state[s, o]`` or is drawn from ``transitions[s, o, ·]``.

Modelling choices (and why):

- **The externality is a function of (stock, outcome)**, not of the action. The principal
  pays on what she observes, and the others are harmed by what happens (emissions and the stock
  they leave; claims paid), not by what the agent intended. Any action-dependence of the harm
  runs through the outcome distribution. This is exactly the principal reward ``r_p(s, o)`` of a
  principal-agent MDP (Ivanov et al., arXiv 2407.18074, Section 3), so the model *is* a
  :class:`~contractlab.theory.pamdp.PrincipalAgentMDP` with ``agent_rewards = r`` and
  ``principal_rewards = e`` (:meth:`ExternalityMDP.to_pamdp`), and the toolkit's SPE, MIN-PAY,
  policy evaluation and best-response machinery applies unchanged.
- **The stock moves on outcomes only** (the PA-MDP's ``next_state[s, o]`` / ``transitions[s, o]``):
  the action changes the stock only through the outcome it makes likely. A modeller who wants
  an action to move the stock must make that visible in the outcome.
- **The private reward depends on (stock, action) only**; it is the agent's expected reward of
  the step (an outcome-dependent private reward would have to be folded into its expectation).
- **Social welfare is private reward + externality**: ``W = Σ_t r(s_t, a_t) + e(s_t, o_t)``
  (discounted by ``γ^t`` if ``discount < 1``). Transfers leave it unchanged *on every
  trajectory*: the agent's utility is ``Σ r + b`` and the principal's ``Σ e − b``, so their sum
  is ``W`` ex post, whatever the transfers.
- **Finite horizon, time-indexed play**: the horizon ``H`` is required; policies and transfers
  may depend on the step ``t`` (arrays ``(H, S)`` and ``(H, S, K)``). ``discount`` defaults to 1.
- **Fixed, outcome-independent payments** (an insurance premium) may be written into both
  ``r`` (minus) and ``e`` (plus); they cancel in the welfare and change no incentive.

Exact benchmarks (the welfare-optimal policy, the minimal transfers implementing it, the selfish
policy and its welfare) are in :mod:`contractlab.solvers.welfare`; the two environments and the
random families in :mod:`contractlab.theory.externality_families`.

File format
-----------
``{"kind": "externality_mdp", "version": 1, "outcome_probs": [[[...]]], "private_rewards": [[...]],
"externality": [[...]], "next_state": [[...]] | "transitions": [[[...]]], "horizon": H}`` with the
optional fields ``discount`` (default 1), ``initial_state`` (default 0), ``stock`` (the stock
level of each state, a number per state, for reports and plots), ``action_names``,
``outcome_names``, ``environment`` (a short name, e.g. ``"pollution"``) and ``parameters`` (the
numbers the instance was generated from, name -> number, for provenance). Validation is that of
the principal-agent MDP with the fields named as here; the kind is registered with
:mod:`contractlab.theory.fileio` when this module is imported.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import InvalidInstanceError
from .fileio import FileKind, register_kind, require_fields
from .pamdp import PrincipalAgentMDP
from .validation import as_float_array, check_names, echo

KIND = "externality_mdp"
VERSION = 1

#: How the fields of the underlying principal-agent MDP are called here (errors name these).
_FIELD_NAMES = {"agent_rewards": "private_rewards", "principal_rewards": "externality"}

#: Longest ``environment`` name and parameter name accepted, and most parameters.
MAX_NAME_CHARS = 60
MAX_PARAMETERS = 64


def _check_horizon(value) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise InvalidInstanceError("horizon", f"must be an integer >= 1 (the model has a finite horizon), "
                                              f"got {echo(value)}")
    return int(value)


def _check_label(field: str, value) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.isprintable() or not 0 < len(value) <= MAX_NAME_CHARS:
        raise InvalidInstanceError(field, f"must be a printable string of 1 to {MAX_NAME_CHARS} characters, "
                                          f"got {echo(value)}")
    return value


def _check_parameters(value) -> Mapping[str, float | int] | None:
    """``None`` or a mapping of at most :data:`MAX_PARAMETERS` printable names to finite numbers
    (returned read-only: the model is immutable)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InvalidInstanceError("parameters", f"expected an object of name -> number, got {type(value).__name__}")
    if len(value) > MAX_PARAMETERS:
        raise InvalidInstanceError("parameters", f"has {len(value)} entries, at most {MAX_PARAMETERS} are accepted")
    out: dict[str, float | int] = {}
    for name, number in value.items():
        label = _check_label("parameters", name)
        if isinstance(number, bool) or not isinstance(number, numbers.Real):
            raise InvalidInstanceError(f"parameters.{label}", f"expected a number, got {type(number).__name__}")
        if isinstance(number, numbers.Integral):
            if abs(int(number)) > 2**53:
                raise InvalidInstanceError(f"parameters.{label}", "integer beyond 2^53 (not exact as a float)")
            out[label] = int(number)
        else:
            if not math.isfinite(float(number)):
                raise InvalidInstanceError(f"parameters.{label}", f"value {echo(number)} is not finite")
            out[label] = float(number)
    return MappingProxyType(out)


@dataclass(frozen=True, eq=False)
class ExternalityMDP:
    """A validated, immutable finite-horizon MDP with a stateful externality (module docstring).

    Parameters
    ----------
    outcome_probs:
        ``O``, shape ``(S, A, K)``: the outcome distribution of action ``a`` at stock ``s``.
    private_rewards:
        ``r``, shape ``(S, A)``: the agent's own reward (profit, minus effort or abatement cost).
    externality:
        ``e``, shape ``(S, K)``: what the others receive when outcome ``o`` happens at stock
        ``s`` (a damage is negative).
    next_state, transitions:
        How the stock moves on the outcome: ``(S, K)`` ints in ``[-1, S)`` (``-1`` ends the
        episode) or ``(S, K, S)`` distributions (a zero row ends it). Give exactly one.
    horizon:
        ``H >= 1`` steps per episode (required).
    discount:
        ``γ`` in ``[0, 1]``, default 1.
    initial_state:
        ``s_0``, default 0.
    stock:
        Optional ``(S,)``: the stock level each state stands for.
    action_names, outcome_names:
        Optional distinct printable labels.
    environment:
        Optional short name of the environment the instance comes from.
    parameters:
        Optional ``name -> number``: what the instance was generated from.

    Raises
    ------
    InvalidInstanceError
        Naming the field (and index) of the first violation, with the names above.
    """

    outcome_probs: np.ndarray
    private_rewards: np.ndarray
    externality: np.ndarray
    horizon: int
    next_state: np.ndarray | None = None
    transitions: np.ndarray | None = None
    discount: float = 1.0
    initial_state: int = 0
    stock: np.ndarray | None = None
    action_names: tuple[str, ...] | None = None
    outcome_names: tuple[str, ...] | None = None
    environment: str | None = None
    parameters: Mapping | None = None

    def __post_init__(self) -> None:
        H = _check_horizon(self.horizon)
        try:
            pamdp = PrincipalAgentMDP(outcome_probs=self.outcome_probs, agent_rewards=self.private_rewards,
                                      principal_rewards=self.externality, next_state=self.next_state,
                                      transitions=self.transitions, discount=self.discount, horizon=H,
                                      initial_state=self.initial_state)
        except InvalidInstanceError as exc:
            if exc.field in _FIELD_NAMES:
                raise type(exc)(_FIELD_NAMES[exc.field], exc.reason, exc.index) from None
            raise
        S, A, K = pamdp.outcome_probs.shape
        stock = None
        if self.stock is not None:
            stock = as_float_array("stock", self.stock, 1)
            if stock.shape != (S,):
                raise InvalidInstanceError("stock", f"has {stock.shape[0]} entries, expected one per state ({S})")
        fields = dict(outcome_probs=pamdp.outcome_probs, private_rewards=pamdp.agent_rewards,
                      externality=pamdp.principal_rewards, horizon=H, next_state=pamdp.next_state,
                      transitions=pamdp.transitions, discount=pamdp.discount, initial_state=pamdp.initial_state,
                      stock=stock, action_names=check_names("action_names", self.action_names, A),
                      outcome_names=check_names("outcome_names", self.outcome_names, K),
                      environment=_check_label("environment", self.environment),
                      parameters=_check_parameters(self.parameters))
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_pamdp", pamdp)

    # --- shape --------------------------------------------------------------------------

    @property
    def n_states(self) -> int:
        return self.outcome_probs.shape[0]

    @property
    def n_actions(self) -> int:
        return self.outcome_probs.shape[1]

    @property
    def n_outcomes(self) -> int:
        return self.outcome_probs.shape[2]

    # --- semantics ----------------------------------------------------------------------

    def to_pamdp(self) -> PrincipalAgentMDP:
        """The principal-agent MDP this model is: ``agent_rewards = private_rewards``,
        ``principal_rewards = externality``, the same outcomes, successors, horizon, discount and
        initial state (the arrays are shared, not copied; all are read-only)."""
        return self._pamdp

    def expected_externality(self) -> np.ndarray:
        """``Σ_o O(s, a, o) e(s, o)``, shape ``(S, A)``: the others' expected payoff of an action."""
        return np.einsum("sak,sk->sa", self.outcome_probs, self.externality)

    def welfare_rewards(self) -> np.ndarray:
        """``r(s, a) + Σ_o O(s, a, o) e(s, o)``, shape ``(S, A)``: the expected one-step welfare."""
        return self.private_rewards + self.expected_externality()

    def label(self, action: int) -> str:
        return self.action_names[action] if self.action_names else str(action)

    def replace(self, **changes) -> "ExternalityMDP":
        """A new model with some fields replaced (validated again). Replacing ``next_state`` by
        ``transitions`` (or back) needs the other set to ``None``."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data.update(changes)
        return ExternalityMDP(**data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExternalityMDP):
            return NotImplemented

        def same(a, b):
            return (a is None and b is None) or (a is not None and b is not None and np.array_equal(a, b))

        arrays = ("outcome_probs", "private_rewards", "externality", "next_state", "transitions", "stock")
        plain = ("horizon", "discount", "initial_state", "action_names", "outcome_names", "environment",
                 "parameters")
        return (all(same(getattr(self, f), getattr(other, f)) for f in arrays)
                and all(getattr(self, f) == getattr(other, f) for f in plain))

    __hash__ = None  # arrays inside: not hashable by design


_FIELDS = ("outcome_probs", "private_rewards", "externality", "horizon", "next_state", "transitions", "discount",
           "initial_state", "stock", "action_names", "outcome_names", "environment", "parameters")


# --- file format -------------------------------------------------------------------------

#: Fields of an ``externality_mdp`` file that are arrays (and may sit in the ``.npz`` sibling).
ARRAY_FIELDS = ("outcome_probs", "private_rewards", "externality", "next_state", "transitions", "stock")


def _from_dict(data: dict) -> ExternalityMDP:
    allowed = {"kind", "version", *_FIELDS}
    require_fields(data, ("outcome_probs", "private_rewards", "externality", "horizon"), allowed)
    return ExternalityMDP(**{name: data[name] for name in _FIELDS if name in data})


def _to_dict(m: ExternalityMDP) -> dict[str, Any]:
    """The ``externality_mdp`` document, arrays as they are (``fileio`` lists or ``.npz``-es them)."""
    data: dict[str, Any] = {"kind": KIND, "version": VERSION, "outcome_probs": m.outcome_probs,
                            "private_rewards": m.private_rewards, "externality": m.externality,
                            "horizon": m.horizon, "discount": m.discount, "initial_state": m.initial_state}
    if m.next_state is not None:
        data["next_state"] = m.next_state
    else:
        data["transitions"] = m.transitions
    for name in ("stock", "action_names", "outcome_names", "environment", "parameters"):
        value = getattr(m, name)
        if value is not None:
            data[name] = list(value) if isinstance(value, tuple) else dict(value) if name == "parameters" else value
    return data


register_kind(FileKind(KIND, VERSION, ExternalityMDP, _from_dict, _to_dict, array_fields=ARRAY_FIELDS))

__all__ = ["ExternalityMDP", "KIND", "VERSION", "ARRAY_FIELDS"]
