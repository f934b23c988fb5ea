"""Malformed input to the file loaders and the CLI (issue 4).

Every malformed document must give :class:`InvalidInstanceError` with a one-line message (API),
or exit code 2 with a one-line stderr and no traceback (CLI); ``generate -o`` and
``verify --out`` must leave no partial output behind. The bulk runs through the API
(hypothesis) and through ``cli.main`` in-process; only a few tests start a real subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from contractlab import ContractProblem
from contractlab.cli import main
from contractlab.theory import fileio
from contractlab.theory.errors import InvalidInstanceError
from contractlab.theory.pamdp_families import binary_game_tree, random_dag

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))

PROBLEM = ContractProblem([[0.7, 0.25, 0.05], [0.3, 0.5, 0.2], [0.1, 0.4, 0.5]], [0.0, 0.25, 0.75],
                          [0.0, 1.0, 3.0], action_names=["shirk", "low", "high"],
                          outcome_names=["fail", "ok", "great"])
PROBLEM_DOC = fileio.to_dict(PROBLEM)
PAMDP = binary_game_tree(2, seed=0)
PAMDP_DOC = fileio.to_dict(PAMDP)


def _refused(text, path=None) -> InvalidInstanceError:
    """``loads`` must raise InvalidInstanceError with a one-line message; return it."""
    with pytest.raises(InvalidInstanceError) as info:
        fileio.loads(text, path=path)
    msg = str(info.value)
    assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
    assert "Traceback" not in msg
    return info.value


def _refused_or_valid(text, path=None) -> None:
    """A fuzzed document may by chance be valid; otherwise it must be refused cleanly."""
    try:
        fileio.loads(text, path=path)
    except InvalidInstanceError as exc:
        assert "\n" not in str(exc), repr(str(exc))


# --------------------------------------------------------------------------------------------
# Truncation: every prefix of a valid file
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("obj", [PROBLEM, PAMDP], ids=["contract_problem", "pamdp"])
def test_every_strict_prefix_is_refused(obj):
    text = fileio.dumps(obj)
    end = text.rindex("}") + 1  # text[:end] and longer (trailing whitespace) are complete documents
    assert fileio.loads(text[:end]) == obj
    for k in range(end):
        _refused(text[:k])


def test_every_byte_prefix_of_a_non_ascii_file_is_refused():
    p = PROBLEM.replace(action_names=["faul", "mühsam", "全力"])  # multi-byte UTF-8: cuts inside a character
    raw = fileio.dumps(p).encode("utf-8")
    end = raw.rindex(b"}") + 1
    assert fileio.loads(raw[:end]) == p
    for k in range(end):
        _refused(raw[:k])


# --------------------------------------------------------------------------------------------
# Wrong types in every field, at the top and inside arrays
# --------------------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(10**308, 10**400),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5))
json_values = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=3),
    st.builds(lambda v: {"npz": v}, inner)), max_leaves=12)


def _nested_positions(value, prefix=()):
    """Every index path into nested lists (including the empty path)."""
    yield prefix
    if isinstance(value, list):
        for k, item in enumerate(value):
            yield from _nested_positions(item, prefix + (k,))


def _set_at(value, path, new):
    if not path:
        return new
    value = list(value)
    value[path[0]] = _set_at(value[path[0]], path[1:], new)
    return value


@pytest.mark.parametrize("doc", [PROBLEM_DOC, PAMDP_DOC], ids=["contract_problem", "pamdp"])
@FUZZ
@given(data=st.data(), value=json_values)
def test_wrong_type_anywhere_is_refused(doc, data, value):
    field = data.draw(st.sampled_from(sorted(doc)), label="field")
    path = data.draw(st.sampled_from(list(_nested_positions(doc[field]))), label="path")
    bad = dict(doc)
    bad[field] = _set_at(doc[field], path, value)
    _refused_or_valid(json.dumps(bad))


@pytest.mark.parametrize("field", sorted(PROBLEM_DOC))
@pytest.mark.parametrize("value", [None, True, "1", {}, [], [[]], {"a": 1}, 1.5, -1, [None], [["x"]], [[[0.5]]],
                                   10**400, [10**400], [[10**400]]], ids=repr)
def test_wrong_type_in_each_field_of_a_contract_problem(field, value):
    bad = {**PROBLEM_DOC, field: value}
    if field in ("action_names", "outcome_names") and value is None:
        fileio.loads(json.dumps(bad))  # names are optional
        return
    err = _refused(json.dumps(bad))
    assert err.field in (field, "document")


def test_missing_and_unknown_fields_are_refused():
    for field in ("kind", "version", "outcome_probs", "costs", "rewards"):
        assert _refused(json.dumps({k: v for k, v in PROBLEM_DOC.items() if k != field})).field == field
    assert _refused(json.dumps({**PROBLEM_DOC, "extra": 1})).field == "extra"
    # field names come from the file: control characters in them must not break the one-line message
    for key in ("a\nb", "\r", "x\u2028y"):
        _refused(json.dumps({**PROBLEM_DOC, key: 1}))
        _refused(json.dumps({**PROBLEM_DOC, key: {"npz": "k"}}))


@FUZZ
@given(json_values)
@example({"\n": {"npz": None}})  # found by this test: the field name went raw into the message
def test_arbitrary_json_documents(value):
    _refused_or_valid(json.dumps(value))


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes(raw):
    _refused_or_valid(raw)


# --------------------------------------------------------------------------------------------
# NaN / Infinity, non-UTF-8, huge and deep inputs
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
@pytest.mark.parametrize("where", ["outcome_probs", "costs", "rewards"])
def test_non_finite_numbers_are_refused(literal, where):
    text = json.dumps({**PROBLEM_DOC, where: "@@"}).replace('"@@"', {
        "outcome_probs": f"[[{literal}, 0.5, 0.5], [0.3, 0.5, 0.2], [0.1, 0.4, 0.5]]",
        "costs": f"[0, {literal}, 1]", "rewards": f"[0, 1, {literal}]"}[where])
    err = _refused(text)
    assert err.field in (where, "document")


def test_non_finite_discount_is_refused():
    for literal in ("NaN", "Infinity", "1e999"):
        _refused(json.dumps({**PAMDP_DOC, "discount": "@@"}).replace('"@@"', literal))


@pytest.mark.parametrize("raw", [
    b"\xff\xfe\x00\x00",
    "{}".encode("utf-16"),
    b"\xef\xbb\xbf" + fileio.dumps(PROBLEM).encode(),                      # UTF-8 byte-order mark
    fileio.dumps(PROBLEM).encode().replace(b'"shirk"', b'"\xe9"'),      # a Latin-1 byte in a name
    fileio.dumps(PROBLEM).encode()[:40] + b"\xed\xa0\x80" + fileio.dumps(PROBLEM).encode()[40:],  # surrogate
    b"\x00" * 64,
    b"\x80" + fileio.dumps(PROBLEM).encode(),
], ids=["ff-fe", "utf-16", "bom", "latin-1", "surrogate", "nul", "continuation-byte"])
def test_non_utf8_bytes_are_refused(raw, tmp_path):
    _refused(raw)
    path = tmp_path / "p.json"
    path.write_bytes(raw)
    with pytest.raises(InvalidInstanceError) as info:
        fileio.load(path)
    assert "\n" not in str(info.value)


def test_huge_lists_are_refused():
    zeros = [0] * 10**6  # 10**7 also works but takes ~10 s of pure-Python validation
    _refused(json.dumps({**PROBLEM_DOC, "costs": zeros}))
    row = [0] * 2 * 10**5
    _refused(json.dumps({**PROBLEM_DOC, "outcome_probs": [row, row, row]}))
    _refused(json.dumps({**PROBLEM_DOC, "outcome_probs": [[1.0]] * 10**5}))


@pytest.mark.parametrize("depth", [3, 50, 900, 5000, 100_000])
def test_deeply_nested_lists_are_refused(depth):
    for field in ("outcome_probs", "costs"):
        _refused(json.dumps({**PROBLEM_DOC, field: "@@"}).replace('"@@"', "[" * depth + "0" + "]" * depth))
    _refused("[" * depth + "]" * depth)
    _refused('{"a":' * depth + "1" + "}" * depth)


def test_huge_integers_are_refused():
    assert _refused(json.dumps({**PROBLEM_DOC, "costs": [0, 10**400, 1]})).index == (1,)
    text = json.dumps({**PROBLEM_DOC, "costs": "@@"}).replace('"@@"', "[0, " + "9" * 5000 + ", 1]")
    err = _refused(text)  # never parsed (more than 400 digits): refused where it sits
    assert (err.field, err.index) == ("costs", (1,)) and "5000 digits" in str(err)


# --------------------------------------------------------------------------------------------
# The sibling .npz
# --------------------------------------------------------------------------------------------

@pytest.fixture
def saved_with_npz(tmp_path):
    mdp = random_dag(40, 2, 2, seed=3)
    path = tmp_path / "m.json"
    fileio.save(mdp, path, npz_threshold=10)
    assert json.loads(path.read_text())["outcome_probs"] == {"npz": "outcome_probs"}
    assert fileio.load(path) == mdp
    return path


def test_npz_reference_without_a_file_is_refused(saved_with_npz):
    assert _refused(saved_with_npz.read_text()).field in fileio.to_dict(random_dag(40, 2, 2, seed=3))


def test_missing_npz_is_refused(saved_with_npz):
    saved_with_npz.with_suffix(".npz").unlink()
    with pytest.raises(InvalidInstanceError, match="does not exist"):
        fileio.load(saved_with_npz)


def test_every_truncation_of_the_npz_is_refused(saved_with_npz):
    npz = saved_with_npz.with_suffix(".npz")
    raw = npz.read_bytes()
    for k in sorted({0, 1, 2, 4, 30, 100, len(raw) // 2, len(raw) - 22, len(raw) - 1}):
        npz.write_bytes(raw[:k])
        with pytest.raises(InvalidInstanceError) as info:
            fileio.load(saved_with_npz)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage", b"PK\x05\x06" + b"\x00" * 18])
def test_garbage_npz_is_refused(saved_with_npz, content):
    saved_with_npz.with_suffix(".npz").write_bytes(content)
    with pytest.raises(InvalidInstanceError) as info:
        fileio.load(saved_with_npz)
    assert "\n" not in str(info.value)


def test_corrupt_npz_member_is_refused(saved_with_npz):
    npz = saved_with_npz.with_suffix(".npz")
    with zipfile.ZipFile(npz, "w") as z:
        z.writestr("outcome_probs.npy", b"\x93NUMPY\x01\x00garbage")
    with pytest.raises(InvalidInstanceError, match="outcome_probs"):
        fileio.load(saved_with_npz)


@pytest.mark.parametrize("array", [np.array("abc"), np.array([1 + 2j, 0]), np.array([True, False]), np.array(1.0),
                                   np.array(["a", "b"]), np.zeros((2, 2)), np.zeros(0),
                                   np.array(["2020-01-01"] * 2, dtype="M8[D]"), np.array([np.nan, 0.0])],
                         ids=["str-0d", "complex", "bool", "float-0d", "str", "2-d", "empty", "datetime", "nan"])
def test_npz_arrays_of_the_wrong_kind_are_refused(tmp_path, array):
    np.savez(tmp_path / "p.npz", costs=array)
    path = tmp_path / "p.json"
    path.write_text(json.dumps({**PROBLEM_DOC, "costs": {"npz": "costs"}}))
    with pytest.raises(InvalidInstanceError) as info:
        fileio.load(path)
    assert info.value.field == "costs" and "\n" not in str(info.value)


def test_npz_with_missing_key_is_refused(tmp_path):
    np.savez(tmp_path / "p.npz", other=np.zeros(3))
    path = tmp_path / "p.json"
    for ref in ({"npz": "costs"}, {"npz": 3}, {"npz": ["costs"]}, {"npz": None}):
        path.write_text(json.dumps({**PROBLEM_DOC, "costs": ref}))
        with pytest.raises(InvalidInstanceError, match="costs"):
            fileio.load(path)


def test_failed_save_leaves_no_npz_and_no_temporaries(tmp_path):
    target = tmp_path / "m.json"
    target.mkdir()  # the JSON cannot be put in place
    with pytest.raises(OSError):
        fileio.save(random_dag(40, 2, 2, seed=3), target, npz_threshold=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]


# --------------------------------------------------------------------------------------------
# The CLI, in-process (cheap): exit code 2, one line on stderr, no partial output
# --------------------------------------------------------------------------------------------

def _cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def _bad_input(code, out, err):
    assert code == 2, (code, err)
    assert err.endswith("\n") and err.count("\n") == 1, repr(err)
    assert "Traceback" not in err and err.startswith("contractlab")
    assert out == ""


@pytest.mark.parametrize("content", [
    fileio.dumps(PROBLEM)[:57], b"\xff\xfe\x00", json.dumps({**PROBLEM_DOC, "costs": [0, "x", 1]}),
    fileio.dumps(PROBLEM).replace("0.25", "NaN", 1), json.dumps({**PROBLEM_DOC, "costs": [0, 10**400, 1]}),
    "[" * 100_000 + "]" * 100_000, json.dumps({**PROBLEM_DOC, "kind": "contract_solution"}), "",
], ids=["truncated", "non-utf8", "wrong-type", "nan", "huge-int", "deep", "wrong-kind", "empty"])
def test_cli_solve_bad_file(tmp_path, capsys, content):
    path = tmp_path / "p.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    _bad_input(*_cli(capsys, "solve", str(path)))
    _bad_input(*_cli(capsys, "solve", str(path), "--json"))


def test_cli_solve_missing_npz_and_missing_file(saved_with_npz, capsys):
    saved_with_npz.with_suffix(".npz").unlink()
    _bad_input(*_cli(capsys, "solve", str(saved_with_npz)))
    _bad_input(*_cli(capsys, "solve", str(saved_with_npz.parent / "nope.json")))
    _bad_input(*_cli(capsys, "solve", str(saved_with_npz.parent)))  # a folder


@pytest.mark.parametrize("args", [
    ["binary_tree", "--depth", "100"], ["binary_tree", "--depth", "x"],
    ["binary_tree", "--depth", "3", "--states", "4"],
    ["random_dag", "--states", "0"], ["random_dag", "--states", "3", "--actions", "0"],
    ["random_discounted", "--states", "3", "--discount", "nan"], ["no_such_family", "--depth", "2"],
])
def test_cli_generate_bad_arguments_write_nothing(tmp_path, capsys, args):
    _bad_input(*_cli(capsys, "generate", *args, "-o", str(tmp_path / "g.json")))
    assert list(tmp_path.iterdir()) == []


def test_cli_generate_onto_a_folder_leaves_no_npz(tmp_path, capsys):
    (tmp_path / "g.json").mkdir()
    _bad_input(*_cli(capsys, "generate", "random_dag", "--states", "40", "--npz-threshold", "10",
                     "-o", str(tmp_path / "g.json")))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_cli_generate_negative_seed(tmp_path, capsys):
    _bad_input(*_cli(capsys, "generate", "binary_tree", "--depth", "3", "--seed", "-1",
                     "-o", str(tmp_path / "g.json")))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------------------
# A few real subprocesses: what a user sees (exit code, stderr, no traceback, no files)
# --------------------------------------------------------------------------------------------

def _run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "contractlab", *args], capture_output=True, text=True,
                          timeout=timeout)


def _assert_exit_2(res):
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]


def test_subprocess_solve_truncated_file(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(fileio.dumps(PROBLEM)[:100])
    res = _run("solve", str(path))
    _assert_exit_2(res)
    assert res.stdout == ""


def test_subprocess_verify_out_onto_a_folder_leaves_nothing(tmp_path):
    (tmp_path / "r.json").mkdir()
    res = _run("verify", "--theorem", "minpay.strong_duality", "--count", "1", "--no-progress",
               "--out", str(tmp_path / "r.json"))
    _assert_exit_2(res)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]
    assert list((tmp_path / "r.json").iterdir()) == []
    res = _run("verify", "--theorem", "minpay.strong_duality", "--count", "1", "--no-progress",
               "--out", str(tmp_path / "missing" / "r.json"))
    _assert_exit_2(res)
    assert not (tmp_path / "missing").exists()


def test_subprocess_generate_huge_size(tmp_path):
    res = _run("generate", "random_dag", "--states", "1000000000", "--actions", "3", "--outcomes", "2",
               "-o", str(tmp_path / "g.json"))
    assert list(tmp_path.iterdir()) == []
    _assert_exit_2(res)


def test_pamdp_huge_next_state_is_refused_without_warning():
    import warnings
    bad = {**PAMDP_DOC, "next_state": [[10**30, -1]] + PAMDP_DOC["next_state"][1:]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        err = _refused(json.dumps(bad))
    assert "-9223372036854775808" not in str(err)
