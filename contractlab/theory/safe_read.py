"""Reading instance files without being fooled: only regular files, only up to a size limit.

A path that is not a regular file (a FIFO, ``/dev/zero``, a folder, a symlink to one of
those) is refused from ``os.stat`` before it is opened, so reading can neither hang nor run
forever; after a non-blocking open, ``fstat`` checks again what was actually opened (the path
may have been swapped in between). Files larger than
:func:`contractlab.theory.budget.max_file_bytes` (``--max-file-size`` /
``CONTRACTLAB_MAX_FILE_SIZE``) are refused before reading. Errors are
:class:`~contractlab.theory.errors.InvalidFileError` naming the field, with the path escaped.
"""

from __future__ import annotations

import os
import stat

from . import budget
from .errors import InvalidFileError
from .validation import echo


def one_line(exc, limit: int = 160) -> str:
    """An exception (or text) as one printable line of at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


_FILE_TYPES = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
               (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
               (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link"))


def check_regular(field: str, st: os.stat_result, shown: str) -> None:
    if not stat.S_ISREG(st.st_mode):
        what = next((name for test, name in _FILE_TYPES if test(st.st_mode)), "not a regular file")
        raise InvalidFileError(field, f"{shown} is {what}, not a regular file")


def check_file_size(field: str, size: int, shown: str) -> None:
    limit = budget.max_file_bytes()
    if size > limit:
        raise InvalidFileError(field, f"{shown} has {budget.format_bytes(size)}, more than the limit of "
                                      f"{budget.format_bytes(limit)} on instance files (raise it with "
                                      f"--max-file-size or {budget.FILE_SIZE_ENV})")


def open_flags(follow_symlinks: bool = True) -> int:
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    return flags


def strerror(exc: BaseException) -> str:
    return one_line(getattr(exc, "strerror", None) or exc, 80)


def read_file_bytes(path: str | os.PathLike, field: str = "file") -> bytes:
    """The bytes of an instance file, refusing anything that is not a regular file (checked
    with ``os.stat`` before opening, so a FIFO or ``/dev/zero`` is never read, and with
    ``fstat`` after a non-blocking open) and files beyond :func:`budget.max_file_bytes`."""
    shown = echo(os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else path, 80)
    try:
        st = os.stat(path)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidFileError(field, f"cannot read {shown}: {strerror(exc)}") from None
    check_regular(field, st, shown)
    check_file_size(field, st.st_size, shown)
    try:
        fd = os.open(path, open_flags())
    except OSError as exc:
        raise InvalidFileError(field, f"cannot read {shown}: {strerror(exc)}") from None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fd)  # what was opened, not what was checked above (it may have been swapped)
        check_regular(field, st, shown)
        check_file_size(field, st.st_size, shown)
        try:
            data = fh.read(st.st_size + 1)
            if len(data) > st.st_size:  # the file grows as we read (or is a /proc-like file)
                parts, total = [data], len(data)
                while True:
                    check_file_size(field, total, shown)
                    chunk = fh.read(2**20)
                    if not chunk:
                        break
                    parts.append(chunk)
                    total += len(chunk)
                data = b"".join(parts)
        except OSError as exc:
            raise InvalidFileError(field, f"cannot read {shown}: {strerror(exc)}") from None
    return data
