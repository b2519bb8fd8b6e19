"""Normalisation of the budget codes to their warehouse form (see GLOSSARY.md).

Sources write the same code in many ways: programme ``352``, ``352.0``, ``P352``,
``0352``; action ``1``, ``01``, ``352-01``, ``0352-01``; ministère ``MIN50``,
``50.0``, ``7``, ``MIN50 Transformation et fonction publiques``. Codes written to
keep spreadsheets from turning them into numbers (``="352"``, ``'0101``;
``shared/cases/B36``) are unwrapped first. Every ``normalise_*`` function here
returns the one form the warehouse stores, as text, or ``None`` for an empty
cell, and raises :class:`CodeError` for a value that is not such a code. The
``*_expr`` functions apply the same rules to a whole Polars column: they give
null for an empty cell *and* for a value that is not a code, so a caller finds
the offending cells as ``code_text(column).is_not_null() & result.is_null()``.
"""

from __future__ import annotations

import re

import polars as pl

__all__ = [
    "CodeError",
    "action_expr",
    "categorie_expr",
    "code_text",
    "ministere_expr",
    "mission_expr",
    "programme_expr",
    "sous_action_expr",
    "titre_expr",
    "normalise_action",
    "normalise_categorie",
    "normalise_ministere",
    "normalise_mission",
    "normalise_programme",
    "normalise_sous_action",
    "normalise_titre",
    "split_destination_code",
]


class CodeError(ValueError):
    """A cell that should hold a budget code holds something else."""


_FLOAT_ZERO = re.compile(r"^(\d+)\.0+$")
_PROGRAMME = re.compile(r"^[Pp]?0*(\d{1,3})$")
_ACTION = re.compile(r"^(?:[Pp]?0*(\d{1,3})-)?(\d{1,2})$")
_SOUS_ACTION = re.compile(r"^(?:[Pp]?0*(\d{1,3})-)?(?:(\d{2})-)?(\d{1,2})$")
_SOUS_ACTION_JOINED = re.compile(r"^(\d{2})(\d{2})$")
_MINISTERE = re.compile(r"^(?:MIN)?\s*0*(\d{1,2})(?:\.0+)?(?:\s+\S.*)?$", re.IGNORECASE)
_MISSION = re.compile(r"^M?([A-Z]{2})(?:\s+\S.*)?$")
_CATEGORIE = re.compile(r"^(\d{1,2})$")
_TITRE = re.compile(r"^(\d)$")


_SPREADSHEET_TEXT = re.compile(r'^="(.*)"$|^\'(.*)$', re.DOTALL)


