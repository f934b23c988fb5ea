"""Hostile files (issue 10): refused in one line, fast, with bounded memory.

One library-level test per class of hostile input (parametrised): each asserts the exception
type, that the message names the field or option, is at most 300 characters, is printable (no
control characters, terminal escapes or lone surrogates), that no warning is raised, that it
takes well under a few seconds (a hang is cut by ``SIGALRM``), and that the traced memory
stays small. At the end, the same files through the real command line (``python -m
contractlab``): exit code 2, one line on stderr, no traceback, no warning.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from contractlab.theory import fileio
from contractlab.theory.bimatrix import BimatrixGame
from contractlab.theory.contract_policy import ContractPolicy
from contractlab.theory.errors import InvalidFileError, InvalidInstanceError
from contractlab.theory.pamdp_families import (binary_game_tree, contractual_rl, random_dag, random_discounted,
                                               random_tree)

PROBLEM_DOC = {"kind": "contract_problem", "version": 1, "outcome_probs": [[0.7, 0.3], [0.2, 0.8]],
               "costs": [0, 0.25], "rewards": [0, 1], "action_names": ["low", "high"],
               "outcome_names": ["fail", "ok"]}
PAMDP_DOC = fileio.to_dict(binary_game_tree(2, seed=0))
GAME_DOC = {"kind": "bimatrix_game", "version": 1, "leader_payoffs": [[1, 3], [0, 2]],
            "follower_payoffs": [[1, 0], [0, 1]], "leader_action_names": ["u", "d"],
            "follower_action_names": ["l", "r"]}
POLICY_DOC = {"kind": "contract_policy", "version": 1, "action": [0, 1, 0], "contract": [[0, 0], [0.5, 0], [0, 0]]}

MAX_CHARS = 300
SECONDS = 5.0
TRACED_BYTES = 64 * 2**20


class _Alarm(Exception):
    pass


@contextlib.contextmanager
def _deadline(seconds: int = 20):
    """Turn a hang (a blocking ``open`` of a FIFO, an endless read) into a failure."""
    def ring(signum, frame):
        raise _Alarm(f"still running after {seconds} s")
    old = signal.signal(signal.SIGALRM, ring)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def refused(call, *names: str, exc: type = InvalidInstanceError) -> InvalidInstanceError:
    """``call()`` must raise ``exc`` with a short printable message naming one of ``names``,
    without a warning, within :data:`SECONDS`, tracing less than :data:`TRACED_BYTES`."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(), _deadline():
            warnings.simplefilter("error")
            with pytest.raises(exc) as info:
                call()
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(info.value)
    assert len(msg) <= MAX_CHARS, (len(msg), msg[:400])
    assert msg.isprintable() and "\x1b" not in msg, repr(msg[:400])
    assert any(name in msg for name in names), (names, msg)
    assert elapsed < SECONDS, (elapsed, msg)
    assert peak < TRACED_BYTES, (peak, msg)
    return info.value


def _text(doc: dict, **replace: str) -> str:
    """``doc`` as JSON with the fields in ``replace`` written as the raw JSON text given."""
    doc = {**doc, **{k: f"@@{k}@@" for k in replace}}
    text = json.dumps(doc)
    for k, raw in replace.items():
        text = text.replace(json.dumps(f"@@{k}@@"), raw)
    return text


# --------------------------------------------------------------------------------------------
# 1. Duplicate keys at any depth
# --------------------------------------------------------------------------------------------

DUPLICATES = {
    "top-level": ('{"kind": "contract_problem", "version": 1, "costs": [0, 1], "costs": [0, 0.25], '
                  '"outcome_probs": [[0.7, 0.3], [0.2, 0.8]], "rewards": [0, 1]}', "costs"),
    "kind": ('{"kind": "pamdp", "kind": "contract_problem", "version": 1}', "kind"),
    "in-npz-reference": (_text(PAMDP_DOC, outcome_probs='{"npz": "a", "npz": "b"}'), "npz"),
    "inside-an-array": (_text(PROBLEM_DOC, costs='[{"x": 1, "x": 2}, 0]'), "x"),
    "deep": ('{"kind": "bimatrix_game", "version": 1, "a": [[[{"b": {"c": 1, "c": 2}}]]]}', "c"),
    "long-key": ('{"' + "k" * 100_000 + '": 1, "' + "k" * 100_000 + '": 2}', "kkkk"),
}


