"""Bad input loses nothing (CONTRACT.md): unknown files are listed, a broken source keeps its last good data.

Works on a copy of the real sources folder (the tests never change the snapshot).
"""

import csv
import io
import shutil

import duckdb
import polars as pl

from tests.conftest import SOURCES, run_build, sources_with


def _table(database, sql):
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.sql(sql).pl()


def _drop_column(path, column):
    text = path.read_text(encoding="ascii")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    index = rows[0].index(column)
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows([r[:index] + r[index + 1 :] for r in rows])
    path.write_text(out.getvalue(), encoding="ascii")


def test_unknown_file_then_broken_source(sources_copy, tmp_path):
    out = tmp_path / "out"
    first = run_build(sources_copy, out)
    assert first.returncode == 0, first.stdout + first.stderr
    credits_before = _table(first.database, "SELECT * FROM credits ORDER BY ALL")
    parquet_before = pl.read_parquet(first.parquet / "credits.parquet").sort(pl.all())

    # 1. A file of no covered family, deep in the folder: listed with its header; the build succeeds.
    (sources_copy / "nouveau").mkdir()
    (sources_copy / "nouveau" / "inconnu.csv").write_text("colonne_a;colonne_b\n1;2\n", encoding="utf-8")
    second = run_build(sources_copy, out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "nouveau/inconnu.csv: colonne_a | colonne_b" in second.stdout
    (row,) = _table(second.database, "SELECT statut, entete FROM sources WHERE fichier = 'nouveau/inconnu.csv'").rows()
    assert row == ("non_reconnu", "colonne_a | colonne_b")
    # Re-running is idempotent: the same credits, nothing duplicated.
    assert _table(second.database, "SELECT * FROM credits ORDER BY ALL").equals(credits_before)

    # 2. A credit file loses a required column: named error, that source keeps its last good data.
    _drop_column(sources_copy / "PLF_2020_Credits.csv", "categorie")
    third = run_build(sources_copy, out)
    assert third.returncode != 0
    assert "PLF_2020_Credits.csv" in third.stdout and "categorie" in third.stdout
    (row,) = _table(third.database, "SELECT statut, message, sha256 FROM sources WHERE source_id = 'plf-2020'").rows()
    assert row[0] == "erreur" and "PLF_2020_Credits.csv" in row[1] and "categorie" in row[1]
    assert row[2] == "74fab38f78daf0ab7b81835c7c9e0535e20e2fa74a9b03892f169ad495619797"  # the last good file's
    credits_after = _table(third.database, "SELECT * FROM credits ORDER BY ALL")
    assert credits_after.equals(credits_before)  # PLF 2020 as before, every other source loaded again
    assert pl.read_parquet(third.parquet / "credits.parquet").sort(pl.all()).equals(parquet_before)
    loaded = _table(third.database, "SELECT count(*) AS n FROM sources WHERE statut = 'lu' AND format LIKE 'credits%'")[
        "n"
    ][0]
    assert loaded == 22  # the 23 credit files but the broken one
    assert "1 source(s) not loaded" in third.stdout
    coverage = _table(
        third.database,
        "SELECT type_budget, statut, source_autoritaire, lignes > 0 AS lignes FROM couverture "
        "WHERE exercice = 2020 AND phase = 'PLF' ORDER BY type_budget",
    ).rows()
    assert coverage == [("BA", "absent", None, False)] + [
        (t, "en_erreur", "plf-2020", True) for t in ("BG", "CAS", "CCF")
    ]


def test_bad_value_names_file_row_and_column(tmp_path):
    source = tmp_path / "sources"
    source.mkdir()
    data = (SOURCES / "LFI_2020_Credits.csv").read_text(encoding="ascii").splitlines()
    fields = data[5].split(";")
    fields[10] = "douze"
    data[5] = ";".join(fields)
    (source / "LFI_2020_Credits.csv").write_text("\n".join(data) + "\n", encoding="ascii")
    # The other files of the exercice too: the PLF is loaded beside the file in error, and the build
    # publishes its release (CONTRACT.md, "The outputs"); a source in error alone does not stop it.
    for name in ("PLF_2020_Credits.csv", "PLF_2020_Nomenclature.csv", "LFI_2020_Nomenclature.csv"):
        (source / name).write_bytes((SOURCES / name).read_bytes())
    build = run_build(source, tmp_path / "out")
    assert build.returncode != 0
    assert "LFI_2020_Credits.csv, ligne 5, colonne 'AE LFI 2020': not an amount: 'douze'" in build.stdout
    assert "release: " in build.stdout and " published" in build.stdout
    loaded = _table(build.database, "SELECT DISTINCT phase FROM credits")["phase"].to_list()
    assert loaded == ["PLF"]  # the other source of the exercice is loaded


def test_years_limit_the_build_and_leave_other_years_as_they_were(tmp_path):
    out = tmp_path / "out"
    first = run_build(SOURCES, out, "--years", "2020")
    assert first.returncode == 0, first.stdout + first.stderr
    before = _table(
        first.database,
        "SELECT source_id, charge_le FROM sources WHERE exercice = 2020 AND format LIKE 'credits%' ORDER BY 1",
    )
    assert before["source_id"].to_list() == ["lfi-2020", "plf-2020"]
    statuses = _table(first.database, "SELECT statut, count(*) AS n FROM sources GROUP BY 1 ORDER BY 1").rows()
    assert ("hors_selection", 21) in statuses  # the other credit files, seen but not built
    second = run_build(SOURCES, out, "--years", "2019-2019")
    assert second.returncode == 0, second.stdout + second.stderr
    assert _table(second.database, "SELECT DISTINCT exercice FROM credits ORDER BY 1")["exercice"].to_list() == [
        2019,
        2020,
    ]
    after = _table(
        second.database,
        "SELECT source_id, charge_le FROM sources WHERE exercice = 2020 AND format LIKE 'credits%' ORDER BY 1",
    )
    assert after.equals(before)
    nothing = run_build(SOURCES, out, "--years", "2030")
    assert nothing.returncode == 1 and "nothing to build" in nothing.stderr


def test_a_performance_file_over_the_size_limit_is_a_source_in_error(tmp_path):
    # The real PLF_2019_PAP.csv (833,990 bytes) under BUDGET_MAX_FILE_MB=0.5: recognised from its head as
    # a performance file, its whole read is refused; the build says so and publishes the rest (it was
    # dropped as "matches no covered family", reported nowhere). The credit CSV, streamed, has no limit.
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    folder = tmp_path / "sources"
    folder.mkdir()
    for name in ("PLF_2019_PAP.csv", "LFI_2020_Credits.csv"):
        (folder / name).write_bytes((SOURCES / name).read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUDGET_"))}
    build = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(folder), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env | {"BUDGET_MAX_FILE_MB": "0.5"},
        cwd=ROOT,
        timeout=900,
    )
    assert build.returncode == 1, build.stdout + build.stderr
    assert (
        "  - PLF_2019_PAP.csv: 833990 bytes (0.8 MiB), above the limit of 524288 bytes (0.5 MiB; "
        "BUDGET_MAX_FILE_MB sets it in MiB)"
    ) in build.stdout
    assert "FAIL: core/indicateur_fichiers:every_performance_file_readable (1 row(s))" in build.stdout
    assert " published; latest -> releases/" in build.stdout
    assert _table(tmp_path / "out" / "budget.duckdb", "SELECT count(*) FROM credits WHERE exercice = 2020").item() > 0


def test_a_rebuild_under_another_size_limit_reads_the_files_again(tmp_path):
    # The real PLF_2019_PAP.csv (833,990 bytes) and LFI_2020_Credits.csv, built once under the default
    # limit, then again with BUDGET_MAX_FILE_MB=0.5 and the same files: the release recorded the limits it
    # was built under, so the second build reads the files again and refuses the PAP (it said "nothing
    # changed" and kept the PAP's tables); back to the default, the PAP is read again.
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    folder, out = tmp_path / "sources", tmp_path / "out"
    folder.mkdir()
    for name in ("PLF_2019_PAP.csv", "LFI_2020_Credits.csv"):
        (folder / name).write_bytes((SOURCES / name).read_bytes())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "BUDGET_"))}

    def build(extra: dict[str, str]) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "pipelines.cli", "build", "--sources", str(folder), "--out", str(out)]
        return subprocess.run(command, capture_output=True, text=True, env=env | extra, cwd=ROOT, timeout=900)

    def indicator_files() -> int:
        query = "SELECT count(DISTINCT source_id) FROM indicateur_valeurs"
        return _table(out / "budget.duckdb", query).item()

    first = build({})
    assert first.returncode == 0, first.stdout + first.stderr
    assert indicator_files() == 1
    limited = build({"BUDGET_MAX_FILE_MB": "0.5"})
    assert "nothing changed" not in limited.stdout
    assert "reading limits {'BUDGET_MAX_FILE_MB': '0.5'" in limited.stdout
    assert "  - PLF_2019_PAP.csv: 833990 bytes (0.8 MiB), above the limit of 524288 bytes" in limited.stdout
    assert limited.returncode == 1, limited.stdout + limited.stderr
    again = build({})
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing changed" not in again.stdout and "PLF_2019_PAP.csv: 833990 bytes" not in again.stdout
    assert indicator_files() == 1


