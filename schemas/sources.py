"""Pandera model of the ``sources`` table (CONTRACT.md, "sources: provenance")."""

import pandera.polars as pa
import polars as pl

__all__ = ["STATUTS", "SourcesModel"]

#: What happened to a file: read, in error, of no covered family, outside ``--years``.
STATUTS = ("lu", "erreur", "absent", "non_reconnu", "hors_selection")


class SourcesModel(pa.DataFrameModel):
    """One row per source file seen by the build."""

    source_id: str = pa.Field(unique=True, description="catalogue id of the file")
    url: str = pa.Field(nullable=True, description="official address, where known")
    fichier: str = pa.Field(description="path of the file in the sources folder")
    sha256: str = pa.Field(nullable=True, str_matches=r"^([0-9a-f]{64})?$", description="sha256 of the bytes read")
    octets: pl.Int64 = pa.Field(nullable=True, ge=0, description="size in bytes")
    lignes: pl.Int64 = pa.Field(nullable=True, ge=0, description="data rows read")
    format: str = pa.Field(nullable=True, description="family recognised, null if none")
    charge_le: pl.Datetime = pa.Field(nullable=True, description="time of the last successful read (UTC)")
    feuille: str = pa.Field(nullable=True, description="the workbook sheet read (visible sheets only); null for a CSV")
    statut: str = pa.Field(isin=STATUTS, description="lu, erreur, absent, non_reconnu, hors_selection")
    message: str = pa.Field(nullable=True, description="the error (file, row, column), or a note")
    lignes_retenues: pl.Int64 = pa.Field(nullable=True, ge=0, description="data rows kept")
    lignes_ecartees: pl.Int64 = pa.Field(nullable=True, ge=0, description="data rows set aside")
    lignes_preambule: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="lines above the header set aside (titles, blank lines, `sep=;`)"
    )
    lignes_recodees: pl.Int64 = pa.Field(
        nullable=True, ge=0, description="lines of a UTF-8 file whose stray bytes were decoded as Windows-1252"
    )
    lignes_chargees: pl.Int64 = pa.Field(nullable=True, ge=0, description="rows loaded in credits")
    vu_le: pl.Datetime = pa.Field(description="time the file was last seen (UTC)")

    class Config:
        strict = False
        coerce = True