@pytest.mark.parametrize("text, name", DUPLICATES.values(), ids=DUPLICATES.keys())
def test_duplicate_keys_are_refused(text, name):
    err = refused(lambda: fileio.loads(text), name, exc=InvalidFileError)
    assert "duplicate key" in str(err)


# --------------------------------------------------------------------------------------------
# 2. Number literals with huge exponents or millions of digits
# --------------------------------------------------------------------------------------------

MILLION = "9" * 10**6
NUMBERS = {
    "exact-huge-exponent": (_text(PROBLEM_DOC, costs="[0, 1e999999999]"), "costs"),
    "exact-tiny-exponent": (_text(PROBLEM_DOC, costs="[0, 1e-999999999]"), "costs"),
    "exact-negative-huge": (_text(PROBLEM_DOC, rewards="[0, -1E+999999999]"), "rewards"),
    "exact-exponent-of-a-million-digits": (_text(PROBLEM_DOC, costs=f"[0, 1e{MILLION}]"), "costs"),
    "exact-million-digit-decimal": (_text(PROBLEM_DOC, costs=f"[0, 0.{MILLION}]"), "costs"),
    "exact-million-digit-integer": (_text(PROBLEM_DOC, costs=f"[0, {MILLION}]"), "costs"),
    "exact-101-digits": (_text(PROBLEM_DOC, costs="[0, 0." + "1" * 101 + "]"), "costs"),
    "exact-string-huge-exponent": (_text(PROBLEM_DOC, costs='[0, "1e999999999"]'), "costs"),
    "exact-string-fraction-huge": (_text(PROBLEM_DOC, costs='[0, "1/' + "7" * 500 + '"]'), "costs"),
    "exact-string-million-digits": (_text(PROBLEM_DOC, costs=f'[0, "{MILLION}"]'), "costs"),
    "exact-string-underscores": (_text(PROBLEM_DOC, costs='[0, "1e999_999_999"]'), "costs"),
    "float-kind-overflow": (_text(PAMDP_DOC, discount="1e999999999"), "discount"),
    "float-kind-overflow-in-array": (_text(GAME_DOC, leader_payoffs="[[1e999999999, 3], [0, 2]]"),
                                     "leader_payoffs"),
    "float-kind-million-digit-integer": (_text(PAMDP_DOC, initial_state=MILLION), "initial_state"),
    "float-kind-million-digit-integer-in-array": (_text(GAME_DOC, follower_payoffs=f"[[1, 0], [0, {MILLION}]]"),
                                                  "follower_payoffs"),
    "float-kind-million-digit-float": (_text(GAME_DOC, follower_payoffs=f"[[1, 0], [0, {MILLION}.5]]"),
                                       "follower_payoffs"),
    "version": (_text(PROBLEM_DOC, version=MILLION), "version"),
}


@pytest.mark.parametrize("text, name", NUMBERS.values(), ids=NUMBERS.keys())
def test_huge_number_literals_are_refused(text, name):
    err = refused(lambda: fileio.loads(text), name)
    assert err.field == name


def test_exact_bounds_still_read_ordinary_numbers_exactly():
    from fractions import Fraction
    p = fileio.loads(_text(PROBLEM_DOC, costs='[0, 2.5e-3]', rewards='[0, "1e300"]'))
    assert p.exact[1][1] == Fraction(1, 400) and p.exact[2][1] == 10**300
    p = fileio.loads(_text(PROBLEM_DOC, costs="[0, 0." + "1" * 100 + "]"))  # exactly 100 digits
    assert p.exact[1][1] == Fraction(int("1" * 100), 10**100)


