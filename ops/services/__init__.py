"""Start, stop and check the hub's own Kafka broker and PostgreSQL cluster.

`up()` is what `hubctl services up` and the test fixtures call: idempotent, it starts what is not
running, waits until each service really answers, and migrates the default database.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager

from hub.config import Settings
from ops.services import kafka, postgres
from ops.services._status import ServiceStatus

__all__ = ["ServiceStatus", "down", "status", "up"]


@contextmanager
def _exclusive(settings: Settings) -> Iterator[None]:
    # Several engineers' test sessions may call up() at once; only one may start the services.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "services.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def up(settings: Settings) -> list[ServiceStatus]:
    """Start both services unless running, wait until they answer, apply migrations."""
    with _exclusive(settings):
        return _up(settings)


def _up(settings: Settings) -> list[ServiceStatus]:
    # Imported here: ops.db imports psycopg, which `hubctl --help` need not load.
    from ops import db

    pg = postgres.start(settings)
    applied = db.migrate(settings.pg_owner_dsn)
    if applied:
        pg = ServiceStatus(
            pg.name,
            pg.healthy,
            pg.address,
            pg.pid,
            f"{pg.detail}; migrations applied: {', '.join(applied)}",
            pg.started,
        )
    broker = kafka.start(settings)
    return [broker, pg]


def down(settings: Settings) -> list[str]:
    """Stop both services cleanly; one sentence per service."""
    with _exclusive(settings):
        return [kafka.stop(settings), postgres.stop(settings)]


def status(settings: Settings) -> list[ServiceStatus]:
    """Health of both services, starting nothing."""
    return [kafka.status(settings), postgres.status(settings)]
