"""Reading numeric arrays from a ``.npz`` (the sibling of an instance file, or a learner's
checkpoint) without allocating what cannot fit and without ever unpickling.

Before any data is read: the archive must be a regular file (not a symbolic link, unless the
caller allows it) within the file-size limit, with at most :data:`MAX_NPZ_MEMBERS` members;
each member's declared uncompressed size must fit the file-size limit; its ``.npy`` header is
read first (numpy's own header parser, at most :data:`MAX_NPY_HEADER` bytes) and must declare
a plain numeric dtype and a shape whose bytes fit the memory budget
(:func:`contractlab.theory.budget.check_memory`) and match the member's size. ``uint64``
values beyond ``2^63 - 1`` are refused (they would wrap on the cast to ``int64``).
"""

from __future__ import annotations

import io
import math
import os
import stat
import struct
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import budget
from .errors import InvalidFileError, InvalidInstanceError
from .safe_read import check_file_size, check_regular, one_line, open_flags, strerror
from .validation import echo

#: Most members a ``.npz`` may list (its central directory is read whole by ``zipfile``).
MAX_NPZ_MEMBERS = 10_000
#: Longest ``.npy`` header read (numpy writes ~128 bytes; numpy's own limit is 10000).
MAX_NPY_HEADER = 10_000
#: Bytes read from a ``.npz`` member at a time (the array is filled in place).
_CHUNK = 16 * 2**20

#: What reading a damaged ``.npz`` can raise (a file that is not a zip, a corrupt member, an
#: encrypted or unsupported compression method, a header numpy cannot parse, ...).
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError,
               struct.error, KeyError, OverflowError, SyntaxError, TypeError, IndexError)


#: The private ``zipfile`` names the direct read of an uncompressed member uses (present in every
#: CPython this project supports); without them members are read through ``zipfile`` (about
#: 0.1 s slower on the 84 MB of a depth-20 tree).
_DIRECT_READ = all(hasattr(zipfile, name) for name in (
    "sizeFileHeader", "stringFileHeader", "structFileHeader", "_FH_FILENAME_LENGTH", "_FH_EXTRA_FIELD_LENGTH"))


def _read_exact(fh, n: int, what: str) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise ValueError(f"truncated {what} ({len(data)} of {n} bytes)")
    return data


