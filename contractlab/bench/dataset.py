"""The folder of a benchmark dataset: layout, per-instance result files, manifest, index, hashes.

Layout::

    DIR/manifest.json            identity (family, parameters, seed, count, batch, certify, toolkit
                                 version) and, once finished, every instance's seed and hash
    DIR/instances/<id>.json      the instance (a registered file kind; ``.npz`` sibling when large)
    DIR/results/<id>.json        one file per finished instance: the source of truth for resume
    DIR/index.parquet            written at the end from the result files, one row per instance

Every file is written atomically (temporary file in the same folder, then ``os.replace``), so a
process killed at any moment leaves each file complete or absent. Instance and result files are
not fsync'ed one by one (a 10,000-instance sweep would spend most of its time in ``fsync``):
they survive the death of the process, not necessarily of the machine; a result file that does
not parse or does not match its instance is treated as missing and recomputed. The manifest and
the index are fsync'ed.

Ids are the instance index ``i`` zero-padded to :data:`ID_WIDTH` digits; instance ``i``'s seed is
the first 63 bits of ``SeedSequence(seed, spawn_key=(i,))`` -- what ``SeedSequence(seed).spawn(N)[i]``
gives for any ``N > i`` -- so instance ``i`` does not depend on ``--count`` or ``--workers``.

Reproducibility of the index: every column but ``solve_seconds`` is a function of the dataset's
identity. :func:`canonical_index_bytes` (the table sorted by ``id`` without ``solve_seconds``, as
Arrow IPC bytes) is therefore byte-identical between an interrupted-and-resumed sweep and an
uninterrupted one, and for any ``--workers``; ``solve_seconds`` (wall time) is kept in the
results and the index but excluded from that comparison.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np

from ..theory.errors import InvalidInstanceError
from ..theory.fileio import write_atomic
from .families import VALUE_FIELDS

FORMAT, VERSION = "contractlab_bench", 1
RESULT_KIND = "bench_result"
ID_WIDTH = 6
MANIFEST, INSTANCES, RESULTS, INDEX = "manifest.json", "instances", "results", "index.parquet"
#: The manifest fields that define a dataset: a rerun must agree on all of them.
IDENTITY = ("format", "version", "toolkit_version", "family", "params", "seed", "count", "batch", "certify")
#: The index columns, in order (the ``report`` command reads them by name).
COLUMNS = ("id", "family", "params", "seed", "status", "error", *VALUE_FIELDS, "certificate", "solve_seconds", "hash")


def instance_id(i: int) -> str:
    return f"{i:0{ID_WIDTH}d}"


def instance_seed(seed: int, i: int) -> int:
    """The seed of instance ``i``: independent of the count (module docstring)."""
    state = np.random.SeedSequence(seed, spawn_key=(i,)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))


def params_json(params: dict) -> str:
    """The parameters as canonical JSON (sorted keys, no spaces): the ``params`` column."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"), allow_nan=False)


# --------------------------------------------------------------------------- atomic files

def write_bytes_atomic(path: Path, data: bytes, durable: bool = False) -> None:
    """``path`` gets ``data`` completely or not at all (:func:`contractlab.theory.fileio.write_atomic`);
    ``durable`` also fsyncs the file before the rename."""
    write_atomic(path, lambda fh: fh.write(data), binary=True, durable=durable)


def file_hash(json_path: Path, data: bytes | None = None) -> str:
    """sha256 of the instance file's bytes (``data`` if given, as just written), followed by its
    ``.npz`` sibling's bytes if any."""
    h = hashlib.sha256(json_path.read_bytes() if data is None else data)
    npz = json_path.with_suffix(".npz")
    if npz.exists():
        h.update(npz.read_bytes())
    return h.hexdigest()


def _finite(value) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind != "f" or bool(np.isfinite(value).all())
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return True


def instance_bytes(obj) -> bytes:
    """The instance file's bytes: its kind's dictionary as compact JSON written by orjson (floats
    in their shortest form that reads back exactly; ~50x faster than the indented stdlib encoder
    of :func:`fileio.dumps` on a 1,023-state tree). Falls back to :func:`fileio.dumps` for what
    orjson does not take; non-finite numbers are refused (``ValueError``) as there."""
    import orjson

    from ..theory import fileio
    data = fileio.to_dict(obj, arrays=True)
    if _finite(data):
        try:
            return orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_APPEND_NEWLINE)
        except TypeError:  # orjson.JSONEncodeError: e.g. a non-contiguous array
            pass
    return fileio.dumps(obj).encode("utf-8")


