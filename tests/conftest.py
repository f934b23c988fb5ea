"""Hypothesis profiles: ``ci`` (deterministic, bounded; what CI runs) and ``dev`` (more examples)."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, derandomize=True, deadline=None, database=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
settings.register_profile(
    "dev", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
settings.load_profile("ci")


import os

import pytest


@pytest.fixture(autouse=True)
def _restore_budget_environment():
    """The CLI's ``--max-memory`` / ``--max-file-size`` set environment variables for the rest of
    the process (by design: one command per process). Tests call the CLI in-process, so restore
    them after each test; otherwise a test's tiny budget leaks into every later test."""
    from contractlab.theory.budget import FILE_SIZE_ENV, MEMORY_ENV
    saved = {name: os.environ.get(name) for name in (MEMORY_ENV, FILE_SIZE_ENV)}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
