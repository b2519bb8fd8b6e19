"""The sha256 of a file: the one way the project hashes a file's bytes (sources, staged lines, releases)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["sha256_of"]


def sha256_of(path: Path, *, follow_symlinks: bool = False) -> str:
    """The sha256 of the file at ``path`` (hex), read by :func:`hashlib.file_digest` in blocks (never whole).
    Without ``follow_symlinks``, a symbolic link is never followed: ``OSError`` if ``path`` is one."""
    flags = os.O_RDONLY | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(os.open(path, flags), "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
