"""Parsing of one performance-indicator value cell, as published in the PAP and RAP files.

Source: the performance files of the Direction du budget (``PLF_2019_PAP.csv``, PAP 2019;
``Performance_Depense.csv``, dataset ``performance-de-la-depense``, RAP 2024), described in
``shared/data/README.md`` ("Performance"); the columns and vocabulary of
``indicateur_valeurs`` in the README ("Performance indicators"); the value markers of
``shared/GLOSSARY.md`` ("Performance"); the fault cases ``shared/cases/B03``, ``B10``, ``B23``.

The one public function, :func:`parse_indicator_value`, turns a cell into the published
columns. Its rule is that **no number is ever invented**: ``valeur`` is set only when the
cell states exactly one number, ``valeur_min``/``valeur_max`` only for a bound or a
range it states, and every other cell keeps its text in ``valeur_brute`` with a
``statut`` saying why it has no number.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = [
    "COMPARATEURS",
    "IndicatorValue",
    "SENS",
    "STATUTS",
    "parse_indicator_value",
]

#: ``statut`` vocabulary of ``indicateur_valeurs`` (README, "The tables").
STATUTS = (
    "ok",
    "borne",
    "intervalle",
    "tendance",
    "sans_objet",
    "non_determine",
    "non_disponible",
    "non_communique",
    "vide",
    "a_verifier",
    "non_numerique",
)
#: ``comparateur`` vocabulary (README, "The tables"): for numbers (``=``) and bounds.
COMPARATEURS = ("=", "<", "<=", ">", ">=")
#: ``sens`` vocabulary (README, "The tables"): the direction a trend states.
SENS = ("hausse", "baisse")


@dataclass(frozen=True)
class IndicatorValue:
    """One value cell, parsed into the columns of ``indicateur_valeurs`` (README, "The tables").

    ``valeur``: the one number the cell states (``statut = 'ok'``), else None.
    ``valeur_min`` / ``valeur_max``: a lower / upper bound (``statut = 'borne'``) or the
    two ends of a range (``statut = 'intervalle'``). ``comparateur``: ``=`` for a number,
    ``<``, ``<=``, ``>``, ``>=`` for a bound, else None. ``sens``: ``hausse`` or
    ``baisse`` for a trend (``statut = 'tendance'``), else None. ``valeur_brute``: the
    cell exactly as published (None for a cell the reader found empty).
    ``note``: whether a note mark (``*``, ``(a)``, ``(provisoire)``, ``p``…) followed the value.
    """

    valeur: float | None
    valeur_min: float | None
    valeur_max: float | None
    comparateur: str | None
    sens: str | None
    statut: str
    valeur_brute: str | None
    note: bool = False


# --- markers ---------------------------------------------------------------------------
# Keys are folded: lower case, no accents, only a-z0-9 (``s.o.`` → ``so``, ``N/A`` → ``na``).
_MARKERS = {
    "sansobjet": "sans_objet",
    "so": "sans_objet",
    "na": "sans_objet",  # N/A, NA: non applicable
    "nonapplicable": "sans_objet",
    "nondetermine": "non_determine",
    "nondeterminee": "non_determine",
    "nd": "non_disponible",
    "nondisponible": "non_disponible",
    "nonconnu": "non_disponible",
    "nonconnue": "non_disponible",
    "nr": "non_disponible",  # non renseigné
    "nonrenseigne": "non_disponible",
    "nonrenseignee": "non_disponible",
    "nc": "non_communique",
    "noncommunique": "non_communique",
}
_DASHES = frozenset({"-", "\u2013", "\u2014", "\u2212", "--"})
_TRENDS = {
    "\u2197": "hausse",  # ↗
    "\u2191": "hausse",  # ↑
    "\u2198": "baisse",  # ↘
    "\u2193": "baisse",  # ↓
    "enhausse": "hausse",
    "hausse": "hausse",
    "enaugmentation": "hausse",
    "augmentation": "hausse",
    "enbaisse": "baisse",
    "baisse": "baisse",
    "endiminution": "baisse",
    "diminution": "baisse",
}

# --- numbers ---------------------------------------------------------------------------
_SPACE = "[ \u00a0\u202f\u2009]"
# Integer part: digits grouped by three with a space, a no-break space (U+00A0) or a narrow
# no-break space (U+202F); or grouped with dots before a decimal comma (``1.299,99``); or plain.
_UNSIGNED = (
    rf"(?:\d{{1,3}}(?:{_SPACE}\d{{3}})+(?:[.,]\d+)?"
    r"|\d{1,3}(?:\.\d{3})+,\d+"
    r"|\d+(?:[.,]\d+)?)"
)
_SIGN = rf"[+\-\u2212]{_SPACE}?"
_NUMBER = rf"(?:{_SIGN})?{_UNSIGNED}"
_PERCENT = rf"(?:{_SPACE}?%)?"

_BOUND_SYMBOLS = {
    ">=": ">=",
    "=>": ">=",
    "\u2265": ">=",  # ≥
    "\u2a7e": ">=",  # ⩾
    ">": ">",
    "<=": "<=",
    "=<": "<=",
    "\u2264": "<=",  # ≤
    "\u2a7d": "<=",  # ⩽
    "<": "<",
}
_BOUND_WORDS = {
    "superieurouegala": ">=",
    "superieura": ">",
    "inferieurouegala": "<=",
    "inferieura": "<",
    "aumoins": ">=",
    "auplus": "<=",
}
_SYMBOL = "|".join(re.escape(s) for s in sorted(_BOUND_SYMBOLS, key=len, reverse=True))
_RE_NUMBER = re.compile(rf"^(?P<n>{_NUMBER}){_PERCENT}$")
_RE_BOUND = re.compile(rf"^(?P<op>{_SYMBOL}){_SPACE}*(?:[àa]{_SPACE}+)?(?P<n>{_NUMBER}){_PERCENT}$")
_RE_BOUND_WORDS = re.compile(rf"^(?P<words>[^\d<>=]+?){_SPACE}*(?P<n>{_NUMBER}){_PERCENT}$")
_RE_RANGE_DASH = re.compile(rf"^(?P<a>{_UNSIGNED}){_SPACE}?-{_SPACE}?(?P<b>{_UNSIGNED}){_PERCENT}$")
_RE_RANGE_WORDS = re.compile(
    rf"^(?:entre{_SPACE}+)?(?P<a>{_UNSIGNED}){_PERCENT}{_SPACE}+(?:à|a|et){_SPACE}+(?P<b>{_UNSIGNED}){_PERCENT}$",
    re.IGNORECASE,
)
# A bare year after a comparator (``>2017`` in a cible means "above the 2017 value"): not a bound.
_YEAR = re.compile(r"^(19[89]\d|20\d\d|2100)$")

# --- notes -----------------------------------------------------------------------------
# Trailing marks that annotate a value without changing it: ``12,6*``, ``4,5**``, ``0 (a)``,
# ``(*)``, ``0,91p``, ``1,07 (p)``, ``6,9 (génération 2017)``, ``14,1 (+/- 0,6)``, ``1,8 (estimation``.
_NOTE_STARS = re.compile(rf"{_SPACE}*\*+$")
_NOTE_PAREN = re.compile(rf"{_SPACE}*\((?P<inner>[^()]*)\)?$")
_NOTE_P = re.compile(r"(?<=\d)p$")
_MARGIN = re.compile(rf"^{_SPACE}*(?:\+/-|±){_SPACE}*{_UNSIGNED}{_SPACE}*$")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return re.sub(r"[^a-z0-9]+", "", "".join(c for c in decomposed if not unicodedata.combining(c)))


def _to_float(number: str) -> float:
    """``'1 234,5'``, ``'1.299,99'``, ``'- 3,9'``, ``'13.7'`` → float (one decimal mark at most)."""
    text = re.sub(_SPACE, "", number).replace("\u2212", "-")
    if "," in text and "." in text:  # 1.299,99: dots group thousands
        text = text.replace(".", "")
    return float(text.replace(",", "."))


def _strip_notes(text: str) -> tuple[str, bool]:
    """Remove trailing note marks; return the core text and whether any was removed."""
    noted = False
    while True:
        stars = _NOTE_STARS.search(text)
        if stars and stars.start() > 0:
            text, noted = text[: stars.start()], True
            continue
        paren = _NOTE_PAREN.search(text)
        if paren and paren.start() > 0:
            inner = paren.group("inner")
            if re.search(r"[^\W\d_]", inner) or set(inner.strip()) <= {"*"} or _MARGIN.match(inner):
                text, noted = text[: paren.start()], True
                continue
        suffix = _NOTE_P.search(text)
        if suffix:
            text, noted = text[: suffix.start()], True
            continue
        return text.strip(), noted


def _value(raw: str | None, statut: str, note: bool = False, **numbers) -> IndicatorValue:
    fields = {"valeur": None, "valeur_min": None, "valeur_max": None, "comparateur": None, "sens": None}
    fields.update(numbers)
    return IndicatorValue(statut=statut, valeur_brute=raw, note=note, **fields)


def parse_indicator_value(text: str | None) -> IndicatorValue:
    """Parse one published indicator value cell into the published columns of ``indicateur_valeurs``.

    Rules, in order (README, ``indicateur_valeurs``; ``GLOSSARY.md``, "Performance"):

    1. Empty (None, ``''``, blanks) → ``vide``.
    2. Trailing note marks are set aside (``note = True``) and never read as numbers:
       stars (``12,6*``), a bracketed note holding a letter, a star or a ± margin
       (``0 (a)``, ``(*)``, ``(provisoire)``, ``(génération 2017)``, ``(+/- 0,6)``), and a ``p``
       glued to a number (``0,91p``, provisional). A bracket holding only a number
       (``162 (198)``) is a second number, not a note: the cell is ``non_numerique``.
    3. Markers, matched after folding case, accents, dots and spaces: ``Sans objet``,
       ``s.o.``, ``SO``, ``N/A`` → ``sans_objet``; ``Non déterminé`` → ``non_determine``;
       ``ND``, ``n.d.``, ``Non disponible``, ``Non connu``, ``NR`` → ``non_disponible``;
       ``nc``, ``n.c.`` → ``non_communique``; a lone dash (``-``, ``–``, ``—``), which may
       mean nil or missing, → ``a_verifier`` (never 0).
    4. Trends: ``↗``, ``↑``, ``en hausse``, ``hausse`` → ``tendance``/``hausse``;
       ``↘``, ``↓``, ``en baisse``, ``baisse`` → ``tendance``/``baisse``.
    5. One number → ``ok``, ``comparateur = '='``: decimal comma or point (``5,1``,
       ``13.7``), thousands grouped by a space, U+00A0 or U+202F (``1 200``,
       ``21 883 082``) or by dots before a decimal comma (``1.299,99``), a sign
       (``+1,3``, ``- 3,9``, U+2212), an optional ``%``.
    6. A bound → ``borne``: ``<``, ``<=``, ``=<``, ``≤``, ``⩽``, ``>``, ``>=``, ``=>``, ``≥``,
       ``⩾``, optionally followed by ``à`` (``> à 99``), or the words ``supérieur (ou égal)
       à``, ``inférieur (ou égal) à``, ``au moins``, ``au plus``; a lower bound fills
       ``valeur_min``, an upper bound ``valeur_max``. A comparator before a bare year
       (``>2017``: "above the 2017 value") is not a bound: ``non_numerique``.
    7. A range → ``intervalle`` (``valeur_min``, ``valeur_max``): ``404-412``, ``2 à 4,5``,
       ``entre 6 et 8``, with the lower end first (else ``non_numerique``).
    8. Anything else → ``non_numerique`` (durations ``9 mois``, ``2h45``; several numbers
       ``75/75``; ``1,04 million``; approximations ``~80``; text).

    ``valeur_brute`` is always ``text`` unchanged. Never raises: every text gets a statut.

    >>> parse_indicator_value("12,6*").valeur
    12.6
    >>> v = parse_indicator_value("<=450"); (v.valeur, v.valeur_max, v.comparateur, v.statut)
    (None, 450.0, '<=', 'borne')
    >>> v = parse_indicator_value("404-412"); (v.valeur_min, v.valeur_max, v.statut)
    (404.0, 412.0, 'intervalle')
    >>> parse_indicator_value("-").statut
    'a_verifier'
    """
    if text is None or not text.strip():
        return _value(text, "vide")
    stripped = unicodedata.normalize("NFC", text).strip()
    if stripped in _DASHES:
        return _value(text, "a_verifier")
    core, note = _strip_notes(stripped)
    if not core:
        return _value(text, "non_numerique", note)
    if core in _DASHES:
        return _value(text, "a_verifier", note)
    folded = _fold(core)
    if folded in _MARKERS and not re.search(r"\d", core):
        return _value(text, _MARKERS[folded], note)
    trend = _TRENDS.get(core) or (_TRENDS.get(folded) if folded and not re.search(r"\d", core) else None)
    if trend:
        return _value(text, "tendance", note, sens=trend)
    match = _RE_NUMBER.match(core)
    if match:
        return _value(text, "ok", note, valeur=_to_float(match.group("n")), comparateur="=")
    match = _RE_BOUND.match(core)
    operator = _BOUND_SYMBOLS[match.group("op")] if match else None
    if match is None:
        match = _RE_BOUND_WORDS.match(core)
        operator = _BOUND_WORDS.get(_fold(match.group("words"))) if match else None
    if match and operator:
        number = match.group("n")
        if _YEAR.match(number):
            return _value(text, "non_numerique", note)
        bound = _to_float(number)
        side = "valeur_min" if operator.startswith(">") else "valeur_max"
        return _value(text, "borne", note, comparateur=operator, **{side: bound})
    match = _RE_RANGE_DASH.match(core) or _RE_RANGE_WORDS.match(core)
    if match:
        low, high = _to_float(match.group("a")), _to_float(match.group("b"))
        if low <= high:
            return _value(text, "intervalle", note, valeur_min=low, valeur_max=high)
    return _value(text, "non_numerique", note)
