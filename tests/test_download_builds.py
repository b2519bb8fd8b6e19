"""``budget-warehouse build --download --portal http://127.0.0.1:PORT``, end to end.

The portal is a server the tests start on 127.0.0.1 (a thread of the test process)
serving copies of the real credit files under the catalogue's own paths
(``/api/explore/v2.1/catalog/datasets/<id>/exports/csv``). The builds are real child
processes. The portal serves two of the seven downloadable entries and answers 404
for the others (three have no real file here), so every download build reports those
and exits 1.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from schemas.catalogue import catalogue
from tests.conftest import ROOT, SOURCES, Build, build_env, run_build, run_child

SERVED = {  # catalogue id -> the real file served for it (two, to keep the builds short)
    "lfi-2019": "LFI_2019_Credits.csv",
    "plf-2025-destination": "PLF_2025_Depenses_Destination.csv",
}
#: The other downloadable entries: the portal answers 404 for them.
ABSENT = (
    "LFI_2018_Credits.csv",
    "PLR_2019_Credits.csv",
    "LFI_2023_Credits_Destination_Nature.csv",
    "plf-2024-depenses-2024-selon-nomenclatures-destination-et-nature.csv",
    "plf25-depenses-2025-du-bg-et-des-ba-selon-nomenclatures-destination-et-nature.csv",
)
#: The credits the served files give (exercice, phase, rows) in a good download build.
CREDITS = [(2019, "LFI", 2260), (2025, "PLF", 2404)]


class Portal:
    """What the server does: ``mode`` is ``serve``, ``errors`` (error pages and statuses), ``missing``
    (404 for everything) or ``slow`` (the first file trickles, ``started`` is set when it begins)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mode = "serve"
        self.started = threading.Event()
        self.base = ""
        self.errors = 0
        self.lock = threading.Lock()


