"""The theorem registry: one record per theorem, shared by the test suite and ``contractlab verify``.

A :class:`Theorem` says what is claimed (``statement``, optionally a sympy ``expression``),
where it comes from (``source``: paper and section), how to check it on one instance
(``checker`` returning :class:`Evidence`) and how to draw instances (``strategy``, a
hypothesis strategy). Theorem modules call :func:`register` at import time;
:func:`all_theorems` imports them all.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

#: Defaults of ``contractlab verify`` and :func:`contractlab.proofs_checks.runner.run_theorem`:
#: instances per theorem and the seed of the draws.
DEFAULT_COUNT, DEFAULT_SEED = 50, 0

#: Modules that register theorems, imported by :func:`all_theorems`.
THEOREM_MODULES = (
    "contractlab.proofs_checks.theorems_contracts",
    "contractlab.proofs_checks.theorems_closed_forms",
    "contractlab.proofs_checks.theorems_stackelberg",
    "contractlab.proofs_checks.theorems_pamdp",
    "contractlab.proofs_checks.theorems_learning",
    "contractlab.proofs_checks.theorems_ties",
    "contractlab.proofs_checks.theorems_minpay",
    "contractlab.proofs_checks.theorems_certificates",
    "contractlab.proofs_checks.theorems_lp",
    "contractlab.proofs_checks.theorems_bounds",
    "contractlab.proofs_checks.theorems_regret",
    "contractlab.proofs_checks.theorems_two_phase",
    "contractlab.proofs_checks.theorems_online_contract",
    "contractlab.proofs_checks.theorems_welfare",
    "contractlab.proofs_checks.theorems_steering_games",
    "contractlab.proofs_checks.theorems_tax",
    "contractlab.proofs_checks.theorems_incentives",
    "contractlab.proofs_checks.theorems_metagrad",
    "contractlab.proofs_checks.theorems_coin",
)

#: Default numerical tolerance of a check (absolute, scaled by max(1, |bound|)).
CHECK_TOL = 1e-7


@dataclass(frozen=True)
class Evidence:
    """What a checker measured on one instance.

    ``margin`` is signed distance from violation in the quantity's own units: positive means
    the claim holds with room to spare, ``0`` is tight, negative is a violation. ``passed``
    applies the check's tolerance to it.
    """

    measured: float
    bound: float
    margin: float
    passed: bool
    detail: str = ""
    lp_answers: int = 0      # LP answers this check relied on ...
    certified: int = 0       # ... and how many of them were certified exactly (solvers/certify.py)

    @staticmethod
    def at_most(measured: float, bound: float, tol: float = CHECK_TOL, detail: str = "") -> "Evidence":
        """Claim ``measured <= bound`` (within ``tol * max(1, |bound|)``)."""
        margin = float(bound - measured)
        return Evidence(float(measured), float(bound), margin, _ok(margin, bound, tol), detail)

    @staticmethod
    def at_least(measured: float, bound: float, tol: float = CHECK_TOL, detail: str = "") -> "Evidence":
        """Claim ``measured >= bound`` (within ``tol * max(1, |bound|)``)."""
        margin = float(measured - bound)
        return Evidence(float(measured), float(bound), margin, _ok(margin, bound, tol), detail)

    @staticmethod
    def equal(measured: float, expected: float, tol: float = CHECK_TOL, detail: str = "") -> "Evidence":
        """Claim ``measured == expected`` (within ``tol * max(1, |expected|)``); margin is ``-|diff|``."""
        margin = -abs(float(measured) - float(expected))
        if math.isnan(margin):
            margin = -math.inf
        return Evidence(float(measured), float(expected), margin, _ok(margin, expected, tol), detail)

    @staticmethod
    def combine(items: list["Evidence"]) -> "Evidence":
        """The worst of several pieces of evidence about one instance (the first failing, else the tightest)."""
        if not items:
            raise ValueError("combine: no evidence to combine")
        failing = [e for e in items if not e.passed]
        return min(failing or items, key=lambda e: e.margin)

    @staticmethod
    def vacuous(detail: str) -> "Evidence":
        """The claim's premise does not hold on this instance (counted, never a failure)."""
        return Evidence(math.nan, math.nan, math.inf, True, detail or "premise does not hold")


def _ok(margin: float, bound: float, tol: float) -> bool:
    scale = max(1.0, abs(bound)) if math.isfinite(bound) else 1.0
    return bool(margin >= -tol * scale)


@dataclass(frozen=True)
class Theorem:
    """A registered claim with its checker and instance strategy."""

    id: str
    statement: str
    source: str
    checker: Callable[[Any], Evidence]
    strategy: Callable[[], Any]          # returns a hypothesis SearchStrategy
    expression: Any = None               # an optional sympy expression of the claim
    tags: tuple[str, ...] = field(default=())

    def check(self, instance: Any) -> Evidence:
        return self.checker(instance)


_REGISTRY: dict[str, Theorem] = {}


def register(theorem: Theorem) -> Theorem:
    """Add a theorem; ids are unique."""
    if theorem.id in _REGISTRY and _REGISTRY[theorem.id] is not theorem:
        raise ValueError(f"theorem id {theorem.id!r} is registered twice")
    _REGISTRY[theorem.id] = theorem
    return theorem


def theorem(id: str, statement: str, source: str, strategy: Callable[[], Any], expression: Any = None,
            tags: tuple[str, ...] = ()) -> Callable[[Callable[[Any], Evidence]], Callable[[Any], Evidence]]:
    """Decorator form of :func:`register` for a checker function."""
    def wrap(checker: Callable[[Any], Evidence]) -> Callable[[Any], Evidence]:
        register(Theorem(id, statement, source, checker, strategy, expression, tags))
        return checker
    return wrap


def all_theorems() -> dict[str, Theorem]:
    """Every registered theorem, by id: module by module in ``THEOREM_MODULES`` order, then in
    registration order (independent of which module happened to be imported first)."""
    for name in THEOREM_MODULES:
        importlib.import_module(name)

    def module_rank(t: Theorem) -> int:
        module = getattr(t.checker, "__module__", "")
        return THEOREM_MODULES.index(module) if module in THEOREM_MODULES else len(THEOREM_MODULES)

    return {t.id: t for t in sorted(_REGISTRY.values(), key=module_rank)}


def get_theorem(theorem_id: str) -> Theorem:
    theorems = all_theorems()
    if theorem_id not in theorems:
        raise KeyError(f"unknown theorem {theorem_id!r}; known: {', '.join(theorems)}")
    return theorems[theorem_id]


def theorems_markdown(theorems: dict) -> str:
    """The registry as the Markdown page ``docs/theorems.md``."""
    lines = ["# Registered theorems", "",
             "Generated by `contractlab theorems --markdown > docs/theorems.md`; checked by",
             "`contractlab verify` and by `tests/test_theorems.py` on instances drawn by each theorem's",
             "hypothesis strategy.", ""]
    for t in theorems.values():
        lines += [f"## `{t.id}`", "", t.statement, "", f"*Source:* {t.source}", ""]
        if t.expression is not None:
            lines += [f"*Expression:* `{t.expression}`", ""]
    return "\n".join(lines)
