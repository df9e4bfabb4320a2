"""The participant registry: replay, key windows, revocation, permissions, requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from contract_samples import T0, catalog, make_world

from hub.envelope import encode_envelope
from hub.errors import RegistryError
from hub.keys import generate_keypair
from hub.reasons import RejectReason
from hub.registry import (
    DEFAULT_PERMISSIONS,
    KeyState,
    RegistrationRequest,
    add_key_event,
    register_participant_event,
    registration_events,
    revoke_key_event,
)
from hub.verify import Verified, replay_registry


class TestReplay:
    def test_replay_rebuilds_participants_keys_and_permissions(self) -> None:
        """Replaying operator-signed events yields the participant, its key and defaults."""
        operator, member = generate_keypair(), generate_keypair()
        events = [
            register_participant_event(catalog(), operator, sequence=1,
                                       participant_id="520000-civil-affairs",
                                       display_name="贵州省民政厅", effective_at=T0),
            add_key_event(catalog(), operator, sequence=2, participant_id="520000-civil-affairs",
                          public_key=member.verify_key, valid_from=T0, at=T0),
        ]
        registry, rejected = replay_registry(
            catalog(), operator.verify_key, [encode_envelope(e) for e in events],
            now=T0 + timedelta(hours=1))
        assert rejected == []
        participant = registry.participant("520000-civil-affairs")
        assert participant is not None and participant.jurisdiction == "520000"
        key = registry.key("520000-civil-affairs", member.key_id)
        assert key is not None and key.state_at(T0) is KeyState.VALID
        assert registry.permissions_at("520000-civil-affairs", T0) == sorted(
            DEFAULT_PERMISSIONS["civil-affairs"])

    def test_events_signed_by_non_anchor_are_rejected(self) -> None:
        """Registry events signed by a key other than the anchor do not change the registry."""
        operator, impostor = generate_keypair(), generate_keypair()
        forged = register_participant_event(catalog(), impostor, sequence=1,
                                            participant_id="520000-police",
                                            display_name="fake", effective_at=T0)
        registry, rejected = replay_registry(catalog(), operator.verify_key,
                                             [encode_envelope(forged)], now=T0)
        assert [r.reason for r in rejected] == [RejectReason.UNKNOWN_KEY]
        assert registry.participant("520000-police") is None

    def test_participant_cannot_change_registry(self) -> None:
        """A participant's own registry event is NOT_PERMITTED; posing as operator fails too."""
        world = make_world()
        police = world.keys["510000-police"]
        payload = {"participant_id": "510100-police", "jurisdiction": "510100",
                   "department": "POLICE", "display_name": "x", "effective_at": T0}
        own = world.seal("participant-registered", payload, publisher="510000-police")
        outcome = world.check(encode_envelope(own))
        assert not isinstance(outcome, Verified)
        assert outcome.reason is RejectReason.NOT_PERMITTED
        posing = register_participant_event(catalog(), police, sequence=99,
                                            participant_id="510100-police",
                                            display_name="x", effective_at=T0)
        outcome = world.check(encode_envelope(posing))
        assert not isinstance(outcome, Verified)
        assert outcome.reason is RejectReason.UNKNOWN_KEY

    def test_nonsense_event_is_reported_not_applied(self) -> None:
        """A key for an unregistered participant comes back as a rejection, not an exception."""
        operator = generate_keypair()
        env = add_key_event(catalog(), operator, sequence=1, participant_id="450000-police",
                            public_key=generate_keypair().verify_key, at=T0)
        registry, rejected = replay_registry(catalog(), operator.verify_key,
                                             [encode_envelope(env)], now=T0)
        assert [r.reason for r in rejected] == [RejectReason.NOT_PERMITTED]
        assert "not registered" in rejected[0].detail
        assert registry.keys_of("450000-police") == []

    def test_earliest_revocation_wins(self) -> None:
        """A later revocation with a later effective time does not un-revoke a key."""
        world = make_world()
        pid = "530000-civil-affairs"
        key_id = world.keys[pid].key_id
        for effective in (T0, T0 + timedelta(days=5)):
            world.operator_event(revoke_key_event(
                catalog(), world.operator, sequence=world.op_sequence(), participant_id=pid,
                key_id=key_id, effective_at=effective, at=T0))
        record = world.registry.key(pid, key_id)
        assert record is not None and record.revoked_at == T0
        assert record.state_at(T0 - timedelta(seconds=1)) is KeyState.VALID
        assert record.state_at(T0) is KeyState.REVOKED

    def test_rotation_keeps_both_keys_usable_in_their_windows(self) -> None:
        """After rotation the new key works and the old one still verifies old events."""
        world = make_world()
        pid = "320000-migrant-registry"
        old, new = world.keys[pid], generate_keypair()
        switch = T0 + timedelta(minutes=2)
        world.operator_event(add_key_event(catalog(), world.operator,
                                           sequence=world.op_sequence(), participant_id=pid,
                                           public_key=new.verify_key, valid_from=switch, at=T0))
        world.operator_event(revoke_key_event(catalog(), world.operator,
                                              sequence=world.op_sequence(), participant_id=pid,
                                              key_id=old.key_id, effective_at=switch, at=T0))
        before = world.seal("migrant-record", key=old, published_at=T0 + timedelta(minutes=1))
        after = world.seal("migrant-record", key=new, published_at=T0 + timedelta(minutes=3))
        stale = world.seal("migrant-record", key=old, published_at=T0 + timedelta(minutes=4))
        assert isinstance(world.check(encode_envelope(before)), Verified)
        assert isinstance(world.check(encode_envelope(after)), Verified)
        outcome = world.check(encode_envelope(stale))
        assert not isinstance(outcome, Verified) and outcome.reason is RejectReason.KEY_REVOKED

    def test_reapplying_is_harmless(self) -> None:
        """Applying the same registry event id twice changes nothing the second time."""
        world = make_world()
        env = register_participant_event(catalog(), world.operator, sequence=50,
                                         participant_id="340000-police", display_name="皖",
                                         effective_at=T0)
        world.operator_event(env)
        world.registry.apply(env.event_id, env.publisher_id, env.event_type, {})
        assert world.registry.participant("340000-police") is not None


