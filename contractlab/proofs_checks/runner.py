"""Run registered theorems on drawn instances: the engine behind ``contractlab verify``.

Instances are drawn by each theorem's hypothesis strategy under a fixed seed, so a run is
reproducible; when a check fails, hypothesis shrinks the instance to a small
counterexample, which is reported with the evidence.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable, Iterable

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from .registry import DEFAULT_COUNT, DEFAULT_SEED, Evidence, Theorem, all_theorems


@dataclass(frozen=True)
class TheoremReport:
    """The outcome of checking one theorem on ``instances`` drawn instances."""

    id: str
    statement: str
    source: str
    instances: int
    vacuous: int
    worst_margin: float
    worst_detail: str
    passed: bool
    failure: str | None
    seconds: float
    lp_answers: int = 0
    certified: int = 0

    def to_json(self) -> dict:
        data = asdict(self)
        data["worst_margin"] = self.worst_margin if math.isfinite(self.worst_margin) else None
        return data


class _CheckFailed(AssertionError):
    pass


def run_theorem(theorem: Theorem, count: int = DEFAULT_COUNT, seed: int = DEFAULT_SEED,
                on_example: Callable[[], None] | None = None) -> TheoremReport:
    """Check ``theorem`` on ``count`` instances drawn from its strategy with ``seed``."""
    evidence: list[Evidence] = []
    first_failure: list[int] = []

    @hypothesis_seed(seed)
    @settings(max_examples=count, database=None, deadline=None, phases=(Phase.generate, Phase.shrink),
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False, print_blob=False)
    @given(theorem.strategy())
    def check(instance):
        try:
            ev = theorem.checker(instance)
        except Exception as exc:  # a crash is a failed check, reported with the instance
            ev = Evidence(math.nan, math.nan, -math.inf, False, f"checker raised {type(exc).__name__}: {exc}")
        if not first_failure:
            evidence.append(ev)
            if on_example:
                on_example()
        if not ev.passed:
            first_failure.append(len(evidence))
            raise _CheckFailed(f"{ev.detail}: measured {ev.measured!r}, bound {ev.bound!r}, margin {ev.margin!r}")

    start = time.perf_counter()
    failure = None
    try:
        check()
    except _CheckFailed as exc:
        notes = "\n".join(getattr(exc, "__notes__", []))
        failure = f"{exc}\n{notes}".strip()
    seconds = time.perf_counter() - start
    vacuous = sum(1 for e in evidence if e.margin == math.inf and e.passed)
    real = [e for e in evidence if not (e.margin == math.inf and e.passed)]
    worst = min(real, key=lambda e: e.margin) if real else None
    return TheoremReport(theorem.id, theorem.statement, theorem.source, len(evidence), vacuous,
                         worst.margin if worst else math.inf, worst.detail if worst else "",
                         failure is None, failure, seconds, sum(e.lp_answers for e in evidence),
                         sum(e.certified for e in evidence))


def select(ids: Iterable[str] | None = None) -> list[Theorem]:
    """The registered theorems with the given ids (or prefixes ending in '.'), or all of them."""
    theorems = all_theorems()
    if not ids:
        return list(theorems.values())
    chosen: list[Theorem] = []
    for tid in ids:
        matches = [t for k, t in theorems.items() if k == tid or (tid.endswith(".") and k.startswith(tid))]
        if not matches:
            raise KeyError(tid)
        chosen.extend(t for t in matches if t not in chosen)
    return chosen
