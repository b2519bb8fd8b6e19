"""The published order of ``credits`` (its business key, ascending, nulls last) as one ``BIGINT`` to sort by.

``credits.parquet`` is written in the order of the business key (``assets/publish.py`` ``PUBLISHED``).
Sorting 21 M rows by eight columns of text is most of the cost of that file (issue 11): DuckDB builds a
sort key of every text column and, under the build's memory limit, spills it with the rows. The codes
of the key are short and of fixed form (README, "The tables"; docs/glossary.md): an exercice, a phase and a budget
type out of five, codes of three, two or one digit(s). :data:`PACKED_BUSINESS_KEY` packs them into one
integer whose order is the key's, so the rows are sorted by one 8-byte key (10 M lines: about half the
wall time of the sort, the same file byte for byte).

It is exact, never approximate: each part is the rank of its value in the order of the text, a null
after every value (``NULLS LAST``, DuckDB's default). A value outside those forms (a code of another
length, a letter, an unknown phase) has no rank: the expression then raises :data:`UNPACKABLE` (DuckDB's
``error()``), and :func:`warehouse.publication.parquet.publish_table` sorts by the columns themselves.
"""

from __future__ import annotations

from schemas.credits import BUDGET_TYPES, PHASES
from warehouse.store import quote_identifier, quote_literal

__all__ = ["PACKED_BUSINESS_KEY", "UNPACKABLE"]

#: The message of the error the packed key raises on a row it cannot rank.
UNPACKABLE = "business key not packable: sorting by its columns"


def _rank(column: str, values: tuple[str, ...]) -> str:
    """0, 1, ... in the text order of ``values``; ``len(values)`` for a null; NULL for any other value."""
    col = quote_identifier(column)
    ranks = " ".join(f"WHEN {quote_literal(v)} THEN {i}" for i, v in enumerate(sorted(values)))
    return f"(CASE WHEN {col} IS NULL THEN {len(values)} ELSE CASE {col} {ranks} END END)::BIGINT"


def _digits(column: str, width: int) -> str:
    """The value of a code of ``width`` ASCII digits (text order = numeric order at a fixed width);
    ``10**width`` for a null; NULL for any other text."""
    col = quote_identifier(column)
    glob = "[0-9]" * width
    return f"(CASE WHEN {col} IS NULL THEN {10**width} WHEN {col} GLOB '{glob}' THEN {col}::BIGINT END)"


#: (part, bits): the key's columns in order, each a rank below ``2**bits`` (the null rank included).
_PARTS = [
    ("(exercice::BIGINT + 32768)", 16),  # SMALLINT: -32768..32767 -> 0..65535 (a null stays null)
    (_rank("phase", PHASES), 3),
    (_rank("type_budget", BUDGET_TYPES), 3),
    (_digits("code_programme", 3), 10),
    (_digits("code_action", 2), 7),
    (_digits("code_sous_action", 2), 7),
    (_digits("code_categorie", 2), 7),
    (_digits("code_titre", 1), 4),
]


def _packed() -> str:
    shift, terms = 0, []
    for part, bits in reversed(_PARTS):
        terms.append(f"({part} << {shift})" if shift else part)
        shift += bits
    assert shift < 63, "the packed key must fit a BIGINT"
    packed = " + ".join(reversed(terms))
    return f"(CASE WHEN ({packed}) IS NULL THEN error({quote_literal(UNPACKABLE)}) ELSE ({packed}) END)"


#: A ``BIGINT`` ordering the rows of ``credits`` as ``ORDER BY`` the business key (``schemas.credits.BUSINESS_KEY``,
#: ascending, nulls last) does, or the error :data:`UNPACKABLE` on a row outside the key's forms.
PACKED_BUSINESS_KEY = _packed()
