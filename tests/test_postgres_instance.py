"""Beyond one machine: the Dagster instance on PostgreSQL, exercices built in parallel.

A real PostgreSQL server (Debian's package, ``make system-deps``) is started for the module in a
temporary folder, on a free port of 127.0.0.1, and stopped at the end, also on failure. A Dagster
instance keeps its runs, event log and schedules in it (``storage: postgres``) with the project's
instance settings (``pipelines/settings.py``: one slot per concurrency pool). The jobs of
``pipelines.definitions.defs`` run there on Dagster's multiprocess executor (each step in its own
process): the sources job, then one credits run per exercice, all launched at the same time. The
event log read back from PostgreSQL shows the staging steps of different exercices overlapping while
the loads into DuckDB (pool ``duckdb_writer``, one writer process at a time) never do.
"""

from __future__ import annotations

import csv
import io
import multiprocessing
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from itertools import combinations
from pathlib import Path

import dagster as dg
import duckdb
import psycopg2
import pytest
import yaml

from assets.credits import DUCKDB_WRITER_POOL
from pipelines.jobs import CREDITS_JOB, SOURCES_JOB
from pipelines.settings import INSTANCE_YAML, OUT_ENV, PORTAL_ENV, PRUNE_ENV, SOURCES_ENV, WORK_ENV
from tests.conftest import ROOT, SOURCES
from warehouse.releases import PAUSE_ENV

M = Decimal
EXERCICES = ["2019", "2020", "2021"]
#: Each load into DuckDB lasts at least this long (the ``load`` test hook of ``warehouse/releases.py``),
#: so that loads not serialised by the pool would overlap.
LOAD_PAUSE_S = 1.5
RUN_TIMEOUT_S = 300
POSTGRES_USER = "budget"
POSTGRES_PASSWORD = "budget-test"
POSTGRES_DB = "dagster"


@dataclass(frozen=True)
class Postgres:
    port: int

    def connect(self, dbname: str = POSTGRES_DB):
        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user=POSTGRES_USER, password=POSTGRES_PASSWORD, dbname=dbname
        )


def _server_binaries() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise RuntimeError(
            "no PostgreSQL server in /usr/lib/postgresql: install Debian's postgresql (make system-deps)"
        )
    return found[-1].parent


def _as_server_user() -> list[str]:
    """The server refuses to run as root: as root, run it as the ``postgres`` system user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL cluster made with ``initdb`` in a temporary folder, served on 127.0.0.1 by
    ``pg_ctl``; stopped and removed at the end of the module, whatever happened."""
    binaries = _server_binaries()
    folder = Path(tempfile.mkdtemp(prefix="budget-pg-"))  # not pytest's tmp_path: the postgres user writes here
    run_as = _as_server_user()
    data = folder / "data"
    password_file = folder / "password"
    password_file.write_text(POSTGRES_PASSWORD, encoding="utf-8")
    if run_as:
        for path in (folder, password_file):
            shutil.chown(path, "postgres", "postgres")
    pg_ctl = [*run_as, str(binaries / "pg_ctl"), "-D", str(data)]
    started = None
    try:
        subprocess.run(
            [*run_as, str(binaries / "initdb"), "-D", str(data), "-U", POSTGRES_USER, f"--pwfile={password_file}"]
            + ["--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            cwd=folder,  # the server user may not enter the tests' folder (a clone in a private temporary folder)
        )
        for _ in range(3):  # the free port may be taken between the probe and the server's bind
            port = _free_port()
            options = f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c fsync=off"
            attempt = subprocess.run(
                [*pg_ctl, "-l", str(folder / "server.log"), "-w", "-t", "60", "-o", options, "start"],
                capture_output=True,
                text=True,
                cwd=folder,
            )
            if attempt.returncode == 0:
                started = Postgres(port)
                break
        if started is None:
            log = (folder / "server.log").read_text(errors="replace")
            raise RuntimeError(f"PostgreSQL did not start: {attempt.stderr}\n{log}")
        with closing(started.connect("postgres")) as connection:
            connection.autocommit = True  # CREATE DATABASE runs outside a transaction
            connection.cursor().execute(f"CREATE DATABASE {POSTGRES_DB}")
        yield started
    finally:
        if data.is_dir():
            subprocess.run([*pg_ctl, "-m", "fast", "-w", "stop"], capture_output=True, cwd=folder)
        shutil.rmtree(folder, ignore_errors=True)


#: Dagster's multiprocess executor, each step in a process of its own forked from a server process that
#: imported the definitions once (``forkserver``): a step does not pay the imports (about 2 s of CPU).
MULTIPROCESS_EXECUTOR = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["pipelines.definitions", __name__]}}}
)
#: What a credits run materialises: the credits of its exercice (with their checks), reading the inventory
#: the sources job stored.
CREDIT_ASSETS = [dg.AssetKey(["staging", "credits"]), dg.AssetKey(["core", "credits"])]


