"""Recognise and validate the inputs of ``contractlab report`` (issue 15).

A JSON file is recognised by its ``kind``: ``verify_results`` (``verify --out``), ``regret_run``
(``regret --out``), ``design_run`` (``design --out``), ``policy_check`` (``check --json``,
``learn --json``), ``learning_curve`` (``learn --curve``), ``pamdp_solution`` (``solve -o``: the
SPE, or the meta-algorithm's profile with its convergence summary); a folder holding ``index.parquet`` is a
benchmark dataset (columns :data:`DATASET_COLUMNS`). Only the fields the report shows are
validated (a producer may add fields); the report never computes anything from them beyond
ratios and counts.

Files are read with :func:`contractlab.theory.safe_read.read_file_bytes` (regular files only, up
to ``--max-file-size``); JSON is parsed with duplicate keys, ``NaN``/``Infinity`` and huge integer
literals refused. Bad input raises :class:`~contractlab.theory.errors.InvalidFileError` whose
message starts with the file and whose field names the entry (``theorems[2].passed``).
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..theory import budget
from ..theory.errors import InvalidFileError, InvalidInstanceError
from ..theory.exact import json_int
from ..theory.safe_read import check_file_size, check_regular, one_line, read_file_bytes, strerror
from ..theory.validation import echo, field_name

#: The JSON kinds the report understands, with the version it reads.
KINDS = {"verify_results": 1, "regret_run": 1, "design_run": 1, "policy_check": 1, "coin_policy_check": 1,
         "learning_curve": 1, "pamdp_solution": 2}

#: Columns of a dataset's ``index.parquet`` (as ``contractlab bench generate`` writes it) and their
#: type: ``"str"``, ``"int"`` or ``"float"`` (an integer column is accepted, null read as NaN). Only
#: the columns of :data:`NULLABLE` may hold nulls.
DATASET_COLUMNS = {"id": "str", "family": "str", "params": "str", "seed": "int", "status": "str", "error": "str",
                   "principal_value": "float", "agent_value": "float", "first_best_welfare": "float",
                   "best_linear_utility": "float", "certificate": "str", "solve_seconds": "float", "hash": "str"}
NULLABLE = {"error", "certificate", "principal_value", "agent_value", "first_best_welfare", "best_linear_utility",
            "solve_seconds", "hash", "params"}
DATASET_STATUS = ("ok", "failed")
#: Bytes a string cell of the dataset takes once read (a Python ``str`` and its pointer).
STRING_CELL_BYTES = 80
DATASET_INDEX = "index.parquet"


@dataclass(frozen=True)
class ReportInput:
    """One validated input: its ``kind`` (a JSON kind of :data:`KINDS`, or ``"dataset"``), the
    path as given, and its content (the JSON document; for ``regret_run`` the
    :class:`~contractlab.theory.documents.RegretRunResult`, for ``pamdp_solution`` the
    :class:`~contractlab.theory.documents.PAMDPSolution`; for a dataset a dict of numpy columns)."""

    kind: str
    path: str
    data: Any


def shown_path(path, limit: int = 80) -> str:
    """``path`` for a one-line message, escaped; a long one keeps its end (the file's name)."""
    text = os.fsdecode(path)
    return echo(text if len(text) <= limit else "…" + text[-(limit - 1):], limit + 1)


class _Where:
    """Raises errors naming the file (in the message) and the field."""

    def __init__(self, path: str):
        self.shown = shown_path(path)

    def fail(self, field: str, message: str, index=None):
        raise InvalidFileError(field, f"{self.shown}: {message}", index)

    def obj(self, value, field: str) -> dict:
        if not isinstance(value, dict):
            self.fail(field, f"expected an object, got {type(value).__name__}")
        return value

    def get(self, data: dict, key: str, prefix: str = ""):
        if key not in data:
            self.fail(prefix + key, "required field is missing")
        return data[key]

    def text(self, value, field: str, nullable: bool = False) -> str | None:
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            self.fail(field, f"expected a string{' or null' if nullable else ''}, got {type(value).__name__}")
        return value

    def boolean(self, value, field: str) -> bool:
        if not isinstance(value, bool):
            self.fail(field, f"expected true or false, got {echo(value)}")
        return value

    def integer(self, value, field: str, low: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            self.fail(field, f"expected an integer >= {low}, got {echo(value)}")
        return value

    def number(self, value, field: str, nullable: bool = True) -> float:
        """A finite number, or (``nullable``) ``null`` read as NaN."""
        if value is None and nullable:
            return math.nan
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            self.fail(field, f"expected a number{' or null' if nullable else ''}, got {echo(value)}")
        try:
            x = float(value)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            self.fail(field, f"expected a finite number, got {echo(value)}")
        return x

    def floats(self, value, field: str, ndim: int) -> np.ndarray:
        """A rectangular ``ndim``-d float array; ``null`` entries read as NaN."""
        def walk(v, index):
            if len(index) == ndim:
                return self.number(v, field + "".join(f"[{i}]" for i in index))
            if not isinstance(v, list):
                self.fail(field, f"expected a list at depth {len(index)} of a {ndim}-d array, "
                                 f"got {type(v).__name__}", index or None)
            return [walk(x, index + (k,)) for k, x in enumerate(v)]
        rows = walk(value, ())
        try:
            arr = np.array(rows, dtype=np.float64)
        except ValueError:
            arr = None
        if arr is None or arr.ndim != ndim:
            self.fail(field, f"expected a rectangular {ndim}-d array (rows of equal length)")
        return arr


def _reject_constant(name: str):
    raise ValueError(f"{name} is not a finite number")


def _pairs(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidFileError(field_name(key), "duplicate key in a JSON object")
            seen.add(key)
    return out


def _parse_json(raw: bytes, where: _Where) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        where.fail("document", f"not UTF-8 text (byte {exc.start})")
    try:
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_pairs, parse_int=json_int)
    except InvalidInstanceError as exc:
        where.fail(exc.field, exc.reason)
    except RecursionError:
        where.fail("document", "JSON nested too deeply")
    except ValueError as exc:
        where.fail("document", f"not valid JSON: {one_line(exc)}")


# --------------------------------------------------------------------------- the JSON kinds

def _verify(data: dict, w: _Where) -> dict:
    w.integer(w.get(data, "seed"), "seed")
    w.integer(w.get(data, "count"), "count", 1)
    theorems = w.get(data, "theorems")
    if not isinstance(theorems, list) or not theorems:
        w.fail("theorems", "expected a non-empty list")
    for i, th in enumerate(theorems):
        p = f"theorems[{i}]."
        w.obj(th, f"theorems[{i}]")
        for key in ("id", "statement", "source", "worst_detail"):
            w.text(w.get(th, key, p), p + key)
        w.text(w.get(th, "failure", p), p + "failure", nullable=True)
        w.boolean(w.get(th, "passed", p), p + "passed")
        for key in ("instances", "vacuous"):
            w.integer(w.get(th, key, p), p + key)
        for key in ("lp_answers", "certified"):
            w.integer(th.get(key, 0), p + key)
        w.number(w.get(th, "worst_margin", p), p + "worst_margin")
        w.number(w.get(th, "seconds", p), p + "seconds", nullable=False)
    return data


def _design(data: dict, w: _Where) -> dict:
    w.text(w.get(data, "game"), "game")
    iterations = w.integer(w.get(data, "iterations"), "iterations", 1)
    seeds = w.get(data, "seeds")
    if not isinstance(seeds, list) or not seeds:
        w.fail("seeds", "expected a non-empty list")
    exact = w.obj(w.get(data, "exact"), "exact")
    for key in ("optimal_welfare", "net_welfare_of_min_incentives", "min_incentives_nash"):
        w.number(w.get(exact, key, "exact."), "exact." + key, nullable=False)
    designers = w.obj(w.get(data, "designers"), "designers")
    if not designers:
        w.fail("designers", "expected at least one designer")
    curves = {}
    for name, run in designers.items():
        p = f"designers.{field_name(name)}."
        w.obj(run, p[:-1])
        summary = w.obj(w.get(run, "summary", p), p + "summary")
        for key in ("welfare_ratio", "incentive_ratio", "net_welfare_ratio"):
            w.number(summary.get(key), f"{p}summary.{key}")
        pair = []
        for key in ("welfare_curve", "net_welfare_curve"):
            arr = w.floats(w.get(run, key, p), p + key, 2)
            if arr.shape[0] != len(seeds) or arr.shape[1] > iterations:
                w.fail(p + key, f"has shape {arr.shape}, expected ({len(seeds)}, <= {iterations}) (seeds x iterations)")
            pair.append(arr)
        curves[name] = tuple(pair)
    return dict(data, _curves=curves)


def _policy_check(data: dict, w: _Where) -> dict:
    for key in ("spe_value", "policy_value", "value_ratio", "value_gap", "agreement", "exact_agreement",
                "follow_rate", "follow_rate_on_path", "spe_gap", "ic_violation_max"):
        w.number(w.get(data, key), key)
    w.text(w.get(data, "reference"), "reference")
    w.integer(w.get(data, "n_states"), "n_states", 1)
    return data


def _coin_policy_check(data: dict, w: _Where) -> dict:
    """``contractlab check GAME PRINCIPAL --json`` on a Coin Game: the scalars the page shows and
    the per-agent pairs."""
    for key in ("optimum_welfare", "welfare", "welfare_fraction", "payment_share", "objective",
                "optimum_objective", "payment_error_on_path"):
        w.number(w.get(data, key), key)
    for key in ("returns", "payments", "exact_payments_same_recommendation", "ic_gap", "follow_violation_max",
                "dominance_violation_max", "best_response_follow_rate", "follow_violations",
                "follow_violations_on_path", "dominance_violations", "dominance_violations_on_path"):
        pair = w.get(data, key)
        if not isinstance(pair, list) or len(pair) != 2:
            w.fail(key, "expected a list of 2 numbers (one per agent)")
        for i, x in enumerate(pair):
            w.number(x, f"{key}[{i}]")
    refs = w.obj(w.get(data, "reference_payments"), "reference_payments")
    for k, v in refs.items():
        w.number(v, f"reference_payments.{k}")
    w.integer(w.get(data, "n_pairs"), "n_pairs", 1)
    w.integer(w.get(data, "n_pairs_on_path"), "n_pairs_on_path", 0)
    w.obj(w.get(data, "game"), "game")
    return data


def _learning_curve(data: dict, w: _Where) -> dict:
    w.text(w.get(data, "learner"), "learner")
    it = w.floats(w.get(data, "iterations"), "iterations", 1)
    value = w.floats(w.get(data, "principal_value"), "principal_value", 1)
    if it.shape != value.shape:
        w.fail("principal_value", f"has {value.size} entries, expected {it.size} (one per entry of iterations)")
    return dict(data, _iterations=it, _value=value)


def _registered(data: dict, w: _Where, path: str, kind: str):
    """A kind that :mod:`contractlab.theory.fileio` reads (with its ``.npz`` sibling, if any)."""
    from ..theory import fileio
    try:
        return fileio.from_dict(data, kind, path)
    except InvalidInstanceError as exc:
        w.fail(exc.field, exc.reason, exc.index)


# --------------------------------------------------------------------------- datasets

def _dataset(folder: str, w: _Where) -> dict:
    """The columns of ``folder/index.parquet`` as numpy arrays (strings as object arrays, nulls
    as ``None``; numbers as float64 with NaN for null)."""
    index = os.path.join(folder, DATASET_INDEX)
    if not os.path.lexists(index):
        w.fail("dataset", f"a folder is read as a benchmark dataset, but it has no {DATASET_INDEX}")
    try:
        st = os.stat(index)
    except (OSError, ValueError) as exc:
        w.fail("dataset", f"cannot read {DATASET_INDEX}: {strerror(exc)}")
    check_regular("dataset", st, f"{w.shown}/{DATASET_INDEX}")
    check_file_size("dataset", st.st_size, f"{w.shown}/{DATASET_INDEX}")
    raw = read_file_bytes(index, "dataset")
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise InvalidInstanceError("dataset", "reading a benchmark dataset needs pyarrow, which is not installed: "
                                              "pip install pyarrow") from None
    try:
        meta = pq.ParquetFile(pa.BufferReader(raw)).metadata
        # decompressed columns (twice: Arrow, then numpy) and a Python object per string cell
        need = 2.0 * sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)) \
            + meta.num_rows * STRING_CELL_BYTES * sum(t == "str" for t in DATASET_COLUMNS.values())
        budget.check_memory("dataset", need, f"reading {DATASET_INDEX} ({meta.num_rows} rows)")
        table = pq.read_table(pa.BufferReader(raw))
    except (pa.ArrowException, OSError, ValueError) as exc:
        if isinstance(exc, InvalidInstanceError):
            w.fail(exc.field, exc.reason)
        w.fail(DATASET_INDEX, f"not a readable parquet file: {one_line(exc, 100)}")
    columns = {}
    for name, typ in DATASET_COLUMNS.items():
        if name not in table.column_names:
            w.fail(name, f"{DATASET_INDEX}: required column is missing")
        col = table.column(name)
        t = col.type
        ok = (pa.types.is_string(t) or pa.types.is_large_string(t) if typ == "str" else
              pa.types.is_integer(t) if typ == "int" else pa.types.is_integer(t) or pa.types.is_floating(t))
        if not ok and not (pa.types.is_null(t) and name in NULLABLE):
            w.fail(name, f"{DATASET_INDEX}: expected a {typ} column, got {t}")
        if col.null_count and name not in NULLABLE:
            first = int(np.argmax(col.is_null().to_numpy(zero_copy_only=False)))
            w.fail(name, f"{DATASET_INDEX}: null in a column that may not have nulls", first)
        if typ == "str":
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)
        elif pa.types.is_null(t):
            values = np.full(table.num_rows, np.nan)
        else:  # nulls become NaN
            values = np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)
            if typ == "float" and np.isinf(values).any():
                w.fail(name, f"{DATASET_INDEX}: infinite value", int(np.argwhere(np.isinf(values))[0, 0]))
        columns[name] = values
    if table.num_rows == 0:
        w.fail("dataset", f"{DATASET_INDEX} has no rows")
    bad = [i for i, s in enumerate(columns["status"]) if s not in DATASET_STATUS]
    if bad:
        w.fail("status", f"{DATASET_INDEX}: expected 'ok' or 'failed', got {echo(columns['status'][bad[0]])}",
               bad[0])
    return columns


