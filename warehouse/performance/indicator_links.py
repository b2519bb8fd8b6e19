"""``indicateur_correspondances``: links between the sub-indicators of different vintages.

The same code can name different indicators in different vintages (GLOSSARY.md,
"Performance"), so values are keyed by document and identity across documents is
stated here, never assumed. For each pair of documents (older ``a``, newer ``b``):

1. ``methode = 'identifiant'``: both sides carry the same numeric sub-indicator id
   (the ids of the State's performance system, e.g. ``30157``) at the same ``niveau``;
2. ``methode = 'libelle'``: for sub-indicators still unlinked on both sides, within the
   same programme (niveau ``programme``) or mission (niveau ``mission``), the pairs whose
   labels (indicator + sub-indicator, accents and case folded) are most similar, one to
   one, greedily by score, above :data:`LABEL_THRESHOLD`.

Every link carries its ``score``: the label similarity 0–100
(``rapidfuzz.fuzz.token_sort_ratio``), for identifier links too, so that a shared id
over diverging labels shows. ``meme_code_indicateur`` says whether both sides carry the
same ``code_indicateur``.
"""

from __future__ import annotations

import polars as pl
from rapidfuzz import fuzz, process, utils

from schemas.headers import strip_accents

__all__ = ["LABEL_THRESHOLD", "LINK_SCHEMA", "link_sub_indicators"]

#: Least label similarity (0–100) for a link by label alone.
LABEL_THRESHOLD = 90.0

_SIDE = ["niveau", "code_mission", "code_programme", "code_indicateur", "code_sous_indicateur", "libelle"]

LINK_SCHEMA: dict[str, pl.DataType] = {
    **{f"{c}_a": pl.String for c in ["document", *_SIDE]},
    **{f"{c}_b": pl.String for c in ["document", *_SIDE]},
    "methode": pl.String,
    "score": pl.Float64,
    "meme_code_indicateur": pl.Boolean,
}
_ORDER = [
    "document_a",
    *[f"{c}_a" for c in _SIDE],
    "document_b",
    *[f"{c}_b" for c in _SIDE],
    "methode",
    "score",
    "meme_code_indicateur",
]


def _text(label: str | None) -> str:
    return utils.default_process(strip_accents(label or ""))


def _score(a: str, b: str) -> float:
    return float(fuzz.token_sort_ratio(a, b, processor=None))


def _side(indicateurs: pl.DataFrame, document: str) -> list[dict]:
    rows = indicateurs.filter(pl.col("document") == document).with_columns(
        libelle=pl.concat_str(
            [pl.col("libelle_indicateur"), pl.col("libelle_sous_indicateur").fill_null("")], separator=" — "
        )
    )
    return rows.select("document", *_SIDE).to_dicts()


def _link(a: dict, b: dict, method: str, score: float) -> dict:
    row = {f"{k}_a": v for k, v in a.items()} | {f"{k}_b": v for k, v in b.items()}
    return row | {
        "methode": method,
        "score": round(score, 1),
        "meme_code_indicateur": a["code_indicateur"] == b["code_indicateur"],
    }


def _block(row: dict) -> tuple:
    """Where a label link may be looked for: the same programme, or the same mission at mission level."""
    if row["niveau"] == "programme":
        return ("programme", row["code_programme"])
    return ("mission", row["code_mission"])


def link_sub_indicators(indicateurs: pl.DataFrame, threshold: float = LABEL_THRESHOLD) -> pl.DataFrame:
    """The links between sub-indicators of every pair of documents in ``indicateurs``.

    ``indicateurs``: rows of the ``indicateurs`` table (columns ``document``, ``millesime``,
    ``type_document``, ``niveau``, ``code_mission``, ``code_programme``, ``code_indicateur``,
    ``code_sous_indicateur``, ``libelle_indicateur``, ``libelle_sous_indicateur``). Documents
    are ordered by vintage (then PAP before RAP); side ``a`` is the older. Returns a frame
    with the columns of :data:`LINK_SCHEMA`, one row per link.
    """
    documents = (
        indicateurs.select("document", "millesime", "type_document")
        .unique()
        .sort("millesime", "type_document")["document"]
        .to_list()
    )
    links: list[dict] = []
    for position, document_a in enumerate(documents):
        side_a = _side(indicateurs, document_a)
        for document_b in documents[position + 1 :]:
            side_b = _side(indicateurs, document_b)
            links.extend(_links_between(side_a, side_b, threshold))
    frame = pl.DataFrame(links, schema=LINK_SCHEMA, orient="row").select(_ORDER)
    return frame.sort("document_a", "document_b", "code_sous_indicateur_a", "code_sous_indicateur_b")


def _links_between(side_a: list[dict], side_b: list[dict], threshold: float) -> list[dict]:
    links = []
    by_id: dict[tuple[str, str], list[int]] = {}
    for index, row in enumerate(side_b):
        if row["code_sous_indicateur"].isdigit():
            by_id.setdefault((row["niveau"], row["code_sous_indicateur"]), []).append(index)
    linked_a, linked_b = set(), set()
    for index_a, row in enumerate(side_a):
        for index_b in by_id.get((row["niveau"], row["code_sous_indicateur"]), []):
            other = side_b[index_b]
            links.append(_link(row, other, "identifiant", _score(_text(row["libelle"]), _text(other["libelle"]))))
            linked_a.add(index_a)
            linked_b.add(index_b)
    blocks: dict[tuple, tuple[list[int], list[int]]] = {}
    for index, row in enumerate(side_a):
        if index not in linked_a:
            blocks.setdefault(_block(row), ([], []))[0].append(index)
    for index, row in enumerate(side_b):
        if index not in linked_b and _block(row) in blocks:
            blocks[_block(row)][1].append(index)
    for rows_a, rows_b in blocks.values():
        if not rows_a or not rows_b:
            continue
        texts_a = [_text(side_a[i]["libelle"]) for i in rows_a]
        texts_b = [_text(side_b[i]["libelle"]) for i in rows_b]
        scores = process.cdist(texts_a, texts_b, scorer=fuzz.token_sort_ratio, processor=None)
        candidates = sorted(
            (
                (float(scores[i][j]), i, j)
                for i in range(len(rows_a))
                for j in range(len(rows_b))
                if scores[i][j] >= threshold
            ),
            key=lambda c: (-c[0], c[1], c[2]),
        )
        used_a, used_b = set(), set()
        for score, i, j in candidates:
            if i in used_a or j in used_b:
                continue
            used_a.add(i)
            used_b.add(j)
            links.append(_link(side_a[rows_a[i]], side_b[rows_b[j]], "libelle", score))
    return links
