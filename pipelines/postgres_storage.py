"""Dagster's PostgreSQL event log storage with its pool-slot bookkeeping made atomic.

Dagster keeps a pool's slots in PostgreSQL (tables ``concurrency_limits``, ``concurrency_slots`` and
``pending_steps``). ``dagster-postgres`` opens its connections in ``AUTOCOMMIT``: every statement is a
transaction of its own. Claiming a slot is several statements (register the step as pending, assign it
if a slot is free, then ``SELECT … FOR UPDATE SKIP LOCKED`` a free slot and ``UPDATE`` it by id), so the
row lock of the ``SELECT`` is gone before the ``UPDATE``: two runs that claim the one slot of a pool at
the same moment both read it free and both write it, and both steps run (seen with the pool
``duckdb_writer``, limit 1: two loads at once, no "blocked" event; README "Beyond one machine"). A step
can also be left pending and unassigned while the slot is free (it registers just after the holder freed
the slot and assigned the queue), and wait for a later release that may never come. Making the pool's
row races too: runs that find no row insert it, and those that lose fail on the unique key
``concurrency_limits_concurrency_key_key`` (dagster-io/dagster#33552).

:class:`SerialSlotsPostgresEventLogStorage` runs each of these operations (claim, release, limits) under
one PostgreSQL advisory lock, held on a connection of its own for the length of the operation: they
happen one after the other across every process of the instance, as Dagster's code assumes. The lock is
the server's, released when its connection closes, even if the process dies. It uses Dagster's internal
modules: ``pyproject.toml`` pins the Dagster version it was written for.

``dagster.yaml``::

    event_log_storage:
      module: pipelines.postgres_storage
      class: SerialSlotsPostgresEventLogStorage
      config:
        postgres_db: {hostname: ..., username: ..., password: ..., db_name: ...}
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.base import ConcurrencyClaimStatus
from dagster_postgres.event_log.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config

#: The key of the advisory lock (PostgreSQL's ``pg_advisory_lock(bigint)``): any number the instance's
#: database uses for nothing else; this one spells "slots".
SLOTS_LOCK_KEY = 0x736C6F7473


class SerialSlotsPostgresEventLogStorage(PostgresEventLogStorage):
    """``PostgresEventLogStorage`` whose pool-slot operations hold :data:`SLOTS_LOCK_KEY` (module docstring)."""

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> SerialSlotsPostgresEventLogStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    @contextmanager
    def _slots_lock(self) -> Iterator[None]:
        """Hold the advisory lock, waiting for it, on a connection of its own (closing it releases the lock)."""
        with self._connect() as connection:
            connection.execute(db.text("SELECT pg_advisory_lock(:key)"), {"key": SLOTS_LOCK_KEY})
            try:
                yield
            finally:
                connection.execute(db.text("SELECT pg_advisory_unlock(:key)"), {"key": SLOTS_LOCK_KEY})

    def claim_concurrency_slot(
        self, concurrency_key: str, run_id: str, step_key: str, priority: int | None = None
    ) -> ConcurrencyClaimStatus:
        with self._slots_lock():
            return super().claim_concurrency_slot(concurrency_key, run_id, step_key, priority)

    def free_concurrency_slot_for_step(self, run_id: str, step_key: str) -> None:
        with self._slots_lock():
            super().free_concurrency_slot_for_step(run_id, step_key)

    def free_concurrency_slots_for_run(self, run_id: str) -> None:
        with self._slots_lock():
            super().free_concurrency_slots_for_run(run_id)

    def set_concurrency_slots(self, concurrency_key: str, num: int) -> None:
        with self._slots_lock():
            super().set_concurrency_slots(concurrency_key, num)

    def delete_concurrency_limit(self, concurrency_key: str) -> None:
        with self._slots_lock():
            super().delete_concurrency_limit(concurrency_key)

    def initialize_concurrency_limit_to_default(self, concurrency_key: str) -> bool:
        """Make the pool's row from the instance's ``default_limit``; a row another process made from that
        limit while this one waited for the lock is kept as is (Dagster's insert would fail on its key)."""
        with self._slots_lock():
            default_limit = self._instance.global_op_concurrency_default_limit if self.has_instance else None
            made = [p for p in self.get_pool_limits() if p.name == concurrency_key]
            if default_limit is not None and made and made[0].from_default and made[0].limit == default_limit:
                return True
            return super().initialize_concurrency_limit_to_default(concurrency_key)
