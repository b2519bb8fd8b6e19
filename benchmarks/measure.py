"""Run a command in a child process: its wall time and the peak memory of its whole process tree.

The child runs in its own session (process group). Every ``poll`` seconds the resident set
sizes of the child and all its descendants are summed (psutil); and each one's own high-water mark
(``VmHWM`` of ``/proc/<pid>/status``, which catches a peak between two samples) is read. The peak
reported is the larger of the largest sum and the largest high-water mark. Not ``ru_maxrss`` of
``os.wait4``: on Linux a child's ``ru_maxrss`` starts from its parent's high-water mark at the
``fork`` (the benchmark's own memory, the generator's), so it overstates a small child. A memory
guard kills the whole group (SIGKILL) when the sum exceeds ``max_rss_bytes``, so a runaway build
never takes the machine down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["GIB", "MIB", "Measurement", "run_measured"]

MIB = 1 << 20
GIB = 1 << 30


@dataclass(frozen=True)
class Measurement:
    """One child run. ``wall_s``: seconds from start to exit (or kill); ``peak_rss_bytes``: the
    tree's peak resident memory; ``exit_code``: its exit status (negative: killed by that signal);
    ``killed_at_bytes``: the tree's memory when the guard killed it, else None; ``log``: the file
    holding its stdout and stderr; ``user_s``, ``system_s``: the CPU seconds of the child and of the
    descendants it waited for (``os.wait4``'s resource usage): on a shared machine, steadier than wall time."""

    wall_s: float
    peak_rss_bytes: int
    exit_code: int
    killed_at_bytes: int | None
    log: Path
    user_s: float = 0.0
    system_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.killed_at_bytes is None

    @property
    def peak_rss_mib(self) -> float:
        return round(self.peak_rss_bytes / MIB, 1)

    def status(self) -> str:
        """``ok``, ``killed at N GiB after S s``, or ``failed (exit N)``."""
        if self.killed_at_bytes is not None:
            return f"killed at {self.killed_at_bytes / GIB:.1f} GiB after {self.wall_s:.0f} s"
        return "ok" if self.exit_code == 0 else f"failed (exit {self.exit_code})"

    def tail(self, lines: int = 15) -> str:
        """The last ``lines`` lines of the child's output."""
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _high_water_mark(pid: int) -> int:
    """``VmHWM`` of a process in bytes (0 if it is gone or the kernel does not say)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _sample(root: psutil.Process) -> tuple[int, int]:
    """The summed resident memory of ``root`` and its descendants, and their largest high-water mark."""
    try:
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0, 0
    total, highest = 0, 0
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            total += process.memory_info().rss
            highest = max(highest, _high_water_mark(process.pid))
    return total, highest


def run_measured(
    command: Sequence[str],
    log: Path,
    *,
    max_rss_bytes: int,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    poll: float = 0.1,
) -> Measurement:
    """Run ``command`` (stdout and stderr to ``log``), watching its memory; see the module docstring.

    Raises ``OSError`` when the command cannot be started.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        started = time.perf_counter()
        child = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env, start_new_session=True
        )
        root = psutil.Process(child.pid)
        peak = 0
        killed_at = None
        while True:
            pid, status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            rss, highest = _sample(root)
            peak = max(peak, rss, highest)
            if killed_at is None and rss > max_rss_bytes:
                killed_at = rss
                with contextlib.suppress(ProcessLookupError):  # the whole group: the child and its descendants
                    os.killpg(child.pid, signal.SIGKILL)
            time.sleep(poll)
        wall = time.perf_counter() - started
    exit_code = os.waitstatus_to_exitcode(status)
    child.returncode = exit_code  # reaped here, not by Popen
    return Measurement(
        wall_s=wall,
        peak_rss_bytes=peak,
        exit_code=exit_code,
        killed_at_bytes=killed_at,
        log=log,
        user_s=usage.ru_utime,
        system_s=usage.ru_stime,
    )
