"""Writing a file atomically: under a temporary name beside it, ``.<name>.tmp-<pid>``, renamed over it
(``os.replace``): a reader sees the old file or the new one, never a part. What a killed build left under such a
name (its process no longer alive) the next build removes (:func:`remove_dead_temporaries`)."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["remove_dead_temporaries", "temporary_for", "write_text_atomically"]

#: The temporary name of :func:`temporary_for`, and ``<name>.repair-<pid>`` (a release's Parquet file put back
#: before wave 17): the pid that wrote it.
_TEMPORARY = re.compile(r"\..+\.tmp-(\d+)|.+\.repair-(\d+)")


def temporary_for(path: Path) -> Path:
    """The name ``path`` is written under before it is renamed into place: ``.<name>.tmp-<pid>`` beside it."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_text_atomically(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8) atomically; on a failure, ``path`` is as it was and no temporary left."""
    temporary = temporary_for(path)
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_dead_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files in ``folder`` (not below it) whose writer is no longer alive; return them."""
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:  # no such folder
        return []
    for path in entries:
        found = _TEMPORARY.fullmatch(path.name)
        if found is None or _alive(int(found.group(1) or found.group(2))) or path.is_dir() and not path.is_symlink():
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
