"""Checkpoint files of the learners: one ``.npz`` of named arrays plus JSON metadata.

Never pickle: arrays are plain numeric ``.npz`` members read with ``allow_pickle=False`` and
the metadata (learner kind, hyper-parameters, iteration, RNG state) is a JSON string stored as
a unicode array member. Torch ``state_dict`` tensors are stored as numpy arrays under prefixed
names. Files are written atomically (temporary file, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..theory.errors import InvalidFileError
from ..theory.fileio import NpzReader, write_atomic
from ..theory.validation import echo, field_name

_META = "__meta__"
FORMAT = "contractlab_checkpoint"
VERSION = 1


def mdp_fingerprint(mdp) -> str:
    """SHA-256 of everything that defines a principal-agent MDP (array bytes as float64/int64,
    shapes, ``γ``, horizon, initial state): equal MDPs give equal fingerprints. Checkpoints
    store it, and the learners refuse to resume on a different MDP."""
    h = hashlib.sha256()
    for name in ("outcome_probs", "agent_rewards", "principal_rewards", "next_state", "transitions"):
        arr = getattr(mdp, name)
        h.update(name.encode())
        if arr is None:
            h.update(b"none")
            continue
        arr = np.ascontiguousarray(arr, dtype=np.int64 if arr.dtype.kind in "iu" else np.float64)
        h.update(repr(arr.shape).encode())
        h.update(arr.tobytes())
    h.update(repr((float(mdp.discount), mdp.horizon, int(mdp.initial_state))).encode())
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``arrays`` and ``meta`` (JSON-serialisable) to ``path`` atomically."""
    path = Path(path)
    if _META in arrays:
        raise ValueError(f"array name {_META!r} is reserved")
    doc = {"format": FORMAT, "version": VERSION, **meta}
    members = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in members.items():
        if v.dtype.kind not in "biuf":
            raise ValueError(f"checkpoint array {k!r} has dtype {v.dtype}; only numeric arrays are stored")
    members[_META] = np.array(json.dumps(doc, allow_nan=False))
    write_atomic(path, lambda fh: np.savez_compressed(fh, **members), binary=True)


def load_checkpoint(path: str | os.PathLike, kind: str | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read a checkpoint: ``(arrays, meta)``. ``kind`` checks ``meta["kind"]``.

    Raises :class:`InvalidFileError` (one line, naming the file) for anything that is not a
    checkpoint of this format.
    """
    path = Path(path)
    field = field_name(str(path), 120)
    # The same checks as for the .npz sibling of an instance file (a regular file within the
    # file-size limit; every member's header read before its data, numeric dtypes only, shapes
    # within the memory budget), except that a checkpoint named by the user may be a symlink.
    with NpzReader(path, field, follow_symlinks=True) as npz:
        arrays = {k: npz.read(k, field, kinds="U" if k == _META else "biuf") for k in npz.files}
    if _META not in arrays:
        raise InvalidFileError(field, "not a contractlab checkpoint (no metadata member)")
    try:
        meta = json.loads(str(arrays.pop(_META)))
    except (ValueError, RecursionError) as exc:
        raise InvalidFileError(field, f"checkpoint metadata is not JSON ({echo(str(exc), 100)})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise InvalidFileError(field, "not a contractlab checkpoint")
    if meta.get("version") != VERSION:
        raise InvalidFileError(field, f"checkpoint version {echo(meta.get('version'))} is not supported")
    if kind is not None and meta.get("kind") != kind:
        raise InvalidFileError(field, f"checkpoint is of kind {echo(meta.get('kind'))}, expected {kind!r}")
    return arrays, meta


def check_entries(path: str | os.PathLike, name: str, array: np.ndarray, low: float = -np.inf,
                  high: float = np.inf, integer: bool = False) -> np.ndarray:
    """``array`` if every entry is a finite number in ``[low, high]`` (of an integer dtype with
    ``integer``); otherwise :class:`InvalidFileError` naming the file, the member and the first
    bad index (a hostile or corrupted checkpoint is refused on load, not carried into a result
    as NaN or a silently truncated index)."""
    a = np.asarray(array)
    if integer and a.dtype.kind not in "biu":
        raise InvalidFileError(field_name(str(path), 120), f"{name} has dtype {a.dtype}; expected integers")
    bad = (a < low) | (a > high)
    if a.dtype.kind == "f":
        bad |= ~np.isfinite(a)
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        where = name + "".join(f"[{k}]" for k in i)
        raise InvalidFileError(field_name(str(path), 120),
                               f"{where} = {echo(a[i].item())}: expected {_range(low, high)}")
    return array


def check_number(path: str | os.PathLike, name: str, value, low: float = -np.inf, high: float = np.inf,
                 strict_low: bool = False) -> float:
    """A metadata number as a float, refused (naming ``name``) unless finite and in
    ``[low, high]`` (``(low, high]`` with ``strict_low``)."""
    x = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if x is None or not np.isfinite(x) or x > high or x < low or (strict_low and x == low):
        raise InvalidFileError(field_name(str(path), 120),
                               f"metadata {name} = {echo(value)}: expected {_range(low, high, strict_low)}")
    return float(x)


def _range(low: float, high: float, strict_low: bool = False) -> str:
    """``"a finite number >= 0"`` and the like, for the messages above."""
    parts = [f"{'>' if strict_low else '>='} {low:g}"] if np.isfinite(low) else []
    parts += [f"<= {high:g}"] if np.isfinite(high) else []
    return "a finite number" + (" " + " and ".join(parts) if parts else "")