def multiprocess_job(name: str) -> dg.JobDefinition:
    """The job ``name`` of the project's definitions on Dagster's multiprocess executor (the step processes
    import the definitions again: their resources come from the environment)."""
    from pipelines.definitions import defs

    return defs.resolve_job_def(name).with_executor_def(MULTIPROCESS_EXECUTOR)


def _reconstructable(name: str):
    return dg.build_reconstructable_job(
        __name__, multiprocess_job.__name__, reconstructable_args=(name,), reconstructor_working_directory=str(ROOT)
    )


def build_exercice(home: str, exercice: str) -> None:
    """Run the credits job of one exercice in the instance of ``home`` (in a process of its own: Dagster's
    orchestration is not thread-safe, its logging set-up can deadlock between threads)."""
    with (
        dg.DagsterInstance.from_config(home) as instance,
        dg.execute_job(
            _reconstructable(CREDITS_JOB),
            instance,
            tags={"dagster/partition": exercice},
            asset_selection=CREDIT_ASSETS,
        ) as result,
    ):
        if not result.success:
            raise SystemExit(f"the credits run of {exercice} failed: {result.run_id}")


def _instance_yaml(server: Postgres) -> str:
    """The project's instance settings with the runs, event log and schedules in PostgreSQL."""
    settings = yaml.safe_load(INSTANCE_YAML)
    for key in ("storage", "run_storage", "event_log_storage", "schedule_storage"):
        settings.pop(key, None)
    settings["storage"] = {
        "postgres": {
            "postgres_db": {
                "hostname": "127.0.0.1",
                "port": server.port,
                "username": POSTGRES_USER,
                "password": POSTGRES_PASSWORD,
                "db_name": POSTGRES_DB,
                # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres ships psycopg2.
                "scheme": "postgresql+psycopg2",
            }
        }
    }
    return yaml.safe_dump(settings)


def _lfi_totals(fichier: str, encoding: str, ae_column: str, cp_column: str) -> tuple[Decimal, Decimal]:
    """Independent oracle: the AE and CP LFI columns of an authoritative file, summed with the csv module."""
    text = (SOURCES / fichier).read_bytes().decode(encoding).lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))

    def euros(cell: str) -> Decimal:
        return M("".join(cell.split()).replace(",", ".") or "0")

    return sum((euros(r[ae_column]) for r in rows), M(0)), sum((euros(r[cp_column]) for r in rows), M(0))


def _intervals(server: Postgres, run_ids: list[str], step_key: str) -> dict[str, tuple]:
    """(start, end) of ``step_key`` in each run, from the event log table of PostgreSQL."""
    with closing(server.connect()) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT run_id, dagster_event_type, timestamp FROM event_logs "
            "WHERE run_id = ANY(%s) AND step_key = %s AND dagster_event_type IN ('STEP_START', 'STEP_SUCCESS')",
            (run_ids, step_key),
        )
        rows = cursor.fetchall()
    events = {(run_id, kind): at for run_id, kind, at in rows}
    return {r: (events[(r, "STEP_START")], events[(r, "STEP_SUCCESS")]) for r in run_ids}


