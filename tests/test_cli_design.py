"""``contractlab design`` and ``contractlab solve`` on games with incentives: the JSON parses and its
exact references agree with independent computations (brute force over joint actions, the Escape
Room formula, the one-shot closed form), every designer's net welfare stays below W*, the numbers
are those of the library's runs, runs are reproducible, and bad arguments give one line and exit
code 2 before any work."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from contractlab.cli.design import optimum_violations
from contractlab.learning.meta_gradient import DesignerConfig, train
from contractlab.learning.pg_agents import AgentConfig
from contractlab.theory import fileio
from contractlab.theory.escape_room import EscapeRoom, optimal_welfare
from contractlab.theory.incentive_games import prisoners_dilemma, stag_hunt


def run(command, *args, timeout=600):
    return subprocess.run([sys.executable, "-m", "contractlab", command, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def brute_force_optimum(payoffs: np.ndarray) -> float:
    """The largest sum of payoffs over all joint actions of a normal-form game."""
    return max(payoffs[(slice(None),) + a].sum() for a in itertools.product(*map(range, payoffs.shape[1:])))


def one_shot_nash_cost(payoffs: np.ndarray, joint: tuple[int, ...]) -> float:
    """Σ_i (best deviation payoff − payoff at ``joint``): the cheapest incentives making ``joint`` a Nash
    equilibrium when only the recommended action is paid."""
    total = 0.0
    for i in range(payoffs.shape[0]):
        dev = [payoffs[(i,) + joint[:i] + (b,) + joint[i + 1:]] for b in range(payoffs.shape[i + 1])]
        total += max(dev) - payoffs[(i,) + joint]
    return total


def test_json_references_are_exact_and_numbers_are_the_library_runs():
    out = run("design", "--designer", "metagrad", "none", "--seeds", 3, "--iterations", 15, "--json", "--no-progress")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kind"] == "design_run" and list(doc["designers"]) == ["metagrad", "none"]
    pd = prisoners_dilemma()
    assert doc["exact"]["optimal_welfare"] == pytest.approx(brute_force_optimum(pd.payoffs), abs=1e-12)
    assert doc["exact"]["min_incentives_nash"] == pytest.approx(one_shot_nash_cost(pd.payoffs, (0, 0)), abs=1e-9)
    # the table's numbers are the library's: rerun seed 1 of the meta-gradient designer directly
    cfg = DesignerConfig(lr=3.0, cost_weight=0.1, agents=AgentConfig(lr=1.0, init_scale=1.0))
    lib = train(pd.as_markov_game(), cfg, seed=1, iterations=15)
    assert doc["designers"]["metagrad"]["final_welfare"][1] == pytest.approx(lib.final_exact_welfare, abs=1e-12)
    assert doc["designers"]["metagrad"]["final_incentives"][1] == pytest.approx(lib.final_exact_incentives, abs=1e-12)
    assert doc["designers"]["none"]["final_incentives"] == [0.0, 0.0, 0.0]
    assert optimum_violations(doc) == []
    for run_doc in doc["designers"].values():
        assert max(run_doc["final_net_welfare"]) <= doc["exact"]["optimal_welfare"] + 1e-9


def test_same_seeds_same_run_and_files_written(tmp_path):
    args = ("design", "stag-hunt", "--seeds", 2, "--iterations", 10, "--no-progress", "--json")
    a, b = run(*args), run(*args, "--out", tmp_path / "d.json", "--plot", tmp_path / "d.png")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert a.stdout == b.stdout
    written = json.loads((tmp_path / "d.json").read_text())
    assert written == json.loads(a.stdout)
    assert (tmp_path / "d.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert brute_force_optimum(stag_hunt().payoffs) == pytest.approx(written["exact"]["optimal_welfare"])


def test_escape_room_optimum_is_the_formula_and_table_prints():
    out = run("design", "escape-room", "--agents", 2, "--lever", 1, "--seeds", 2, "--iterations", 5, "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "ER(2, 1)" in out.stdout and "W* = 9" in out.stdout
    assert optimal_welfare(2, 1) == 9


def test_a_net_welfare_above_the_optimum_is_reported():
    doc = {"exact": {"optimal_welfare": 6.0}, "designers": {"metagrad": {"final_net_welfare": [5.9, 6.5]}}}
    assert len(optimum_violations(doc)) == 1


@pytest.mark.parametrize("args, field", [
    (("--designer", "bogus"), "--designer"),
    (("--seeds", 0), "--seeds"),
    (("--iterations", 0), "--iterations"),
    (("--players", 4), "--players"),
    (("--lr", "nan"), "--lr"),
    (("--cost-weight", -1), "--cost-weight"),
    (("no-such-file.json",), "game"),
    (("--out", "/nonexistent-dir/x.json"), "--out"),
    (("--episodes", 1), "--episodes"),
    (("escape-room", "--agents", 11), "--agents"),
    (("escape-room", "--agents", 3, "--lever", 4), "--lever"),
    (("public-goods", "--players", 1), "--players"),
    (("--checkpoint", "/nonexistent-dir/c.npz"), "--checkpoint"),
])
def test_bad_arguments_one_line_exit_2(args, field, capsys):
    from contractlab.cli import main
    try:
        code = main(["design", *map(str, args), "--no-progress"])
    except SystemExit as exc:        # argparse's own errors exit
        code = exc.code
    out = capsys.readouterr()
    assert code == 2, out.err
    assert out.out == ""
    assert len(out.err.strip().splitlines()) == 1 and field in out.err


def test_wrong_kind_file_is_refused(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"kind": "contract_problem", "version": 1, "outcome_probs": [[1.0]], "costs": [0.0],
                                "rewards": [1.0]}))
    out = run("design", path, "--no-progress")
    assert out.returncode == 2 and "normal_form_game" in out.stderr


@pytest.mark.parametrize("obj", [prisoners_dilemma(), stag_hunt(), EscapeRoom(3, 2), EscapeRoom(2, 2)])
def test_solve_games_with_incentives(tmp_path, obj):
    path = tmp_path / "g.json"
    fileio.save(obj, path)
    out = run("solve", path, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["kind"] == "incentive_optimum"
    if isinstance(obj, EscapeRoom):
        assert doc["optimal_welfare"] == pytest.approx(optimal_welfare(obj.n_agents, obj.min_at_lever))
    else:
        assert doc["optimal_welfare"] == pytest.approx(brute_force_optimum(obj.payoffs))
        joint = tuple(doc["path_actions"][0])
        assert doc["nash"]["expected_cost"] == pytest.approx(one_shot_nash_cost(obj.payoffs, joint), abs=1e-9)
    assert doc["nash"]["expected_cost"] <= doc["dominant"]["expected_cost"] + 1e-9
    table = run("solve", path)
    assert table.returncode == 0 and "W* =" in table.stdout


def test_parser_choices_are_the_library_ones():
    from contractlab.cli import design
    from contractlab.learning import meta_gradient, pg_agents
    assert design.MODES == meta_gradient.MODES
    assert set(design.INCENTIVES) == set(meta_gradient.INCENTIVE_KINDS) - {"none"}
    assert design.AGENT_KINDS == pg_agents.AGENT_KINDS


def test_killed_run_resumes_to_the_uninterrupted_output(tmp_path):
    """SIGKILL after the first finished (designer, seed) run; the same command with the same checkpoint
    completes the rest and prints exactly what an uninterrupted run prints."""
    import os
    import signal
    import time
    args = ["design", "--designer", "metagrad", "none", "--seeds", 3, "--iterations", 60, "--no-progress", "--json"]
    full = run(*args)
    assert full.returncode == 0, full.stderr
    ckpt = tmp_path / "c.npz"
    proc = subprocess.Popen([sys.executable, "-m", "contractlab", *map(str, args), "--checkpoint", ckpt],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not ckpt.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed_early = proc.poll() is None
    if killed_early:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists()
    resumed = run(*args, "--checkpoint", ckpt)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == full.stdout
    assert killed_early          # the kill really happened in the middle (not after the last run)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    ckpt = tmp_path / "c.npz"
    first = run("design", "--seeds", 1, "--iterations", 3, "--no-progress", "--checkpoint", ckpt)
    assert first.returncode == 0, first.stderr
    other = run("design", "--seeds", 1, "--iterations", 4, "--no-progress", "--checkpoint", ckpt)
    assert other.returncode == 2 and "different run" in other.stderr
    assert len(other.stderr.strip().splitlines()) == 1
