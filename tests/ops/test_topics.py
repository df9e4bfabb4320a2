"""Topic declarations and their reconciliation on the real broker."""

from __future__ import annotations

import secrets

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from hub import topics
from hub.config import Settings
from hub.errors import TopicError
from processors import topic_admin


class TestDeclarations:
    def test_names_get_the_prefix(self, tmp_path: object) -> None:
        """Declared suffixes become full names under the settings' prefix."""
        settings = Settings(data_dir=tmp_path, topic_prefix="p1.")  # type: ignore[arg-type]
        assert topics.topic_name(settings, "ingest") == "p1.ingest"
        assert topics.notification_topic(settings, "320000-police") == (
            "p1.notifications.320000-police"
        )

    def test_unknown_suffix_is_an_error(self, tmp_path: object) -> None:
        """Asking for an undeclared topic names it in the error."""
        settings = Settings(data_dir=tmp_path)  # type: ignore[arg-type]
        with pytest.raises(TopicError, match="'ingets'"):
            topics.topic_name(settings, "ingets")

    @pytest.mark.parametrize(
        "bad", ["32000-police", "320000-polise", "320000_police", "../320000-police", ""]
    )
    def test_bad_participant_ids_are_refused(self, bad: str) -> None:
        """A malformed participant id never becomes a topic name."""
        with pytest.raises(TopicError, match="participant id"):
            topics.notification_spec(bad)

    def test_registry_forever_events_in_clear_for_a_bounded_time(self) -> None:
        """The registry keeps its events forever; the topics carrying participants' events in
        clear (personal data that can only be shredded in the store) keep them 30 days."""
        for spec in topics.TOPICS:
            expected = "-1" if spec.suffix == "registry" else str(topics.PASSING_RETENTION_MS)
            assert spec.configs()["retention.ms"] == expected, spec
            assert spec.configs()["cleanup.policy"] == "delete", spec
        assert topics.PASSING_RETENTION_MS == 30 * 24 * 3600 * 1000


@pytest.mark.services
class TestOnTheBroker:
    def test_apply_is_idempotent_and_keeps_forever(self, hub_settings: Settings) -> None:
        """A second apply changes nothing; the broker holds each declared retention."""
        assert topic_admin.apply(hub_settings) == []
        held = {s.name: s for s in topic_admin.list_topics(hub_settings)}
        for spec in topics.TOPICS:
            state = held[spec.name(hub_settings)]
            assert state.partitions == spec.partitions
            assert state.configs["retention.ms"] == str(spec.retention_ms)

    def test_partitions_grow_and_never_shrink(self, hub_settings: Settings) -> None:
        """Raising the declared count adds partitions; lowering it is reported, not applied."""
        suffix = f"grow.{secrets.token_hex(3)}"
        topic_admin.apply(hub_settings, [topics.TopicSpec(suffix, 1)])
        changes = topic_admin.apply(hub_settings, [topics.TopicSpec(suffix, 3)])
        assert any("partitions 1 -> 3" in c for c in changes), changes
        changes = topic_admin.apply(hub_settings, [topics.TopicSpec(suffix, 2)])
        assert any("can only grow" in c for c in changes), changes
        held = {s.name: s for s in topic_admin.list_topics(hub_settings)}
        assert held[hub_settings.topic_prefix + suffix].partitions == 3

    def test_config_drift_is_put_back(self, hub_settings: Settings) -> None:
        """A retention changed by hand on the broker is restored to the declaration."""
        name = topics.topic_name(hub_settings, "quarantine")
        with topic_admin.admin_client(hub_settings) as admin:
            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, {"retention.ms": "60000"})]
            )
        changes = topic_admin.apply(hub_settings)
        assert changes == [f"{name}: retention.ms 60000 -> {topics.PASSING_RETENTION_MS}"]
        assert topic_admin.apply(hub_settings) == []

    def test_notification_topic_on_demand(self, hub_settings: Settings) -> None:
        """A recipient's notification topic is created with 3 partitions, kept forever."""
        name = topic_admin.ensure_notification_topic(hub_settings, "510100-migrant-registry")
        again = topic_admin.ensure_notification_topic(hub_settings, "510100-migrant-registry")
        assert again == name
        held = {s.name: s for s in topic_admin.list_topics(hub_settings)}
        assert held[name].partitions == 3
        assert held[name].configs["retention.ms"] == "-1"