# --------------------------------------------------------------------------- entry point

def load_input(path: str) -> ReportInput:
    """Recognise and validate one input (a JSON file of :data:`KINDS`, or a dataset folder)."""
    w = _Where(path)
    try:
        is_dir = os.path.isdir(path)
    except (OSError, ValueError, TypeError):
        is_dir = False
    if is_dir:
        return ReportInput("dataset", path, _dataset(path, w))
    if os.path.basename(os.fsdecode(path)) == DATASET_INDEX:  # the index itself: its folder is the dataset
        folder = os.path.dirname(os.fsdecode(path)) or "."
        return ReportInput("dataset", folder, _dataset(folder, _Where(folder)))
    try:
        st = os.stat(path)
    except (OSError, ValueError, TypeError) as exc:
        w.fail("input", f"cannot read: {strerror(exc)}")
    check_regular("input", st, w.shown)  # also checked by read_file_bytes, but with the file's end shown
    check_file_size("input", st.st_size, w.shown)
    raw = read_file_bytes(path, "input")
    data = _parse_json(raw, w)
    if not isinstance(data, dict):
        w.fail("document", f"expected a JSON object at top level, got {type(data).__name__}")
    kind = w.get(data, "kind")
    if not isinstance(kind, str) or kind not in KINDS:
        w.fail("kind", f"{echo(kind)} is not a kind the report reads (it reads: {', '.join(KINDS)}, "
                       "or a dataset folder)")
    version = w.get(data, "version")
    if isinstance(version, bool) or version != KINDS[kind]:
        w.fail("version", f"unsupported version {echo(version)} for kind {kind!r} (supported: {KINDS[kind]})")
    if kind in ("regret_run", "pamdp_solution"):
        return ReportInput(kind, path, _registered(data, w, path, kind))
    check = {"verify_results": _verify, "design_run": _design, "policy_check": _policy_check,
             "coin_policy_check": _coin_policy_check, "learning_curve": _learning_curve}[kind]
    return ReportInput(kind, path, check(data, w))