def _clean(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    wrapped = _SPREADSHEET_TEXT.match(text)
    if wrapped:
        text = (wrapped.group(1) if wrapped.group(1) is not None else wrapped.group(2)).strip()
    if not text:
        return None
    match = _FLOAT_ZERO.match(text)
    return match.group(1) if match else text


def code_text(column: str | pl.Expr) -> pl.Expr:
    """The text of a code column as :func:`_clean` sees it: trimmed, ``="352"`` and ``'0101``
    unwrapped, ``352.0`` → ``352``, empty → null."""
    expr = pl.col(column) if isinstance(column, str) else column
    text = (
        expr.cast(pl.String)
        .str.strip_chars()
        .str.replace(r'^="(?s:(.*))"$', "$1")
        .str.replace(r"^'", "")
        .str.strip_chars()
        .str.replace(r"^([0-9]+)\.0+$", "$1")
    )
    return pl.when(text != "").then(text)


def programme_expr(column: str | pl.Expr) -> pl.Expr:
    """Column form of :func:`normalise_programme` (null where not a programme code)."""
    return code_text(column).str.extract(_PROGRAMME.pattern, 1).str.zfill(3)


def action_expr(column: str | pl.Expr) -> pl.Expr:
    """Column form of :func:`normalise_action`: a struct of ``programme`` (the prefix, 3 digits,
    null where none) and ``action`` (2 digits; null where not an action code)."""
    groups = code_text(column).str.extract_groups(r"^(?:[Pp]?0*(?P<programme>\d{1,3})-)?(?P<action>\d{1,2})$")
    return pl.struct(
        programme=groups.struct.field("programme").str.zfill(3), action=groups.struct.field("action").str.zfill(2)
    )


def sous_action_expr(column: str | pl.Expr) -> pl.Expr:
    """Column form of :func:`normalise_sous_action`: a struct of ``programme`` (prefix), ``action``
    and ``sous_action`` (null where not a sous-action code)."""
    text = code_text(column)
    joined = text.str.extract_groups(r"^(?P<action>\d{2})(?P<sous_action>\d{2})$")
    split = text.str.extract_groups(
        r"^(?:[Pp]?0*(?P<programme>\d{1,3})-)?(?:(?P<action>\d{2})-)?(?P<sous_action>\d{1,2})$"
    )
    is_joined = joined.struct.field("action").is_not_null()
    return pl.struct(
        programme=pl.when(~is_joined).then(split.struct.field("programme").str.zfill(3)),
        action=pl.when(is_joined).then(joined.struct.field("action")).otherwise(split.struct.field("action")),
        sous_action=pl.when(is_joined)
        .then(joined.struct.field("sous_action"))
        .otherwise(split.struct.field("sous_action").str.zfill(2)),
    )


def ministere_expr(column: str | pl.Expr) -> pl.Expr:
    """Column form of :func:`normalise_ministere`."""
    return code_text(column).str.extract("(?i)" + _MINISTERE.pattern, 1).str.zfill(2)


def mission_expr(column: str | pl.Expr) -> pl.Expr:
    """Column form of :func:`normalise_mission`."""
    text = code_text(column)
    text = pl.when(text.str.len_chars() <= 3).then(text.str.to_uppercase()).otherwise(text)
    return text.str.extract(_MISSION.pattern, 1)


def categorie_expr(column: str | pl.Expr) -> pl.Expr:
    """Column form of :func:`normalise_categorie`."""
    return code_text(column).str.extract(_CATEGORIE.pattern, 1).str.zfill(2)


def titre_expr(column: str | pl.Expr) -> pl.Expr:
    """Column form of :func:`normalise_titre`."""
    return code_text(column).str.extract(_TITRE.pattern, 1)


def normalise_programme(value: object) -> str | None:
    """Programme code as 3 digits: ``352``, ``352.0``, ``P352``, ``0352`` → ``'352'``."""
    text = _clean(value)
    if text is None:
        return None
    match = _PROGRAMME.match(text)
    if not match:
        raise CodeError(f"not a programme code: {value!r}")
    return match.group(1).zfill(3)


def normalise_action(value: object, code_programme: str | None = None) -> str | None:
    """Action code as 2 digits within its programme: ``1``, ``352-01``, ``0352-01`` → ``'01'``.

    Where the value carries its programme (``352-01``) and ``code_programme`` is
    given, the two must agree.
    """
    text = _clean(value)
    if text is None:
        return None
    match = _ACTION.match(text)
    if not match:
        raise CodeError(f"not an action code: {value!r}")
    prefix, action = match.groups()
    if prefix and code_programme and prefix.zfill(3) != code_programme:
        raise CodeError(f"action {value!r} does not belong to programme {code_programme}")
    return action.zfill(2)


def normalise_sous_action(value: object, code_programme: str | None = None) -> tuple[str | None, str | None]:
    """Split a sous-action cell into ``(code_action, code_sous_action)``, 2 digits each.

    ``308-06-03`` → ``('06', '03')``; ``0101`` (action and sous-action written
    together) → ``('01', '01')``; ``3`` → ``(None, '03')``; empty → ``(None, None)``.
    """
    text = _clean(value)
    if text is None:
        return None, None
    joined = _SOUS_ACTION_JOINED.match(text)
    if joined:
        return joined.group(1), joined.group(2)
    match = _SOUS_ACTION.match(text)
    if not match:
        raise CodeError(f"not a sous-action code: {value!r}")
    prefix, action, sous_action = match.groups()
    if prefix and code_programme and prefix.zfill(3) != code_programme:
        raise CodeError(f"sous-action {value!r} does not belong to programme {code_programme}")
    return action, sous_action.zfill(2)


def normalise_ministere(value: object) -> str | None:
    """Ministère code as 2 digits: ``MIN50``, ``50.0``, ``7``, ``MIN50 Transformation…`` → ``'50'``/``'07'``."""
    text = _clean(value)
    if text is None:
        return None
    match = _MINISTERE.match(text)
    if not match:
        raise CodeError(f"not a ministère code: {value!r}")
    return match.group(1).zfill(2)


def normalise_mission(value: object) -> str | None:
    """Mission code as 2 upper-case letters: ``TR``, ``MTR Transformation et fonction publiques`` → ``'TR'``."""
    text = _clean(value)
    if text is None:
        return None
    match = _MISSION.match(text.upper() if len(text) <= 3 else text)
    if not match:
        raise CodeError(f"not a mission code: {value!r}")
    return match.group(1)


def normalise_categorie(value: object) -> str | None:
    """Catégorie code as 2 digits: ``31``, ``31.0`` → ``'31'``."""
    text = _clean(value)
    if text is None:
        return None
    match = _CATEGORIE.match(text)
    if not match:
        raise CodeError(f"not a catégorie code: {value!r}")
    return match.group(1).zfill(2)


def normalise_titre(value: object) -> str | None:
    """Titre code as 1 digit ``1``…``7``: ``2``, ``2.0`` → ``'2'``."""
    text = _clean(value)
    if text is None:
        return None
    match = _TITRE.match(text)
    if not match:
        raise CodeError(f"not a titre code: {value!r}")
    return match.group(1)


_DESTINATION = re.compile(r"^[Pp]?0*(\d{1,3})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")


def split_destination_code(value: object) -> tuple[str | None, str | None, str | None]:
    """Split a destination code into ``(code_programme, code_action, code_sous_action)``.

    ``352`` → ``('352', None, None)``; ``352-01`` and ``0352-01`` → ``('352', '01', None)``;
    ``0162-10-05`` → ``('162', '10', '05')``; empty → ``(None, None, None)``.
    Raises :class:`CodeError` for anything else.
    """
    text = _clean(value)
    if text is None:
        return None, None, None
    match = _DESTINATION.match(text)
    if not match:
        raise CodeError(f"not a programme, action or sous-action code: {value!r}")
    programme, action, sous_action = match.groups()
    return (
        programme.zfill(3),
        action.zfill(2) if action else None,
        sous_action.zfill(2) if sous_action else None,
    )