def _handler(portal: Portal):
    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            try:
                if portal.mode == "errors":
                    return self._error(path)
                if portal.mode == "missing":
                    return self.send_error(404)
                if portal.mode == "slow" and path.endswith("lfi-2019-1/exports/csv"):
                    return self._trickle(path)
                return super().do_GET()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _error(self, path: str) -> None:
            # In turn: an error page served with 200, an empty 200, a 404 (none is retried).
            with portal.lock:
                number = portal.errors % 3
                portal.errors += 1
            body = b"<!DOCTYPE html><html><body>Maintenance</body></html>" if number == 0 else b""
            self.send_response(200 if number < 2 else 404)
            self.send_header("Content-Type", "text/html" if number == 0 else "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _trickle(self, path: str) -> None:
            body = (portal.root / path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            portal.started.set()
            for start in range(0, len(body), 1000):
                self.wfile.write(body[start : start + 1000])
                self.wfile.flush()
                time.sleep(0.5)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return functools.partial(Handler, directory=str(portal.root))


@pytest.fixture(scope="module")
def portal(tmp_path_factory) -> Iterator[Portal]:
    root = tmp_path_factory.mktemp("portal")
    entries = {e.id: e for e in catalogue()}
    for source_id, name in SERVED.items():
        path = root / urlsplit(entries[source_id].url).path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOURCES / name, path)
    state = Portal(root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def command(out: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "pipelines.cli", "build", *options, "--out", str(out)]


def build(portal: Portal, out: Path) -> subprocess.CompletedProcess:
    return run_child(command(out, "--download", "--portal", portal.base), env=build_env())


def rows(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = [t for (t,) in connection.sql("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        return {t: connection.sql(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in tables}


def credits(database: Path) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.sql("SELECT exercice, phase, count(*) FROM credits GROUP BY ALL ORDER BY ALL").fetchall()


def outputs(out: Path) -> dict[str, str]:
    """sha256 of every output file: the published ones (``latest`` and the releases), the
    downloads and the staging. Aside: the Dagster instance, a download's temporary file, and
    what a killed build leaves for the next one to remove (``releases/.building-<pid>/``,
    the build lock ``releases/.lock``)."""

    def kept(relative: Path) -> bool:
        parts = relative.parts
        if "dagster" in parts or ".partial-" in relative.name:
            return False
        return not (parts[0] == "releases" and len(parts) > 1 and parts[1].startswith("."))

    return {
        path.relative_to(out).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(out.rglob("*"))
        if path.is_file() and kept(path.relative_to(out))
    }


@pytest.fixture(scope="module")
def good(portal: Portal, tmp_path_factory) -> Path:
    """A warehouse built by a download build from the portal."""
    out = tmp_path_factory.mktemp("good") / "out"
    portal.mode = "serve"
    done = build(portal, out)
    assert done.returncode == 1, done.stdout + done.stderr  # the entries the portal lacks
    for name in ABSENT:
        assert f"  - {name}: download failed: 404" in done.stdout, done.stdout
    assert credits(out / "budget.duckdb") == CREDITS, done.stdout
    return out


def copy_of(good: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(good, out, symlinks=True)
    return out


def test_a_failed_download_build_keeps_every_table(portal: Portal, good: Path, tmp_path: Path) -> None:
    out = copy_of(good, tmp_path)
    before_rows = rows(out / "budget.duckdb")
    assert before_rows["credits"] == sum(n for _, _, n in CREDITS)
    portal.mode = "errors"
    try:
        done = build(portal, out)
    finally:
        portal.mode = "serve"

    assert done.returncode == 1, done.stdout + done.stderr
    assert credits(out / "budget.duckdb") == CREDITS
    after_rows = rows(out / "budget.duckdb")
    kept = {t: n for t, n in before_rows.items() if after_rows.get(t) == n}
    assert kept == before_rows, (
        f"tables whose rows changed: { {t: (before_rows[t], after_rows.get(t)) for t in before_rows if t not in kept} }"
    )
    for reason in ("an HTML page (Content-Type text/html), not the file", "empty body", "404 Client Error"):
        assert reason in done.stdout, done.stdout
    entries = {e.id: e for e in catalogue()}
    for source_id, name in SERVED.items():
        assert f"  - {name}: download failed: " in done.stdout, f"the failed source {name} is not named:\n{done.stdout}"
        # its failure once: not also in a log line, by its name or its address (a fresh user's find); the
        # download's progress line (``downloads: 2/7 <name>``, as it starts) says no failure
        path = urlsplit(entries[source_id].url).path
        naming = [line for line in (done.stdout + done.stderr).splitlines() if name in line or path in line]
        progress = [line for line in naming if re.fullmatch(rf"downloads: \d/7 {re.escape(name)}", line)]
        assert len(progress) == 1, naming
        assert len(naming) == 2, naming


def dagster_runs(out: Path) -> list:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(out / "dagster")) as instance:
        return list(instance.get_runs())


def test_a_first_build_whose_every_download_fails_publishes_no_release(portal: Portal, tmp_path: Path) -> None:
    """Found by wave 8's fresh user: an empty release (0 credits) was published and made ``latest``. Then (wave 16):
    no release, but every asset ran on no data (13 s of runs, a summary of 22 empty tables) before saying so; now
    the build stops after the downloads, no run started, exit 1 as a build with nothing to build."""
    out = tmp_path / "out"
    portal.mode = "errors"
    try:
        done = build(portal, out)
    finally:
        portal.mode = "serve"
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        "budget-warehouse: no file could be downloaded (7 tried, each failed): nothing to build, no release published "
        "(there is no release yet)\n" in done.stderr
    ), done.stderr
    assert not (out / "latest").exists() and not list((out / "releases").glob("2*"))
    for name in SERVED.values():
        assert f"  - {name}: download failed: " in done.stderr, done.stderr
    assert "== summary ==" not in done.stdout and "recomputing" not in done.stdout, done.stdout
    assert dagster_runs(out) == [], "a run was started on no data"
    assert not (out / "staging").exists() and not (out / "budget.duckdb").exists()


def test_a_download_build_keeps_the_data_of_the_sources_it_does_not_download(
    portal: Portal, built: Build, tmp_path: Path
) -> None:
    """Found by wave 12's tester: a download build (every download failing: 404) after a build of the snapshot
    dropped the credits of the files the catalogue has no address for (2018 EXEC, 2019 PLF, 2024 EXEC: 8,877
    rows), its indicators and documents, silently, while their ``sources`` rows still said ``lu``. Such a
    file is not downloaded: its data is kept as that of a file absent from the sources folder, with a
    warning, and its row says ``absent``."""
    out = tmp_path / "out"
    shutil.copytree(built.out, out, symlinks=True)
    before = rows(out / "budget.duckdb")
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        before_credits = connection.sql("SELECT * FROM credits ORDER BY ALL").fetchall()
    portal.mode = "missing"
    try:
        done = build(portal, out)
    finally:
        portal.mode = "serve"

    assert done.returncode == 1, done.stdout + done.stderr  # the failed downloads
    assert "step failed" not in done.stdout, done.stdout
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        after_credits = connection.sql("SELECT * FROM credits ORDER BY ALL").fetchall()
        statuts = dict(connection.sql("SELECT fichier, statut FROM sources").fetchall())
    assert len(after_credits) == len(before_credits) and after_credits == before_credits, done.stdout
    after = rows(out / "budget.duckdb")
    changed = {t: (n, after.get(t)) for t, n in before.items() if t != "sources" and after.get(t) != n}
    assert not changed, f"tables whose rows changed: {changed}"
    # Nothing was read: no row says `lu`; the files not downloaded are absent, with a warning naming them.
    assert set(statuts.values()) <= {"absent", "erreur"}, statuts
    for fichier in (
        "PLR_2018_Credits.csv",
        "PLF_2019_BG_Nature.csv",
        "2024_PLRG/Credits_Destination_Nature_YC_RetD.xls",
    ):
        assert statuts[fichier] == "absent", statuts
        assert f"  - {fichier}\n" in done.stdout, done.stdout
    assert "source(s) of the latest release not downloaded" in done.stdout, done.stdout


def test_a_snapshot_build_after_a_failed_download_build_is_the_snapshot_build_again(
    portal: Portal, built: Build, tmp_path: Path
) -> None:
    """Snapshot, download (every download failing), snapshot again: the last build is the first one's content (the
    same release suffix), with no warning. A failed download of a catalogue entry that never held data
    (``plf-2025-fdc-adp``) stayed in ``sources`` as ``absent`` ("its data ... is kept") for ever."""
    out = tmp_path / "out"
    shutil.copytree(built.out, out, symlinks=True)
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        before = connection.sql("SELECT source_id, statut, format, sha256 FROM sources ORDER BY ALL").fetchall()
    portal.mode = "missing"
    try:
        assert build(portal, out).returncode == 1
    finally:
        portal.mode = "serve"

    again = run_build(None, out)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "absent from the sources folder" not in again.stdout, again.stdout
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        after = connection.sql("SELECT source_id, statut, format, sha256 FROM sources ORDER BY ALL").fetchall()
    assert after == before
    suffix = (built.out / "latest").resolve().name.rpartition("-")[2]
    assert (out / "latest").resolve().name.endswith(f"-{suffix}"), again.stdout


def test_with_no_network_a_download_build_says_so_once_and_prune_names_every_exercice_it_empties(
    built: Build, tmp_path: Path
) -> None:
    """A fresh user's finds: with no network, each file retried its DNS failure (0 + 2 + 4 + 8 s, 1.6 min for the
    catalogue) and the log said it per file and per retry; ``--download --prune`` named 2020-2022 as emptied, not 2018
    (whose one source, ``PLR_2018_Credits.csv``, has no address), nor the phases it removed (2019 PLF, 2024 EXEC).
    A ``.invalid`` name never resolves (RFC 2606)."""
    out = tmp_path / "out"
    shutil.copytree(built.out, out, symlinks=True)
    done = run_child(command(out, "--download", "--portal", "https://budget.invalid", "--prune"), env=build_env())
    assert done.returncode == 1, done.stdout + done.stderr
    said = [line for line in done.stderr.splitlines() if "budget.invalid" in line]
    assert said == [  # as the README says it (wave 17: not after `ERROR warehouse.downloads: `)
        "cannot download: the name budget.invalid does not resolve: "
        "the network, or the portal, is unreachable (no file of it is tried)"
    ], done.stderr
    failed = [line for line in done.stdout.splitlines() if ": download failed: " in line]
    assert len(failed) == len([e for e in catalogue() if e.downloadable]), done.stdout
    assert all(
        line.endswith(
            ("does not resolve: the network, or the portal, is unreachable", "(said once, above)", "is kept)")
        )
        for line in failed
    )
    assert sum("not tried: the name budget.invalid does not resolve (said once, above)" in line for line in failed) == (
        len(failed) - 1
    ), done.stdout  # the reason said in full once, on the first file's line
    (pruned,) = [line for line in done.stdout.splitlines() if line.startswith("--prune: credits removed since ")]
    assert pruned.endswith(": 2018, 2020, 2021, 2022 (every row); 2019 PLF, 2024 EXEC"), pruned
    # An adversarial tester's find: the line said before the runs omitted 2018, which the failed download of
    # LFI_2018_Credits.csv (never loaded: no data) "held"; the summary's line above then named it.
    (early,) = [line for line in done.stdout.splitlines() if line.startswith("budget-warehouse: --prune: ")]
    assert (
        early == "budget-warehouse: --prune: no source holds the credits of [2018, 2020, 2021, 2022] any more: removed"
    )


def test_a_file_changed_on_the_portal_is_loaded_and_reported(portal: Portal, good: Path, tmp_path: Path) -> None:
    out = copy_of(good, tmp_path)
    entry = next(e for e in catalogue() if e.id == "lfi-2019")
    served = portal.root / urlsplit(entry.url).path.lstrip("/")
    original = served.read_bytes()
    lines = original.split(b"\n")
    changed = b"\n".join([lines[0], *lines[2:]])  # the portal republished it without its first data line
    served.write_bytes(changed)
    try:
        done = build(portal, out)
    finally:
        served.write_bytes(original)

    assert done.returncode == 1, done.stdout + done.stderr  # the absent entries, as always
    assert "1 downloaded file(s) changed on the portal, loaded as a new version:" in done.stdout, done.stdout
    # Said once, by the summary: not also by a WARNING of the download and another of the inventory (a tester's find)
    assert (done.stdout + done.stderr).count("LFI_2019_Credits.csv (lfi-2019)") == 1, done.stdout + done.stderr
    assert (out / "telechargements" / "LFI_2019_Credits.csv").read_bytes() == changed
    counts = {(e, p): n for e, p, n in credits(out / "budget.duckdb")}
    assert counts[(2019, "LFI")] < 2260 and counts[(2025, "PLF")] == 2404
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        (sha,) = connection.sql("SELECT sha256 FROM sources WHERE source_id = 'lfi-2019'").fetchall()[0]
    assert sha == hashlib.sha256(changed).hexdigest()


def test_a_portal_serving_another_exercice_at_an_address_is_an_error_and_keeps_the_data(
    portal: Portal, good: Path, tmp_path: Path
) -> None:
    # An adversarial tester's find: PLF 2022 served at LFI 2019's address replaced LFI 2019's credits, exit 0.
    out = copy_of(good, tmp_path)
    entry = next(e for e in catalogue() if e.id == "lfi-2019")
    served = portal.root / urlsplit(entry.url).path.lstrip("/")
    original = served.read_bytes()
    other = (SOURCES / "PLF_2022_Credits_Destination_Nature.csv").read_bytes()
    served.write_bytes(other.replace(b";4 350 000;4 050 000;", b";4 350 001;4 050 000;", 1))
    try:
        done = build(portal, out)
    finally:
        served.write_bytes(original)

    assert done.returncode == 1, done.stdout + done.stderr
    said = "  - LFI_2019_Credits.csv: holds PLF 2022 where the catalogue's lfi-2019 is LFI 2019"
    assert said in done.stdout, done.stdout
    assert credits(out / "budget.duckdb") == CREDITS


def test_sigkill_during_a_download_leaves_the_outputs_and_the_next_build_completes(
    portal: Portal, good: Path, tmp_path: Path
) -> None:
    out = copy_of(good, tmp_path)
    before = outputs(out)
    before_rows = rows(out / "budget.duckdb")
    portal.started.clear()
    portal.mode = "slow"
    try:
        process = subprocess.Popen(
            command(out, "--download", "--portal", portal.base),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=build_env(),
            cwd=ROOT,
            start_new_session=True,
        )
        try:
            assert portal.started.wait(120), "the build never started the slow download"
            time.sleep(1.0)  # a few kilobytes in
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(30)
    finally:
        portal.mode = "serve"

    assert process.returncode == -signal.SIGKILL
    assert outputs(out) == before, "the outputs changed"
    partials = list((out / "telechargements").glob(".LFI_2019_Credits.csv.partial-*"))
    assert len(partials) == 1, "the kill was not during the download"

    done = build(portal, out)  # no cleanup in between

    assert done.returncode == 1, done.stdout + done.stderr  # the absent entries, as always
    assert "changed on the portal" not in done.stdout
    assert rows(out / "budget.duckdb") == before_rows
    # The cached files are the same bytes (their sidecars may take a new Last-Modified: the
    # served copy of LFI 2019 was rewritten, same bytes, by the test of a changed file).
    cache = {k: v for k, v in before.items() if k.startswith("telechargements/") and "http.json" not in k}
    after = {k: v for k, v in outputs(out).items() if k.startswith("telechargements/") and "http.json" not in k}
    assert after == cache


def test_links_in_the_sources_folder_are_not_followed_and_listed(tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    shutil.copy(SOURCES / "LFI_2020_Credits.csv", sources / "LFI_2020_Credits.csv")
    (sources / "hostname.csv").symlink_to("/etc/hostname")
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(SOURCES / "PLF_2020_Credits.csv", outside / "PLF_2020_Credits.csv")
    (sources / "plus").symlink_to(outside, target_is_directory=True)
    out = tmp_path / "out"

    done = run_child(command(out, "--sources", str(sources)), env=build_env())

    # Exit 0: a credit file alone builds (its codes unknown to a nomenclature are WARN rows of ecarts_sources).
    assert done.returncode == 0 and "step failed" not in done.stdout, done.stdout + done.stderr
    assert "2 symbolic link(s) in the sources folder not followed:" in done.stdout
    assert (
        "  - hostname.csv -> /etc/hostname: a link to a file outside the sources folder\n"
        f"  - plus -> {outside.resolve()}: a link to a folder outside the sources folder\n"
    ) in done.stdout
    with duckdb.connect(str(out / "budget.duckdb"), read_only=True) as connection:
        files = connection.sql("SELECT fichier FROM sources ORDER BY 1").fetchall()
        phases = connection.sql("SELECT DISTINCT exercice, phase FROM credits").fetchall()
    assert files == [("LFI_2020_Credits.csv",)]
    assert phases == [(2020, "LFI")]


def test_portal_alone_implies_download(portal: Portal, good: Path, tmp_path: Path) -> None:
    # README ("The command"): `--portal URL` names where to download from, so it implies --download.
    out = copy_of(good, tmp_path)
    done = run_child(command(out, "--portal", portal.base), env=build_env())
    assert done.returncode == 1, done.stdout + done.stderr  # the entries the portal lacks, as always
    assert done.stdout.startswith(f"budget-warehouse: sources from {portal.base}; outputs in {out}\n"), done.stdout
    assert credits(out / "budget.duckdb") == CREDITS


def test_a_portal_that_refuses_connections_says_each_file_as_it_starts_and_each_failure_in_a_few_words(
    tmp_path: Path,
) -> None:
    """A fresh user's finds (``--portal http://127.0.0.1:9``, nothing listening): nothing on stdout for 98 s after
    ``sources from …``, 28 raw urllib3 ``WARNING … Retrying (_Retry(total=2, ...)) after connection broken by
    'NewConnectionError(...)'`` lines on stderr, and each summary line a 300-character urllib3 repr. Then: each
    file retried the refused connection (1 + 2 + 4 + 8 s a file, 1.7 min): the first file's retries stay, the
    other files of that host and port are not tried."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "out"
    done = run_child(command(out, "--portal", f"http://127.0.0.1:{port}"), env=build_env())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "urllib3" not in done.stderr and "Retrying" not in done.stderr, done.stderr
    names = [e.fichier for e in catalogue() if e.downloadable]
    lines = done.stdout.splitlines()
    said = [line for line in lines if line.startswith("downloads: ")]
    assert said[:-1] == [f"downloads: {n}/{len(names)} {name}" for n, name in enumerate(names, 1)], done.stdout
    assert re.fullmatch(rf"downloads: {len(names)} file\(s\) tried in \d+\.\d s", said[-1]), said
    assert lines.index(said[0]) == 2, done.stdout  # right after the sources and the Dagster instance
    # A fresh output folder: nothing downloaded, no release to keep; the build stops there (no run), the failures
    # said on stderr.
    errors = done.stderr.splitlines()
    assert "budget-warehouse: no file could be downloaded (7 tried, each failed): nothing to build" in done.stderr
    first, *others = names
    assert f"  - {first}: download failed: connection refused by 127.0.0.1:{port} (5 tries)" in errors, done.stderr
    for name in others:
        said = f"  - {name}: download failed: not tried: connection refused by 127.0.0.1:{port} (said once, above)"
        assert said in errors, done.stderr
    assert errors.index(f"  - {first}: download failed: connection refused by 127.0.0.1:{port} (5 tries)") < min(
        i for i, line in enumerate(errors) if "not tried: connection refused" in line
    ), done.stderr  # said once, above the others
    assert dagster_runs(out) == [], "a run was started on no data"


def test_the_downloads_show_a_bar_on_a_terminal(portal: Portal, tmp_path: Path) -> None:
    from tests.test_cli_messages import _on_a_terminal

    portal.mode = "missing"  # 404 for every file: not retried, a short build
    try:
        status, text = _on_a_terminal(
            command(tmp_path / "out", "--portal", portal.base), build_env(), rows=24, columns=100
        )
    finally:
        portal.mode = "serve"
    assert status == 1, text
    assert "downloads: 100%" in text and "7/7" in text, text
    assert "downloads: 1/7 " not in text, text  # the lines of a log are not also printed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--download", "--portal", "http://192.0.2.10:8000"], "plain http:// is accepted only on a loopback address"),
        (["--portal", "ftp://127.0.0.1/"], "expected https://HOST"),
        (["--sources", ".", "--portal", "http://127.0.0.1:1"], "--portal goes with --download"),
        (["--sources", ".", "--download"], "not allowed with argument"),
    ],
)
def test_bad_portal_options_exit_2(tmp_path: Path, options: list[str], message: str) -> None:
    done = run_child(command(tmp_path / "out", *options), env=build_env())

    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "out").exists()
