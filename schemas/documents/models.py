"""Pandera models of ``documents``, ``declarations``, ``rapprochements`` (CONTRACT.md; README "Documents")."""

from __future__ import annotations

from typing import Annotated

import pandera.polars as pa
import polars as pl

Money = Annotated[pl.Decimal, 18, 2]
Precision = Annotated[pl.Decimal, 18, 3]

__all__ = ["DeclarationsModel", "DocumentsModel", "RapprochementsModel", "STATUTS", "TYPES_DECLARATION"]

TYPES_DECLARATION = ("credits", "indicateur", "autre")
STATUTS = ("concorde", "discorde", "sans_donnee")
_DOCUMENT = r"^(PAP|RAP) \d{4}( commentFP)?$"


class DocumentsModel(pa.DataFrameModel):
    """One row per document read: a RAP/PAP text or page, or one programme's workbook narrative."""

    document: str = pa.Field(str_matches=_DOCUMENT, description="`RAP 2021`; `RAP 2024 commentFP` for a narrative")
    type_document: str = pa.Field(isin=("PAP", "RAP"), description="`PAP` or `RAP`")
    exercice: pl.Int16 = pa.Field(ge=2000, le=2100, description="the vintage")
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="the programme the text is about")
    libelle_programme: str = pa.Field(nullable=True, description="its label, as the text gives it")
    responsable: str = pa.Field(nullable=True, description="the responsable de programme, where the text names one")
    source_id: str = pa.Field(description="the file it was read from")
    source_ligne: pl.Int32 = pa.Field(nullable=True, description="for a narrative, its row in the workbook")
    format: str = pa.Field(description="`document_texte`, `document_html`, `commentaire_nomenclature`")
    texte: str = pa.Field(description="the text, as read (offsets of the declarations refer to it)")
    nb_declarations: pl.Int32 = pa.Field(ge=0, description="figures extracted")

    class Config:
        strict = True
        unique = ["document", "code_programme", "source_id"]


class DeclarationsModel(pa.DataFrameModel):
    """One row per figure a text states (a credit figure naming neither AE nor CP gives one per quantity)."""

    document: str = pa.Field(str_matches=_DOCUMENT)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$")
    type_declaration: str = pa.Field(isin=TYPES_DECLARATION, description="credits, indicateur, autre")
    exercice: pl.Int16 = pa.Field(nullable=True, description="the year the figure refers to")
    phase: str = pa.Field(nullable=True, isin=("PLF", "LFI", "LFR", "EXEC"), description="the phase the text names")
    grandeur: str = pa.Field(nullable=True, description="`ae`, `cp`, `titre2`, or the indicator's code")
    valeur: Money = pa.Field(description="euros, or the indicator's unit")
    unite: str = pa.Field(nullable=True, description="`€`, `%`, or null for a count")
    precision: Precision = pa.Field(description="half-width of the interval the stated figure covers")
    texte: str = pa.Field(description="the exact span of the figure")
    debut: pl.Int32 = pa.Field(ge=0, description="offset of the span in the document's text")
    fin: pl.Int32 = pa.Field(ge=0, description="end offset (exclusive)")
    code_sous_indicateur: str = pa.Field(nullable=True, description="the sub-indicator linked")
    document_indicateur: str = pa.Field(nullable=True, description="the document of the indicator linked")
    libelle_indicateur: str = pa.Field(nullable=True, description="the label it was linked by")
    score: float = pa.Field(nullable=True, ge=0, le=100, description="label similarity of the link (rapidfuzz)")
    source_id: str = pa.Field(description="the document's file")

    class Config:
        strict = True


class RapprochementsModel(pa.DataFrameModel):
    """One row per credit or indicator declaration, compared with the warehouse."""

    document: str = pa.Field(str_matches=_DOCUMENT)
    code_programme: str = pa.Field(str_matches=r"^\d{3}$")
    exercice: pl.Int16 = pa.Field(nullable=True)
    phase: str = pa.Field(nullable=True, description="the phase compared with (named, or the latest voted one)")
    grandeur: str = pa.Field()
    valeur_declaree: Money = pa.Field()
    valeur_donnees: Money = pa.Field(nullable=True, description="the warehouse's figure")
    phase_donnees: str = pa.Field(nullable=True, description="the phase `valeur_donnees` comes from")
    ecart: Money = pa.Field(nullable=True, description="declared − data, where compared")
    statut: str = pa.Field(isin=STATUTS)
    code_sous_indicateur: str = pa.Field(nullable=True)
    document_donnees: str = pa.Field(nullable=True, description="the performance document of the value")
    precision: Precision = pa.Field()
    debut: pl.Int32 = pa.Field(ge=0, description="joins the declaration (document, code_programme, debut, grandeur)")
    source_id: str = pa.Field()
    source_donnees: str = pa.Field(nullable=True, description="the file of `valeur_donnees`")

    class Config:
        strict = True
