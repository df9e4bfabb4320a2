"""Per participant, what the console reads besides the registry: the notifications its inbox
has not fetched yet (from the broker), and its rhythm of publishing (from the event store,
judged by hub.silence)."""

from __future__ import annotations

from typing import Any

from kafka import TopicPartition

from hub.config import Settings
from hub.silence import Rhythm, rhythm
from hub.topics import notification_topic
from processors.kafka_reading import reading_consumer
from processors.pg_store import PgConnection
from processors.topic_admin import admin_client

# A publisher's rhythm reads up to this many of its recent bursts.
RHYTHM_BURSTS = 200

# Walks a publisher's events backwards one burst at a time: each step is the newest event at
# least a minute older than the one before (index console_event_store_publisher_stored).
_BURSTS = """
WITH RECURSIVE walk(at, n) AS (
    SELECT max(stored_at), 1 FROM event_store WHERE publisher_id = %(p)s
  UNION ALL
    SELECT (SELECT max(e.stored_at) FROM event_store e WHERE e.publisher_id = %(p)s
            AND e.stored_at <= walk.at - interval '1 minute'), n + 1
    FROM walk WHERE walk.at IS NOT NULL AND n < %(limit)s
)
SELECT at FROM walk WHERE at IS NOT NULL
"""


def rhythms(db: PgConnection, publishers: Any) -> dict[str, Rhythm]:
    """Each publisher's rhythm from its recent bursts of stored events (hub.silence)."""
    out: dict[str, Rhythm] = {}
    with db.cursor() as cur:
        for pid in publishers:
            cur.execute(_BURSTS, {"p": pid, "limit": RHYTHM_BURSTS})
            out[pid] = rhythm([row[0] for row in cur.fetchall()])
    return out


def unread_notifications(settings: Settings, db: PgConnection) -> tuple[dict[str, int], str]:
    """Per registered participant, the notifications on its topic that its inbox has not
    fetched: the topic's end against the offsets its inbox's consumer group committed
    (`hub-connector inbox` commits after each fetch; connectors.inbox). Also what went wrong."""
    from ops.broker_access import principal_of

    with db.cursor() as cur:
        cur.execute("SELECT participant_id FROM proj_participants ORDER BY 1")
        ids = [str(r[0]) for r in cur.fetchall()]
    out: dict[str, int] = {}
    try:
        with reading_consumer(settings) as consumer, admin_client(settings) as admin:
            existing = consumer.topics()
            wanted: dict[str, list[TopicPartition]] = {}
            for pid in ids:
                topic = notification_topic(settings, pid)
                out[pid] = 0  # no topic yet: nothing was ever sent to it
                if topic in existing:
                    wanted[pid] = [TopicPartition(topic, p) for p in
                                   sorted(consumer.partitions_for_topic(topic) or ())]
            every = [tp for tps in wanted.values() for tp in tps]
            if not every:
                return out, ""
            ends, begins = consumer.end_offsets(every), consumer.beginning_offsets(every)
            groups = {pid: f"{principal_of(settings, pid)}.inbox" for pid in wanted}
            # One request for every inbox group (OffsetFetch v8+).
            committed = admin.list_group_offsets(
                {groups[pid]: tps for pid, tps in wanted.items()})
            for pid, tps in wanted.items():
                done = committed.get(groups[pid], {})
                for tp in tps:
                    at = done.get(tp)
                    start = max(at.offset if at is not None and at.offset >= 0 else 0,
                                begins[tp])
                    out[pid] += max(ends[tp] - start, 0)
    except Exception as err:  # the broker may be down: the page says so, shows the rest
        return {}, f"unread notifications not read from the broker: {err}"
    return out, ""