# --------------------------------------------------------------------------------------------
# 3. Messages that would echo a 100,000-character name or value
# --------------------------------------------------------------------------------------------

LONG = "x" * 100_000
ECHOES = {
    "unknown-field": (json.dumps({**PROBLEM_DOC, LONG: 1}), "xxxx"),
    "kind-value": (json.dumps({**PROBLEM_DOC, "kind": LONG}), "kind"),
    "version-value": (json.dumps({**PROBLEM_DOC, "version": LONG}), "version"),
    "number-string": (json.dumps({**PROBLEM_DOC, "costs": [0, LONG]}), "costs"),
    "duplicate-long-name": (json.dumps({**PROBLEM_DOC, "action_names": [LONG, LONG]}), "action_names"),
    "discount-string": (json.dumps({**PAMDP_DOC, "discount": LONG}), "discount"),
    "horizon-string": (json.dumps({**PAMDP_DOC, "horizon": LONG}), "horizon"),
    "npz-key": (json.dumps({**PAMDP_DOC, "outcome_probs": {"npz": LONG}}), "outcome_probs"),
    "npz-reference-in-long-field": (json.dumps({**PAMDP_DOC, LONG: {"npz": "a"}}), "xxxx"),
    "long-string-in-array": (json.dumps({**GAME_DOC, "leader_payoffs": [[LONG, 1], [0, 2]]}), "leader_payoffs"),
}


@pytest.mark.parametrize("text, name", ECHOES.values(), ids=ECHOES.keys())
def test_long_names_and_values_are_cut_in_messages(text, name, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(text)
    refused(lambda: fileio.loads(text), name)
    refused(lambda: fileio.load(path), name)


# --------------------------------------------------------------------------------------------
# 4. Names with terminal escapes or lone surrogates
# --------------------------------------------------------------------------------------------

NAMES = {
    "escape-action-name": (json.dumps({**PROBLEM_DOC, "action_names": ["\x1b[31mred", "b"]}), "action_names[0]"),
    "surrogate-outcome-name": (json.dumps({**PROBLEM_DOC, "outcome_names": ["a", "\udcff"]}), "outcome_names[1]"),
    "newline-name": (json.dumps({**PROBLEM_DOC, "action_names": ["a", "b\nc"]}), "action_names[1]"),
    "line-separator-name": (json.dumps({**GAME_DOC, "leader_action_names": ["u", "d\u2028"]}),
                            "leader_action_names[1]"),
    "bell-name": (json.dumps({**GAME_DOC, "follower_action_names": ["\x07", "r"]}), "follower_action_names[0]"),
    "escape-field-name": (json.dumps({**PROBLEM_DOC, "\x1b[2Jx": 1}), "x"),
    "surrogate-field-name": (json.dumps({**PROBLEM_DOC, "\udcffy": 1}), "y"),
    "escape-kind": (json.dumps({**PROBLEM_DOC, "kind": "\x1b]0;pwned\x07"}), "kind"),
    "escape-npz-key": (json.dumps({**PAMDP_DOC, "outcome_probs": {"npz": "\x1b[31m"}}), "outcome_probs"),
}


@pytest.mark.parametrize("text, name", NAMES.values(), ids=NAMES.keys())
def test_unprintable_names_are_refused_or_escaped(text, name, tmp_path):
    path = tmp_path / "x.json"
    path.write_text(text)
    refused(lambda: fileio.load(path), name)


def test_unprintable_names_are_refused_through_the_api():
    refused(lambda: BimatrixGame([[1.0]], [[1.0]], leader_action_names=["\x1b[0m"]), "leader_action_names[0]")
    from contractlab import ContractProblem
    refused(lambda: ContractProblem([[1.0]], [0.0], [1.0], outcome_names=["\ud800"]), "outcome_names[0]")
    # printable non-ASCII names are fine
    assert ContractProblem([[1.0]], [0.0], [1.0], action_names=["全力"]).action_names == ("全力",)


# --------------------------------------------------------------------------------------------
# 5. Paths that are not regular files; the file-size limit
# --------------------------------------------------------------------------------------------

def _fifo(tmp_path):
    path = tmp_path / "fifo.json"
    os.mkfifo(path)
    return path


def _symlink_to(target):
    def make(tmp_path):
        path = tmp_path / "link.json"
        path.symlink_to(target)
        return path
    return make


PATHS = {
    "fifo": _fifo,
    "dev-zero": lambda tmp_path: "/dev/zero",
    "dev-urandom": lambda tmp_path: "/dev/urandom",
    "symlink-to-dev-zero": _symlink_to("/dev/zero"),
    "symlink-to-fifo": lambda tmp_path: _symlink_to(_fifo(tmp_path))(tmp_path),
    "folder": lambda tmp_path: tmp_path,
    "missing": lambda tmp_path: tmp_path / "missing.json",
    "dangling-symlink": _symlink_to("/nonexistent/x.json"),
}


@pytest.mark.parametrize("make", PATHS.values(), ids=PATHS.keys())
def test_paths_that_are_not_regular_files_are_refused(make, tmp_path):
    path = make(tmp_path)
    err = refused(lambda: fileio.load(path), "file", exc=InvalidFileError)
    assert err.field == "file"
    refused(lambda: fileio.read_kind(path), "file", exc=InvalidFileError)


@pytest.mark.parametrize("env, size", [("1KiB", 5000), ("100", 101)])
def test_files_beyond_the_size_limit_are_refused_before_reading(tmp_path, monkeypatch, env, size):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({**PROBLEM_DOC, "pad": " " * size}))
    monkeypatch.setenv("CONTRACTLAB_MAX_FILE_SIZE", env)
    err = refused(lambda: fileio.load(path), "--max-file-size", exc=InvalidFileError)
    assert err.field == "file" and "CONTRACTLAB_MAX_FILE_SIZE" in str(err)
    monkeypatch.setenv("CONTRACTLAB_MAX_FILE_SIZE", "1MiB")
    with pytest.raises(InvalidFileError, match="pad"):  # within the limit: read (and refused for the field)
        fileio.load(path)


