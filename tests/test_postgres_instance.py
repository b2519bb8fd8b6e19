"""Beyond one machine: the Dagster instance on PostgreSQL, exercices built in parallel.

A real PostgreSQL server (Debian's package, ``make system-deps``) is started for the module in a
temporary folder, on a free port of 127.0.0.1, and stopped at the end, also on failure. A Dagster
instance keeps its runs, event log and schedules in it, with the project's settings of such an instance
(``pipelines.settings.postgres_instance_yaml``: one slot per concurrency pool). The jobs of
``pipelines.definitions.defs`` run there on Dagster's multiprocess executor (each step in its own
process): the sources job, then one credits run per exercice, all launched at the same time. The test
holds the pool's slot until the load of every run waits for it, then releases it. The event log read
back from PostgreSQL shows the staging steps of different exercices overlapping while the loads into
DuckDB (pool ``duckdb_writer``, one writer process at a time) never do.

The event log storage is the project's (``pipelines/postgres_storage.py``): with dagster-postgres's own, two
runs claiming the pool's one slot at the same moment both got it, and runs making the pool's row at the same
moment failed on its unique key; ``test_simultaneous_claims_of_one_slot`` shows both fixed.
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

from assets.credits import DUCKDB_WRITER_POOL
from pipelines.instance import ComputeLogsDeafToCtrlC
from pipelines.jobs import CREDITS_JOB, SOURCES_JOB
from pipelines.settings import OUT_ENV, PORTAL_ENV, PRUNE_ENV, SOURCES_ENV, WORK_ENV, postgres_instance_yaml
from tests.conftest import ROOT, SOURCES
from warehouse.publication.releases import PAUSE_ENV

M = Decimal
EXERCICES = ["2019", "2020", "2021"]
#: Each load into DuckDB lasts at least this long (the ``load`` test hook of ``warehouse/publication/releases.py``),
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


def _instance_yaml(server: Postgres, home: Path) -> str:
    """The project's settings of an instance on PostgreSQL (``pipelines/settings.py``) for this server, the
    instance folder ``home``."""
    return postgres_instance_yaml(
        {
            "hostname": "127.0.0.1",
            "port": server.port,
            "username": POSTGRES_USER,
            "password": POSTGRES_PASSWORD,
            "db_name": POSTGRES_DB,
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres ships psycopg2.
            "scheme": "postgresql+psycopg2",
        },
        home,
    )


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


#: The test's own claim on the pool: it holds the slot while the runs start.
HOLDER_RUN_ID = "test-holder"
HOLDER_STEP = "hold"


def _wait_for_loads_pending(server: Postgres, workers: list) -> list[str]:
    """Wait until the load (``core__credits``) of each run waits for a slot of the pool (a row in
    ``pending_steps``); return those runs. Fails if a run's process ends first, or after ``RUN_TIMEOUT_S``."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    with closing(server.connect()) as connection:
        connection.autocommit = True
        while True:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT run_id FROM pending_steps WHERE concurrency_key = %s AND step_key = 'core__credits'",
                    (DUCKDB_WRITER_POOL,),
                )
                waiting = [run_id for (run_id,) in cursor.fetchall()]
            if len(waiting) == len(workers):
                return waiting
            ended = [(w.name, w.exitcode) for w in workers if not w.is_alive()]
            assert not ended and time.monotonic() < deadline, (ended, waiting)
            time.sleep(0.5)