class NpzReader:
    """A ``.npz`` opened for reading numeric arrays one at a time, refusing before allocating
    anything that could not fit (see the module docstring). Errors name ``field``.

    ``follow_symlinks=False`` (the ``.npz`` sibling of an instance file) refuses a symbolic
    link; a file the user names directly (a checkpoint) may be one. Use as a context manager.
    """

    def __init__(self, path: str | os.PathLike, field: str, follow_symlinks: bool = False):
        self.path = Path(path)
        self.field = field
        self.shown = echo(self.path.name, 60)
        self.used = 0  # bytes of the arrays read so far (checked against the memory budget)
        try:
            st = os.stat(self.path, follow_symlinks=follow_symlinks)
        except FileNotFoundError:
            raise InvalidFileError(field, f"refers to {self.shown}, which does not exist") from None
        except (OSError, ValueError) as exc:
            raise InvalidFileError(field, f"cannot read {self.shown}: {strerror(exc)}") from None
        if stat.S_ISLNK(st.st_mode):
            raise InvalidFileError(field, f"{self.shown} is a symbolic link, which is not followed for a .npz "
                                          "sibling (put the file itself there)")
        check_regular(field, st, self.shown)
        check_file_size(field, st.st_size, self.shown)
        try:
            fd = os.open(self.path, open_flags(follow_symlinks))
        except OSError as exc:
            raise InvalidFileError(field, f"cannot read {self.shown}: {strerror(exc)}") from None
        self._fh = os.fdopen(fd, "rb")
        try:
            st = os.fstat(fd)
            check_regular(field, st, self.shown)
            check_file_size(field, st.st_size, self.shown)
            end = zipfile._EndRecData(self._fh) if hasattr(zipfile, "_EndRecData") else None
            if end is not None and end[zipfile._ECD_ENTRIES_TOTAL] > MAX_NPZ_MEMBERS:
                raise InvalidFileError(field, f"{self.shown} lists {end[zipfile._ECD_ENTRIES_TOTAL]} members, more "
                                              f"than the {MAX_NPZ_MEMBERS} a .npz of arrays may have")
            self._fh.seek(0)
            self._zip = zipfile.ZipFile(self._fh)
        except InvalidInstanceError:
            self._fh.close()
            raise
        except _NPZ_ERRORS as exc:
            self._fh.close()
            raise InvalidFileError(field, f"cannot read {self.shown}: {one_line(exc, 120)}") from None

    def __enter__(self) -> "NpzReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._zip.close()
        finally:
            self._fh.close()

    @property
    def files(self) -> list[str]:
        """The keys of the arrays (member names without ``.npy``), like ``numpy.load(...).files``."""
        return [n[:-4] if n.endswith(".npy") else n for n in self._zip.namelist()]

    def _member(self, key: str) -> zipfile.ZipInfo | None:
        names = self._zip.NameToInfo
        return names.get(key + ".npy") or names.get(key)

    def read(self, key: Any, field: str | None = None, kinds: str = "iuf", writeable: bool = True) -> np.ndarray:
        """The array stored under ``key``: dtype kind in ``kinds`` (``"iuf"``: integers and
        floats up to 64 bits), checked from the header before the data are read. With
        ``writeable=False`` the array is read-only (validation then takes it without a copy)."""
        field = self.field if field is None else field
        info = self._member(key) if isinstance(key, str) else None
        if info is None:
            raise InvalidFileError(field, f"key {echo(key)} is not in {self.shown}")
        what = f"the array {echo(key)} in {self.shown}"
        limit = budget.max_file_bytes()
        if info.flag_bits & 1:
            raise InvalidFileError(field, f"{what} is encrypted")
        if info.file_size > limit:
            raise InvalidFileError(field, f"{what} declares {budget.format_bytes(info.file_size)} uncompressed, more "
                                          f"than the limit of {budget.format_bytes(limit)} on instance files (raise "
                                          f"it with --max-file-size or {budget.FILE_SIZE_ENV})")
        try:
            with self._zip.open(info) as fh:
                shape, fortran, dtype, header_end = self._header(fh, field, what)
                _check_dtype(field, dtype, kinds, what)
                count = math.prod(shape)
                nbytes = count * dtype.itemsize
                try:
                    budget.check_memory(field, min(self.used + nbytes, 2**100), what)  # (capped: a float)
                except InvalidInstanceError as exc:
                    raise InvalidFileError(field, exc.reason) from None
                if header_end + nbytes != info.file_size:
                    raise InvalidFileError(field, f"{what}: its header declares shape {_shape_text(shape)} "
                                                  f"({nbytes} bytes) but the member holds "
                                                  f"{info.file_size - header_end} bytes of data")
                flat = np.empty(count, dtype=dtype)
                if nbytes:
                    view = memoryview(flat.view(np.uint8))
                    if _DIRECT_READ and info.compress_type == zipfile.ZIP_STORED and not info.flag_bits & 1 and \
                            info.compress_size == info.file_size:
                        self._read_stored(info, header_end, view)
                    else:
                        pos = 0
                        while pos < nbytes:
                            chunk = fh.read(min(_CHUNK, nbytes - pos))
                            if not chunk:
                                raise ValueError(f"truncated data ({pos} of {nbytes} bytes)")
                            view[pos:pos + len(chunk)] = chunk
                            pos += len(chunk)
                        if fh.read(1):
                            raise ValueError("data beyond the declared shape")
                    del view
        except InvalidInstanceError:
            raise
        except _NPZ_ERRORS + (RecursionError, MemoryError) as exc:
            raise InvalidFileError(field, f"cannot read {what}: {one_line(exc, 120)}") from None
        if not writeable:
            flat.setflags(write=False)
        arr = flat.reshape(shape, order="F" if fortran else "C")
        if dtype.kind == "u" and dtype.itemsize >= 8 and count:
            big = np.flatnonzero(flat > np.iinfo(np.int64).max)
            if big.size:
                idx = tuple(int(i) for i in np.unravel_index(int(big[0]), shape, order="F" if fortran else "C"))
                raise InvalidFileError(field, f"value {int(flat[big[0]])} of {what} does not fit a 64-bit signed "
                                              "integer", idx)
        self.used += nbytes
        return arr

    def _read_stored(self, info: zipfile.ZipInfo, header_end: int, view: memoryview) -> None:
        """Read the data of an uncompressed member straight into ``view`` (the array's memory:
        no intermediate copy), then check the member's CRC-32 as ``zipfile`` would."""
        fh = self._fh
        fh.seek(info.header_offset)
        local = fh.read(zipfile.sizeFileHeader)
        if len(local) != zipfile.sizeFileHeader or local[:4] != zipfile.stringFileHeader:
            raise zipfile.BadZipFile("bad local file header")
        fields = struct.unpack(zipfile.structFileHeader, local)
        start = (info.header_offset + zipfile.sizeFileHeader + fields[zipfile._FH_FILENAME_LENGTH]
                 + fields[zipfile._FH_EXTRA_FIELD_LENGTH])
        fh.seek(start)
        crc = zlib.crc32(fh.read(header_end))
        pos = 0
        while pos < len(view):
            got = fh.readinto(view[pos:pos + _CHUNK])
            if not got:
                raise ValueError(f"truncated data ({pos} of {len(view)} bytes)")
            crc = zlib.crc32(view[pos:pos + got], crc)
            pos += got
        if crc != info.CRC:
            raise zipfile.BadZipFile(f"bad CRC-32 for member {echo(info.filename)}")

    @staticmethod
    def _header(fh, field: str, what: str) -> tuple[tuple[int, ...], bool, np.dtype, int]:
        """``(shape, fortran_order, dtype, header bytes)`` of the ``.npy`` member ``fh``, read with
        numpy's header parser from a bounded copy of the header (never the data)."""
        magic = _read_exact(fh, 8, "npy magic")
        if magic[:6] != b"\x93NUMPY":
            raise InvalidFileError(field, f"{what} is not a .npy array")
        major = magic[6]
        if major not in (1, 2):
            raise InvalidFileError(field, f"{what} has .npy format version {major}.{magic[7]}, which is not read "
                                          "(versions 1.0 and 2.0 are)")
        size_bytes = _read_exact(fh, 2 if major == 1 else 4, "npy header length")
        length = int.from_bytes(size_bytes, "little")
        if length > MAX_NPY_HEADER:
            raise InvalidFileError(field, f"{what} has a header of {length} bytes (at most {MAX_NPY_HEADER} are read)")
        header = magic + size_bytes + _read_exact(fh, length, "npy header")
        buf = io.BytesIO(header)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy warns about headers written by Python 2
            version = np.lib.format.read_magic(buf)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(buf, max_header_size=MAX_NPY_HEADER)
        if len(shape) > 32:
            raise InvalidFileError(field, f"{what} declares {len(shape)} dimensions")
        if any(n < 0 for n in shape):
            raise InvalidFileError(field, f"{what} declares a negative dimension in shape {_shape_text(shape)}")
        return tuple(shape), bool(fortran), dtype, len(header)


def _shape_text(shape: tuple) -> str:
    """A shape from a header as it may go into a message (dimensions beyond 2^63 abbreviated)."""
    dims = [str(n) if abs(n) < 2**63 else ("-" if n < 0 else "") + "huge" for n in shape[:8]]
    return "(" + ", ".join(dims) + (", ...)" if len(shape) > 8 else ",)" if len(shape) == 1 else ")")


def _check_dtype(field: str, dtype: np.dtype, kinds: str, what: str) -> None:
    if dtype.names is not None or dtype.subdtype is not None or dtype.kind not in kinds or \
            (dtype.kind in "iuf" and dtype.itemsize > 8):
        plain = {"i": "integers", "u": "unsigned integers", "f": "floats (up to 64 bits)", "b": "booleans",
                 "U": "strings"}
        allowed = ", ".join(plain.get(k, k) for k in kinds)
        raise InvalidFileError(field, f"{what} has dtype {echo(str(dtype), 40)}; expected {allowed}")
