"""What consumers read is right and in their language (issue 10, item 7; item 6 for the README's readers).

The published ``origine`` of a known nomenclature event is French and cites official documents by
their addresses; the README's one-line readers of the Parquet files work as written.
"""

from __future__ import annotations

import re
from decimal import Decimal

import duckdb
import pandas as pd
import polars as pl

from tests.conftest import ROOT


def test_known_events_cite_official_documents_in_french(built) -> None:
    with duckdb.connect(str(built.database), read_only=True) as db:
        known = db.sql("SELECT code_programme, vers, origine FROM nomenclature_evenements WHERE origine <> 'derive'")
        rows = known.fetchall()
    assert rows
    for _, _, origine in rows:
        assert re.search(r"https://(www\.)?(data\.economie\.gouv\.fr|budget\.gouv\.fr|senat\.fr)/\S+", origine)
        assert not re.search(r"\b(project|is not|its work|funded by|GLOSSARY)\b", origine)
    (transfer,) = [r for r in rows if r[0] == "352"]
    assert transfer[1] == "129-16"
    assert transfer[2].startswith("PLF 2025 : le programme 352 « Innovation et transformation numériques »")
    assert "https://data.economie.gouv.fr/explore/dataset/plf25-depenses-2025-selon-destination/" in transfer[2]


def test_the_readme_readers_read_the_parquet_files_with_exact_amounts(built) -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = {
        reader: re.search(rf"^({prefix}\.read_parquet\(\"output/parquet/credits\.parquet\"\))", text, re.M)
        for reader, prefix in (("duckdb", "duckdb"), ("polars", "pl"), ("pandas", "pd"))
    }
    assert all(lines.values()), lines
    path = str(built.parquet / "credits.parquet")
    frames = {
        reader: eval(
            match.group(1).replace("output/parquet/credits.parquet", path), {"duckdb": duckdb, "pl": pl, "pd": pd}
        )
        for reader, match in lines.items()
    }
    with duckdb.connect(str(built.database), read_only=True) as db:
        ((rows, ae_total),) = db.sql("SELECT count(*), sum(ae) FROM credits").fetchall()
    relation = frames["duckdb"]
    assert dict(zip(relation.columns, map(str, relation.types), strict=True))["ae"] == "DECIMAL(18,2)"
    assert relation.aggregate("count(*), sum(ae)").fetchall() == [(rows, ae_total)]
    assert frames["polars"].schema["ae"] == pl.Decimal(18, 2)
    assert frames["polars"].height == rows and frames["polars"]["ae"].sum() == ae_total
    frame = frames["pandas"]
    assert len(frame) == rows
    assert all(isinstance(v, Decimal) for v in frame["ae"].dropna())
    assert sum(frame["ae"].dropna()) == ae_total


def test_the_note_on_a_computed_phase_is_french(built) -> None:
    with duckdb.connect(str(built.database), read_only=True) as db:
        notes = db.sql("SELECT fichier, message FROM sources WHERE message LIKE 'phase(s)%'").fetchall()
    assert notes == [
        (
            "LFI_2023_Credits_Destination_Nature.csv",
            "phase(s) LFI inutilisable(s) dans le fichier (une même valeur sur chaque ligne) : "
            "calculée(s) comme PLF + AMD",
        )
    ]


def test_the_readme_names_every_niveau_the_events_model_admits() -> None:
    # Found by a tester: the README said `mission`, `programme` or `action` while the model admits `sous_action`.
    from schemas.nomenclature import EvenementsModel

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### `nomenclature_evenements`", 1)[1]
    (row,) = [line for line in section.splitlines() if line.startswith("| niveau |")][:1]
    admitted = EvenementsModel.to_schema().columns["niveau"].checks[0].statistics["allowed_values"]
    assert set(re.findall(r"`(\w+)`", row.split("(", 1)[0])) == set(admitted), row
