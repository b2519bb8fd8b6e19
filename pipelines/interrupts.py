"""Ctrl-C (SIGINT) and SIGTERM stop a build, and nothing is published after them.

:func:`signals_stop_the_build` wraps the CLI's build (``pipelines/cli.py``); :func:`stop_if_interrupted` is
called before each Dagster run and before publishing, for a signal a run took and forgot.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = ["BuildInterrupted", "signals_stop_the_build", "stop_if_interrupted"]


class BuildInterrupted(BaseException):
    """SIGINT (Ctrl-C) or SIGTERM reached the build: raised where it stands (like ``KeyboardInterrupt``,
    not an ``Exception``: no ``except Exception`` of a step takes it for a bad file)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The build's signals (:func:`signals_stop_the_build`): ``received``, the first one's number (or None);
#: ``pipe``, the read end of the wakeup pipe. Empty outside a build.
_signals: dict = {}


def stop_if_interrupted() -> None:
    """Raise :class:`BuildInterrupted` if SIGINT or SIGTERM came since the build started, even one a Dagster run
    took: ``execute_in_process`` swaps in its own handler (``dagster._utils.interrupts.capture_interrupts``), which
    raises ``DagsterExecutionInterruptedError`` inside a step's code but only notes a signal that comes between
    steps, and forgets it when the run ends (the run then ends well, and the build would publish). Python writes
    the number of every signal it handles to the wakeup pipe (:func:`signal.set_wakeup_fd`), whoever's handler;
    it is read here, before each run and before publishing."""
    if not _signals:
        return
    with contextlib.suppress(BlockingIOError):
        for number in os.read(_signals["pipe"], 1024):
            if number in (signal.SIGINT, signal.SIGTERM) and _signals["received"] is None:
                _signals["received"] = number
    if _signals["received"] is not None:
        raise BuildInterrupted(_signals["received"])


class _Stopped:
    code: int = 0  # the exit code of an interrupted build: 128 + the signal's number


@contextlib.contextmanager
def signals_stop_the_build(out: Path) -> Iterator[_Stopped]:
    """Hold the build lock of ``out`` (``warehouse.publication.releases.build_lock``) for the build; SIGINT (Ctrl-C)
    and SIGTERM stop the build in the main thread where it stands: outside a Dagster run at once
    (:class:`BuildInterrupted`), inside one at its step's next Python instruction (Dagster's
    ``DagsterExecutionInterruptedError``; DuckDB's ``Query interrupted``) or at the run's end
    (:func:`stop_if_interrupted`, before each run and before publishing). Nothing is published after the
    signal: the build's working copy is removed as a failed build's is, and a release folder renamed but not yet
    ``latest`` with it (``remove_stale_work``, the lock still held), ``latest`` stays as it was, a
    one-line message says so on stderr, and ``stopped.code`` is 130 (SIGINT) or 143 (SIGTERM). A signal
    that comes once ``latest`` has switched says the release is published. Any exception that follows the
    signal (a step's ``except`` around DuckDB turning it into a ``RuntimeError``) counts as the interruption.
    Outside the main thread (a test calling :func:`main` in a thread) the signals are left as they are."""
    from warehouse.publication.releases import build_lock, latest_release, remove_stale_work

    stopped = _Stopped()
    if threading.current_thread() is not threading.main_thread():
        with build_lock(out):
            yield stopped
        return

    held = []  # the latest release when the lock was taken (another build may publish while this one waits)
    read, write = os.pipe()
    os.set_blocking(read, False)
    os.set_blocking(write, False)

    def interrupt(signum: int, _frame) -> None:
        first = _signals["received"] is None
        _signals["received"] = signum
        if first:  # a second Ctrl-C while the build cleans up does not cut the clean-up short
            raise BuildInterrupted(signum)

    _signals.update(received=None, pipe=read)
    handlers = {number: signal.signal(number, interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    wakeup = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    try:
        with build_lock(out):
            held.append(latest_release(out))
            try:
                yield stopped
            except BaseException:
                with contextlib.suppress(BuildInterrupted):
                    stop_if_interrupted()
                if _signals["received"] is not None:
                    remove_stale_work(out)  # a release renamed before the signal, but not latest
                raise
    except BaseException:
        if _signals["received"] is None:
            raise
        stopped.code = 128 + _signals["received"]
        name = signal.Signals(_signals["received"]).name
        after = latest_release(out)
        before = held[0] if held else after
        if after is not None and (before is None or after.folder != before.folder):
            print(
                f"budget-warehouse: interrupted ({name}) once published: latest -> releases/{after.version}",
                file=sys.stderr,
            )
        else:
            kept = f"latest stays {before.version}" if before else "there is no release yet"
            print(f"budget-warehouse: interrupted ({name}): no release published; {kept}", file=sys.stderr)
    finally:
        signal.set_wakeup_fd(wakeup)
        for number, handler in handlers.items():
            signal.signal(number, handler)
        _signals.clear()
        os.close(read)
        os.close(write)
