"""verify(): one test per reject reason, with real signed bytes, plus sequence warnings."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from contract_samples import T0, World, catalog, make_world, sample_payloads

from hub.avro import encode_datum
from hub.envelope import decode_envelope, decode_payload, encode_envelope, sign
from hub.keys import generate_keypair
from hub.reasons import RejectReason, SequenceIssue
from hub.registry import add_key_event, permission_event, revoke_key_event
from hub.verify import Rejected, Verified, verify


@pytest.fixture
def world() -> World:
    return make_world()


def reason_of(outcome: Verified | Rejected) -> RejectReason | None:
    return outcome.reason if isinstance(outcome, Rejected) else None


class TestAccepts:
    def test_every_sample_event_type_is_accepted(self, world: World) -> None:
        """A correctly signed event of every publishable type verifies and decodes."""
        for event_type in sample_payloads():
            if event_type in ("key-added", "key-revoked", "participant-registered",
                              "encryption-key-added"):
                continue  # applied through the registry tests
            outcome = world.check(encode_envelope(world.seal(event_type)))
            assert isinstance(outcome, Verified), (event_type, outcome)
            assert outcome.envelope.event_type == event_type

    def test_decoded_payload_flags_identity_number(self, world: World) -> None:
        """The payload comes back with the publisher-set identity-number status."""
        payload = sample_payloads()["missing-person-alert"]
        payload["person"]["id_number"] = "510104201506030024"  # wrong check digit
        outcome = world.check(encode_envelope(world.seal("missing-person-alert", payload)))
        assert isinstance(outcome, Verified)
        assert outcome.payload["person"]["id_number_status"] == "INVALID_CHECK_DIGIT"
        assert outcome.payload["person"]["id_number"] == "510104201506030024"


class TestRejects:
    def test_garbage_is_malformed(self, world: World) -> None:
        """Bytes that are not an envelope are MALFORMED."""
        assert reason_of(world.check(b"not an envelope")) is RejectReason.MALFORMED

    def test_truncated_envelope_is_malformed(self, world: World) -> None:
        """A signed envelope missing its last byte is MALFORMED."""
        data = encode_envelope(world.seal("tip-report"))
        assert reason_of(world.check(data[:-1])) is RejectReason.MALFORMED

    def test_unknown_fingerprint_is_unknown_schema(self, world: World) -> None:
        """A properly signed event naming an unknown schema fingerprint is UNKNOWN_SCHEMA."""
        env = world.seal("tip-report")
        forged = sign(replace(env, schema_fingerprint=bytes(32)), world.keys[env.publisher_id])
        assert reason_of(world.check(encode_envelope(forged))) is RejectReason.UNKNOWN_SCHEMA

    def test_unknown_event_type_is_unknown_schema(self, world: World) -> None:
        """An event type the catalog does not know is UNKNOWN_SCHEMA."""
        env = world.seal("tip-report")
        forged = sign(replace(env, event_type="gossip"), world.keys[env.publisher_id])
        assert reason_of(world.check(encode_envelope(forged))) is RejectReason.UNKNOWN_SCHEMA

    def test_fingerprint_of_other_type_is_incompatible(self, world: World) -> None:
        """A header whose fingerprint belongs to another event type is INCOMPATIBLE_SCHEMA."""
        env = world.seal("tip-report")
        other = catalog().latest("migrant-record").fingerprint
        forged = sign(replace(env, schema_fingerprint=other), world.keys[env.publisher_id])
        outcome = world.check(encode_envelope(forged))
        assert reason_of(outcome) is RejectReason.INCOMPATIBLE_SCHEMA

    def test_version_mismatch_is_incompatible(self, world: World) -> None:
        """A header claiming v2 with the v1 fingerprint is INCOMPATIBLE_SCHEMA."""
        env = world.seal("tip-report")
        v1 = catalog().version("tip-report", 1).fingerprint
        forged = sign(replace(env, schema_fingerprint=v1, schema_version=2),
                      world.keys[env.publisher_id])
        outcome = world.check(encode_envelope(forged))
        assert reason_of(outcome) is RejectReason.INCOMPATIBLE_SCHEMA

    def test_unregistered_publisher(self, world: World) -> None:
        """A publisher the registry has never seen is UNKNOWN_PUBLISHER."""
        env = world.seal("tip-report", publisher="410000-police", key=generate_keypair())
        assert reason_of(world.check(encode_envelope(env))) is RejectReason.UNKNOWN_PUBLISHER

    def test_unregistered_key(self, world: World) -> None:
        """A registered publisher signing with a key never added is UNKNOWN_KEY."""
        env = world.seal("tip-report", key=generate_keypair())
        assert reason_of(world.check(encode_envelope(env))) is RejectReason.UNKNOWN_KEY

    def test_key_of_another_participant_is_unknown(self, world: World) -> None:
        """A key registered to someone else does not count for this publisher."""
        env = world.seal("tip-report", key=world.keys["510000-police"])
        assert reason_of(world.check(encode_envelope(env))) is RejectReason.UNKNOWN_KEY

    def test_signature_by_other_key_is_bad_signature(self, world: World) -> None:
        """A header naming a registered key but signed by another key is BAD_SIGNATURE."""
        env = world.seal("tip-report")
        thief = generate_keypair()
        forged = replace(env, signature=thief.sign(b"x" * 10))
        assert reason_of(world.check(encode_envelope(forged))) is RejectReason.BAD_SIGNATURE

    def test_tampered_payload_is_bad_signature(self, world: World) -> None:
        """Changing the payload after signing is BAD_SIGNATURE."""
        env = world.seal("tip-report")
        tampered = replace(env, payload=env.payload.replace(b"TIP-9", b"TIP-8"))
        assert tampered.payload != env.payload
        assert reason_of(world.check(encode_envelope(tampered))) is RejectReason.BAD_SIGNATURE

    def test_published_before_valid_from(self, world: World) -> None:
        """An event published before its key's valid_from is KEY_NOT_YET_VALID."""
        env = world.seal("tip-report", published_at=T0 - timedelta(days=2))
        outcome = world.check(encode_envelope(env))
        assert reason_of(outcome) is RejectReason.KEY_NOT_YET_VALID

    def test_published_after_revocation(self, world: World) -> None:
        """After a revocation's effective time, events with the key are KEY_REVOKED."""
        pid = "530000-womens-federation"
        world.operator_event(revoke_key_event(
            catalog(), world.operator, sequence=world.op_sequence(), participant_id=pid,
            key_id=world.keys[pid].key_id, effective_at=T0, reason="laptop stolen", at=T0))
        outcome = world.check(encode_envelope(world.seal("tip-report")))
        assert reason_of(outcome) is RejectReason.KEY_REVOKED
        assert "laptop stolen" in outcome.detail  # type: ignore[union-attr]

    def test_published_before_revocation_stays_valid(self, world: World) -> None:
        """Events signed before the revocation's effective time remain valid."""
        pid = "530000-womens-federation"
        world.operator_event(revoke_key_event(
            catalog(), world.operator, sequence=world.op_sequence(), participant_id=pid,
            key_id=world.keys[pid].key_id, effective_at=T0 + timedelta(days=1), at=T0))
        outcome = world.check(encode_envelope(world.seal("tip-report")))
        assert isinstance(outcome, Verified)

    def test_expired_key_is_reported_as_revoked(self, world: World) -> None:
        """A key used at or after valid_until is rejected as KEY_REVOKED (expired)."""
        pid = "530000-womens-federation"
        short = generate_keypair()
        world.operator_event(add_key_event(
            catalog(), world.operator, sequence=world.op_sequence(), participant_id=pid,
            public_key=short.verify_key, valid_from=T0 - timedelta(hours=1),
            valid_until=T0, at=T0 - timedelta(hours=1)))
        outcome = world.check(encode_envelope(world.seal("tip-report", key=short)))
        assert reason_of(outcome) is RejectReason.KEY_REVOKED
        assert "expired" in outcome.detail  # type: ignore[union-attr]

    def test_migrant_registry_may_not_issue_alerts(self, world: World) -> None:
        """A migrant registry publishing a police alert is NOT_PERMITTED."""
        env = world.seal("missing-person-alert", publisher="320000-migrant-registry")
        assert reason_of(world.check(encode_envelope(env))) is RejectReason.NOT_PERMITTED

    def test_withdrawn_permission(self, world: World) -> None:
        """After a permission is withdrawn, the type is NOT_PERMITTED; before, still fine."""
        world.operator_event(permission_event(
            catalog(), world.operator, sequence=world.op_sequence(),
            participant_id="530000-womens-federation", event_type="tip-report",
            granted=False, effective_at=T0 + timedelta(minutes=1), at=T0))
        early = world.seal("tip-report", published_at=T0)
        late = world.seal("tip-report", published_at=T0 + timedelta(minutes=2))
        assert isinstance(world.check(encode_envelope(early)), Verified)
        assert reason_of(world.check(encode_envelope(late))) is RejectReason.NOT_PERMITTED

    def test_undecodable_signed_payload_is_malformed(self, world: World) -> None:
        """A correctly signed envelope whose payload is not Avro of its schema is MALFORMED."""
        env = world.seal("tip-report")
        pid = env.publisher_id
        broken = sign(replace(env, payload=b"\x99\x99\x99"), world.keys[pid])
        outcome = world.check(encode_envelope(broken))
        assert reason_of(outcome) is RejectReason.MALFORMED
        assert outcome.envelope is not None

    def test_far_future_publication_is_malformed(self, world: World) -> None:
        """published_at far ahead of the hub clock is rejected, not trusted."""
        env = world.seal("tip-report", published_at=T0 + timedelta(days=3))
        outcome = world.check(encode_envelope(env), now=T0)
        assert reason_of(outcome) is RejectReason.MALFORMED

    def test_second_copy_is_duplicate(self, world: World) -> None:
        """The same event delivered twice is accepted once, then DUPLICATE."""
        data = encode_envelope(world.seal("tip-report"))
        assert isinstance(world.check(data), Verified)
        assert reason_of(world.check(data)) is RejectReason.DUPLICATE

    def test_forged_copy_of_known_id_is_bad_signature(self, world: World) -> None:
        """A forgery reusing an accepted event id is BAD_SIGNATURE, not a silent duplicate."""
        env = world.seal("tip-report")
        assert isinstance(world.check(encode_envelope(env)), Verified)
        forged = replace(env, sequence=env.sequence + 1)
        assert reason_of(world.check(encode_envelope(forged))) is RejectReason.BAD_SIGNATURE


