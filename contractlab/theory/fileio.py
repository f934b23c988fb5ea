"""The JSON file format: ``{"kind": ..., "version": ..., <fields>}``.

Arrays are nested lists. A large array may instead sit in a sibling ``.npz`` file (same
name as the JSON file, suffix ``.npz``): the JSON field then holds ``{"npz": "<key>"}``.
Loading never unpickles anything (``numpy.load(..., allow_pickle=False)``); saving is atomic
(write to a temporary file in the same folder, then rename), so an interrupted save leaves
either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .contract_problem import ContractProblem
from .errors import InvalidFileError, InvalidInstanceError

#: What reading a damaged ``.npz`` can raise (a file that is not a zip, a corrupt member, ...).
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass(frozen=True)
class FileKind:
    """How one ``kind`` of object is read from and written to a JSON dictionary."""

    kind: str
    version: int
    cls: type
    from_dict: Callable[[dict], Any]
    to_dict: Callable[[Any], dict]


_KINDS: dict[str, FileKind] = {}


def register_kind(kind: FileKind) -> None:
    """Make ``load`` and ``save`` understand one more kind of object."""
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
                            "outcome_probs": p.outcome_probs.tolist(), "costs": p.costs.tolist(),
                            "rewards": p.rewards.tolist()}
    if p.action_names:
        data["action_names"] = list(p.action_names)
    if p.outcome_names:
        data["outcome_names"] = list(p.outcome_names)
    return data


register_kind(FileKind("contract_problem", 1, ContractProblem, _problem_from_dict, _problem_to_dict))


def require_fields(data: dict, required: tuple[str, ...], allowed: set[str]) -> None:
    for name in required:
        if name not in data:
            raise InvalidFileError(name, "required field is missing")
    for name in data:
        if name not in allowed:
            raise InvalidFileError(_printable(name), f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _printable(name: str) -> str:
    """A field name from the file as it can go into a one-line message (quoted if it has control characters)."""
    return name if name.isprintable() else repr(name)


def from_dict(data: Any, expect: str | None = None) -> Any:
    """Build the object a decoded JSON document describes (checking ``kind`` and ``version``)."""
    if not isinstance(data, dict):
        raise InvalidFileError("document", f"expected a JSON object at top level, got {type(data).__name__}")
    if "kind" not in data:
        raise InvalidFileError("kind", "required field is missing")
    kind = data["kind"]
    if not isinstance(kind, str) or kind not in _KINDS:
        raise InvalidFileError("kind", f"unknown kind {kind!r} (known: {', '.join(sorted(_KINDS))})")
    if expect is not None and kind != expect:
        raise InvalidFileError("kind", f"expected {expect!r}, got {kind!r}")
    spec = _KINDS[kind]
    version = data.get("version")
    if version is None:
        raise InvalidFileError("version", "required field is missing")
    if isinstance(version, bool) or version != spec.version:
        raise InvalidFileError("version", f"unsupported version {version!r} for kind {kind!r} (supported: {spec.version})")
    return spec.from_dict(data)


def to_dict(obj: Any) -> dict:
    """The JSON-ready dictionary of a model object."""
    for spec in _KINDS.values():
        if type(obj) is spec.cls:
            return spec.to_dict(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a finite number")


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _resolve_npz(data: Any, json_path: Path | None) -> Any:
    """Replace every top-level ``{"npz": key}`` field by the array stored in the sibling ``.npz``."""
    if not isinstance(data, dict):
        return data
    refs = {k: v for k, v in data.items() if isinstance(v, dict) and set(v) == {"npz"}}
    if not refs:
        return data
    if json_path is None:
        raise InvalidFileError(_printable(next(iter(refs))),
                               "refers to a .npz sibling, but the document was not read from a file")
    npz = json_path.with_suffix(".npz")
    try:
        archive = np.load(npz, allow_pickle=False)
    except FileNotFoundError:
        raise InvalidFileError(_printable(next(iter(refs))), f"refers to {npz.name!r}, which does not exist") from None
    except _NPZ_ERRORS as exc:
        raise InvalidFileError(_printable(next(iter(refs))), f"cannot read {npz.name!r}: {_one_line(exc)}") from None
    out = dict(data)
    with archive:
        for field, ref in refs.items():
            key = ref["npz"]
            if not isinstance(key, str) or key not in archive.files:
                raise InvalidFileError(_printable(field), f"key {key!r} is not in {npz.name!r}")
            try:
                out[field] = archive[key]
            except _NPZ_ERRORS as exc:  # e.g. an object array, which would need pickle
                raise InvalidFileError(_printable(field),
                                       f"cannot read {key!r} from {npz.name!r}: {_one_line(exc)}") from None
    return out


#: Kinds whose numbers are read exactly (decimal literals as written; see contractlab.theory.exact).
EXACT_KINDS = ("contract_problem",)


def loads(text: str | bytes, expect: str | None = None, path: str | os.PathLike | None = None) -> Any:
    """Parse a JSON document (str or UTF-8 bytes) into a model object.

    ``path`` is where the document was read from; it locates a ``.npz`` sibling if fields refer to one.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidFileError("document", f"not UTF-8 text (byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
        if isinstance(data, dict) and data.get("kind") in EXACT_KINDS:
            # small documents whose numbers are kept exactly: read decimal literals as Decimals
            data = json.loads(text, parse_constant=_reject_constant, parse_float=Decimal)
    except ValueError as exc:
        raise InvalidFileError("document", f"not valid JSON: {exc}") from None
    except RecursionError:
        raise InvalidFileError("document", "JSON nested too deeply") from None
    return from_dict(_resolve_npz(data, None if path is None else Path(path)), expect)


def load(path: str | os.PathLike, expect: str | None = None) -> Any:
    """Load a model object from a JSON file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidFileError("file", f"cannot read {str(path)!r}: {exc.strerror}") from None
    return loads(raw, expect, path)


def load_problem(path: str | os.PathLike) -> ContractProblem:
    """Load a :class:`ContractProblem` from a ``contract_problem`` JSON file."""
    return load(path, expect="contract_problem")


def dumps(obj: Any) -> str:
    """Serialise a model object to JSON text (floats are written so they read back exactly)."""
    return json.dumps(to_dict(obj) if not isinstance(obj, dict) else obj, indent=1, allow_nan=False) + "\n"


def _default_mode() -> int:
    """The permission bits a plain ``open(path, "w")`` would give (0o666 less the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path: str | os.PathLike, write: Callable[[Any], None], binary: bool = False) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then put it in place with
    ``os.replace``: ``path`` is either complete or untouched (the temporary is removed on error)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as fh:
            write(fh)
            fh.flush()
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


def save(obj: Any, path: str | os.PathLike, npz_threshold: int | None = None) -> None:
    """Save a model object (or a JSON-ready dict) to ``path`` atomically.

    With ``npz_threshold``, every array field with at least that many entries is written to
    the sibling ``.npz`` (compressed) and referenced from the JSON. Both files are first written
    to temporaries; the ``.npz`` is renamed into place just before the JSON, and removed again
    if the JSON cannot be put in place (so a failed save leaves no new ``.npz`` behind).
    """
    path = Path(path)
    data = to_dict(obj) if not isinstance(obj, dict) else dict(obj)
    big = {}
    if npz_threshold is not None:
        big = {k: np.asarray(v) for k, v in data.items()
               if isinstance(v, list) and np.asarray(v).dtype.kind in "iuf" and np.asarray(v).size >= npz_threshold}
    if not big:
        write_text_atomic(path, dumps(data))
        return
    npz = path.with_suffix(".npz")
    data.update({k: {"npz": k} for k in big})
    text = dumps(data)
    fd, tmp = tempfile.mkstemp(prefix=f".{npz.name}.", suffix=".tmp.npz", dir=npz.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **big)
        os.chmod(tmp, _default_mode())
        if path.is_dir():  # fail before touching the .npz (os.replace would fail on the JSON below)
            raise IsADirectoryError(21, "Is a directory", str(path))
        npz_existed = npz.exists()
        os.replace(tmp, npz)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:
        write_text_atomic(path, text)
    except BaseException:
        if not npz_existed:
            npz.unlink(missing_ok=True)
        raise


__all__ = ["FileKind", "register_kind", "from_dict", "to_dict", "loads", "load", "load_problem", "dumps",
           "save", "write_text_atomic", "InvalidInstanceError"]