# --------------------------------------------------------------------------------------------
# 6. The .npz sibling
# --------------------------------------------------------------------------------------------

def _npy(descr: str, shape, body: bytes = b"", fortran: bool = False) -> bytes:
    """A ``.npy`` member whose header says whatever we like (``shape`` may be raw header text)."""
    shape = shape if isinstance(shape, str) else repr(shape)
    header = "{'descr': %r, 'fortran_order': %r, 'shape': %s, }" % (descr, fortran, shape)
    header += " " * ((64 - (len(header) + 11) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + body


def _write_zip(path, members: dict[str, bytes], compress: bool = False):
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _pamdp_ref(tmp_path, field="outcome_probs", key="a"):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**PAMDP_DOC, field: {"npz": key}}))
    return path


def _array_npz(array, field="outcome_probs"):
    def make(tmp_path):
        path = _pamdp_ref(tmp_path, field)
        np.savez(tmp_path / "m.npz", a=array)
        return path
    return make


def _members(members, field="outcome_probs", compress=False):
    def make(tmp_path):
        path = _pamdp_ref(tmp_path, field)
        _write_zip(tmp_path / "m.npz", members, compress)
        return path
    return make


def _sibling(kind):
    def make(tmp_path):
        path = _pamdp_ref(tmp_path)
        npz = tmp_path / "m.npz"
        if kind == "symlink":
            elsewhere = tmp_path / "elsewhere"
            elsewhere.mkdir()
            np.savez(elsewhere / "real.npz", a=np.asarray(PAMDP_DOC["outcome_probs"]))
            npz.symlink_to(elsewhere / "real.npz")
        elif kind == "symlink-to-dev-zero":
            npz.symlink_to("/dev/zero")
        elif kind == "fifo":
            os.mkfifo(npz)
        elif kind == "folder":
            npz.mkdir()
        return path
    return make


