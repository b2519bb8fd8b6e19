"""Names and texts as the console shows them: on one line, nothing in them that a terminal acts on.

A file name, a folder, a header cell or a message may hold bytes that are not UTF-8 (``os`` gives them as
surrogates), a newline (it broke the list it was in) or a character a terminal acts on: ESC (``\\x1b``) or a C1
control such as CSI (``\\x9b``) starts an escape sequence that may move the cursor, recolour or rewrite what the
summary printed. :func:`escaped_bytes` shows the bytes as ``\\xe9``; :func:`one_line` also escapes every control
character (C0, DEL and C1: ``\\n``, ``\\x1b``, ``\\x85``, ``\\x9b``).
"""

from __future__ import annotations

import re

__all__ = ["escaped_bytes", "one_line"]

#: The control characters a text may hold: C0 (a newline, a tab, ESC), DEL and C1 (U+0080 to U+009F: NEL, CSI…).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escaped_bytes(text: str) -> str:
    """``text`` with the bytes that are not UTF-8 (surrogates from ``os``) shown as ``\\xe9``: ``Notes_\\xe9t\\xe9.csv``
    for a name written in Latin-1."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def one_line(text: str) -> str:
    """``text`` on one line of the console: its bytes not UTF-8 (:func:`escaped_bytes`) and its control characters
    escaped as Python writes them (``\\n``, ``\\t``, ``\\x1b``, ``\\x9b``)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], escaped_bytes(text))
