"""Creating and reconciling the hub's topics on the broker (the declarations are hub.topics).

`hubctl topics apply` and the tests use it, and the pipeline creates each recipient's
notification topic with it on first use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from hub.config import Settings
from hub.errors import TopicError
from hub.topics import TOPICS, Durability, TopicSpec, notification_spec


@contextmanager
def admin_client(settings: Settings) -> Iterator[Any]:
    """A kafka-python admin client for the hub's broker, closed on exit."""
    try:
        admin = KafkaAdminClient(
            **settings.kafka_config(),
            client_id="hubctl-topics",
            request_timeout_ms=30000,
        )
    except KafkaError as err:
        raise TopicError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {err!r}") from err
    try:
        yield admin
    finally:
        admin.close()


@dataclass(frozen=True)
class TopicState:
    """What the broker holds for one topic."""

    name: str
    partitions: int
    configs: dict[str, str]
    replication: int = 1


def describe(admin: Any, names: Sequence[str]) -> dict[str, TopicState]:
    """Partitions and (non-default) configs of those `names` that exist."""
    existing = set(admin.list_topics()) & set(names)
    if not existing:
        return {}
    described_topics = admin.describe_topics(sorted(existing))
    partitions = {t["name"]: len(t["partitions"]) for t in described_topics}
    replication = {
        t["name"]: min((len(p["replica_nodes"]) for p in t["partitions"]), default=0)
        for t in described_topics
    }
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in sorted(existing)]
    described = admin.describe_configs(resources, config_filter="all")["topic"]
    return {
        name: TopicState(
            name,
            partitions[name],
            {key: str(entry["value"]) for key, entry in described[name].items()},
            replication[name],
        )
        for name in sorted(existing)
    }


def apply(settings: Settings, specs: Sequence[TopicSpec] = TOPICS) -> list[str]:
    """Create missing topics, raise partition counts, realign configs; one line per change."""
    by_name = {spec.name(settings): spec for spec in specs}
    changes: list[str] = []
    try:
        with admin_client(settings) as admin:
            durability = cluster_durability(admin)
            current = describe(admin, list(by_name))
            created: set[str] = set()
            for name, spec in by_name.items():
                if name not in current:
                    made = _create(admin, name, spec, durability)
                    changes.extend(made)
                    created.update([name] if made else [])
            current = _describe_all(admin, list(by_name))
            for name, spec in by_name.items():
                # A topic made just now has the declared configs; on a cluster another broker
                # may not list them yet, and "correcting" them would be refused as unknown.
                if name not in created:
                    changes.extend(_reconcile(admin, spec, current[name], durability))
    except KafkaError as err:
        raise TopicError(f"topic administration failed: {err!r}") from err
    return changes


def cluster_durability(admin: Any) -> Durability:
    """The durability the topics must have on the cluster this admin client talks to."""
    return Durability.for_brokers(len(admin.describe_cluster()["brokers"]))


def _describe_all(admin: Any, names: list[str], timeout_s: float = 15.0) -> dict[str, TopicState]:
    # A topic just created may take a moment to appear in the metadata the broker serves.
    deadline = time.monotonic() + timeout_s
    while True:
        current = describe(admin, names)
        missing = sorted(set(names) - set(current))
        if not missing:
            return current
        if time.monotonic() > deadline:
            raise TopicError(f"topics still missing after creation: {', '.join(missing)}")
        time.sleep(0.2)


def _create(admin: Any, name: str, spec: TopicSpec, durability: Durability) -> list[str]:
    new = NewTopic(
        name, spec.partitions, durability.replication, topic_configs=spec.configs(durability)
    )
    try:
        admin.create_topics([new], wait_for_metadata=True)
    except TopicAlreadyExistsError:
        # Another process created it between our look and our create; reconcile will check it.
        return []
    copies = f", {durability.replication} copies" if durability.replication > 1 else ""
    return [
        f"created {name} ({spec.partitions} partitions{copies}, retention.ms={spec.retention_ms})"
    ]


def _reconcile(
    admin: Any, spec: TopicSpec, state: TopicState, durability: Durability
) -> list[str]:
    changes: list[str] = []
    if state.replication < durability.replication:
        # Adding copies means reassigning every partition; say so rather than pretend.
        changes.append(
            f"{state.name}: has {state.replication} copies per partition, the cluster wants "
            f"{durability.replication}; left as is (recreate the topic or reassign partitions)"
        )
    if state.partitions < spec.partitions:
        admin.create_partitions({state.name: NewPartitions(spec.partitions)})
        changes.append(f"{state.name}: partitions {state.partitions} -> {spec.partitions}")
    elif state.partitions > spec.partitions:
        # Kafka cannot remove partitions; say so rather than pretend it matches.
        changes.append(
            f"{state.name}: has {state.partitions} partitions, declared {spec.partitions}; "
            "left as is (partitions can only grow)"
        )
    wanted = spec.configs(durability)
    if state.replication < durability.min_insync:
        # min.insync.replicas above the copies a topic has would refuse every acks=all write.
        wanted.pop("min.insync.replicas")
    wrong = {k: v for k, v in wanted.items() if state.configs.get(k) != v}
    if wrong:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, state.name, wrong)])
        for key, value in sorted(wrong.items()):
            changes.append(f"{state.name}: {key} {state.configs.get(key)} -> {value}")
    return changes


def ensure_notification_topic(settings: Settings, participant_id: str) -> str:
    """Create (or reconcile) `participant_id`'s notification topic; its full name."""
    spec = notification_spec(participant_id)
    apply(settings, [spec])
    return spec.name(settings)


def list_topics(settings: Settings) -> list[TopicState]:
    """Every topic under the settings' prefix as the broker holds it."""
    try:
        with admin_client(settings) as admin:
            names = [n for n in admin.list_topics() if n.startswith(settings.topic_prefix)]
            return list(describe(admin, names).values())
    except KafkaError as err:
        raise TopicError(f"cannot list topics: {err!r}") from err


def delete_prefixed(settings: Settings) -> list[str]:
    """Delete every topic under the settings' prefix (test clean-up); the names deleted."""
    if not settings.topic_prefix or settings.topic_prefix == "hub.":
        raise TopicError("refusing to delete the production prefix or all topics")
    try:
        with admin_client(settings) as admin:
            names = sorted(n for n in admin.list_topics() if n.startswith(settings.topic_prefix))
            if names:
                admin.delete_topics(names)
            return names
    except KafkaError as err:
        raise TopicError(f"cannot delete topics under {settings.topic_prefix!r}: {err!r}") from err
