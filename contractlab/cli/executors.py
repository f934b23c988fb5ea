"""Where a command's tasks run: ``--workers N`` (local processes; 1 = in this process, no pool) or
``--scheduler ADDRESS`` (a Dask distributed cluster, extra ``contractlab[dist]``).

Every command maps one pure task function over one task list and assembles the results in task
order (:func:`map_ordered`, never completion order), so the output does not depend on where or in
which order the tasks ran. Dask is imported only for ``--scheduler``. The workers of a cluster must
run the client's contractlab version (checked on connecting; a mismatch is one line, exit 2),
since results must be identical to a local run. See ``docs/distributed.md``.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import Future, ProcessPoolExecutor

from ..theory.errors import InvalidInstanceError

#: Default of ``--scheduler-timeout`` (seconds to reach the scheduler).
SCHEDULER_TIMEOUT = 10.0
MAX_WORKERS = 256


def add_options(parser) -> None:
    """``--workers``, ``--scheduler`` and ``--scheduler-timeout`` on ``parser``."""
    parser.add_argument("--workers", type=int, default=None, help="local worker processes (default 1)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the tasks on a Dask distributed cluster, e.g. tcp://host:8786 "
                             "(needs contractlab[dist]; not with --workers)")
    parser.add_argument("--scheduler-timeout", type=float, default=SCHEDULER_TIMEOUT, metavar="SECONDS",
                        help=f"seconds to reach the scheduler (default {SCHEDULER_TIMEOUT:g})")


class InProcess:
    """The ``concurrent.futures`` interface, running each task at submit time in this process."""

    def submit(self, fn, *args, **kwargs) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # delivered by .result(), as a pool would
            fut.set_exception(exc)
        return fut


def _installed_version() -> str:
    from .. import __version__
    return __version__


def _dask_client(address: str, timeout: float):
    try:
        from dask.distributed import Client
    except ImportError:
        raise InvalidInstanceError("--scheduler", 'needs Dask distributed: pip install "contractlab[dist]"') from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidInstanceError("--scheduler", f"cannot reach {address} within {timeout:g} s "
                                   f"({type(exc).__name__})") from None
    try:
        versions = client.run(_installed_version)
    except Exception as exc:
        client.close()
        raise InvalidInstanceError("--scheduler", f"cannot ask the workers of {address} for their contractlab "
                                   f"version ({type(exc).__name__})") from None
    mine = _installed_version()
    wrong = sorted(f"{w} has {v}" for w, v in versions.items() if v != mine)
    if not versions or wrong:
        client.close()
        why = "; ".join(wrong[:3]) if wrong else "no workers are connected"
        raise InvalidInstanceError("--scheduler", f"the workers must run contractlab {mine}: {why}")
    return client


@contextlib.contextmanager
def executor(workers: int | None, scheduler: str | None, timeout: float = SCHEDULER_TIMEOUT, tasks: int = 2):
    """The executor the options ask for (a context manager). ``tasks``: how many tasks there are
    (one task, or one worker, runs in this process)."""
    if workers is not None and scheduler is not None:
        raise InvalidInstanceError("--scheduler", "give either --workers or --scheduler, not both")
    if scheduler is not None:
        if not timeout > 0:
            raise InvalidInstanceError("--scheduler-timeout", f"must be > 0, got {timeout}")
        client = _dask_client(scheduler, timeout)
        try:
            yield client
        finally:
            client.close()
        return
    workers = 1 if workers is None else workers
    if not 1 <= workers <= MAX_WORKERS:
        raise InvalidInstanceError("--workers", f"must lie in [1, {MAX_WORKERS}], got {workers}")
    if workers == 1 or tasks <= 1:
        yield InProcess()
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield pool


def submit_all(pool, fn, tasks: list[tuple]) -> list:
    """One future per task (``fn(*task)``), in task order. Dask's submit would merge calls with equal
    arguments and keep results on the workers; ``pure=False`` keeps one run per task."""
    if hasattr(pool, "gather"):  # a dask Client
        return [pool.submit(fn, *t, pure=False) for t in tasks]
    return [pool.submit(fn, *t) for t in tasks]


def map_ordered(pool, fn, tasks: list[tuple]) -> list:
    """``[fn(*t) for t in tasks]`` on ``pool``, in task order; the first failure is raised."""
    futures = submit_all(pool, fn, tasks)
    try:
        return [f.result() for f in futures]
    except BaseException:
        for f in futures:
            f.cancel()
        raise