def json_form(obj, npz_threshold: int) -> bytes | None:
    """The bytes of the instance file when it is one JSON file (:func:`instance_bytes`); None when
    some array has at least ``npz_threshold`` entries and goes to the ``.npz`` sibling."""
    from ..theory import fileio
    data = fileio.to_dict(obj, arrays=True)
    if any(isinstance(v, np.ndarray) and v.size >= npz_threshold for v in data.values()):
        return None
    return instance_bytes(obj)


#: Kinds whose loader keeps the numbers exactly as written (decimal literals), so that what is
#: read back is more than the floats: a ``contract_problem``'s certificate is about those numbers.
EXACT_KINDS = frozenset({"contract_problem"})


def as_stored(obj, data: bytes | None):
    """The instance as a reader of its file sees it: ``fileio.loads`` of the JSON bytes for the
    :data:`EXACT_KINDS`; for every other kind ``obj`` itself (its floats are written in their
    shortest exact form and read back bit for bit, so loading would only cost time)."""
    from ..theory import fileio
    if data is None or fileio.kind_of(obj) not in EXACT_KINDS:
        return obj
    return fileio.loads(data)


def save_instance(folder: Path, i: int, obj, data: bytes | None, npz_threshold: int) -> str:
    """Write instance ``i`` atomically (``data`` from :func:`json_form`; None: large arrays to the
    ``.npz``) and return its hash."""
    from ..theory import fileio

    path = folder / INSTANCES / f"{instance_id(i)}.json"
    if data is None:
        fileio.save(obj, path, npz_threshold=npz_threshold)
        return file_hash(path)
    path.with_suffix(".npz").unlink(missing_ok=True)
    write_bytes_atomic(path, data)
    return file_hash(path, data)


# --------------------------------------------------------------------------- result files

def _json_float(x: float):
    return None if math.isnan(x) else float(x)


def result_record(i: int, family: str, params: str, seed: int, fields: dict | None, error: str,
                  seconds: float, digest: str) -> dict:
    """One row (a failure when ``fields`` is None): the content of ``results/<id>.json``."""
    ok = fields is not None
    row = {"id": instance_id(i), "family": family, "params": params, "seed": int(seed),
           "status": "ok" if ok else "failed", "error": "" if ok else error}
    for name in VALUE_FIELDS:
        row[name] = float(fields[name]) if ok else math.nan
    row["certificate"] = fields["certificate"] if ok else ""
    row["solve_seconds"] = float(seconds)
    row["hash"] = digest
    return row


def write_result(folder: Path, row: dict) -> None:
    doc = {"kind": RESULT_KIND, "version": VERSION,
           **{k: (_json_float(v) if k in VALUE_FIELDS else v) for k, v in row.items()}}
    text = json.dumps(doc, allow_nan=False, separators=(",", ":")) + "\n"
    write_bytes_atomic(folder / RESULTS / f"{row['id']}.json", text.encode("utf-8"))


def read_result(path: Path) -> dict | None:
    """A result file as a row, or None if it is missing, broken or not a result."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != RESULT_KIND or doc.get("version") != VERSION:
        return None
    try:
        row = {k: doc[k] for k in COLUMNS}
        for k in VALUE_FIELDS:
            row[k] = math.nan if row[k] is None else float(row[k])
        row["solve_seconds"] = float(row["solve_seconds"])
        row["seed"] = int(row["seed"])
    except (KeyError, TypeError, ValueError):
        return None
    if row["status"] not in ("ok", "failed") or row["id"] != path.stem:
        return None
    return row


def finished(folder: Path, manifest: dict) -> dict[int, dict]:
    """The valid result files: index -> row. A file is valid when it parses, names this dataset's
    family, parameters and instance seed, and (for ``ok`` rows) its hash is the instance file's."""
    out = {}
    params = params_json(manifest["params"])
    for path in (folder / RESULTS).glob("*.json"):
        if not path.stem.isdigit():
            continue
        i = int(path.stem)
        if i >= manifest["count"] or path.stem != instance_id(i):
            continue
        row = read_result(path)
        if row is None or row["family"] != manifest["family"] or row["params"] != params \
                or row["seed"] != instance_seed(manifest["seed"], i):
            continue
        if row["status"] == "ok":
            inst = folder / INSTANCES / f"{row['id']}.json"
            if not inst.exists() or file_hash(inst) != row["hash"]:
                continue
        out[i] = row
    return out


# --------------------------------------------------------------------------- manifest

def identity(family: str, params: dict, seed: int, count: int, batch: int, certify: bool) -> dict:
    from .. import __version__
    return {"format": FORMAT, "version": VERSION, "toolkit_version": __version__, "family": family,
            "params": params, "seed": int(seed), "count": int(count), "batch": int(batch), "certify": bool(certify)}


