"""Cleaning of nomenclature labels before they are stored and compared across years.

Source files add to a label what is not part of it (``shared/data/README.md``,
"Nomenclature"): the 2025 ``.xls`` prefixes every programme label with its code
(``352 - Innovation…``); the PLF 2021 file doubles spaces (``fonction  publiques``);
Excel leaves ``_x000D_`` for carriage returns; some cells hold line breaks.
"""

from __future__ import annotations

import re
from functools import lru_cache

from schemas.headers import fold_header

__all__ = ["clean_label", "label_key"]

_EXCEL_ARTEFACT = re.compile(r"_x000[dDaA]_")


@lru_cache(maxsize=1 << 16)
def _code_prefix(code: str) -> re.Pattern[str]:
    """A leading ``<code> - `` (with or without leading zeros or a ``P``), compiled once per code."""
    return re.compile(rf"^[Pp]?0*{re.escape(code.lstrip('0') or '0')}\s*[-–:]\s*")


@lru_cache(maxsize=1 << 16)  # labels repeat on many lines: each (label, code) cleaned once
def clean_label(text: str | None, code: str | None = None) -> str | None:
    """The label as it should be stored: artefacts removed, spaces collapsed, no code prefix.

    ``code``: the element's own code; a leading ``<code> - `` (with or without
    leading zeros or a ``P``) is removed. Returns None for an empty label.

    >>> clean_label("352 - Innovation et transformation  numériques_x000D_", "352")
    'Innovation et transformation numériques'
    """
    if text is None:
        return None
    cleaned = " ".join(_EXCEL_ARTEFACT.sub(" ", text).split())
    if code and (code.lstrip("0") or "0") in cleaned:  # the prefix holds the code: else nothing to remove
        cleaned = _code_prefix(code).sub("", cleaned, count=1)
    return cleaned or None


@lru_cache(maxsize=1 << 16)  # labels repeat: each folded once
def label_key(text: str | None) -> str:
    """The form two labels are compared in: folded case, accents, spaces and punctuation.

    ``Transformation et fonction  publiques`` and ``transformation et fonction publiques``
    compare equal; ``l’État`` and ``l'Etat`` too.
    """
    return fold_header(text)
