"""Reads done ahead, on the second core, that a later step of the same build takes (issue 11).

The publication run's reads of small files (nomenclature workbooks, performance files, documents) are
Python work; the credits run before it spends most of its time in Polars and DuckDB, which release the
GIL. The build (``pipelines/cli.py``) hands such reads to :func:`ahead` before the credits run; the step
that needs one asks :func:`taken` with the same key and the same work, and gets the result the work
gave ahead, or does it then (not started yet, or not asked ahead). A read that raised ahead is done
again where the step asks it, so its error, and what the step logs of it, are those of a read done in
place. Only for work whose result depends on its key alone (the files' bytes, named by their sha256):
the step gets what it would have read itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

__all__ = ["ahead", "forget", "taken"]

T = TypeVar("T")

_lock = threading.Lock()
_pending: dict[Hashable, Future] = {}
_queue: list[tuple[Future, Callable[[], Any]]] = []
_worker: threading.Thread | None = None


def _work() -> None:
    global _worker
    while True:
        with _lock:
            if not _queue:
                _worker = None
                return
            future, work = _queue.pop(0)
        if not future.set_running_or_notify_cancel():
            continue  # asked for before it started: done where it was asked
        try:
            future.set_result(work())
        except BaseException as exc:  # noqa: BLE001 - done again in place, which raises it there
            future.set_exception(exc)


def ahead(key: Hashable, work: Callable[[], Any]) -> None:
    """Queue ``work`` (no argument, no logging, no write) to run in the background thread, one at a time in
    the order given; its result is kept under ``key`` for :func:`taken`."""
    global _worker
    future: Future = Future()
    with _lock:
        _pending[key] = future
        _queue.append((future, work))
        if _worker is None:
            _worker = threading.Thread(target=_work, name="budget-warehouse-ahead", daemon=True)
            _worker.start()


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
    with _lock:
        for future, _ in _queue:
            future.cancel()
        _queue.clear()
        worker = _worker
    if worker is not None and worker is not threading.current_thread():
        worker.join()
    with _lock:
        _pending.clear()
