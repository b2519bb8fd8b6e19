"""The documents a build reads: RAP/PAP texts, budget.gouv.fr programme pages, workbook narratives.

Three kinds of input, all reduced to one :class:`Document` (its text and what it is about):

- a plain-text RAP or PAP extract (``RAP_2021_P352_presentation_strategique.txt``): recognised by
  its content, a line ``Responsable du programme n° 352 : <libellé>``; the publication (``RAP``,
  ``PAP``) and vintage come from the file's path (``RAP``/``PLR`` → RAP, ``PAP``/``PLF`` → PAP, its one
  four-digit year), as for the credit files whose content states no year;
- a budget.gouv.fr programme page ``FR_<année>_<PLF|PLR>_BG_PGM_<num>_<STRAT|PERF>.html``, reduced to
  text with the standard library's HTML parser (one line per block element);
- the ``commentFP`` column of the nomenclature workbooks ``MiS_PGM_ACT_SSA.xls`` (read through
  :func:`warehouse.reading.tables.read_tables`): one narrative per programme line (``PGM``); the workbook's
  phase gives the kind (PLF → PAP, PLRG/EXEC → RAP) and its exercice the vintage.

Offsets (``debut``, ``fin``) in the declarations refer to :attr:`Document.texte` exactly as kept here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import polars as pl

from schemas.codes import CodeError, normalise_programme
from warehouse.reading.csv_files import decode_text
from warehouse.reading.tables import RawTable

__all__ = ["Document", "DocumentError", "html_to_text", "narratives", "prepare_narrative", "read_document"]

_RESPONSIBLE = re.compile(r"Responsable du programme n[°o]\s*(?P<code>\d{3})\s*:\s*(?P<libelle>[^\n|]+)", re.I)
_PAGE_NAME = re.compile(r"FR_(?P<annee>\d{4})_(?P<loi>PLF|PLR|PLRG)_[A-Z]+_PGM_(?P<code>\d{3})_(?:STRAT|PERF)", re.I)
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_KIND_IN_PATH = {"rap": "RAP", "plr": "RAP", "plrg": "RAP", "pap": "PAP", "plf": "PAP"}
_BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "section", "td"}


class DocumentError(ValueError):
    """A document that is recognised but cannot be placed (its kind or vintage unknown)."""


@dataclass(frozen=True)
class Document:
    """One text to read figures from.

    ``document``: ``RAP 2021`` for a report's text, ``PAP 2024 commentFP`` for a workbook narrative.
    ``texte``: the text, lines kept (a line is a paragraph or a list item).
    """

    document: str
    type_document: str  # "PAP" or "RAP"
    exercice: int
    code_programme: str
    libelle_programme: str | None
    responsable: str | None
    source_id: str
    texte: str
    format: str  # "document_texte", "document_html", "commentaire_nomenclature"
    source_ligne: int | None = None


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):  # noqa: ARG002 - HTMLParser's signature
        if tag in ("script", "style"):
            self.skipping += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The text of an HTML page: one line per block element, spaces collapsed, scripts dropped."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(parser.parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _kind_and_year(path: str) -> tuple[str | None, int | None]:
    tokens = {t for t in re.findall(r"[a-z]+", path.lower()) if t in _KIND_IN_PATH}
    kinds = {_KIND_IN_PATH[t] for t in tokens}
    years = set(_YEAR.findall(path))
    return (kinds.pop() if len(kinds) == 1 else None), (int(years.pop()) if len(years) == 1 else None)


def read_document(path: Path, fichier: str, source_id: str) -> Document | None:
    """The document in the file at ``path``, or None if it is not a programme's RAP/PAP text or page.

    Raises :class:`DocumentError` for a programme text whose kind (RAP/PAP) or vintage the path
    does not tell.
    """
    data = path.read_bytes()
    if data[:8].startswith((b"\xd0\xcf\x11\xe0", b"PK\x03\x04")) or b"\x00\x00" in data[:4000]:
        return None
    try:
        text, _ = decode_text(data)
    except ValueError:
        return None
    page = _PAGE_NAME.search(Path(fichier).name)
    is_html = bool(re.search(r"<\s*(html|body|p|div)\b", text[:5000], re.I))
    if is_html:
        text, fmt = html_to_text(text), "document_html"
    else:
        text, fmt = text.replace("\r\n", "\n").replace("\r", "\n"), "document_texte"
    responsible = _RESPONSIBLE.search(text)
    if page is None and responsible is None:
        return None
    code = responsible.group("code") if responsible else page.group("code")
    kind, year = _kind_and_year(fichier)
    if page is not None:
        kind, year = ("PAP" if page.group("loi").upper() == "PLF" else "RAP"), int(page.group("annee"))
    if kind is None or year is None:
        raise DocumentError(f"{fichier}: programme {code}'s text, but its kind (RAP/PAP) or year is not in its path")
    libelle = responsible.group("libelle").strip() if responsible else None
    lines = [line.strip(" |") for line in text.split("\n")]
    person = next((line for line in lines[:5] if line and not _RESPONSIBLE.search(line)), None)
    return Document(f"{kind} {year}", kind, year, code, libelle, person, source_id, text, fmt)


def prepare_narrative(raw: str) -> str:
    """A workbook narrative as text: ``\\n\\r`` line ends read as line ends, soft wraps (a line that
    does not end a sentence) joined with a space, blank lines dropped, spaces collapsed."""
    text = raw.replace("\r\n", "\n").replace("\n\r", "\n").replace("\r", "\n")
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        joined = ""
        for line in block.split("\n"):
            line = re.sub(r"[ \t\u00a0]+", " ", line).strip()
            if not line:
                continue
            if not joined:
                joined = line
            elif re.search(r"[.;:!?»]$", joined):
                joined += "\n" + line
            else:
                joined += " " + line
        if joined:
            paragraphs.append(joined)
    return "\n".join(paragraphs)


def narratives(table: RawTable, source_id: str, exercice: int, phase: str) -> list[Document]:
    """The ``commentFP`` narrative of each programme line (``PGM``) of a nomenclature workbook.

    ``exercice`` and ``phase``: the workbook's (``PLF`` → a PAP narrative, ``EXEC`` → a RAP one).
    A workbook with no ``commentFP`` column gives none.
    """
    frame = table.to_frame().with_row_index("source_ligne", 1)
    if "commentfp" not in frame.columns or not {"type_ligne", "code"} <= set(frame.columns):
        return []
    kind = "RAP" if phase in ("EXEC", "LFR") else "PAP"
    rows = frame.filter(
        pl.col("commentfp").is_not_null() & pl.col("type_ligne").str.to_uppercase().str.strip_chars().eq("PGM")
    )
    found = []
    for row in rows.iter_rows(named=True):
        try:
            code = normalise_programme(row["code"])
        except CodeError:
            continue
        texte = prepare_narrative(row["commentfp"])
        if not texte:
            continue
        found.append(
            Document(
                f"{kind} {exercice} commentFP",
                kind,
                exercice,
                code,
                row.get("libelle"),
                None,
                source_id,
                texte,
                "commentaire_nomenclature",
                int(row["source_ligne"]),
            )
        )
    return found
