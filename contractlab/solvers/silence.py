"""Keep text that compiled solver libraries print away from our stdout and stderr.

HiGHS (``highspy`` >= 1.16) prints a two-line "Running HiGHS ..." banner from C++ on file
descriptor 1 the first time a ``Highs`` object is built, before any option (``output_flag``)
can be set. Python-level redirection (``contextlib.redirect_stdout``) does not see C++ output,
so the descriptors themselves are pointed at ``/dev/null`` for the duration.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager

_lock = threading.Lock()


@contextmanager
def c_output_silenced():
    """Silence file descriptors 1 and 2 (what C/C++ code writes to) inside the block.

    Python's own buffered streams are flushed first, so nothing of ours is lost. If the
    descriptors cannot be duplicated (an embedding without them), the block runs unguarded.
    """
    with _lock:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        saved = []
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            yield
            return
        try:
            for fd in (1, 2):
                try:
                    saved.append((fd, os.dup(fd)))
                    os.dup2(devnull, fd)
                except OSError:
                    pass
            yield
        finally:
            for fd, copy in saved:
                os.dup2(copy, fd)
                os.close(copy)
            os.close(devnull)
