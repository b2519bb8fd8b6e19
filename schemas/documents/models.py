"""Pandera models of ``documents``, ``declarations``, ``rapprochements`` (README, "Documents and reconciliation")."""

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

    document: str = pa.Field(str_matches=_DOCUMENT, description="`RAP 2021` ; `RAP 2024 commentFP` pour un commentaire")
    type_document: str = pa.Field(isin=("PAP", "RAP"), description="`PAP` ou `RAP`")
    exercice: pl.Int16 = pa.Field(ge=2000, le=2100, description="le millésime")
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="le programme dont parle le texte")
    libelle_programme: str = pa.Field(nullable=True, description="son libellé, tel que le donne le texte")
    responsable: str = pa.Field(nullable=True, description="le responsable de programme, si le texte le nomme")
    source_id: str = pa.Field(description="le fichier d'où il a été lu")
    source_ligne: pl.Int32 = pa.Field(nullable=True, description="pour un commentaire, sa ligne dans le classeur")
    format: str = pa.Field(description="`document_texte`, `document_html`, `commentaire_nomenclature`")
    texte: str = pa.Field(description="le texte tel que lu (les positions des déclarations s'y rapportent)")
    nb_declarations: pl.Int32 = pa.Field(ge=0, description="chiffres extraits")

    class Config:
        strict = True
        unique = ["document", "code_programme", "source_id"]


class DeclarationsModel(pa.DataFrameModel):
    """One row per figure a text states (a credit figure naming neither AE nor CP gives one per quantity)."""

    document: str = pa.Field(str_matches=_DOCUMENT, description="le document, par ex. `RAP 2021`")
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="code du programme, 3 chiffres")
    type_declaration: str = pa.Field(isin=TYPES_DECLARATION, description="credits, indicateur, autre")
    exercice: pl.Int16 = pa.Field(nullable=True, description="l'exercice du chiffre")
    phase: str = pa.Field(
        nullable=True,
        isin=("PLF", "LFI", "LFR", "EXEC"),
        description="la phase que nomme le texte : PLF, LFI, LFR, EXEC",
    )
    grandeur: str = pa.Field(nullable=True, description="`ae`, `cp`, `titre2`, ou le code de l'indicateur")
    valeur: Money = pa.Field(description="en euros, ou dans l'unité de l'indicateur")
    unite: str = pa.Field(nullable=True, description="`€`, `%`, ou vide pour un nombre")
    precision: Precision = pa.Field(description="demi-largeur de l'intervalle que couvre le chiffre déclaré")
    texte: str = pa.Field(description="le passage exact du chiffre")
    debut: pl.Int32 = pa.Field(ge=0, description="position du début du passage dans le texte du document")
    fin: pl.Int32 = pa.Field(ge=0, description="position de fin (exclue)")
    code_sous_indicateur: str = pa.Field(nullable=True, description="le sous-indicateur rattaché")
    document_indicateur: str = pa.Field(nullable=True, description="le document de l'indicateur rattaché")
    libelle_indicateur: str = pa.Field(nullable=True, description="le libellé par lequel il a été rattaché")
    score: float = pa.Field(
        nullable=True, ge=0, le=100, description="similarité des libellés du rattachement (rapidfuzz, 0–100)"
    )
    source_id: str = pa.Field(description="le fichier du document")

    class Config:
        strict = True


class RapprochementsModel(pa.DataFrameModel):
    """One row per credit or indicator declaration, compared with the warehouse."""

    document: str = pa.Field(str_matches=_DOCUMENT, description="le document, par ex. `RAP 2021`")
    code_programme: str = pa.Field(str_matches=r"^\d{3}$", description="code du programme, 3 chiffres")
    exercice: pl.Int16 = pa.Field(nullable=True, description="l'exercice du chiffre")
    phase: str = pa.Field(nullable=True, description="la phase comparée (nommée, ou la dernière votée)")
    grandeur: str = pa.Field(description="`ae`, `cp`, `titre2`, ou le code de l'indicateur")
    valeur_declaree: Money = pa.Field(description="le chiffre déclaré par le texte")
    valeur_donnees: Money = pa.Field(nullable=True, description="le chiffre de l'entrepôt")
    phase_donnees: str = pa.Field(nullable=True, description="la phase d'où vient `valeur_donnees`")
    ecart: Money = pa.Field(nullable=True, description="déclaré − données, si comparé")
    statut: str = pa.Field(isin=STATUTS, description="concorde, discorde, sans_donnee")
    code_sous_indicateur: str = pa.Field(nullable=True, description="le sous-indicateur rattaché")
    document_donnees: str = pa.Field(nullable=True, description="le document de performance de la valeur")
    precision: Precision = pa.Field(description="demi-largeur de l'intervalle que couvre le chiffre déclaré")
    debut: pl.Int32 = pa.Field(ge=0, description="joint la déclaration (document, code_programme, debut, grandeur)")
    source_id: str = pa.Field(description="le fichier du document")
    source_donnees: str = pa.Field(nullable=True, description="le fichier de `valeur_donnees`")

    class Config:
        strict = True