class TestRegistrationRequest:
    def test_round_trip_and_events(self) -> None:
        """A request written by to_json parses back and becomes two registry events."""
        key = generate_keypair()
        request = RegistrationRequest("410000-police", "河南省公安厅", "410000",
                                      key.verify_key, ("missing-person-alert", "tip-report"))
        parsed = RegistrationRequest.from_json(request.to_json())
        assert parsed == request
        operator = generate_keypair()
        events = registration_events(catalog(), operator, parsed, first_sequence=1, at=T0)
        assert [e.event_type for e in events] == ["participant-registered", "key-added"]
        registry, rejected = replay_registry(
            catalog(), operator.verify_key, [encode_envelope(e) for e in events], now=T0)
        assert rejected == []
        assert registry.permissions_at("410000-police", T0) == [
            "missing-person-alert", "tip-report"]

    def test_connector_style_request_is_accepted(self) -> None:
        """A request without "format" but with department and requested_at is read."""
        key = generate_keypair()
        text = (f'{{"participant_id": "510100-migrant-registry", "display_name": "成都",'
                f' "jurisdiction": "510100", "department": "migrant-registry",'
                f' "public_key": "{key.verify_key.base64}", "key_id": "{key.key_id}",'
                f' "requested_event_types": [], "requested_at": "2026-03-01T00:00:00Z"}}')
        request = RegistrationRequest.from_json(text)
        events = registration_events(catalog(), generate_keypair(), request, first_sequence=1)
        assert events[0].event_type == "participant-registered"

    @pytest.mark.parametrize("text,field", [
        ("[]", "object"),
        ('{"participant_id": "410000-police"}', "display_name"),
        ('{"participant_id": "410000-army", "display_name": "x", "jurisdiction": "410000",'
         ' "public_key": "AAAA"}', "department"),
        ('{"participant_id": "410000-police", "display_name": "x", "jurisdiction": "410000",'
         ' "public_key": "AAAA"}', "public_key"),
    ])
    def test_bad_requests_name_the_field(self, text: str, field: str) -> None:
        """A malformed request raises RegistryError naming what is wrong."""
        with pytest.raises(RegistryError, match=field):
            RegistrationRequest.from_json(text)

    def test_extra_permissions_need_consent(self) -> None:
        """A migrant registry asking for police alerts is refused unless allowed explicitly."""
        request = RegistrationRequest("320000-migrant-registry", "苏", "320000",
                                      generate_keypair().verify_key, ("missing-person-alert",))
        with pytest.raises(RegistryError, match="not defaults"):
            registration_events(catalog(), generate_keypair(), request, first_sequence=1)
        events = registration_events(catalog(), generate_keypair(), request, first_sequence=1,
                                     allow_extra=True)
        assert len(events) == 2
