"""Input positions in PostgreSQL: the "tracking" rows every store writes in its own transaction.

A processor claims an input partition (locking its row until commit) and advances it together
with what it produced, so a restart neither loses nor doubles an effect (hub.store). Shared by
the event, projection and match stores.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from hub.errors import StoreError

__all__ = ["advance", "advance_many", "claim", "claim_many"]


def claim(cur: psycopg.Cursor[Any], consumer: str, topic: str, partition: int) -> int:
    """Lock this consumer's row for one input partition until commit; its last offset or -1."""
    cur.execute(
        'INSERT INTO processed (consumer, topic, partition, "offset") VALUES (%s, %s, %s, -1) '
        "ON CONFLICT DO NOTHING",
        (consumer, topic, partition),
    )
    # The row lock serialises two workers that briefly both hold a partition after a rebalance.
    cur.execute(
        'SELECT "offset" FROM processed WHERE consumer = %s AND topic = %s AND partition = %s '
        "FOR UPDATE",
        (consumer, topic, partition),
    )
    row = cur.fetchone()
    assert row is not None  # inserted just above if it was missing
    return int(row[0])


def advance(cur: psycopg.Cursor[Any], consumer: str, topic: str, partition: int, off: int) -> None:
    """Record the partition processed up to `off`; StoreError when it was never claimed."""
    cur.execute(
        'UPDATE processed SET "offset" = GREATEST("offset", %s), updated_at = clock_timestamp() '
        "WHERE consumer = %s AND topic = %s AND partition = %s",
        (off, consumer, topic, partition),
    )
    if cur.rowcount != 1:
        raise StoreError(f"advance without claim for {consumer} {topic}[{partition}]")


def claim_many(
    cur: psycopg.Cursor[Any], consumer: str, parts: Iterable[tuple[str, int]]
) -> dict[tuple[str, int], int]:
    """`claim` for several partitions in one statement instead of two per partition; rows are
    created and locked in (topic, partition) order, the same order in every worker."""
    wanted = sorted(set(parts))
    topics, partitions = [t for t, _ in wanted], [p for _, p in wanted]
    # A new row is inserted, an existing one "updated" to itself: either way it is locked to
    # the commit and returned with its offset.
    cur.execute(
        'INSERT INTO processed AS d (consumer, topic, partition, "offset") '
        "SELECT %s, t, p, -1 FROM unnest(%b::text[], %b::int[]) AS u(t, p) ORDER BY t, p "
        'ON CONFLICT (consumer, topic, partition) DO UPDATE SET "offset" = d."offset" '
        'RETURNING topic, partition, "offset"',
        (consumer, topics, partitions),
    )
    return {(row[0], row[1]): int(row[2]) for row in cur.fetchall()}


def advance_many(
    cur: psycopg.Cursor[Any], consumer: str, offsets: dict[tuple[str, int], int]
) -> None:
    """`advance` for several partitions in one statement."""
    items = sorted(offsets.items())
    cur.execute(
        'UPDATE processed AS d SET "offset" = GREATEST(d."offset", u.o), '
        "updated_at = clock_timestamp() "
        "FROM unnest(%b::text[], %b::int[], %b::bigint[]) AS u(t, p, o) "
        "WHERE d.consumer = %s AND d.topic = u.t AND d.partition = u.p",
        ([t for (t, _), _ in items], [p for (_, p), _ in items], [o for _, o in items], consumer),
    )
    if cur.rowcount != len(items):
        raise StoreError(f"advance without claim for {consumer} on {len(items)} partitions")
