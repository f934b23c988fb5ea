"""The benchmark scripts (other than the coin_* ones, tested in test_coin_tabular_benchmarks.py and
test_coin_deep_benchmark.py) as a user runs them with a bad flag: one line ``error: --flag: reason``
on stderr naming the flag (and the index of a list entry), exit 2, nothing on stdout, no traceback,
and no work started (a count of 0, a negative one, one too large for memory or for the run to end,
NaN/inf where a finite number is meant, an output path in a folder that does not exist)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HUGE = "99999999999999"

#: (script, arguments, what the error line must contain)
CASES = [
    ("welfare_table.py", ["--seeds", "0", "-1"], "--seeds[1]"),
    # output paths are checked before any work, not when the result is written
    ("two_phase.py", ["--plot", "/nonexistent-dir/regret.png"], "--plot"),
    ("online_contract.py", ["--plot", "/nonexistent-dir/regret.png"], "--plot"),
    ("steering_games.py", ["--plot", "/nonexistent-dir/budget.png"], "--plot"),
    ("learning_results.py", ["--out", "/nonexistent-dir/runs.jsonl"], "--out"),
    ("learning_results.py", ["--figures", "/nonexistent-dir"], "--figures"),
    ("nudging.py", ["--depth", HUGE], "--depth"),
    ("nudging.py", ["--seeds", "0", "-1"], "--seeds[1]"),
    ("nudging.py", ["--errors", "0.1", "nan"], "--errors[1]"),
    ("nudging.py", ["--factors", "-1"], "--factors[0]"),
    ("two_phase.py", ["--seeds", "0"], "--seeds"),
    ("online_contract.py", ["--quick", "--seeds", "0"], "--seeds"),
    ("online_contract.py", ["--horizons", f"32,64,128,256,{HUGE}"], "--horizons[4]"),
    ("steering_games.py", ["--horizon", HUGE], "--horizon"),
    ("steering_games.py", ["--seeds", "-3"], "--seeds"),
    ("learning_results.py", ["--trees", "0"], "--trees"),
    ("learning_results.py", ["--seeds", HUGE], "--seeds"),
    ("learning_results.py", ["--depth", HUGE], "--depth"),
    ("escape_room.py", ["--n", "0"], "--n"),
    ("escape_room.py", ["--m", "-1"], "--m"),
    ("escape_room.py", ["--batch-sizes", f"1,{HUGE}"], "--batch-sizes[1]"),
    ("escape_room.py", ["--seconds", "nan"], "--seconds"),
    ("escape_room.py", ["--seed", "-1"], "--seed"),
    ("metagrad.py", ["--games", "pd,chess"], "--games[1]"),
    ("metagrad.py", ["--designers", "oracle"], "--designers[0]"),
    ("metagrad.py", ["--modes", "exact,psychic"], "--modes[1]"),
    ("metagrad.py", ["--games", ","], "--games"),
    ("metagrad.py", ["--modes", ""], "--modes"),
    ("incentive_sensitivity.py", ["--sweeps", " , "], "--sweeps"),
    ("metagrad.py", ["--seconds", "inf"], "--seconds"),
    ("metagrad.py", ["--max-exact-seconds", "nan"], "--max-exact-seconds"),
    ("metagrad.py", ["--n-episodes", HUGE], "--n-episodes"),
    ("metagrad.py", ["--seed", "-1"], "--seed"),
    ("contracts.py", ["--problems", HUGE], "--problems"),
    ("contracts.py", ["--n", "1"], "--n"),
    ("contracts.py", ["--m", HUGE], "--m"),
    ("contracts.py", ["--cvxpy-problems", "-1"], "--cvxpy-problems"),
    ("contracts.py", ["--repeats", HUGE], "--repeats"),
    ("contracts.py", ["--min-time", "nan"], "--min-time"),
    ("contracts.py", ["--tol", "inf"], "--tol"),
    ("contracts.py", ["--seed", "-1"], "--seed"),
    ("spe.py", ["--repeats", HUGE], "--repeats"),
    ("spe.py", ["--seed", "-1"], "--seed"),
    ("spe.py", ["--reference-depth", "0"], "--reference-depth"),
    ("spe.py", ["--tol", "nan"], "--tol"),
    ("spe.py", ["--crossover", "--crossover-problems", HUGE], "--crossover-problems"),
    ("spe.py", ["--whole-process", "--depths", "20,x"], "--depths[1]"),
    ("bench_sweep.py", ["--contracts", "0"], "--contracts"),
    ("bench_sweep.py", ["--trees", HUGE], "--trees"),
    ("bench_sweep.py", ["--workers", "1,-2"], "--workers[1]"),
    ("bench_sweep.py", ["--batch", "0"], "--batch"),
    ("incentive_sensitivity.py", ["--games", "pd,chess"], "--games[1]"),
    ("incentive_sensitivity.py", ["--sweeps", "base,luck"], "--sweeps[1]"),
    ("incentive_sensitivity.py", ["--quick", "--seeds", "1"], "--seeds"),
    ("incentive_sensitivity.py", ["--iterations", "0"], "--iterations"),
    ("incentive_sensitivity.py", ["--jobs", "-1"], "--jobs"),
]


def run_script(name, *args, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def outcomes():
    """Every case run once, two at a time (most of each run is importing numpy, scipy or torch)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda case: run_script(case[0], *case[1]), CASES)
        return {(name, tuple(args)): out for (name, args, _), out in zip(CASES, results)}


@pytest.mark.parametrize("name, args, flag", CASES, ids=[f"{n}:{' '.join(a)[:40]}" for n, a, _ in CASES])
def test_a_bad_flag_is_one_line_naming_it(outcomes, name, args, flag):
    out = outcomes[(name, tuple(args))]
    assert out.returncode == 2 and out.stdout == "", out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith(f"error: {flag}: "), out.stderr
    assert "Traceback" not in out.stderr
