"""Figures stated in prose: amounts (through :func:`schemas.amounts.parse_amount`), counts, percentages.

Conservative by design (precision over recall): a figure is a credit declaration only where
its sentence says, by the rules of ``schemas/documents/prose.toml``, which programme, which
exercice (and phase, when named) and which quantity it is; every other amount, count or
percentage is kept as a :class:`Figure` of kind ``autre`` (a count may later link to an
indicator). A sentence with no figure gives nothing; no figure is ever invented.

What the extractor does not read: numbers written in words (``trois juristes``, ``un milliard
d'euros``), amounts without a currency (``727 millions``), decimal counts (``1,076 million
permis``), figures whose year is only implied by the document.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from schemas.amounts import parse_amount
from schemas.documents.vocabulary import prose
from warehouse.documents.texts import Document

__all__ = ["Figure", "IndicatorLine", "extract_figures", "indicator_list", "precision_of", "sentences"]

_SPACE = "[ \u00a0\u202f]"
_NUMBER = rf"(?<![\w,.\-/])(?P<num>\d{{1,3}}(?:{_SPACE}\d{{3}})+(?:,\d+)?|\d+(?:,\d+)?)"
_AMOUNT = re.compile(
    _NUMBER + r"\s*(?P<unit>mds?\s?€|m\s?€|k\s?€|€|milliards?\s+d['’]euros|millions?\s+d['’]euros|"
    r"milliers?\s+d['’]euros|euros)(?!\w)",
    re.I,
)
_PERCENT = re.compile(_NUMBER + r"\s*(?:%|pour\s?cent\b)", re.I)
_COUNT = re.compile(
    rf"(?<![\w,.\-/+−])(?P<num>\d{{1,3}}(?:{_SPACE}\d{{3}})+|\d+)(?![\d,.]\d|\s*[-/]\s*\d)\s+(?P<word>[^\W\d_][\w'’\-]*)"
)
_SCALE = {"Md€": 9, "M€": 6, "k€": 3, "€": 0}
_UNIT_SUFFIX = (("md", "Md€"), ("milliard", "Md€"), ("m", "M€"), ("million", "M€"), ("k", "k€"), ("millier", "k€"))
_CODE_BEFORE = re.compile(
    r"(?:programmes?|n°|no|p|article|articles|décret|loi|promotion|action|actions|objectif|indicateur|lpm|pia|"
    r"numéro|tome|niveau|version|phase|annexe|chapitre|titre|catégorie|plan|acte|france|horizon|cop|classe)\s*$",
    re.I,
)
_NOT_A_NOUN = frozenset(
    {"de", "du", "des", "d", "à", "a", "au", "aux", "en", "et", "ou", "le", "la", "les", "l", "un", "une", "sur"}
    | {"par", "pour", "dans", ":", "fois", "ans", "an", "mois", "jours", "heures", "h"}
    | {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre"}
    | {"novembre", "décembre"}
)
_BOUNDARY = re.compile(r"[,;:.()«»\n]")
_CUT = re.compile(r"\s(?:pour|afin|soit|dont|grâce|depuis|contre|par rapport|en (?:19|20)\d{2})\b", re.I)
_OTHER_PROGRAMME = re.compile(r"\bprogrammes?\s+(?:n°\s*)?(\d{3})\b|\bP(\d{3})\b")
_NAMES_PROGRAMME = re.compile(r"\bprogramme\b|\bP\d{3}\b", re.I)
_PROGRAMME_SUBJECT = re.compile(r"programme(?:\s+(?:n°\s*)?\d{3})?\s*(?:[«\"“][^»\"”]*[»\"”])?\s*,?\s*$")
_YEAR_STATED = re.compile(r"\b(?:en|pour|au cours de l'année) ((?:19|20)\d{2})\b", re.I)
_COMPARED = re.compile(r"(?:par rapport (?:à|au|aux)|contre|depuis|qu'en|que)\s*(?:la |le |l')?$")
_OBJECTIF = re.compile(r"^\s*Objectif\s+(?P<o>\d+)\s*:\s*(?P<libelle>.+?)\s*$")
_INDICATEUR = re.compile(r"^\s*Indicateur\s+(?P<o>\d+)\.(?P<i>\d+)\s*:\s*(?P<libelle>.+?)\s*$")


@dataclass
class Figure:
    """One figure of a text: where it is, what it says, and (for credits) what it declares.

    ``valeur`` in euros (amounts) or as stated (counts, percentages); ``precision``: the half-width of
    the interval the stated figure covers (``10,6 M€`` → 50 000; ``115`` → 0.5).
    ``grandeurs``: ``ae``/``cp``/``titre2`` for a credit declaration, else empty.
    ``phrase``: for a count, the words that say what is counted (a verb before it, the noun
    phrase after), used to link it to an indicator. ``phrase_entiere``: its sentence.
    ``annee_citee``: the year the sentence states for it (``en 2022``: the nearest before it, else
    the one after), else None.
    """

    kind: str  # "montant", "nombre", "pourcentage"
    valeur: Decimal
    precision: Decimal
    unite: str | None
    texte: str
    debut: int
    fin: int
    phrase_entiere: str
    grandeurs: tuple[str, ...] = ()
    exercice: int | None = None
    phase: str | None = None
    phrase: str = ""
    annee_citee: int | None = None


@dataclass(frozen=True)
class IndicatorLine:
    """``Indicateur 1.1 : Nombre de problèmes investigués`` under ``Objectif 1 : …``."""

    objectif: int
    indicateur: int
    libelle_objectif: str | None
    libelle: str
    ligne: int  # 1-based line of the text


def precision_of(value: Decimal) -> Decimal:
    """Half a unit of the last digit stated: ``Decimal('1.06E+7')`` (10,6 M€) → 50 000."""
    exponent = value.as_tuple().exponent
    return Decimal(5).scaleb(exponent - 1)


def _lower(text: str) -> str:
    return text.lower().replace("’", "'")


def sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence: a line, cut after ``.``, ``!``, ``?`` or ``;`` before a space."""
    spans = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        for cut in re.finditer(r"(?<=[.!?;])\s+", line.group()):
            spans.append((start, line.start() + cut.start()))
            start = line.start() + cut.end()
        if start < line.end():
            spans.append((start, line.end()))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def indicator_list(text: str) -> list[IndicatorLine]:
    """The ``Objectif N : …`` / ``Indicateur N.M : …`` list of a RAP/PAP text, in order."""
    found, objectifs = [], {}
    for number, line in enumerate(text.split("\n"), start=1):
        if objectif := _OBJECTIF.match(line):
            objectifs[int(objectif["o"])] = objectif["libelle"]
        elif indicateur := _INDICATEUR.match(line):
            o = int(indicateur["o"])
            found.append(IndicatorLine(o, int(indicateur["i"]), objectifs.get(o), indicateur["libelle"], number))
    return found


