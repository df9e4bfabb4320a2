"""Every Kafka topic of the hub, declared in one place: names, partitions, durability.

Names are `Settings.topic_prefix` + suffix (`hub.ingest`; a test run uses its own prefix).
The registry topic keeps its data forever (retention.ms=-1). The topics that carry participants'
events in clear (ingest, verified, quarantine) and the matcher's probes keep them for a bounded
time (PASSING_RETENTION_MS) in segments of a day: the event store is the source of truth that
projections are rebuilt from, and there a rescued person's personal data is sealed and can be
shredded (hub.atrest), which a copy on a broker's disk could not. Plain data, read by every
layer; creating and reconciling the topics on the broker is processors.topic_admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hub.config import Settings
from hub.errors import TopicError
from hub.identity import participant_problem

FOREVER = -1
_DAY_MS = 24 * 3600 * 1000
# How long ingest, verified and quarantine keep a message: the pipeline must not stay down longer.
PASSING_RETENTION_MS = 30 * _DAY_MS
_PASSING = (("segment.ms", str(_DAY_MS)),)  # a day's segment ages out as a whole
NOTIFICATIONS = "notifications."
# On a cluster (the three brokers of `hubctl services up --brokers 3`) every partition has three
# copies and a write with acks=all needs two of them: one broker may be lost without losing or
# refusing an acknowledged event. A single broker can only hold one copy.
CLUSTER_REPLICATION = 3
CLUSTER_MIN_INSYNC = 2


@dataclass(frozen=True)
class Durability:
    """How many copies each partition gets and how many must hold a write before it is acked."""

    replication: int
    min_insync: int

    @classmethod
    def for_brokers(cls, brokers: int) -> Durability:
        """Three copies, two in sync, on a cluster; one copy on a single broker.

        Decided from the brokers the cluster reports, never from a flag: with 2 of 3 brokers
        alive, creating a topic fails (three copies cannot be placed) rather than quietly
        making a topic with one copy.
        """
        if brokers > 1:
            return cls(CLUSTER_REPLICATION, CLUSTER_MIN_INSYNC)
        return cls(1, 1)


@dataclass(frozen=True)
class TopicSpec:
    """One topic: its name after the prefix, partitions, retention and cleanup policy."""

    suffix: str
    partitions: int
    retention_ms: int = FOREVER
    cleanup_policy: str = "delete"
    description: str = ""
    extra_configs: tuple[tuple[str, str], ...] = field(default=())

    def name(self, settings: Settings) -> str:
        return settings.topic_prefix + self.suffix

    def configs(self, durability: Durability | None = None) -> dict[str, str]:
        """The topic-level configs the broker must hold for this topic."""
        configs = {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            **dict(self.extra_configs),
        }
        if durability is not None:
            configs["min.insync.replicas"] = str(durability.min_insync)
        return configs


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("ingest", 6, PASSING_RETENTION_MS, extra_configs=_PASSING,
              description="signed events as published by participants' connectors"),
    TopicSpec("verified", 6, PASSING_RETENTION_MS, extra_configs=_PASSING,
              description="events that passed verification, in the hub's order"),
    TopicSpec("quarantine", 3, PASSING_RETENTION_MS, extra_configs=_PASSING,
              description="rejected events with a machine-readable reason"),
    TopicSpec("registry", 1, description="participant, key and permission changes, one order"),
    # Probes are work derived from stored events (their keys blinded): kept as long as the
    # events that caused them, like the verified topic.
    TopicSpec("match-keys", 6, PASSING_RETENTION_MS, extra_configs=_PASSING,
              description="indexed persons by blocking key: each key's owner scores it"),
)


def notification_spec(participant_id: str) -> TopicSpec:
    """The spec of one recipient's notification topic (`notifications.<participant-id>`)."""
    problem = participant_problem(participant_id)
    if problem is not None:
        raise TopicError(problem)
    return TopicSpec(
        NOTIFICATIONS + participant_id, 3, description=f"notifications for {participant_id} only"
    )


def declared(suffix: str) -> TopicSpec:
    """The declared topic with this suffix ("ingest", "verified", ...)."""
    for spec in TOPICS:
        if spec.suffix == suffix:
            return spec
    raise TopicError(f"no topic {suffix!r} is declared in hub/topics.py")


def topic_name(settings: Settings, suffix: str) -> str:
    """The full name of a declared topic, e.g. topic_name(s, "ingest") -> "hub.ingest"."""
    return declared(suffix).name(settings)


def notification_topic(settings: Settings, participant_id: str) -> str:
    """The full name of `participant_id`'s notification topic (not created here)."""
    return notification_spec(participant_id).name(settings)