class TestSequence:
    def test_gap_is_a_warning(self, world: World) -> None:
        """Skipping sequence numbers gives a GAP warning with expected and got."""
        first = world.check(encode_envelope(world.seal("tip-report", sequence=1)))
        assert isinstance(first, Verified)
        assert not first.warnings
        outcome = world.check(encode_envelope(world.seal("tip-report", sequence=4)))
        assert isinstance(outcome, Verified)
        (warning,) = outcome.warnings
        assert (warning.kind, warning.expected, warning.got) == (SequenceIssue.GAP, 2, 4)

    def test_replayed_number_is_a_warning(self, world: World) -> None:
        """A new event reusing an old sequence number gives a REPLAY warning."""
        world.check(encode_envelope(world.seal("tip-report", sequence=1)))
        world.check(encode_envelope(world.seal("tip-report", sequence=2)))
        outcome = world.check(encode_envelope(world.seal("tip-report", sequence=2)))
        assert isinstance(outcome, Verified)
        (warning,) = outcome.warnings
        assert (warning.kind, warning.expected, warning.got) == (SequenceIssue.REPLAY, 3, 2)


class TestTamperEvidence:
    def test_every_single_byte_change_is_detected(self, world: World) -> None:
        """Changing any one byte of a signed event's wire bytes gets it rejected."""
        data = encode_envelope(world.seal("rescue-notice"))
        for position in range(len(data)):
            for mask in (0x01, 0xFF):
                changed = bytearray(data)
                changed[position] ^= mask
                outcome = world.check(bytes(changed))
                assert isinstance(outcome, Rejected), (position, mask)
                assert outcome.reason is not RejectReason.DUPLICATE
        assert isinstance(world.check(data), Verified)

    def test_decoded_envelope_reencodes_identically(self, world: World) -> None:
        """decode then encode gives back the same wire bytes (one canonical form)."""
        data = encode_envelope(world.seal("migrant-record", event_id=uuid.uuid4()))
        assert encode_envelope(decode_envelope(data)) == data


