"""Reads done ahead, on the second core, that a later step of the same build takes (issue 11).

The publication run's reads of small files (nomenclature workbooks, performance files, documents) are
Python work; the credits run before it spends most of its time in Polars and DuckDB, which release the
GIL. The build (``pipelines/cli.py``) hands such reads to :func:`ahead` before the credits run; the step
that needs one asks :func:`taken` with the same key and the same work, and gets the result the work
gave ahead, or does it then (not started yet, or not asked ahead). A read that raised ahead is done
again where the step asks it, so its error, and what the step logs of it, are those of a read done in
place. Only for work whose result depends on its key alone (the files' bytes, named by their sha256):
the step gets what it would have read itself. The work runs in a one-thread
:class:`~concurrent.futures.ThreadPoolExecutor`, one piece at a time in the order given; after
:func:`start_processes`, that thread hands each piece to a child process and waits for its result (issue 11,
wave 13): work done in a thread of this process holds the GIL, and each of the many short Polars and DuckDB
calls of the steps beside it then waited up to the switch interval (5 ms) to take it back.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["ahead", "forget", "start_processes", "taken"]

T = TypeVar("T")

_lock = threading.Lock()
_pending: dict[Hashable, Future] = {}
_executor: ThreadPoolExecutor | None = None
_processes: ProcessPoolExecutor | None = None


def start_processes(preload: Sequence[str]) -> None:
    """Do the work queued from now on in one child process (a ``forkserver`` whose server imports ``preload``
    once), until :func:`forget`: the work must then be picklable (a module-level function, a ``partial`` of one),
    and so must its result; a work that is not, or that fails there, is done again where :func:`taken` asks it.
    The server and the child are started now in a daemon thread (their imports take a second or two of the other
    core): nothing here waits for them."""
    global _processes
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    with _lock:
        if _processes is not None:
            return
        processes = _processes = ProcessPoolExecutor(max_workers=1, mp_context=context)
    threading.Thread(target=_start, args=(processes,), name="budget-warehouse-ahead-start", daemon=True).start()


def _start(processes: ProcessPoolExecutor) -> None:
    with contextlib.suppress(Exception):  # each work submitted later then fails the same way, and is done in place
        processes.submit(int).result()


def _in_process(processes: ProcessPoolExecutor, work: Callable[[], T]) -> T:
    return processes.submit(work).result()


def ahead(key: Hashable, work: Callable[[], Any]) -> None:
    """Queue ``work`` (no argument, no logging, no write) to run in the background thread, one at a time in
    the order given; its result is kept under ``key`` for :func:`taken`."""
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="budget-warehouse-ahead")
        if _processes is not None:
            _pending[key] = _executor.submit(_in_process, _processes, work)
        else:
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
    global _executor, _processes
    with _lock:
        executor, _executor = _executor, None
        processes, _processes = _processes, None
        _pending.clear()
    if executor is not None:
        executor.shutdown(wait=True, cancel_futures=True)
    if processes is not None:  # the child ends; the forkserver, idle, ends with this process
        processes.shutdown(wait=True, cancel_futures=True)