def test_an_out_path_naming_a_file_is_refused_with_a_message(tmp_path):
    # It was a FileExistsError traceback (exit 1); the file is left as it was.
    taken = tmp_path / "out"
    taken.write_text("not a folder\n")
    build = run_build(SOURCES, taken)
    assert build.returncode == 2, build.stdout + build.stderr
    assert build.stderr == f"budget-warehouse: --out {taken}: not a folder\n"
    assert taken.read_text() == "not a folder\n"


def test_an_output_folder_inside_the_sources_and_files_differing_by_extension_build(tmp_path):
    """Found by wave 9's fresh user: ``--out`` inside ``--sources`` read the build's own Dagster files as
    sources, and ``vert_extrait.txt`` beside ``vert_extrait.csv`` gave two sources one id: both failed the
    build (``column 'source_id' not unique``)."""
    sources = sources_with(tmp_path / "sources", "LFI_2021_Credits.csv", "vert_extrait.csv")
    shutil.copyfile(SOURCES / "vert_extrait.csv", sources / "vert_extrait.txt")
    first = run_build(sources, sources / "out")
    assert first.returncode == 0, first.stdout + first.stderr
    again = run_build(sources, sources / "out")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing changed since" in again.stdout, again.stdout


def test_a_broken_file_alone_in_its_exercice_then_removed_leaves_and_the_next_build_passes(tmp_path):
    # Found by a fresh user: a gzip `PLF_2026_Credits.csv` (the only file of 2026) failed the build, as it should;
    # removed, it kept failing every later build (its read report stayed in staging/credits/exercice=2026, which no
    # build stages any more), --prune included. An unknown file removed also stayed in `sources`.
    import gzip

    source = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")
    out = tmp_path / "out"
    assert run_build(source, out).returncode == 0
    (source / "PLF_2026_Credits.csv").write_bytes(gzip.compress((SOURCES / "LFI_2019_Credits.csv").read_bytes()))
    (source / "notes.csv").write_text("a;b\n1;2\n", encoding="ascii")
    broken = run_build(source, out)
    assert broken.returncode == 1 and "PLF_2026_Credits.csv: gzip-compressed bytes" in broken.stdout
    (source / "PLF_2026_Credits.csv").unlink()
    (source / "notes.csv").unlink()
    build = run_build(source, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert "no source holds the credits of [2026] any more" in build.stdout
    assert "checks: " in build.stdout and " 0 failed" in build.stdout and "PLF_2026" not in build.stdout.split("==")[-1]
    assert not (out / "staging" / "credits" / "exercice=2026").exists()
    statuts = _table(build.database, "SELECT source_id, statut FROM sources ORDER BY source_id")
    assert statuts.rows() == [("lfi-2020", "lu")]
    again = run_build(source, out)
    assert again.returncode == 0 and "nothing changed since" in again.stdout


def test_a_credit_file_opening_with_64_kib_of_blank_lines_reads_its_header_and_data(tmp_path):
    """Found by a tester: a credit CSV whose first 64 KiB were blank lines read as empty (its layout was looked for
    in its first 64 Ki characters only), its data silently lost. The blank lines are skipped and counted as
    preamble: the same credits as the file without them."""
    source = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")
    out = tmp_path / "out"
    first = run_build(source, out)
    assert first.returncode == 0, first.stdout + first.stderr
    before = _table(first.database, "SELECT * FROM credits ORDER BY ALL")
    assert before.height == 2240
    (source / "LFI_2020_Credits.csv").write_bytes(b"\n" * 70_000 + (SOURCES / "LFI_2020_Credits.csv").read_bytes())
    build = run_build(source, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert _table(build.database, "SELECT * FROM credits ORDER BY ALL").equals(before)
    (row,) = _table(build.database, "SELECT statut, lignes_preambule FROM sources").rows()
    assert row == ("lu", 70_000)
    # Blank lines of separators past the head read (163,840 characters): an error naming the file once (it was
    # named twice: the inventory's error, then the credits' report around it), its data kept.
    (source / "LFI_2020_Credits.csv").write_bytes(
        b";;;;;;;;;;;\n" * 100_000 + (SOURCES / "LFI_2020_Credits.csv").read_bytes()
    )
    refused = run_build(source, out)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = "LFI_2020_Credits.csv: lines 1-13653: blank lines only, and the text goes on"
    console = refused.stdout + refused.stderr  # the summary's line; no Dagster log line repeats it
    assert len([line for line in console.splitlines() if message in line]) == 1, console
    assert "LFI_2020_Credits.csv: LFI_2020_Credits.csv" not in console
    assert _table(refused.database, "SELECT * FROM credits ORDER BY ALL").equals(before)


def test_a_credit_file_under_250_title_lines_reads_its_header_and_data(tmp_path):
    """Found by a tester: 250 title lines of one cell each above a credit file's header gave a wrong header (the
    layout was looked for in the first 200 records, all titles): the file read as one of no covered family."""
    source = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")
    out = tmp_path / "out"
    first = run_build(source, out)
    assert first.returncode == 0, first.stdout + first.stderr
    before = _table(first.database, "SELECT * FROM credits ORDER BY ALL")
    titles = "".join(f"Loi de finances initiale pour 2020 - titre {i}\n" for i in range(250)).encode("ascii")
    (source / "LFI_2020_Credits.csv").write_bytes(titles + (SOURCES / "LFI_2020_Credits.csv").read_bytes())
    build = run_build(source, out)
    assert build.returncode == 0, build.stdout + build.stderr
    assert _table(build.database, "SELECT * FROM credits ORDER BY ALL").equals(before)
    (row,) = _table(build.database, "SELECT statut, lignes_preambule FROM sources").rows()
    assert row == ("lu", 250)


def test_a_releases_or_staging_path_that_is_a_file_is_refused_with_a_message(tmp_path):
    # Found by a tester: `<out>/releases` being a file ended in a Python traceback (FileExistsError).
    for name in ("releases", "staging"):
        out = tmp_path / name / "out"
        out.mkdir(parents=True)
        (out / name).write_text("in the way")
        build = run_build(sources_with(tmp_path / name / "sources", "LFI_2020_Credits.csv"), out)
        assert build.returncode == 2, build.stdout + build.stderr
        assert f"budget-warehouse: {out / name}: not a folder" in build.stderr
        assert "Traceback" not in build.stderr and (out / name).read_text() == "in the way"
    # A link to nothing (a second tester's): `exists()` is false for it, the build went on into the traceback.
    out = tmp_path / "dangling" / "out"
    out.mkdir(parents=True)
    (out / "releases").symlink_to(tmp_path / "nowhere")
    build = run_build(sources_with(tmp_path / "dangling" / "sources", "LFI_2020_Credits.csv"), out)
    assert build.returncode == 2, build.stdout + build.stderr
    assert f"budget-warehouse: {out / 'releases'}: not a folder" in build.stderr and "Traceback" not in build.stderr


def test_a_range_of_one_year_reads_as_that_year(tmp_path):
    # Found by a tester: "no credit file … for 2021-2021 (the sources hold 2020-2020)".
    build = run_build(sources_with(tmp_path / "sources", "LFI_2020_Credits.csv"), tmp_path / "out", "--years", "2021")
    assert build.returncode == 1
    assert (
        f"no credit file in {tmp_path / 'sources'} for 2021 (the sources hold 2020): nothing to build" in build.stderr
    )


def test_the_summary_grid_has_a_column_for_an_exercice_whose_only_file_is_in_error(tmp_path):
    # Found by a tester: the coverage grid of the summary had no column for 2019, whose only file was in error (it
    # has no row in `couverture`: it never loaded). A line of its own marks it `!`.
    source = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")
    text = (SOURCES / "LFI_2019_Credits.csv").read_text(encoding="utf-8-sig").splitlines()
    text[1] = text[1].replace(";15258687;15258687;", ";douze;15258687;", 1)
    (source / "LFI_2019_Credits.csv").write_text("\n".join(text) + "\n", encoding="utf-8")
    build = run_build(source, tmp_path / "out")
    assert build.returncode == 1 and "LFI_2019_Credits.csv, ligne 1" in build.stdout, build.stdout
    grid = build.stdout.split("couverture (", 1)[1].splitlines()
    assert grid[1] == "  credits      2019 2020", grid
    assert "    LFI BG             X" in grid and "    erreur        !" in grid, grid


def test_a_performance_file_that_cannot_be_decoded_is_named_once_in_its_message(tmp_path):
    # A byte Windows-1252 leaves undefined (0x81) in the real PLF_2019_PAP.csv: the reader's error names the file
    # and the line; what the build publishes and prints of it named the file twice ("X.csv: X.csv: line …").
    source = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")
    data = bytearray((SOURCES / "PLF_2019_PAP.csv").read_bytes())
    at = data.index(b"\n", len(data) // 2) + 1
    line = data[:at].count(b"\n") + 1
    data[at:at] = b"\x81"
    (source / "PLF_2019_PAP.csv").write_bytes(bytes(data))
    build = run_build(source, tmp_path / "out")
    assert build.returncode == 1, build.stdout + build.stderr
    (message,) = _table(build.database, "SELECT message FROM sources WHERE fichier = 'PLF_2019_PAP.csv'").rows()[0]
    assert message.startswith(f"PLF_2019_PAP.csv: line {line}: byte") and message.count("PLF_2019_PAP.csv") == 1
    assert "PLF_2019_PAP.csv: PLF_2019_PAP.csv" not in build.stdout, build.stdout


def test_a_first_build_whose_step_fails_says_its_database_goes_and_there_is_no_release_yet(tmp_path):
    # An adversarial tester's find: the summary named `<out>/budget.duckdb` as the latest release's database
    # where there was no release at all.
    source = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv")
    out = tmp_path / "out"
    (out / "staging").mkdir(parents=True)
    (out / "staging" / "credit_elements").write_text("in the way")
    build = run_build(source, out)
    assert build.returncode == 1, build.stdout + build.stderr
    (database,) = [x for x in build.stdout.splitlines() if x.startswith("database ")]
    assert database.endswith("(this build's working copy, not published: removed on exit; there is no release yet)")
    assert "release: none published (a step or an ERROR check failed); there is no release yet" in build.stdout


def test_a_nomenclature_file_in_error_leaves_no_erreur_line_in_the_credits_grid(tmp_path):
    # A tester's find: a nomenclature file in error marked its exercice `!` on the line `erreur` of the credits'
    # coverage grid (the summary read the reports of every staging folder, the nomenclature's too). The credits'
    # grid speaks of credit sources; the nomenclature's error is named among the build's errors.
    source = sources_with(tmp_path / "sources", "LFI_2020_Credits.csv", "LFI_2020_Nomenclature.csv")
    path = source / "LFI_2020_Nomenclature.csv"
    lines = path.read_bytes().split(b"\r\n")
    lines[5] += b";en trop"
    path.write_bytes(b"\r\n".join(lines))
    build = run_build(source, tmp_path / "out")
    assert build.returncode == 1 and "LFI_2020_Nomenclature.csv, ligne 5" in build.stdout, build.stdout
    grid = build.stdout.split("couverture (", 1)[1].split("\n\n", 1)[0].splitlines()
    assert any(line.startswith("    LFI ") for line in grid), grid
    assert not any(line.strip().startswith("erreur") for line in grid), grid