class _BrokenStore:
    """A SeenEvents whose database is down."""

    def contains(self, event_id: uuid.UUID) -> bool:
        raise ConnectionError("database unavailable")

    def add(self, event_id: uuid.UUID) -> None:
        raise ConnectionError("database unavailable")


def test_store_failure_propagates_instead_of_quarantining() -> None:
    """A failing SeenEvents store raises, so the event is retried rather than rejected."""
    world = make_world()
    data = encode_envelope(world.seal("tip-report"))
    with pytest.raises(ConnectionError):
        verify(data, catalog=catalog(), registry=world.registry, seen=_BrokenStore(),
               sequences=world.sequences, now=T0 + timedelta(hours=1))


def test_hub_flags_a_false_identity_status() -> None:
    """A publisher claiming VALID for a number with a wrong check digit is flagged, not dropped."""
    world = make_world()
    env = world.seal("migrant-record")
    payload = decode_payload(catalog(), env)
    child = payload["children"][0]["child"]
    child["id_number"], child["id_number_status"] = "11010519491231002Y", "VALID"
    sv = catalog().latest("migrant-record")
    forged_status = replace(env, payload=encode_datum(sv.parsed, payload), signature=b"")
    signed = sign(forged_status, world.keys[env.publisher_id])
    outcome = world.check(encode_envelope(signed))
    assert isinstance(outcome, Verified)
    (flag,) = outcome.identity_flags
    assert flag[0] == "children[0].child.id_number"
    assert "publisher says VALID, hub finds INVALID_FORMAT" in flag[1]


def test_honest_statuses_raise_no_flags() -> None:
    """Payloads sealed with the project's tooling carry statuses the hub agrees with."""
    world = make_world()
    outcome = world.check(encode_envelope(world.seal("missing-person-alert")))
    assert isinstance(outcome, Verified) and outcome.identity_flags == []
