"""Reads done ahead, on the second core, that a later step of the same build takes (issue 11).

The publication run's reads of small files (nomenclature workbooks, performance files, documents) are
Python work; the credits run before it spends most of its time in Polars and DuckDB, which release the
GIL. The build (``pipelines/cli.py``) hands such reads to :func:`ahead` before the credits run; the step
that needs one asks :func:`taken` with the same key and the same work, and gets the result the work
gave ahead, or does it then (not started yet, or not asked ahead). A read that raised ahead is done
again where the step asks it, so its error, and what the step logs of it, are those of a read done in
place. Only for work whose result depends on its key alone (the files' bytes, named by their sha256):
the step gets what it would have read itself. The work runs in a one-thread
:class:`~concurrent.futures.ThreadPoolExecutor`, one piece at a time in the order given.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["ahead", "forget", "taken"]

T = TypeVar("T")

_lock = threading.Lock()
_pending: dict[Hashable, Future] = {}
_executor: ThreadPoolExecutor | None = None


def ahead(key: Hashable, work: Callable[[], Any]) -> None:
    """Queue ``work`` (no argument, no logging, no write) to run in the background thread, one at a time in
    the order given; its result is kept under ``key`` for :func:`taken`."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget-warehouse-ahead")
        _pending[key] = _executor.submit(work)


def taken(key: Hashable, work: Callable[[], T]) -> T:
    """The result of ``work`` done ahead under ``key`` (waiting for it if it is running), else ``work()`` now:
    when nothing was queued under ``key``, when it had not started (it is then cancelled) or when it raised
    (the exception is raised again by doing ``work`` here). Each result is taken once."""
    with _lock:
        future = _pending.pop(key, None)
    if future is not None and not future.cancel():
        try:
            return future.result()
        except (Exception, CancelledError):  # noqa: BLE001 - done again below, raising where it is asked
            pass
    return work()


def forget() -> None:
    """Drop what was done or queued ahead and not taken, once the work running there (if any) has ended: at the
    end of a build, nothing of it is left running or held."""
    global _executor
    with _lock:
        executor, _executor = _executor, None
        _pending.clear()
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)
