"""Errors wrapped in others: the one a library raised, found under the one that reached us."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator


def wrapped(error: BaseException, links: Callable[[BaseException], Iterable[object]]) -> Iterator[BaseException]:
    """``error``, then every error reachable from it through ``links`` (what it wraps: its ``__cause__``,
    SQLAlchemy's ``orig``, urllib3's ``reason``...), each once, depth first."""
    seen: set[int] = set()
    pending: list[object] = [error]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(links(current))
