"""Measure a full build: wall time and peak memory of ``budget-warehouse build``.

Usage: ``python benchmarks/build_benchmark.py [SOURCES_DIR]`` (default: the snapshot ``data/sources``).
Builds into a fresh temporary folder, in a child process, and prints the figures.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    sources = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "data" / "sources"
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(sources), "--out", out],
            cwd=root,
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"exit status   {completed.returncode}")
    print(f"wall time     {wall:.1f} s")
    print(f"peak memory   {peak_kib / 1024:.0f} MiB (max RSS of the build process)")
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
