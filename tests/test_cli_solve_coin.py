"""``contractlab solve`` on a ``coin_game`` instance: the document it prints is the exact solution
(its policy re-evaluated independently gives W*, no play without a principal beats W*, the LP
minimum is at most the greedy dominant payments it improves on), bad options and games too large
for the exact tables are one line, and ``-o`` writes a file that reads back equal."""

from __future__ import annotations

import json

import numpy as np
import pytest

from contractlab.cli import main
from contractlab.solvers import coin_game_exact as X
from contractlab.theory import fileio
from contractlab.theory.coin_game import CoinGame

TOL = 1e-9


def cli(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module", params=["random", "both"])
def game_file(request, tmp_path_factory):
    game = CoinGame(grid=2, horizon=5, simultaneous=request.param)
    path = tmp_path_factory.mktemp("coin") / "game.json"
    fileio.save(game, path)
    return game, path


def test_the_document_is_the_exact_solution(capsys, game_file):
    game, path = game_file
    code, out, err = cli(capsys, "solve", path, "--lp", "--json")
    assert code == 0, err
    doc = json.loads(out)
    W = doc["optimal_welfare"]
    # the printed policy, evaluated forward from the start distribution, is worth W* to the agents
    policy = np.array(doc["policy"], dtype=np.int64)
    returns = X.forward_returns(game, policy)
    assert np.allclose(returns, doc["returns"], atol=TOL) and abs(returns.sum() - W) < TOL
    # nothing the agents do without a principal beats the welfare optimum; deviating from a
    # follower never loses (the best response includes following)
    for e in doc["selfish"].values():
        assert e["welfare"] <= W + TOL and abs(e["fraction_of_optimum"] - e["welfare"] / W) < TOL
    assert doc["selfish"]["worst"]["welfare"] <= doc["selfish"]["best"]["welfare"] + TOL
    for i, b in enumerate(doc["best_responses"]):
        assert b["gain_over_following"] >= -TOL and abs(b["value"] - doc["returns"][i] - b["gain_over_following"]) < TOL
    pay = doc["payments"]
    assert set(pay) == {"paper", "every_action", "lp"}
    # the greedy every-action payments are feasible for the LP, so its minimum is no larger
    assert pay["lp"]["total"] <= pay["every_action"]["total"] + 1e-7 and pay["lp"]["max_violation"] <= 1e-7
    for d in pay.values():
        assert min(d["per_agent"]) >= -TOL and abs(sum(d["per_agent"]) - d["total"]) < TOL
        assert abs(d["principal_objective"] - (W / doc["alpha"] - d["total"])) < 1e-7


def test_the_table_and_the_output_file(capsys, game_file, tmp_path):
    game, path = game_file
    code, out, err = cli(capsys, "solve", path)
    assert code == 0 and err == "" and "W* =" in out and "paper's rule" in out and "LP minimum" not in out
    code, out, err = cli(capsys, "solve", path, "-o", tmp_path / "sol.json")
    assert code == 0 and out == "" and "wrote" in err
    code, again, _ = cli(capsys, "solve", path, "--json")
    written = json.loads((tmp_path / "sol.json").read_text())
    assert written == json.loads(again)


@pytest.mark.parametrize("fields, options, field", [
    (dict(grid=5), [], "grid"),                         # beyond the exact tables
    (dict(grid=3, horizon=10 ** 8), [], "horizon"),     # the time-indexed tables cannot fit the budget
    (dict(grid=2, horizon=3), ["--exact"], "--exact"),  # a contract-problem option
])
def test_refusals_are_one_line(capsys, tmp_path, fields, options, field):
    fileio.save(CoinGame(**fields), tmp_path / "g.json")
    code, out, err = cli(capsys, "solve", tmp_path / "g.json", *options)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1 and field in err, err


def test_lp_is_refused_on_other_kinds(capsys):
    from pathlib import Path
    example = Path(__file__).resolve().parent.parent / "examples"
    other = next(p for p in sorted(example.glob("*.json")) if fileio.kind_of(fileio.load(p)) == "contract_problem")
    code, out, err = cli(capsys, "solve", other, "--lp")
    assert code == 2 and "--lp" in err and out == ""
