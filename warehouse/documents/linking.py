"""Link a stated count to an indicator by label similarity (rapidfuzz), with equivalences kept as data.

Both sides — the words around the figure (:attr:`Figure.phrase`) and the indicator's label — are
rewritten by the equivalences of ``schemas/documents/equivalences.toml`` (``EIG`` → ``entrepreneurs
d'intérêt général`` → the performance files' ``profils atypiques …``), then reduced to content words
(accents and case folded, function words and numbers dropped, plural and participle endings cut:
``lancés`` and ``lancé`` → ``lanc``), and compared with ``rapidfuzz.fuzz.token_set_ratio`` (100 when
all the words of one side are among the other's). A phrase of fewer than two content words links
to nothing, nor one that lacks the label's first content word, the thing counted (``15 agents
de greffe`` is not ``Nombre d'affaires réglées par agent de greffe``). Within one document, year
and programme each indicator takes at most one figure and each figure one indicator, greedily by
score (the list item ``60 entrepreneurs d'intérêt général sélectionnés dans l'année`` wins
indicator 2.1 over ``38 EIG issus des secteurs…``). A figure as similar to two indicators links
to neither. A link is never
chosen because a value matches: values are not looked at here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from schemas.documents.vocabulary import equivalences
from schemas.headers import strip_accents

__all__ = ["LINK_THRESHOLD", "Candidate", "content_words", "link", "rewrite"]

#: Least score (0–100) for a link.
LINK_THRESHOLD = 90.0

_STOP = frozenset(
    {"de", "du", "des", "d", "la", "le", "les", "l", "a", "au", "aux", "en", "et", "ou", "par", "pour", "dans"}
    | {"sur", "un", "une", "nombre", "leur", "leurs", "son", "sa", "ses", "qui", "que", "ont", "ete", "est"}
    | {"cours", "selon", "ce", "ces", "cette", "il", "elle", "ils", "elles", "se", "s", "y"}
    | {"nouveau", "nouveaux", "nouvelle", "nouvelles", "annuel", "moyen", "total"}
)


@dataclass(frozen=True)
class Candidate:
    """An indicator a figure may link to; ``key`` identifies it to the caller."""

    key: tuple
    libelle: str


def rewrite(text: str, sentence: str = "") -> str:
    """``text`` lower-cased with the equivalences applied (those with a ``contexte`` only where
    ``sentence`` matches it)."""
    lowered = text.lower().replace("’", "'")
    context = sentence.lower().replace("’", "'")
    for rule in equivalences():
        if rule.contexte is not None and not rule.contexte.search(context):
            continue
        lowered = rule.prose.sub(rule.fichiers, lowered)
    return lowered


def _stem(word: str) -> str:
    for suffix in ("s", "x"):
        if len(word) > 3 and word.endswith(suffix):
            word = word[: -len(suffix)]
    for suffix in ("er", "e"):
        if len(word) > 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> str:
    """The content words of a rewritten text, stemmed, in order, space-separated."""
    folded = strip_accents(text).lower().replace("œ", "oe")
    words = [_stem(w) for w in re.split(r"[^a-z]+", folded) if w and w not in _STOP]
    return " ".join(w for w in words if w not in _STOP)


def score(phrase: str, sentence: str, libelle: str) -> float:
    """Similarity 0–100 of a figure's phrase and an indicator's label (see the module)."""
    left = content_words(rewrite(phrase, sentence))
    right = content_words(rewrite(libelle))
    if len(left.split()) < 2 or not right or right.split()[0] not in left.split():
        return 0.0  # the phrase must name what the indicator counts (its label's first content word)
    return float(fuzz.token_set_ratio(left, right))


def link(figures: list[tuple[int, str, str]], candidates: list[Candidate]) -> dict[int, tuple[Candidate, float]]:
    """One-to-one links between figures ``(id, phrase, sentence)`` and ``candidates``, greedily by
    score, each at least :data:`LINK_THRESHOLD`. Returns ``{figure id: (candidate, score)}``."""
    pairs = []
    for figure_id, phrase, sentence in figures:
        scored = [(score(phrase, sentence, c.libelle), index) for index, c in enumerate(candidates)]
        scored = sorted((s, i) for s, i in scored if s >= LINK_THRESHOLD)
        if len(scored) > 1 and scored[-1][0] == scored[-2][0]:
            continue  # as like two indicators (`… de sexe masculin`, `… de sexe féminin`): ambiguous, no link
        pairs.extend((-value, figure_id, index) for value, index in scored)
    pairs.sort()
    linked: dict[int, tuple[Candidate, float]] = {}
    used: set[int] = set()
    for negative, figure_id, index in pairs:
        if figure_id in linked or index in used:
            continue
        linked[figure_id] = (candidates[index], -negative)
        used.add(index)
    return linked