def test_exercices_built_in_parallel_on_a_postgres_instance(postgres, tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_yaml(postgres, home), encoding="utf-8")
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
        assert type(instance.event_log_storage).__name__ == "SerialSlotsPostgresEventLogStorage"
        assert type(instance.schedule_storage).__name__ == "PostgresScheduleStorage"
        # The steps' output captured as on one machine, its mirrors deaf to Ctrl-C (a fresh user's find: Dagster's
        # own manager, whose watchers print a KeyboardInterrupt traceback each).
        assert isinstance(instance.compute_log_manager, ComputeLogsDeafToCtrlC)
        assert instance.compute_log_manager.inst_data.config_dict["base_dir"] == str(home.resolve() / "storage")
        with dg.execute_job(_reconstructable(SOURCES_JOB), instance=instance) as result:
            assert result.success
        assert set(EXERCICES) <= set(instance.get_dynamic_partitions("exercice"))
        sources_done = time.monotonic()
        # The test holds the pool's one slot (its row made from `default_limit`) until the load of every run
        # waits for it: the three loads are then ready at the same moment, and only the pool keeps them apart.
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(DUCKDB_WRITER_POOL)
        assert storage.claim_concurrency_slot(DUCKDB_WRITER_POOL, HOLDER_RUN_ID, HOLDER_STEP).is_claimed

        # One process per exercice, all started at once, each launching the credits run of its partition
        # (forked from the server process the sources run started, which imported Dagster and the definitions).
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["pipelines.definitions", __name__])
        workers = [context.Process(target=build_exercice, args=(str(home), e), name=f"credits-{e}") for e in EXERCICES]
        try:
            for worker in workers:
                worker.start()
            waiting = _wait_for_loads_pending(postgres, workers)
            storage.free_concurrency_slots_for_run(HOLDER_RUN_ID)
            for worker in workers:
                worker.join(timeout=RUN_TIMEOUT_S)
        finally:
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()
        assert [w.exitcode for w in workers] == [0] * len(EXERCICES), [(w.name, w.exitcode) for w in workers]
        runs = {r.tags["dagster/partition"]: r for r in instance.get_runs(dg.RunsFilter(job_name=CREDITS_JOB))}
        pool_limit = storage.get_pool_limits()
    elapsed = time.monotonic() - started
    print(f"sources job {sources_done - started:.1f} s; {len(EXERCICES)} credits runs in parallel "
          f"{elapsed - (sources_done - started):.1f} s; total {elapsed:.1f} s")  # fmt: skip

    # Every run succeeded, as recorded in PostgreSQL.
    assert sorted(runs) == EXERCICES
    run_ids = [runs[e].run_id for e in EXERCICES]
    assert sorted(waiting) == sorted(run_ids)  # the load of each run waited for the pool at the same moment
    with closing(postgres.connect()) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM runs GROUP BY status")
        assert dict(cursor.fetchall()) == {"SUCCESS": 1 + len(EXERCICES)}
        cursor.execute(
            "SELECT DISTINCT run_id FROM event_logs WHERE run_id = ANY(%s) AND step_key = 'core__credits' "
            "AND dagster_event_type = 'ENGINE_EVENT' AND event LIKE %s",
            (run_ids, f"%Step blocked by limit for pool {DUCKDB_WRITER_POOL}%"),
        )
        blocked = sorted(run_id for (run_id,) in cursor.fetchall())
        # Every slot was given back when the steps ended, and no step is left waiting.
        cursor.execute(
            "SELECT run_id, step_key FROM concurrency_slots WHERE concurrency_key = %s", (DUCKDB_WRITER_POOL,)
        )
        assert cursor.fetchall() == [(None, None)]
        cursor.execute("SELECT count(*) FROM pending_steps")
        assert cursor.fetchone() == (0,)

    # The staging steps of different exercices ran at the same time...
    staging = _intervals(postgres, run_ids, "staging__credits")
    assert any(max(a[0], b[0]) < min(a[1], b[1]) for a, b in combinations(staging.values(), 2)), staging
    # ...and the loads into DuckDB, all waiting for the pool at once, one after the other: from the start of
    # one (after the pool gave it the slot) to its success (before the run gives the slot back), no other.
    loads = _intervals(postgres, run_ids, "core__credits")
    for a, b in combinations(loads.values(), 2):
        assert a[1] <= b[0] or b[1] <= a[0], loads
    assert blocked == sorted(run_ids)
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


#: Rounds of simultaneous claims, and claimers per round. With dagster-postgres's own event log storage, 5
#: rounds in 10 of 3 claims on the pool's row gave the one slot to 2 or 3 claimers, and in each of 10 rounds of 3
#: claimers making a new pool's row at once, one or two failed (19 of 30: InFailedSqlTransaction after the
#: unique key).
CLAIM_ROUNDS = 6
CLAIMERS = 3


def _claim_at_once(home: str, barrier, pool: str, run_id: str, results) -> None:
    """One claimer (a process of its own): wait for the others, then do what a run does for a step of ``pool``
    (Dagster's ``InstanceConcurrencyContext.claim``): make the pool's row from ``default_limit`` if it saw
    none, then claim a slot. Puts (run_id, claimed, error) in ``results``."""
    with dg.DagsterInstance.from_config(home) as instance:
        storage = instance.event_log_storage
        known = {p.name for p in storage.get_pool_limits()}
        barrier.wait(timeout=60)
        try:
            if pool not in known:
                storage.initialize_concurrency_limit_to_default(pool)
            results.put((run_id, storage.claim_concurrency_slot(pool, run_id, "core__credits").is_claimed, None))
        except Exception as error:  # reported to the test, which fails on it
            results.put((run_id, False, f"{type(error).__name__}: {error}"))


def test_simultaneous_claims_of_one_slot(postgres, tmp_path):
    """Claimers in processes of their own claim a pool's one slot at the same moment: exactly one gets it,
    first while the pool has no row yet (they all make it), then again on the pool's row."""
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(_instance_yaml(postgres, home), encoding="utf-8")
    context = multiprocessing.get_context("fork")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for round_ in range(CLAIM_ROUNDS):
            pool = f"race_{round_}"
            for attempt in ("new row", "existing row"):
                barrier, results = context.Barrier(CLAIMERS), context.Queue()
                run_ids = [f"{pool}-{attempt[0]}-{i}" for i in range(CLAIMERS)]
                claimers = [
                    context.Process(target=_claim_at_once, args=(str(home), barrier, pool, r, results)) for r in run_ids
                ]
                for claimer in claimers:
                    claimer.start()
                outcomes = sorted(results.get(timeout=120) for _ in claimers)
                for claimer in claimers:
                    claimer.join(timeout=60)
                assert [error for _, _, error in outcomes] == [None] * CLAIMERS, outcomes
                assert sum(claimed for _, claimed, _ in outcomes) == 1, (pool, attempt, outcomes)
                holders = instance.event_log_storage.get_concurrency_info(pool).claimed_slots
                assert [s.run_id for s in holders] == [r for r, claimed, _ in outcomes if claimed]
                for run_id in run_ids:
                    instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        limits = {p.name: p.limit for p in instance.event_log_storage.get_pool_limits() if p.name.startswith("race_")}
    assert limits == {f"race_{r}": 1 for r in range(CLAIM_ROUNDS)}