def read_manifest(folder: Path) -> dict | None:
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InvalidInstanceError("--out", f"{path} is not a bench manifest ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InvalidInstanceError("--out", f"{path} is not a contractlab bench manifest")
    return doc


def write_manifest(folder: Path, doc: dict) -> None:
    text = json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n"
    write_bytes_atomic(folder / MANIFEST, text.encode("utf-8"), durable=True)


def prepare(folder: Path, ident: dict) -> dict:
    """Check ``--out`` before any work and make the layout: a new (or empty) folder gets a
    manifest; an existing dataset must have the same identity (else one line, exit 2)."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInstanceError("--out", f"{str(folder)[:120]!r} exists and is not a folder")
    parent = folder.resolve().parent
    if not parent.is_dir():
        raise InvalidInstanceError("--out", f"folder {str(parent)[:120]!r} does not exist")
    if not os.access(folder if folder.exists() else parent, os.W_OK | os.X_OK):
        raise InvalidInstanceError("--out", f"{str(folder if folder.exists() else parent)[:120]!r} is not writable")
    old = read_manifest(folder) if folder.exists() else None
    if old is None and folder.exists() and any(folder.iterdir()):
        raise InvalidInstanceError("--out", f"{str(folder)[:120]!r} is not empty and holds no bench manifest")
    if old is not None:
        for key in IDENTITY:
            if old.get(key) != ident[key]:
                raise InvalidInstanceError("--out", f"{str(folder)[:100]!r} holds a dataset with {key} "
                                                    f"{json.dumps(old.get(key))[:80]}, not "
                                                    f"{json.dumps(ident[key])[:80]}; use another folder")
    folder.mkdir(exist_ok=True)
    (folder / INSTANCES).mkdir(exist_ok=True)
    (folder / RESULTS).mkdir(exist_ok=True)
    if old is None:
        write_manifest(folder, ident)
        return dict(ident)
    return old


# --------------------------------------------------------------------------- index

def schema():
    import pyarrow as pa
    f64 = pa.float64()
    return pa.schema([("id", pa.string()), ("family", pa.string()), ("params", pa.string()), ("seed", pa.int64()),
                      ("status", pa.string()), ("error", pa.string()), *[(k, f64) for k in VALUE_FIELDS],
                      ("certificate", pa.string()), ("solve_seconds", f64), ("hash", pa.string())])


def index_table(rows: list[dict]):
    """The index as an Arrow table, rows sorted by ``id``."""
    import pyarrow as pa
    rows = sorted(rows, key=lambda r: r["id"])
    return pa.table({k: [r[k] for r in rows] for k in COLUMNS}, schema=schema())


def write_index(folder: Path, rows: list[dict]) -> None:
    """``index.parquet`` from the rows, atomically (no timestamps in the table or its metadata)."""
    import pyarrow.parquet as pq
    tmp = folder / f".{INDEX}.{os.getpid()}.tmp"
    try:
        pq.write_table(index_table(rows), tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, folder / INDEX)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_index(folder: Path):
    import pyarrow.parquet as pq
    path = folder / INDEX
    if not path.is_file():
        raise InvalidInstanceError("DIR", f"{str(path)[:120]!r} does not exist (is the dataset finished?)")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own error types for broken files
        raise InvalidInstanceError("DIR", f"{str(path)[:120]!r} is not a Parquet file ({type(exc).__name__})") from None
    if table.schema.names != list(COLUMNS):
        raise InvalidInstanceError("DIR", f"{INDEX} has columns {table.schema.names[:20]}, expected {list(COLUMNS)}")
    return table


def canonical_index_bytes(folder: Path) -> bytes:
    """The index sorted by ``id`` without ``solve_seconds``, as Arrow IPC stream bytes: what is
    byte-identical between runs (module docstring)."""
    import pyarrow as pa
    table = read_index(folder).sort_by("id").drop_columns(["solve_seconds"])
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def finish_manifest(folder: Path, manifest: dict, rows: list[dict]) -> None:
    """Add every instance's seed and hash and the index's sha256 to the manifest."""
    rows = sorted(rows, key=lambda r: r["id"])
    doc = {k: manifest[k] for k in IDENTITY}
    doc["seeds"] = [r["seed"] for r in rows]
    doc["hashes"] = [r["hash"] for r in rows]
    doc["index_sha256"] = hashlib.sha256((folder / INDEX).read_bytes()).hexdigest()
    write_manifest(folder, doc)