def _amount_value(number: str, unit: str) -> Decimal | None:
    folded = re.sub(r"\s", "", _lower(unit))
    suffix = next((s for prefix, s in _UNIT_SUFFIX if folded.startswith(prefix) and folded != "€"), "€")
    if folded in ("€", "euros"):
        suffix = "€"
    # The number as stated (``10,6``), then scaled by its unit, so that the exponent keeps the
    # precision stated: 10,6 M€ → ``Decimal('1.06E+7')`` (see :func:`precision_of`).
    stated = parse_amount(number, decimal=",")
    return None if stated is None else stated.scaleb(_SCALE[suffix])


def _phase_of(lowered: str, position: int) -> tuple[int | None, str | None, bool]:
    """The exercice and phase a sentence names for the figure at ``position``: the nearest mention
    before it, else the first after. Returns (exercice, phase or None, found)."""
    mentions = []
    taken: list[tuple[int, int]] = []
    for pattern, phase in prose().phases:
        for match in pattern.finditer(lowered):
            if any(a < match.end() and match.start() < b for a, b in taken):
                continue
            if _COMPARED.search(lowered[max(0, match.start() - 30) : match.start()]):
                continue  # `par rapport à la LFI 2023`: the year compared with, not the figure's
            taken.append((match.start(), match.end()))
            mentions.append((match.start(), match.end(), int(match["annee"]), phase))
    before = [m for m in mentions if m[1] <= position]
    if before:
        chosen = max(before, key=lambda m: m[1])
    else:
        after = [m for m in mentions if m[0] >= position]
        if not after:
            return None, None, False
        chosen = min(after, key=lambda m: m[0])
    return chosen[2], chosen[3], True


def _credit_reading(doc: Document, sentence: str, start: int, end: int, context_start: int) -> Figure | None:
    """How an amount at ``sentence[start:end]`` reads as a credit declaration, or None."""
    rules = prose()
    lowered = _lower(sentence)
    before = lowered[context_start:start]
    if not before.strip() and re.search(r"\(\s*$", lowered[:start]):
        return None  # an amount opening a parenthesis explains what precedes it
    after = lowered[end:]
    grandeurs: tuple[str, ...] = ()
    stated_to = end
    for pattern, names in rules.grandeurs:
        if match := pattern.match(after):
            grandeurs, stated_to = names, end + match.end()
            break
    rest = lowered[stated_to:]
    if rules.partie.search(before) and grandeurs != ("titre2",):
        return None
    if not grandeurs:
        dotation = rules.dotation.search(before)
        if not dotation:
            return None
        subject = lowered[: context_start + dotation.start()]
        if subject.strip() and not _PROGRAMME_SUBJECT.search(subject):
            return None  # `le plan de relance doté de 1,2 Md€`: the dotation of something else
        grandeurs = ("ae", "cp")
    if rules.exclusion.search(lowered[:start]):
        return None  # a change, a part or a comparison earlier in the sentence
    if grandeurs != ("titre2",) and rules.exclusion_apres.search(rest):
        return None  # after a titre 2 part (`dont 3 M€ de crédits de rémunération pour …`), what it pays for
    codes = {a or b for a, b in _OTHER_PROGRAMME.findall(sentence)}
    if codes - {doc.code_programme}:
        return None
    exercice, phase, found = _phase_of(lowered, start)
    if not found:
        return None
    if phase is None and not _NAMES_PROGRAMME.search(sentence):
        return None
    return Figure("montant", Decimal(0), Decimal(0), "€", "", 0, stated_to, sentence, grandeurs, exercice, phase)


