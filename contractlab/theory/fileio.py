"""The JSON file format: ``{"kind": ..., "version": ..., <fields>}``.

Arrays are nested lists. A large array may instead sit in a sibling ``.npz`` file (same
name as the JSON file, suffix ``.npz``): the JSON field then holds ``{"npz": "<key>"}``. Only
the fields a kind declares as arrays (:attr:`FileKind.array_fields`) may do so.

Saving: the kinds' ``to_dict`` functions return numpy arrays; :func:`dumps` turns them into
lists, and :func:`save` with ``npz_threshold`` writes the large ones straight from numpy to the
``.npz`` (uncompressed by default: ~0.1 s for the 84 MB of a depth-20 tree, where
``savez_compressed`` takes ~2 s; ``compress=True`` deflates at level 1). Saving is atomic
(write to a temporary file in the same folder, then rename), so an interrupted save leaves
either the old file or the new one, never half of one.

Loading refuses hostile or broken files with one :class:`InvalidFileError` /
:class:`InvalidInstanceError` line of at most :data:`MAX_MESSAGE_CHARS` characters that names
the field (or option) and echoes file content only escaped and cut short:

* only regular files are read, and only up to the file-size limit
  (:mod:`contractlab.theory.safe_read`);
* duplicate keys in any JSON object are refused (the last one would silently win);
* number literals are never built huge: an integer literal of more than
  :data:`~contractlab.theory.exact.MAX_INT_DIGITS` digits is not parsed, floats that overflow are
  ``inf`` and refused as non-finite, and exact kinds read decimals only within the bounds of
  :mod:`contractlab.theory.exact`;
* the ``.npz`` sibling is read member by member, each header checked before its data
  (:mod:`contractlab.theory.npz_reader`). Nothing is ever unpickled.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .contract_problem import ContractProblem
from .errors import InvalidFileError, InvalidInstanceError
from .exact import json_float, json_int
from .npz_reader import NpzReader
from .safe_read import one_line, read_file_bytes
from .validation import echo, field_name

#: Longest message of an error raised by the loaders.
MAX_MESSAGE_CHARS = 300
@dataclass(frozen=True)
class FileKind:
    """How one ``kind`` of object is read from and written to a JSON dictionary.

    ``to_dict`` returns numpy arrays as they are (not lists): :func:`dumps` converts small
    ones, :func:`save` writes large ones to the ``.npz`` sibling directly. ``array_fields``
    are the fields that may hold a ``{"npz": key}`` reference (any other field holding one is
    refused); ``None`` means "not declared" (see :func:`register_kind`).
    """

    kind: str
    version: int
    cls: type
    from_dict: Callable[[dict], Any]
    to_dict: Callable[[Any], dict]
    array_fields: tuple[str, ...] | None = None


_KINDS: dict[str, FileKind] = {}

def register_kind(kind: FileKind) -> None:
    """Make ``load`` and ``save`` understand one more kind of object.

    A kind registered without ``array_fields`` has none: no field may refer to the ``.npz``.
    """
    if kind.array_fields is None:
        kind = dataclasses.replace(kind, array_fields=())
    elif not isinstance(kind.array_fields, tuple):
        kind = dataclasses.replace(kind, array_fields=tuple(kind.array_fields))
    _KINDS[kind.kind] = kind


def _problem_from_dict(data: dict) -> ContractProblem:
    allowed = {"kind", "version", "outcome_probs", "costs", "rewards", "action_names", "outcome_names"}
    require_fields(data, ("outcome_probs", "costs", "rewards"), allowed)
    # Numbers are kept exactly as written (decimal literals, or strings such as "7/10"); the
    # float arrays are their nearest floats. See contractlab.theory.exact.
    return ContractProblem.from_exact(outcome_probs=data["outcome_probs"], costs=data["costs"],
                                      rewards=data["rewards"], action_names=data.get("action_names"),
                                      outcome_names=data.get("outcome_names"))


def _problem_to_dict(p: ContractProblem) -> dict:
    data: dict[str, Any] = {"kind": "contract_problem", "version": 1,
                            "outcome_probs": p.outcome_probs, "costs": p.costs, "rewards": p.rewards}
    if p.action_names:
        data["action_names"] = list(p.action_names)
    if p.outcome_names:
        data["outcome_names"] = list(p.outcome_names)
    return data


register_kind(FileKind("contract_problem", 1, ContractProblem, _problem_from_dict, _problem_to_dict,
                       array_fields=("outcome_probs", "costs", "rewards")))


def require_fields(data: dict, required: tuple[str, ...], allowed: set[str]) -> None:
    for name in required:
        if name not in data:
            raise InvalidFileError(name, "required field is missing")
    for name in data:
        if name not in allowed:
            raise InvalidFileError(field_name(name), f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _printable(name: str) -> str:
    """A field name from the file as it can go into a one-line message (escaped and cut short
    unless it is short and printable)."""
    return field_name(name)


def _safe(exc: InvalidInstanceError) -> InvalidInstanceError:
    """``exc`` itself when its message is one printable line of at most
    :data:`MAX_MESSAGE_CHARS` characters; otherwise the same error with the field name
    escaped and the reason escaped and cut (whatever module produced it)."""
    text = str(exc)
    if len(text) <= MAX_MESSAGE_CHARS and text.isprintable():
        return exc
    field = field_name(exc.field)
    index = exc.index
    where = len(field) + (0 if index is None else sum(len(str(i)) + 2 for i in index)) + 2
    reason = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in " ".join(str(exc.reason).split()))
    room = max(20, MAX_MESSAGE_CHARS - where)
    if len(reason) > room:
        reason = reason[: room - 1] + "…"
    try:
        new = type(exc)(field, reason, index)
    except TypeError:  # a subclass with another signature
        new = InvalidFileError(field, reason, index)
    return new


def kind_of(obj: Any) -> str:
    """The ``kind`` of a model object, from its type (nothing is serialised); for a document
    (a dict) its ``"kind"`` entry. Raises ``TypeError`` for anything else."""
    if isinstance(obj, dict):
        kind = obj.get("kind")
        if isinstance(kind, str):
            return kind
        raise TypeError("the dictionary has no 'kind' string")
    return _spec_of(obj).kind


def _spec_of(obj: Any) -> FileKind:
    for spec in _KINDS.values():
        if type(obj) is spec.cls:
            return spec
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _registered_kind(data: Any) -> str:
    """The ``kind`` of a decoded document, which must be a JSON object of a registered kind."""
    if not isinstance(data, dict):
        raise InvalidFileError("document", f"expected a JSON object at top level, got {type(data).__name__}")
    if "kind" not in data:
        raise InvalidFileError("kind", "required field is missing")
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in _KINDS:
        raise InvalidFileError("kind", f"unknown kind {echo(kind)} (known: {', '.join(sorted(_KINDS))})")
    return kind


def _check_header(data: Any, expect: str | None) -> FileKind:
    """The registered kind of a decoded document (checking ``kind`` and ``version``)."""
    kind = _registered_kind(data)
    if expect is not None and kind != expect:
        raise InvalidFileError("kind", f"expected {expect!r}, got {kind!r}")
    spec = _KINDS[kind]
    for field, value in data.items():
        if isinstance(value, dict) and "npz" in value and len(value) == 1 and field not in spec.array_fields:
            fields = ", ".join(spec.array_fields) or "none"
            raise InvalidFileError(field_name(field), f'a {{"npz": key}} reference is accepted only in the array '
                                                      f"fields of kind {kind!r} ({fields})")
    version = data.get("version")
    if version is None:
        raise InvalidFileError("version", "required field is missing")
    if isinstance(version, bool) or version != spec.version:
        raise InvalidFileError("version", f"unsupported version {echo(version)} for kind {kind!r} "
                                          f"(supported: {spec.version})")
    return spec


def from_dict(data: Any, expect: str | None = None, path: str | os.PathLike | None = None) -> Any:
    """Build the object a decoded JSON document describes (checking ``kind`` and ``version``).

    ``path`` is the JSON file the document was read from: it locates the ``.npz`` sibling that
    ``{"npz": key}`` fields refer to.
    """
    try:
        spec = _check_header(data, expect)
        data = _resolve_npz(data, spec, None if path is None else Path(path))
        return spec.from_dict(data)
    except InvalidInstanceError as exc:
        raise _safe(exc) from None


def _jsonable(value: Any) -> Any:
    """``value`` with numpy arrays turned into lists and numpy scalars into Python numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def to_dict(obj: Any, arrays: bool = False) -> dict:
    """The dictionary of a model object: JSON-ready (arrays as nested lists) by default, or with
    ``arrays=True`` the kind's own dictionary, whose arrays are numpy arrays (no copy)."""
    data = _spec_of(obj).to_dict(obj)
    return data if arrays else _jsonable(data)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


