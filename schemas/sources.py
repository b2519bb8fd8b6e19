"""Pandera model of the ``sources`` table (README, "The tables", ``sources``)."""

import pandera.polars as pa
import polars as pl

__all__ = ["STATUTS", "SourcesModel"]

#: What happened to a file: read, in error, of no covered family, outside ``--years``.
STATUTS = ("lu", "erreur", "absent", "non_reconnu", "hors_selection", "doublon")


class SourcesModel(pa.DataFrameModel):
    """One row per source file seen by the build."""

    source_id: str = pa.Field(unique=True, description="identifiant du fichier (catalogue)")
    url: str = pa.Field(nullable=True, description="adresse officielle du fichier, si connue")
    fichier: str = pa.Field(description="chemin du fichier dans le dossier des sources")
    sha256: str = pa.Field(
        nullable=True, str_matches=r"^([0-9a-f]{64})?$", description="empreinte sha256 des octets lus"
    )
    octets: pl.Int64 = pa.Field(nullable=True, ge=0, description="taille en octets")
    lignes: pl.Int64 = pa.Field(
        nullable=True,
        ge=0,
        description=(
            "lignes lues : les lignes de données sous l'en-tête ; pour un fichier de crédits, aussi les lignes "
            "au-dessus de l'en-tête écartées (lignes_preambule), de sorte que "
            "lignes = lignes_retenues + lignes_ecartees"
        ),
    )
    format: str = pa.Field(nullable=True, description="famille de fichier reconnue (vide si aucune)")
    charge_le: pl.Datetime = pa.Field(
        nullable=True, description="date et heure (UTC) du premier chargement de ce contenu (même sha256)"
    )
    feuille: str = pa.Field(nullable=True, description="feuille du classeur lue (feuilles visibles) ; vide pour un CSV")
    statut: str = pa.Field(
        isin=STATUTS, description="statut : lu, erreur, absent, non_reconnu, hors_selection, doublon"
    )
    message: str = pa.Field(nullable=True, description="l'erreur (fichier, ligne, colonne) ou une remarque")
    lignes_retenues: pl.Int64 = pa.Field(nullable=True, ge=0, description="lignes de données retenues")
    lignes_ecartees: pl.Int64 = pa.Field(nullable=True, ge=0, description="lignes de données écartées")
    lignes_preambule: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="lignes au-dessus de l'en-tête écartées (titres, lignes vides, `sep=;`)"
    )
    lignes_recodees: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="lignes d'un fichier UTF-8 dont des octets isolés ont été lus en Windows-1252"
    )
    lignes_chargees: pl.Int64 = pa.Field(nullable=True, ge=0, description="lignes chargées dans credits")
    vu_le: pl.Datetime = pa.Field(description="date et heure (UTC) où le fichier a été vu pour la dernière fois")

    class Config:
        strict = False
        coerce = True