def _wrong_field(field):
    def make(tmp_path):
        path = _pamdp_ref(tmp_path, field)
        np.savez(tmp_path / "m.npz", a=np.ones(3))
        return path
    return make


OUTCOME_PROBS = np.asarray(PAMDP_DOC["outcome_probs"])
NPZ = {
    "symlink": (_sibling("symlink"), "outcome_probs"),
    "symlink-to-dev-zero": (_sibling("symlink-to-dev-zero"), "outcome_probs"),
    "fifo": (_sibling("fifo"), "outcome_probs"),
    "folder": (_sibling("folder"), "outcome_probs"),
    "header-declares-10^10-floats": (_members({"a.npy": _npy("<f8", (10**10,))}), "outcome_probs"),
    "header-declares-10^9-states": (_members({"a.npy": _npy("<f8", (10**9, 2, 2), b"\0" * 64)}), "outcome_probs"),
    "header-declares-more-than-the-member-holds": (_members({"a.npy": _npy("<f8", (3, 2, 2), b"\0" * 8)}),
                                                   "outcome_probs"),
    "header-declares-less-than-the-member-holds": (_members({"a.npy": _npy("<f8", (1,), b"\0" * 800)}),
                                                   "outcome_probs"),
    "negative-dimension": (_members({"a.npy": _npy("<f8", (-1, 2))}), "outcome_probs"),
    "huge-header": (_members({"a.npy": b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{"}), "outcome_probs"),
    "deeply-nested-header": (_members({"a.npy": _npy("<f8", "(" * 3000 + ")" * 3000)}), "outcome_probs"),
    "header-not-a-dict": (_members({"a.npy": b"\x93NUMPY\x01\x00" + struct.pack("<H", 8) + b"[1, 2]  "}),
                          "outcome_probs"),
    "npy-version-9": (_members({"a.npy": b"\x93NUMPY\x09\x00" + b"\0" * 100}), "outcome_probs"),
    "encrypted-flag": (lambda tmp_path: _encrypted(tmp_path), "outcome_probs"),
    "object-dtype": (_array_npz(np.array([{"evil": 1}, None], dtype=object)), "outcome_probs"),
    "pickle-header": (_members({"a.npy": _npy("|O", (2,), b"\x80\x04N.")}), "outcome_probs"),
    "string-dtype": (_array_npz(np.array(["a", "b"])), "outcome_probs"),
    "bytes-dtype": (_array_npz(np.array([b"a", b"b"])), "outcome_probs"),
    "bool-dtype": (_array_npz(np.ones((3, 2, 2), dtype=bool)), "outcome_probs"),
    "complex-dtype": (_array_npz(OUTCOME_PROBS.astype(complex)), "outcome_probs"),
    "structured-dtype": (_array_npz(np.zeros(3, dtype=[("a", "<f8"), ("b", "<i8")])), "outcome_probs"),
    "longdouble-dtype": (_array_npz(np.zeros((3, 2, 2), dtype=np.longdouble)
                                    if np.dtype(np.longdouble).itemsize > 8 else np.zeros(2, dtype="V16")),
                         "outcome_probs"),
    "datetime-dtype": (_array_npz(np.array(["2020-01-01"] * 2, dtype="M8[D]")), "outcome_probs"),
    "uint64-beyond-int64": (_array_npz(np.array([[1, 2], [2**64 - 1, 0], [0, 0]], dtype=np.uint64), "next_state"),
                            "next_state[1][0]"),
    "npz-ref-in-version": (_wrong_field("version"), "version"),
    "npz-ref-in-acyclic": (_wrong_field("acyclic"), "acyclic"),
    "npz-ref-in-discount": (_wrong_field("discount"), "discount"),
    "npz-ref-in-initial-state": (_wrong_field("initial_state"), "initial_state"),
    "too-many-members": (_members({f"m{i}.npy": b"" for i in range(10_001)}), "outcome_probs"),
    "truncated-zip": (lambda tmp_path: _truncated(tmp_path), "outcome_probs"),
}


def _encrypted(tmp_path):
    path = _pamdp_ref(tmp_path)
    buf = io.BytesIO()
    np.save(buf, OUTCOME_PROBS)
    _write_zip(tmp_path / "m.npz", {"a.npy": buf.getvalue()})
    raw = bytearray((tmp_path / "m.npz").read_bytes())
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" bit in both headers
        at = raw.find(sig)
        flag_at = at + (6 if sig == b"PK\x03\x04" else 8)
        raw[flag_at] |= 1
    (tmp_path / "m.npz").write_bytes(bytes(raw))
    return path


def _truncated(tmp_path):
    path = _pamdp_ref(tmp_path)
    np.savez(tmp_path / "m.npz", a=OUTCOME_PROBS)
    raw = (tmp_path / "m.npz").read_bytes()
    (tmp_path / "m.npz").write_bytes(raw[: len(raw) // 2])
    return path


@pytest.mark.parametrize("make, name", NPZ.values(), ids=NPZ.keys())
def test_hostile_npz_siblings_are_refused(make, name, tmp_path):
    path = make(tmp_path)
    refused(lambda: fileio.load(path), name)


def test_npz_member_beyond_the_file_size_limit_is_refused(tmp_path, monkeypatch):
    """A zip bomb: a member that deflates to more than the file-size limit is refused from its
    declared size, before anything is decompressed."""
    buf = io.BytesIO()
    np.save(buf, np.zeros(2**17))  # 1 MiB of zeros: deflates to ~1 KiB
    path = _members({"a.npy": buf.getvalue()}, compress=True)(tmp_path)
    assert (tmp_path / "m.npz").stat().st_size < 10_000
    monkeypatch.setenv("CONTRACTLAB_MAX_FILE_SIZE", "64KiB")
    err = refused(lambda: fileio.load(path), "outcome_probs")
    assert "--max-file-size" in str(err) and "uncompressed" in str(err)


def test_npz_arrays_beyond_the_memory_budget_are_refused(tmp_path, monkeypatch):
    path = _array_npz(np.zeros((3, 2, 2)))(tmp_path)
    monkeypatch.setenv("CONTRACTLAB_MAX_MEMORY", "64")
    err = refused(lambda: fileio.load(path), "outcome_probs")
    assert "--max-memory" in str(err)


def test_valid_npz_layouts_are_read(tmp_path):
    """Fortran order, big-endian, other integer widths and a compressed member all load."""
    m = binary_game_tree(2, seed=0)
    for arrays in ({"a": np.asfortranarray(m.outcome_probs)}, {"a": m.outcome_probs.astype(">f8")},
                   {"a": m.outcome_probs, "n": m.next_state.astype(np.int32)},
                   {"a": m.outcome_probs, "n": m.next_state.astype(">i2")}):
        path = _pamdp_ref(tmp_path)
        doc = json.loads(path.read_text())
        if "n" in arrays:
            doc["next_state"] = {"npz": "n"}
        path.write_text(json.dumps(doc))
        for compress in (False, True):
            (np.savez_compressed if compress else np.savez)(tmp_path / "m.npz", **arrays)
            assert fileio.load(path) == m


CHECKPOINTS = {
    "fifo": lambda path: os.mkfifo(path),
    "dev-zero-symlink": lambda path: path.symlink_to("/dev/zero"),
    "header-bomb": lambda path: _write_zip(path, {"q.npy": _npy("<f8", (10**10,)), "__meta__.npy": b""}),
    "object-array": lambda path: np.savez(path, q=np.array([None, {}], dtype=object)),
    "not-a-zip": lambda path: path.write_bytes(b"garbage"),
}


@pytest.mark.parametrize("make", CHECKPOINTS.values(), ids=CHECKPOINTS.keys())
def test_hostile_checkpoints_are_refused(make, tmp_path):
    """``learn --checkpoint FILE`` resumes from a user-given .npz: the same checks apply."""
    from contractlab.learning.checkpoint import load_checkpoint
    path = tmp_path / "ckpt.npz"
    make(path)
    refused(lambda: load_checkpoint(path), "ckpt.npz", exc=InvalidFileError)


# --------------------------------------------------------------------------------------------
# 7. Sizes that cannot fit; ragged policies; extreme payoffs
# --------------------------------------------------------------------------------------------

SIZES = {
    "random-tree-depth-1e10": (lambda: random_tree(10**10), "depth"),
    "binary-tree-depth-1e10": (lambda: binary_game_tree(10**10), "depth"),
    "binary-tree-depth-27": (lambda: binary_game_tree(27), "depth"),
    "random-tree-many-actions": (lambda: random_tree(3, n_actions=10**12), "n_actions"),
    "contractual-rl-11000-states": (lambda: contractual_rl(11_000), "n_states"),
    "random-discounted-1e5-states": (lambda: random_discounted(10**5), "n_states"),
    "random-dag-1e9-states": (lambda: random_dag(10**9, 3, 2), "n_states"),
    "random-dag-many-outcomes": (lambda: random_dag(10, 2, 10**12), "n_outcomes"),
    "random-dag-int-of-5000-digits": (lambda: random_dag(10**5000), "n_states"),
    "ragged-contract": (lambda: fileio.loads(json.dumps({**POLICY_DOC, "contract": [[0, 0], [0.5], [0, 0]]})),
                        "contract[1]"),
    "ragged-time-indexed-action": (lambda: fileio.loads(json.dumps(
        {**POLICY_DOC, "action": [[0, 1, 0], [0, 1]], "contract": [[[0, 0]] * 3] * 2})), "action[1]"),
    "ragged-contract-api": (lambda: ContractPolicy([0, 0], [[0.0, 1.0], [0.0]]), "contract[1]"),
    "payoff-1e308": (lambda: fileio.loads(_text(GAME_DOC, leader_payoffs="[[1e308, 3], [0, 2]]")),
                     "leader_payoffs[0][0]"),
    "payoff-minus-1e200": (lambda: fileio.loads(_text(GAME_DOC, follower_payoffs="[[1, 0], [0, -1e200]]")),
                           "follower_payoffs[1][1]"),
    "payoff-api": (lambda: BimatrixGame([[1.0, 2e150]], [[0.0, 0.0]]), "leader_payoffs[0][1]"),
}


@pytest.mark.parametrize("call, name", SIZES.values(), ids=SIZES.keys())
def test_sizes_that_cannot_fit_and_bad_shapes_are_refused(call, name):
    refused(call, name)


def test_generator_budget_follows_the_environment(monkeypatch):
    monkeypatch.setenv("CONTRACTLAB_MAX_MEMORY", "1MiB")
    err = refused(lambda: binary_game_tree(12), "depth")
    assert "--max-memory" in str(err) and "CONTRACTLAB_MAX_MEMORY" in str(err)
    monkeypatch.setenv("CONTRACTLAB_MAX_MEMORY", "8GiB")
    assert binary_game_tree(12).n_states == 2**12 - 1


def test_payoffs_at_the_bound_are_accepted():
    from contractlab.theory.bimatrix import MAX_ABS_PAYOFF
    game = fileio.loads(json.dumps({**GAME_DOC, "leader_payoffs": [[MAX_ABS_PAYOFF, 0], [0, -MAX_ABS_PAYOFF]]}))
    assert game.leader_payoffs[1, 1] == -1e150


# --------------------------------------------------------------------------------------------
# The command line (being restructured elsewhere: these pass once contractlab/cli is in place)
# --------------------------------------------------------------------------------------------

def _file(text):
    def make(tmp_path):
        path = tmp_path / "x.json"
        path.write_text(text)
        return ["solve", str(path)]
    return make


def _solve(make_path):
    def make(tmp_path):
        return ["solve", str(make_path(tmp_path))]
    return make


def _check_instance(make_path):
    def make(tmp_path):
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps(POLICY_DOC))
        return ["check", str(make_path(tmp_path)), str(policy)]
    return make


def _check_policy(text):
    def make(tmp_path):
        instance = tmp_path / "m.json"
        instance.write_text(json.dumps(PAMDP_DOC))
        policy = tmp_path / "p.json"
        policy.write_text(text)
        return ["check", str(instance), str(policy)]
    return make


def _written(path, text):
    path.write_text(text)
    return path


def _too_big(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({**PROBLEM_DOC, "pad": " " * 5000}))
    return ["solve", str(path), "--max-file-size", "1KiB"]


CLI = {
    "duplicate-keys": _file(DUPLICATES["top-level"][0]),
    "huge-exponent": _file(NUMBERS["exact-huge-exponent"][0]),
    "million-digits": _file(NUMBERS["exact-million-digit-decimal"][0]),
    "float-overflow": _file(NUMBERS["float-kind-overflow-in-array"][0]),
    "long-field-name": _file(ECHOES["unknown-field"][0]),
    "long-kind": _file(ECHOES["kind-value"][0]),
    "escape-in-name": _file(NAMES["escape-action-name"][0]),
    "surrogate-in-name": _file(NAMES["surrogate-outcome-name"][0]),
    "escape-in-kind": _file(NAMES["escape-kind"][0]),
    "fifo": _solve(_fifo),
    "dev-zero": lambda tmp_path: ["solve", "/dev/zero"],
    "symlink-to-dev-urandom": _solve(_symlink_to("/dev/urandom")),
    "folder": lambda tmp_path: ["solve", str(tmp_path)],
    "file-size-limit": _too_big,
    "npz-symlink": _solve(_sibling("symlink")),
    "npz-fifo": _solve(_sibling("fifo")),
    "npz-header-bomb": _solve(NPZ["header-declares-10^10-floats"][0]),
    "npz-uint64": _solve(NPZ["uint64-beyond-int64"][0]),
    "npz-object": _solve(NPZ["object-dtype"][0]),
    "npz-ref-in-acyclic": _solve(NPZ["npz-ref-in-acyclic"][0]),
    "payoff-1e308": _file(_text(GAME_DOC, leader_payoffs="[[1e308, 3], [0, 2]]")),
    "check-instance-fifo": _check_instance(_fifo),
    "check-instance-duplicate-keys": _check_instance(lambda tmp_path: _written(
        tmp_path / "d.json", json.dumps(PAMDP_DOC)[:-1] + ', "discount": 0.5}')),
    "check-ragged-policy": _check_policy(json.dumps({**POLICY_DOC, "contract": [[0, 0], [0.5], [0, 0]]})),
    "check-policy-escape-field": _check_policy(json.dumps({**POLICY_DOC, "\x1b[31m": 1})),
    "generate-deep-tree": lambda tmp_path: ["generate", "random_tree", "--depth", "10000000000",
                                            "-o", str(tmp_path / "g.json")],
    "generate-contractual-rl": lambda tmp_path: ["generate", "contractual_rl", "--states", "11000",
                                                 "-o", str(tmp_path / "g.json")],
    "generate-binary-tree-27": lambda tmp_path: ["generate", "binary_tree", "--depth", "27",
                                                 "-o", str(tmp_path / "g.json")],
}


@pytest.mark.parametrize("make", CLI.values(), ids=CLI.keys())
def test_cli_refuses_hostile_input_in_one_line(make, tmp_path):
    argv = make(tmp_path)
    res = subprocess.run([sys.executable, "-m", "contractlab", *argv], capture_output=True, text=True,
                         timeout=30, errors="backslashreplace")
    err = res.stderr
    assert res.returncode == 2, (res.returncode, err[-2000:])
    assert err.count("\n") == 1 and err.endswith("\n"), err[-2000:]
    assert len(err) <= MAX_CHARS + 1, err
    assert err.startswith("contractlab: error: "), err
    assert "Traceback" not in err and "Warning" not in err, err
    assert err[:-1].isprintable(), repr(err)
    if argv[0] == "generate":
        assert not any(p.name.startswith("g.") for p in tmp_path.iterdir())