_one_line = one_line


def _object_pairs(pairs: list) -> dict:
    """``object_pairs_hook``: a dict, refusing a key that occurs twice in one object."""
    out = dict(pairs)
    if len(out) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidFileError(field_name(key), "duplicate key in a JSON object (which of the values is "
                                                        "meant is ambiguous)")
            seen.add(key)
    return out


def _parse(text: str, exact: bool) -> Any:
    return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_object_pairs, parse_int=json_int,
                      parse_float=json_float if exact else float)


#: Kinds whose numbers are read exactly (decimal literals as written; see contractlab.theory.exact).
EXACT_KINDS = ("contract_problem",)


def _decode(text: str | bytes | bytearray | memoryview) -> Any:
    """Parse JSON text (str or UTF-8 bytes) with the hooks above; the exact reader for exact kinds."""
    if not isinstance(text, str):
        try:
            text = bytes(text).decode("utf-8") if not isinstance(text, bytes) else text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidFileError("document", f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = _parse(text, exact=False)
        if isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"] in EXACT_KINDS:
            # small documents whose numbers are kept exactly: read decimal literals as Decimals
            data = _parse(text, exact=True)
    except InvalidInstanceError:
        raise
    except ValueError as exc:
        raise InvalidFileError("document", f"not valid JSON: {_one_line(exc)}") from None
    except RecursionError:
        raise InvalidFileError("document", "JSON nested too deeply") from None
    return data


def loads(text: str | bytes, expect: str | None = None, path: str | os.PathLike | None = None) -> Any:
    """Parse a JSON document (str or UTF-8 bytes) into a model object.

    ``path`` is where the document was read from; it locates a ``.npz`` sibling if fields refer to one.
    """
    try:
        data = _decode(text)
    except InvalidInstanceError as exc:
        raise _safe(exc) from None
    return from_dict(data, expect, path)


def load(path: str | os.PathLike, expect: str | None = None) -> Any:
    """Load a model object from a JSON file (and its ``.npz`` sibling, if fields refer to one)."""
    try:
        raw = read_file_bytes(path)
    except InvalidInstanceError as exc:
        raise _safe(exc) from None
    return loads(raw, expect, path)


def read_kind(path: str | os.PathLike) -> str:
    """The ``kind`` of an instance file, without building the object (the JSON is parsed, with
    the same checks as :func:`load`; the ``.npz`` sibling is not read)."""
    try:
        return _registered_kind(_decode(read_file_bytes(path)))
    except InvalidInstanceError as exc:
        raise _safe(exc) from None


def load_problem(path: str | os.PathLike) -> ContractProblem:
    """Load a :class:`ContractProblem` from a ``contract_problem`` JSON file."""
    return load(path, expect="contract_problem")


# --------------------------------------------------------------------------- the .npz sibling (npz_reader.py)

def _resolve_npz(data: dict, spec: FileKind, json_path: Path | None) -> dict:
    """Replace every top-level ``{"npz": key}`` field by the array stored in the sibling ``.npz``
    (:func:`_check_header` has refused references in fields that are not array fields)."""
    refs = {k: v for k, v in data.items() if isinstance(v, dict) and len(v) == 1 and "npz" in v}
    if not refs:
        return data
    first = field_name(next(iter(refs)))
    if json_path is None:
        raise InvalidFileError(first, "refers to a .npz sibling, but the document was not read from a file")
    cache: dict[str, np.ndarray] = {}
    out = dict(data)
    with NpzReader(json_path.with_suffix(".npz"), first) as archive:
        for field, ref in refs.items():
            key = ref["npz"]
            if isinstance(key, str) and key in cache:
                out[field] = cache[key]
                continue
            cache[key] = out[field] = archive.read(key, field, writeable=False)
    return out


# --------------------------------------------------------------------------- writing

def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(obj: Any) -> str:
    """Serialise a model object or a JSON-ready dict (whose values, at any depth, may be numpy
    arrays or scalars) to JSON text; floats are written so they read back exactly, and
    non-finite numbers are refused (``ValueError``)."""
    data = obj if isinstance(obj, dict) else _spec_of(obj).to_dict(obj)
    return json.dumps(data, indent=1, allow_nan=False, default=_json_default) + "\n"


def _default_mode() -> int:
    """The permission bits a plain ``open(path, "w")`` would give (0o666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | os.PathLike, write: Callable[[Any], None], binary: bool = False,
                 durable: bool = True) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then put it in place with
    ``os.replace``: ``path`` is either complete or untouched (the temporary is removed on error).
    ``durable`` fsyncs the file before the rename (survives a machine crash, not only a killed
    process); a sweep writing thousands of small files may skip it."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        os.chmod(tmp, _default_mode())  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically: the file is complete or untouched."""
    write_atomic(path, lambda fh: fh.write(text))


def write_npz(fh, arrays: dict[str, np.ndarray], compress: bool = False) -> None:
    """Write ``arrays`` as a ``.npz`` (one ``.npy`` member per key) to the binary file ``fh``:
    stored uncompressed, or deflated at level 1 with ``compress``. Never pickles."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fh, "w", compression=method, compresslevel=1 if compress else None,
                         allowZip64=True) as zf:
        for key, arr in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def _npz_candidate(value: Any, threshold: int) -> np.ndarray | None:
    """``value`` as an array if it belongs in the ``.npz``: numeric (integers or floats) with at
    least ``threshold`` entries; ``None`` otherwise."""
    if isinstance(value, np.ndarray):
        arr = value
    elif isinstance(value, list) and value:
        # lists (of a dictionary built by hand): only when they may be big enough
        n, v = 1, value
        while isinstance(v, list) and v:
            n, v = n * len(v), v[0]
        if n < threshold:
            return None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                arr = np.asarray(value)
        except (ValueError, TypeError, OverflowError):
            return None
    else:
        return None
    if arr.dtype.kind not in "iuf" or arr.dtype.itemsize > 8 or arr.size < threshold:
        return None
    return arr


def save(obj: Any, path: str | os.PathLike, npz_threshold: int | None = None, compress: bool = False) -> None:
    """Save a model object, or a JSON-ready dict whose values may be numpy arrays (at any depth),
    to ``path`` atomically.

    With ``npz_threshold``, every top-level array field with at least that many entries (integers
    or floats; of a registered kind, only its :attr:`FileKind.array_fields`) is written from
    numpy straight to the sibling ``.npz`` and referenced from the JSON as ``{"npz": field}``;
    smaller arrays are written as lists. The ``.npz`` is uncompressed (fast to write and read;
    ``compress=True`` deflates it at level 1, ~4x smaller and ~10x slower). Non-finite numbers
    are refused (``ValueError``), as JSON has none. Both files are first written to
    temporaries; the ``.npz`` is renamed into place just before the JSON, and removed again if
    the JSON cannot be put in place (so a failed save leaves no new ``.npz`` behind).
    """
    path = Path(path)
    if isinstance(obj, dict):
        data = dict(obj)
        spec = _KINDS.get(data.get("kind")) if isinstance(data.get("kind"), str) else None
    else:
        spec = _spec_of(obj)
        data = dict(spec.to_dict(obj))
    big: dict[str, np.ndarray] = {}
    if npz_threshold is not None:
        allowed = None if spec is None else spec.array_fields
        for key, value in data.items():
            if allowed is not None and key not in allowed:
                continue
            arr = _npz_candidate(value, npz_threshold)
            if arr is None:
                continue
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError(f"{key}: non-finite number (the file format holds finite numbers only)")
            big[key] = arr
    if not big:
        write_text_atomic(path, dumps(data))
        return
    npz = path.with_suffix(".npz")
    data.update({k: {"npz": k} for k in big})
    text = dumps(data)
    if path.is_dir():  # fail before touching the .npz (the JSON could not be put in place)
        raise IsADirectoryError(21, "Is a directory", str(path))
    npz_existed = npz.exists()
    write_atomic(npz, lambda fh: write_npz(fh, big, compress), binary=True)
    try:
        write_text_atomic(path, text)
    except BaseException:
        if not npz_existed:
            npz.unlink(missing_ok=True)
        raise

__all__ = ["FileKind", "register_kind", "from_dict", "to_dict", "kind_of", "read_kind", "loads", "load",
           "load_problem", "dumps", "save", "write_atomic", "write_text_atomic", "write_npz", "NpzReader",
           "read_file_bytes", "InvalidInstanceError", "InvalidFileError", "MAX_MESSAGE_CHARS"]
