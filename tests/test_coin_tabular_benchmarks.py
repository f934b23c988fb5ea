"""benchmarks/coin_principal.py, coin_validation.py, coin_game.py and coin_game_lp.py as a user
runs them: a bad flag (also beside --quick, which only changes the defaults) is one line naming
it and exit 2 before any work; a smoke run prints a table whose welfare fractions are fractions
of W*."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_script(name, *args, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.mark.parametrize("name, args, flag", [
    ("coin_principal.py", ["--quick", "--seeds", "0"], "--seeds"),
    ("coin_principal.py", ["--seeds", "99999999999999"], "--seeds"),
    ("coin_principal.py", ["--quick", "--principal-iterations", "0"], "--principal-iterations"),
    ("coin_principal.py", ["--quick", "--agent-iterations", "-3"], "--agent-iterations"),
    ("coin_principal.py", ["--nudge", "nan"], "--nudge"),
    ("coin_validation.py", ["--quick", "--seeds", "1"], "--seeds"),
    ("coin_validation.py", ["--quick", "--agent-iterations", "0"], "--agent-iterations"),
    ("coin_validation.py", ["--nudge", "-1"], "--nudge"),
    ("coin_game.py", ["--batches", "10", "0"], "--batches[1]"),
    ("coin_game.py", ["--batches", "99999999999"], "--batches[0]"),     # cannot fit the memory budget
    ("coin_game.py", ["--steps", "-1"], "--steps"),
    ("coin_game.py", ["--grid", "1"], "--grid"),
    ("coin_game_lp.py", ["--horizon", "0"], "--horizon"),
    ("coin_game_lp.py", ["--horizon", "100000000"], "--horizon"),       # the exact tables cannot fit
    ("coin_game_lp.py", ["--horizon", "400"], "--horizon"),             # the LP would exceed MAX_ROWS
])
def test_a_bad_flag_is_one_line_naming_it(name, args, flag):
    out = run_script(name, *args)
    assert out.returncode == 2 and out.stdout == "", out.stderr
    assert out.stderr.count("\n") == 1 and flag in out.stderr and "Traceback" not in out.stderr


def test_a_quick_validation_run_prints_fractions_of_the_optimum():
    out = run_script("coin_validation.py", "--quick", "--simultaneous", "both", timeout=300)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| ") and "---" not in line]
    body = [r for r in rows if not r.startswith("| payments for")]
    assert len(body) == 2                       # the paper's rule and the every-action minimum
    for row in body:
        fraction = float(re.split(r"\s*\|\s*", row)[2].split(" ")[0])
        assert 0.0 < fraction <= 1.0 + 1e-9     # no play beats the exact welfare optimum
