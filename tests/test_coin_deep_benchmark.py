"""benchmarks/coin_deep.py with --checkpoint-dir: a run stopped in any phase and started again
gives the numbers of an uninterrupted run bit for bit, and a folder holding another run's
settings is refused before any work."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch", reason="the deep Coin Game benchmark needs torch (extra [deep])")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "coin_deep.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("coin_deep_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def setup(bench):
    from contractlab.learning import coin_deep as cd
    from contractlab.learning.coin_deep_agents import DeepAgentConfig
    from contractlab.theory.coin_game import CoinGame
    tiny = dict(n_envs=4, batch_size=16, target_update=10)
    return (CoinGame(grid=3, horizon=5), cd.DeepPrincipalConfig(iterations=40, **tiny),
            DeepAgentConfig(iterations=30, **tiny))


class StopAfter:
    """A stop flag that turns true after ``n`` callbacks (a signal arriving mid-phase)."""

    def __init__(self, n: int):
        self.calls, self.n = 0, n

    def __bool__(self) -> bool:
        self.calls += 1
        return self.calls > self.n


def test_every_interruption_point_resumes_to_the_same_numbers(bench, tmp_path):
    game, pcfg, acfg = setup(bench)
    reference = bench.SeedRun(game, 1, pcfg, acfg, episodes=16, every=10 ** 6).run()
    # 8 episode batches in the principal phase and 6 in each agent phase: stopping after every
    # 5th callback stops at least once inside each of the five phases.
    folder, stops = tmp_path / "seed1", 0
    while True:
        try:
            resumed = bench.SeedRun(game, 1, pcfg, acfg, episodes=16, every=10 ** 6, folder=folder,
                                    flag=StopAfter(5), save_every=1e9).run()
            break
        except bench.Stopped:
            stops += 1
            assert stops < 50
    assert stops >= 5
    assert resumed["proportion"] == reference["proportion"]
    for name, play in reference["plays"].items():
        other = resumed["plays"][name]
        assert other.welfare == play.welfare, name
        np.testing.assert_array_equal(other.payments, play.payments)
        np.testing.assert_array_equal(other.returns, play.returns)
        np.testing.assert_array_equal(other.follow_rate, play.follow_rate)
    assert not list(folder.glob("*.ckpt.npz"))          # finished phases leave no checkpoint behind
    doc = json.loads((folder / "results.json").read_text())
    assert set(doc["plays"]) == set(bench.PHASES) and not doc["partial_seconds"]


def test_a_finished_seed_is_not_recomputed(bench, tmp_path):
    game, pcfg, acfg = setup(bench)
    folder = tmp_path / "seed0"
    first = bench.SeedRun(game, 0, pcfg, acfg, episodes=8, every=10 ** 6, folder=folder).run()
    doc = json.loads((folder / "results.json").read_text())
    doc["plays"]["selfish"]["welfare"] = 123.0           # a marker: a rerun must read it, not retrain
    (folder / "results.json").write_text(json.dumps(doc))
    second = bench.SeedRun(game, 0, pcfg, acfg, episodes=8, every=10 ** 6, folder=folder).run()
    assert second["plays"]["selfish"].welfare == 123.0
    assert second["plays"]["validation"].welfare == first["plays"]["validation"].welfare


def run_script(*args, timeout=300):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT)


def test_a_folder_of_other_settings_is_refused_before_any_work(tmp_path):
    folder = tmp_path / "run"
    first = run_script("--quick", "--grid", "3", "--seeds", "1", "--checkpoint-dir", str(folder))
    assert first.returncode == 0, first.stderr
    assert (folder / "run.json").is_file() and (folder / "seed0" / "principal.npz").is_file()
    other = run_script("--quick", "--grid", "3", "--seeds", "1", "--nudge", "0.02", "--checkpoint-dir", str(folder))
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr.count("\n") == 1 and "--checkpoint-dir" in other.stderr and "principal_config" in other.stderr
    # a run begun before a config field existed used its default: still the same settings
    run = json.loads((folder / "run.json").read_text())
    del run["settings"]["agent_config"]["gamma"], run["settings"]["principal_config"]["deviation_prob"]
    (folder / "run.json").write_text(json.dumps(run))
    # more seeds with the same settings extend the run: seed 0 is read back, not retrained
    more = run_script("--quick", "--grid", "3", "--seeds", "2", "--checkpoint-dir", str(folder))
    assert more.returncode == 0, more.stderr
    assert (folder / "seed1" / "results.json").is_file()
    assert "seed 0 principal:" not in more.stderr


def test_seeds_in_parallel_processes_give_the_same_table(tmp_path):
    one = run_script("--quick", "--grid", "3")
    two = run_script("--quick", "--grid", "3", "--workers", "2", "--checkpoint-dir", str(tmp_path / "run"))
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    table = lambda out: [line for line in out.stdout.splitlines() if line.startswith("| ")]  # noqa: E731
    assert table(one) == table(two) and len(table(one)) == 9
    assert {p.name for p in (tmp_path / "run").iterdir()} == {"run.json", "seed0", "seed1"}


@pytest.mark.parametrize("args, field", [(["--checkpoint-every", "0"], "--checkpoint-every"),
                                         (["--workers", "0"], "--workers"),
                                         (["--checkpoint-dir", "/nonexistent-dir/x/y"], "--checkpoint-dir"),
                                         (["--seeds", "99999999999999"], "--seeds"),
                                         (["--n-envs", "99999999999"], "--n-envs"),
                                         (["--agent-iterations", "0"], "--agent-iterations")])
def test_bad_checkpoint_options_are_one_line(args, field):
    out = run_script("--quick", *args, timeout=120)
    assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1 and field in out.stderr