def test_exercices_built_in_parallel_on_a_postgres_instance(postgres, tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_yaml(postgres), encoding="utf-8")
    out = tmp_path / "out"
    (out / "releases").mkdir(parents=True)  # the load hook marks its pause there
    work = tmp_path / "work"
    # The step processes import the definitions again: they read their resources from this environment.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(SOURCES_ENV, str(SOURCES))
    monkeypatch.setenv(OUT_ENV, str(out))
    monkeypatch.setenv(WORK_ENV, str(work))
    monkeypatch.setenv(PAUSE_ENV, f"load:{LOAD_PAUSE_S}")
    for name in (PRUNE_ENV, PORTAL_ENV):
        monkeypatch.delenv(name, raising=False)

    started = time.monotonic()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        with dg.execute_job(_reconstructable(SOURCES_JOB), instance=instance) as result:
            assert result.success
        assert set(EXERCICES) <= set(instance.get_dynamic_partitions("exercice"))
        sources_done = time.monotonic()
        # The pool's row is made from `default_limit` before the runs start: runs that all claim a slot
        # of a pool with no row yet race to insert it, and all but one fail on PostgreSQL's unique key
        # (seen here: `concurrency_limits_concurrency_key_key`); README "Beyond one machine".
        instance.event_log_storage.initialize_concurrency_limit_to_default(DUCKDB_WRITER_POOL)

        # One process per exercice, all started at once, each launching the credits run of its partition
        # (forked from the server process the sources run started, which imported Dagster and the definitions).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pipelines.definitions", __name__])
        workers = [context.Process(target=build_exercice, args=(str(home), e), name=f"credits-{e}") for e in EXERCICES]
        try:
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=RUN_TIMEOUT_S)
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
        assert [w.exitcode for w in workers] == [0] * len(EXERCICES), [(w.name, w.exitcode) for w in workers]
        runs = {r.tags["dagster/partition"]: r for r in instance.get_runs(dg.RunsFilter(job_name=CREDITS_JOB))}
        pool_limit = instance.event_log_storage.get_pool_limits()
    elapsed = time.monotonic() - started
    print(f"sources job {sources_done - started:.1f} s; {len(EXERCICES)} credits runs in parallel "
          f"{elapsed - (sources_done - started):.1f} s; total {elapsed:.1f} s")  # fmt: skip

    # Every run succeeded, as recorded in PostgreSQL.
    assert sorted(runs) == EXERCICES
    run_ids = [runs[e].run_id for e in EXERCICES]
    with closing(postgres.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM runs GROUP BY status")
        assert dict(cursor.fetchall()) == {"SUCCESS": 1 + len(EXERCICES)}
        cursor.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = ANY(%s) AND step_key = 'core__credits' "
            "AND dagster_event_type = 'ENGINE_EVENT' AND event LIKE %s",
            (run_ids, f"%Step blocked by limit for pool {DUCKDB_WRITER_POOL}%"),
        )
        (blocked,) = cursor.fetchone()

    # The staging steps of different exercices ran at the same time...
    staging = _intervals(postgres, run_ids, "staging__credits")
    assert any(max(a[0], b[0]) < min(a[1], b[1]) for a, b in combinations(staging.values(), 2)), staging
    # ...and the loads into DuckDB one after the other: the pool made at least one of them wait.
    loads = _intervals(postgres, run_ids, "core__credits")
    for a, b in combinations(loads.values(), 2):
        assert a[1] <= b[0] or b[1] <= a[0], loads
    assert blocked >= 1
    assert [(p.name, p.limit) for p in pool_limit if p.name == DUCKDB_WRITER_POOL] == [(DUCKDB_WRITER_POOL, 1)]

    # The warehouse holds the real figures of each exercice, and only of those.
    with duckdb.connect(str(work / "budget.duckdb"), read_only=True) as connection:
        exercices = connection.sql("SELECT DISTINCT exercice FROM credits ORDER BY 1").fetchall()
        assert [str(e) for (e,) in exercices] == EXERCICES

        def lfi(source_id: str) -> tuple[Decimal, Decimal]:
            query = "SELECT sum(ae), sum(cp) FROM credits WHERE source_id = ? AND phase = 'LFI'"
            return connection.execute(query, [source_id]).fetchone()

        assert lfi("lfi-2019") == _lfi_totals("LFI_2019_Credits.csv", "utf-8-sig", "AE LFI 2019", "CP LFI 2019")
        assert lfi("lfi-2020") == _lfi_totals("LFI_2020_Credits.csv", "ascii", "AE LFI 2020", "CP LFI 2020")
        assert lfi("lfi-2021") == _lfi_totals(
            "LFI_2021_Credits.csv", "cp1252", "AE ( T2 + HT2) LFI", "CP ( T2 + HT2) LFI"
        )
        p352 = connection.execute(
            "SELECT sum(ae), sum(cp), sum(ae) FILTER (code_titre = '2') FROM credits "
            "WHERE exercice = 2021 AND phase = 'LFI' AND code_programme = '352'"
        ).fetchone()
        assert p352 == (M("10600000"), M("10600000"), M("3000000"))