def _count_phrase(sentence: str, start: int, word_start: int) -> str:
    """The verb before a count (one word, in its clause) and the noun phrase after it."""
    tail = sentence[word_start:]
    stop = _BOUNDARY.search(tail)
    tail = tail[: stop.start()] if stop else tail
    cut = _CUT.search(tail)
    tail = tail[: cut.start()] if cut else tail
    head = sentence[:start]
    boundary = max((m.end() for m in _BOUNDARY.finditer(head)), default=0)
    words = re.findall(r"[^\W\d_][\w'’\-]*", head[boundary:])
    verb = words[-1] if words and _lower(words[-1]) not in _NOT_A_NOUN and len(words[-1]) > 2 else ""
    return f"{verb} {tail}".strip()


def extract_figures(doc: Document) -> list[Figure]:
    """Every figure the text of ``doc`` states, in text order (see the module's rules).

    The lines of the indicator list (``Objectif 1 : …``, ``Indicateur 1.1 : …``) state no figure.
    """
    text = doc.texte
    listed = {line.ligne for line in indicator_list(text)} | {
        n for n, line in enumerate(text.split("\n"), 1) if _OBJECTIF.match(line)
    }
    line_starts = [m.start() for m in re.finditer(r"^", text, re.M)]
    figures: list[Figure] = []
    for s_start, s_end in sentences(text):
        line_number = sum(1 for p in line_starts if p <= s_start)
        if line_number in listed:
            continue
        sentence = text[s_start:s_end]
        taken: list[tuple[int, int]] = []
        previous_end = 0
        for match in _AMOUNT.finditer(sentence):
            value = _amount_value(match["num"], match["unit"])
            if value is None:
                continue
            boundary = max((m.end() for m in _BOUNDARY.finditer(sentence[: match.start()])), default=0)
            reading = _credit_reading(doc, sentence, match.start(), match.end(), max(boundary, previous_end))
            figure = Figure(
                "montant",
                value,
                precision_of(value),
                "€",
                match.group(),
                s_start + match.start(),
                s_start + match.end(),
                sentence,
            )
            if reading is not None:
                figure.grandeurs, figure.exercice, figure.phase = reading.grandeurs, reading.exercice, reading.phase
                previous_end = reading.fin
            else:
                previous_end = match.end()
            taken.append((match.start(), match.end()))
            figures.append(figure)
        for match in _PERCENT.finditer(sentence):
            if any(a <= match.start() < b for a, b in taken):
                continue
            value = parse_amount(match["num"], decimal=",")
            taken.append((match.start(), match.end()))
            figures.append(
                Figure(
                    "pourcentage",
                    value,
                    precision_of(value),
                    "%",
                    match.group(),
                    s_start + match.start(),
                    s_start + match.end(),
                    sentence,
                )
            )
        for match in _COUNT.finditer(sentence):
            if any(a <= match.start() < b for a, b in taken) or _lower(match["word"]) in _NOT_A_NOUN:
                continue
            digits = re.sub(r"\D", "", match["num"])
            if len(digits) == 4 and 1900 <= int(digits) <= 2099 and match["num"].isdigit():
                continue
            if _CODE_BEFORE.search(sentence[: match.start()]):
                continue
            value = Decimal(digits)
            phrase = _count_phrase(sentence, match.start(), match.start("word"))
            stated = [(m.end(), int(m[1])) for m in _YEAR_STATED.finditer(sentence)]
            before = [year for end, year in stated if end <= match.start()]
            after = [year for end, year in stated if end > match.start()]
            figures.append(
                Figure(
                    "nombre",
                    value,
                    precision_of(value),
                    None,
                    sentence[match.start() : match.end("num")],
                    s_start + match.start(),
                    s_start + match.end("num"),
                    sentence,
                    phrase=phrase,
                    annee_citee=before[-1] if before else (after[0] if len(set(after)) == 1 else None),
                )
            )
    return sorted(figures, key=lambda f: f.debut)
