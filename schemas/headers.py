"""Folding of column headers, so that vintages that spell a column differently match.

The data README of the project (``shared/data/README.md``) states the rule: headers
are compared after folding case, accents, spaces, underscores and hyphens.
``AE  PLF``, ``ae_plf`` and ``Ae-Plf`` all fold to ``aeplf``; ``Catégorie`` and
``categorie`` to ``categorie``.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def strip_accents(text: str) -> str:
    """Return ``text`` without its combining marks (``é`` → ``e``, ``œ`` kept as is)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def fold_header(text: str | None) -> str:
    """Fold a header: lower case, no accents, nothing but ``a-z0-9``.

    >>> fold_header("EXEC AE 2018\\nRAP 2018")
    'execae2018rap2018'
    >>> fold_header("autorisation_engagement") == fold_header("Autorisation engagement")
    True
    """
    if text is None:
        return ""
    return _NOT_ALNUM.sub("", strip_accents(text).lower().replace("œ", "oe"))


# Budget terms that headers spell out in full, and the warehouse's short name for them
# (GLOSSARY.md: AE, CP). Applied to the accent-free lower-case header.
_TERMS = (
    (re.compile(r"autorisations?\s+d\W?\s*engagements?|autorisations?\s+engagements?"), "ae"),
    (re.compile(r"credits?\s+de\s+paiements?"), "cp"),
)


def column_name(text: str | None) -> str:
    """Snake_case column name of a header, with the budget's long terms shortened.

    ``Autorisations d'engagement LFI 2024`` → ``ae_lfi_2024``;
    ``Crédits de paiement`` → ``cp``.
    """
    if text is None:
        return ""
    lowered = strip_accents(text).lower().replace("œ", "oe")
    for pattern, short in _TERMS:
        lowered = pattern.sub(short, lowered)
    return _NOT_ALNUM.sub("_", lowered).strip("_")
