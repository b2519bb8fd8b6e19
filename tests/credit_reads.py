"""Read a test's credit file as the build does, for the tests of its errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from warehouse.credits.files import SourceReadError, read_credit_table
from warehouse.sources import discover_sources, recognise


def credit_read_error(folder: Path) -> str:
    """The error of the one credit file of ``folder``, discovered, recognised and read whole (it must raise
    :class:`SourceReadError`)."""
    (source,) = discover_sources(folder)
    found = recognise(source)
    with pytest.raises(SourceReadError) as raised:
        read_credit_table(found.table, found.match, source.source_id, found.exercice_hint)
    return str(raised.value)
