"""``contractlab regret``: the verdicts it must reach (Hedge sublinear by default, follow-the-leader
linear on its trap), the bound it prints is the one that applies, what it writes loads back,
and bad arguments give one line and exit code 2 before any work."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contractlab.cli import parser
from contractlab.cli import regret as cli
from contractlab.learning.no_regret import Bernoulli, Exp3, Hedge, RegretMatching, UCB1, run as run_learner
from contractlab.proofs_checks.sublinearity import sublinearity_test
from contractlab.theory import fileio
from contractlab.theory.documents import RegretRunResult
from contractlab.theory.errors import InvalidFileError, InvalidInstanceError


def run(*args, timeout=300, code=None):
    """``contractlab regret ARGS`` in a fresh interpreter (``code``: a program that calls the CLI's
    ``main(sys.argv[1:])``, instead of ``python -m contractlab``)."""
    prefix = ["-m", "contractlab"] if code is None else ["-c", code]
    return subprocess.run([sys.executable, *prefix, "regret", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def setup_of(*argv):
    """The checked :class:`~contractlab.cli.regret.Setup` of ``contractlab regret ARGV``."""
    return cli.parse_setup(parser().parse_args(["regret", *argv]))


# --------------------------------------------------------------------------- the verdicts

def test_default_run_says_sublinear_and_respects_the_sure_bound():
    """No arguments: Hedge (tuned) against the adaptive punish-weighted adversary over >= 2 decades
    and >= 20 seeds; the table says sublinear, and every row's ratio to the bound is <= 1 (a sure
    bound: it holds for the mean because it holds for every seed)."""
    out = run()
    assert out.returncode == 0, out.stderr
    assert "verdict: sublinear" in out.stdout
    assert "hedge vs punish-weighted" in out.stdout and "hedge_tuned" in out.stdout
    rows = [line for line in out.stdout.splitlines() if line.startswith("│")]
    assert len(rows) == len(cli.DEFAULT_HORIZONS)
    ratios = [float(row.split("│")[5]) for row in rows]
    assert all(0 < r <= 1 for r in ratios)


@pytest.mark.parametrize("seed", [1000, 123_456])
def test_default_run_is_sublinear_for_other_seeds(seed):
    """The verdict does not hang on seeds 0..29: other blocks of seeds, same verdict, every seed
    below the sure bound sqrt(T ln K / 2) at its own horizon."""
    out = run("--json", "--no-progress", "--seed", seed)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["sublinearity"]["verdict"] == "sublinear" and doc["sublinearity"]["tested"] is True
    T = np.array(doc["horizons"], dtype=float)
    assert len(doc["seeds"]) >= 20 and T.size >= 5 and T[-1] / T[0] >= 100
    assert doc["seeds"][0] == seed
    K = doc["adversary"]["n_actions"]
    np.testing.assert_allclose(doc["bound"]["values"], np.sqrt(T * math.log(K) / 2), rtol=1e-12)
    assert np.all(np.max(doc["regret"], axis=0) <= np.array(doc["bound"]["values"]) + cli.SURE_SLACK * T)


def test_ftl_on_its_trap_says_linear_with_the_exact_regret():
    """Follow-the-leader on FTLTrap pays exactly T (K - 1)/K (the trap's docstring); the test calls
    it linear; no bound is printed."""
    out = run("--learner", "ftl", "--adversary", "ftl-trap", "--actions", 2, "--json", "--no-progress")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["sublinearity"]["verdict"] == "linear"
    T = np.array(doc["horizons"], dtype=float)
    np.testing.assert_allclose(doc["regret"], np.broadcast_to(T / 2, (len(doc["seeds"]), T.size)), rtol=1e-12)
    assert doc["bound"] is None and doc["ratio"] is None and "no regret bound" in doc["bound_note"]
    table = run("--learner", "ftl", "--adversary", "ftl-trap", "--no-progress")
    assert "verdict: linear" in table.stdout and "bound: —" in table.stdout


def test_too_few_horizons_still_prints_the_table_and_says_inconclusive():
    """Decision: a run too small for the sublinearity test is not a bad argument; the table is
    printed, the verdict is inconclusive and the reason names what is missing."""
    out = run("--horizons", "10,100,1000", "--seeds", 5, "--no-progress")
    assert out.returncode == 0, out.stderr
    assert "verdict: inconclusive" in out.stdout
    assert "5 horizons (got 3)" in out.stdout and "20 seeds (got 5)" in out.stdout
    assert sum(line.startswith("│") for line in out.stdout.splitlines()) == 3
    one = json.loads(run("--horizons", "100", "--seeds", 1, "--json", "--no-progress").stdout)
    assert one["ci"] is None and one["sublinearity"]["slope"] is None
    assert one["sublinearity"]["verdict"] == "inconclusive"


# --------------------------------------------------------------------------- runs and bounds

def test_tuned_learners_run_each_horizon_with_its_own_rate():
    """Hedge / EXP3 without --eta: the regret at T_j is that of a run of T_j rounds tuned to T_j
    (bit for bit the library's run), and the bound is the tuned bound at T_j."""
    for learner_name, learner in (("hedge", Hedge(3)), ("exp3", Exp3(3))):
        setup = setup_of("--learner", learner_name, "--adversary", "random", "--actions", "3",
                         "--horizons", "20", "200", "--seeds", "4")
        res = cli.build_result(setup)
        assert res.runs == "per_horizon"
        for j, T in enumerate(setup.horizons):
            alone = run_learner(learner, cli.make_adversary(setup), T, setup.seeds, record=[T])
            np.testing.assert_array_equal(res.regret[:, j], alone.regret[:, 0])
            tuned = learner.regret_bound(T)                  # the learner's own ln K/eta + ... at its tuned eta
            assert res.bound["values"][j] == pytest.approx(tuned, rel=1e-12)


def test_other_learners_run_once_and_record_every_horizon():
    """RM and Hedge with a fixed --eta: one run of the largest horizon; the general-eta bound."""
    setup = setup_of("--learner", "rm", "--adversary", "switching", "--actions", "4", "--horizons", "30", "300",
                     "--seeds", "3")
    res = cli.build_result(setup)
    once = run_learner(RegretMatching(4), cli.make_adversary(setup), 300, setup.seeds, record=[30, 300])
    assert res.runs == "single"
    np.testing.assert_array_equal(res.regret, once.regret)
    np.testing.assert_allclose(res.bound["values"], np.sqrt(4 * np.array([30, 300])), rtol=1e-12)

    setup = setup_of("--eta", "0.2", "--adversary", "ftl-trap", "--actions", "3", "--horizons", "10", "1000",
                     "--seeds", "2")
    res = cli.build_result(setup)
    assert res.runs == "single" and res.learner["eta"] == 0.2
    np.testing.assert_allclose(res.bound["values"], [Hedge(3, 0.2).regret_bound(T) for T in (10, 1000)],
                               rtol=1e-12)
    assert np.all(res.regret <= res.bound["values"] + 1e-9)          # the sure bound, on every seed


def test_ucb1_reports_the_pseudo_regret_against_its_gap_bound():
    means = ("0.3", "0.5", "0.55")
    setup = setup_of("--learner", "ucb1", "--adversary", "bernoulli", "--means", *means, "--horizons", "50", "500",
                     "--seeds", "3")
    res = cli.build_result(setup)
    assert res.quantity == "pseudo_regret" and res.bound["holds"] == "in expectation"
    alone = run_learner(UCB1(3), Bernoulli(tuple(map(float, means))), 500, setup.seeds, record=[50, 500])
    np.testing.assert_array_equal(res.regret, alone.pseudo_regret)
    expected = [UCB1(3).regret_bound(np.array(means, dtype=float), T) for T in (50, 500)]
    np.testing.assert_allclose(res.bound["values"], expected, rtol=1e-12)


@pytest.mark.parametrize("argv, note", [
    (("--learner", "exp3", "--adversary", "punish-weighted"), "oblivious"),
    (("--learner", "ucb1", "--adversary", "alternating"), "i.i.d."),
    (("--learner", "ftl", "--adversary", "random"), "no regret bound"),
])
def test_no_bound_where_none_applies(argv, note):
    setup = setup_of(*argv, "--horizons", "10", "--seeds", "2")
    bound, why = cli.applied_bound(setup, cli.make_adversary(setup))
    assert bound is None and note in why


def test_a_seed_above_a_sure_bound_is_reported_but_not_one_above_an_expected_bound():
    H = np.array([10, 100])
    base = dict(learner={"name": "hedge"}, adversary={"name": "random", "n_actions": 2}, runs="per_horizon",
                quantity="regret", seeds=np.arange(2), horizons=H, level=0.95, mean_regret=np.zeros(2), ci=None,
                bound_note=None, ratio=None, sublinearity={"verdict": "inconclusive", "reason": "-"})
    regret = np.array([[1.0, 2.0], [1.0, 7.5]])
    bound = {"name": "b", "expression": "x", "source": "s", "holds": "surely", "values": np.array([5.0, 7.0])}
    assert cli.sure_bound_violations(RegretRunResult(regret=regret, bound=bound, **base)) == [
        "T=100: regret 7.5 > bound 7"]
    assert cli.sure_bound_violations(RegretRunResult(regret=regret * 0.9, bound=bound, **base)) == []
    expected = dict(bound, holds="in expectation")
    assert cli.sure_bound_violations(RegretRunResult(regret=regret, bound=expected, **base)) == []


# --------------------------------------------------------------------------- files

def test_out_writes_a_document_that_loads_back(tmp_path):
    """--out and --json from one run hold the same numbers; the file loads as a RegretRunResult and
    its regrets give the same verdict again."""
    out_file = tmp_path / "run.json"
    out = run("--learner", "rm+", "--adversary", "random", "--actions", 3, "--horizons", "100,300,1000,3000,10000",
              "--seeds", 20, "--out", out_file, "--json", "--no-progress")
    assert out.returncode == 0, out.stderr
    assert out.stderr == f"wrote {out_file}\n"
    printed = json.loads(out.stdout)
    loaded = fileio.load(out_file, expect="regret_run")
    assert isinstance(loaded, RegretRunResult)
    np.testing.assert_array_equal(loaded.regret, np.array(printed["regret"]))
    np.testing.assert_array_equal(loaded.horizons, printed["horizons"])
    np.testing.assert_array_equal(loaded.bound["values"], printed["bound"]["values"])
    assert loaded.verdict == printed["sublinearity"]["verdict"]
    assert sublinearity_test(loaded.regret, loaded.horizons).verdict == loaded.verdict
    np.testing.assert_allclose(loaded.mean_regret, loaded.regret.mean(axis=0), rtol=1e-12)


def _result(regret, horizons, ci=True):
    n, J = regret.shape
    mean = regret.mean(axis=0)
    return RegretRunResult(
        learner={"name": "hedge", "eta": None, "learning_rate": "tuned"}, adversary={"name": "random", "n_actions": 2},
        runs="per_horizon", quantity="regret", seeds=np.arange(n), horizons=np.asarray(horizons), regret=regret,
        level=0.95, mean_regret=mean, ci=np.stack([mean - 1, mean + 1], axis=1) if ci else None,
        bound={"name": "hedge_tuned", "expression": "e", "source": "s", "holds": "surely", "values": mean + 1},
        bound_note=None, ratio=None, sublinearity={"verdict": "sublinear", "criterion": "S1", "reason": "r",
                                                   "slope": 0.5, "slope_ci": [0.4, math.inf], "tested": True})


@given(st.integers(1, 4), st.lists(st.integers(1, 10**9), min_size=1, max_size=5, unique=True), st.data())
def test_regret_run_round_trips_bit_for_bit(n, horizons, data):
    """Any regret_run saved and loaded gives back the same arrays, bit for bit (floats written so
    they read back exactly), with an infinite slope-CI end written as null."""
    horizons = sorted(horizons)
    values = data.draw(st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=n * len(horizons),
                                max_size=n * len(horizons)))
    res = _result(np.array(values).reshape(n, len(horizons)), horizons, ci=data.draw(st.booleans()))
    back = fileio.loads(fileio.dumps(res), expect="regret_run")
    for name in ("regret", "horizons", "seeds", "mean_regret"):
        np.testing.assert_array_equal(getattr(back, name), getattr(res, name))
    assert (back.ci is None) == (res.ci is None)
    np.testing.assert_array_equal(back.bound["values"], res.bound["values"])
    assert back.sublinearity["slope_ci"] == [0.4, None]


@pytest.mark.parametrize("edit, field", [
    (lambda d: d.update(regret=[row[:-1] for row in d["regret"]]), "regret"),
    (lambda d: d.update(horizons=d["horizons"][::-1]), "horizons"),
    (lambda d: d["sublinearity"].update(verdict="probably"), "verdict"),
    (lambda d: d.update(runs="twice"), "runs"),
    (lambda d: d["bound"].update(values=[1.0]), "bound.values"),
    (lambda d: d.update(extra=1), "extra"),
])
def test_a_broken_regret_run_is_refused_naming_the_field(edit, field):
    doc = json.loads(fileio.dumps(_result(np.ones((2, 3)), [1, 10, 100])))
    edit(doc)
    with pytest.raises(InvalidFileError) as err:
        fileio.from_dict(doc)
    assert err.value.field == field


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "regret.png"
    out = run("--horizons", "10,100,1000,10000,100000", "--learner", "rm", "--adversary", "random",
              "--plot", png, "--no-progress")
    assert out.returncode == 0, out.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "wrote" in out.stderr and "wrote" not in out.stdout and str(tmp_path) not in out.stdout


def test_plot_without_matplotlib_is_one_line_before_any_work(tmp_path):
    """With matplotlib unimportable (as when the extra [plots] is not installed): one line naming
    --plot and the extra, exit 2, and nothing written (not even --out)."""
    code = ("import sys; sys.modules['matplotlib'] = None; from contractlab.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    out = run("--plot", tmp_path / "r.png", "--out", tmp_path / "r.json", code=code)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "--plot" in out.stderr and "contractlab[plots]" in out.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- bad arguments

@pytest.mark.parametrize("argv, option", [
    (("--learner", "sgd"), "--learner"),
    (("--adversary", "nice"), "--adversary"),
    (("--horizons", "100", "1000", "500"), "--horizons"),
    (("--horizons", "100,100"), "--horizons"),
    (("--horizons", "0", "10"), "--horizons"),
    (("--horizons", "2.5"), "--horizons"),
    (("--seeds", "0"), "--seeds"),
    (("--seed", "-1"), "--seed"),
    (("--actions", "1"), "--actions"),
    (("--eta", "0.1", "--learner", "rm"), "--eta"),
    (("--eta", "0"), "--eta"),
    (("--noise", "0.2", "--adversary", "random"), "--noise"),
    (("--noise", "1.5"), "--noise"),
    (("--means", "0.2", "0.4", "--adversary", "bernoulli", "--actions", "3"), "--means"),
    (("--means", "0.2", "nan", "--adversary", "bernoulli"), "--means"),
    (("--period", "0", "--adversary", "alternating"), "--period"),
    (("--switch-prob", "-0.1", "--adversary", "switching"), "--switch-prob"),
    (("--seeds", "1000000000", "--actions", "1000"), "--seeds"),
])
def test_bad_arguments_give_one_line_and_exit_2_before_any_work(tmp_path, argv, option):
    out = run(*argv, "--out", tmp_path / "r.json", code=(
        "import sys; from contractlab.cli import main; sys.exit(main(sys.argv[1:]))"))
    assert out.returncode == 2, out.stderr
    assert out.stdout == "" and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert option in out.stderr
    assert not (tmp_path / "r.json").exists()


@given(st.lists(st.integers(1, 10**12), min_size=1, max_size=8, unique=True), st.sampled_from([" ", ","]))
def test_increasing_horizons_parse_as_written(values, sep):
    values = sorted(values)
    assert cli.parse_horizons([sep.join(map(str, values))]) == values
    assert cli.parse_horizons([str(v) for v in values]) == values


@given(st.lists(st.integers(1, 10**6), min_size=2, max_size=8))
def test_a_horizon_that_does_not_increase_is_refused_at_its_index(values):
    first_bad = next((k for k in range(1, len(values)) if values[k] <= values[k - 1]), None)
    if first_bad is None:
        assert cli.parse_horizons([",".join(map(str, values))]) == values
        return
    with pytest.raises(InvalidInstanceError) as err:
        cli.parse_horizons([",".join(map(str, values))])
    assert err.value.field == "--horizons" and err.value.index == (first_bad,)


def test_a_run_with_an_unused_option_is_not_silently_changed():
    """Options that belong to another adversary are refused rather than ignored (the run would
    not be the one asked for)."""
    with pytest.raises(InvalidInstanceError) as err:
        setup_of("--adversary", "ftl-trap", "--switch-prob", "0.1")
    assert err.value.field == "--switch-prob"
    assert setup_of().params == {"noise": cli.DEFAULT_NOISE}
