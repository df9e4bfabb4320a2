"""Start, stop and check the hub's own Kafka broker and PostgreSQL cluster.

`up()` is what `hubctl services up` and the test fixtures call: idempotent, it starts what is not
running, waits until each service really answers, and migrates the default database.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from hub.atrest import ensure_hub_key, hub_keys_dir
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


def up(
    settings: Settings,
    brokers: int | None = None,
    peer_ports: Sequence[tuple[int, int]] | None = None,
) -> list[ServiceStatus]:
    """Start both services unless running, wait until they answer, apply migrations.

    `brokers`: 1 or 3 Kafka brokers for a new log (default: what the data dir holds, else 1);
    `peer_ports`: (client, controller) ports of brokers 2 and 3 (see ops.services.kafka).
    Returns the broker(s) first, then PostgreSQL.
    """
    with _exclusive(settings):
        return _up(settings, brokers, peer_ports)


def _up(
    settings: Settings, brokers: int | None, peer_ports: Sequence[tuple[int, int]] | None
) -> list[ServiceStatus]:
    # Imported here: ops.db imports psycopg, which `hubctl --help` need not load.
    from ops import db

    pg = postgres.start(settings)
    applied = db.migrate(settings.pg_owner_dsn)
    # The hub key that wraps the cases' data keys: a 0600 file, never in the database.
    ensure_hub_key(hub_keys_dir(settings.secrets_dir) / settings.pg_database)
    if applied:
        pg = ServiceStatus(
            pg.name,
            pg.healthy,
            pg.address,
            pg.pid,
            f"{pg.detail}; migrations applied: {', '.join(applied)}",
            pg.started,
        )
    return [*kafka.start_all(settings, brokers, peer_ports), pg]


def down(settings: Settings) -> list[str]:
    """Stop both services (every broker of a cluster) cleanly; one sentence per service."""
    with _exclusive(settings):
        return [kafka.stop(settings), postgres.stop(settings)]


def status(settings: Settings) -> list[ServiceStatus]:
    """Health of every broker and of PostgreSQL, starting nothing."""
    return [*kafka.statuses(settings), postgres.status(settings)]
