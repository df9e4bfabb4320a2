"""The envelope's wire bytes follow schemas/ENVELOPE.md; keys are stored safely."""

from __future__ import annotations

import hashlib
import os
import struct
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from contract_samples import T0, catalog, sample_payloads
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.envelope import (
    Envelope,
    decode_envelope,
    decode_payload,
    encode_envelope,
    encode_payload,
    seal,
    seal_encoded_wire,
    sign,
    signing_bytes,
)
from hub.errors import EnvelopeError, KeyFileError, PayloadError, UnknownSchemaError
from hub.keys import SigningKey, VerifyKey, generate_keypair
from hub.signing import head_signature_valid, signature_valid, wire_signature_valid


def _sealed(key: SigningKey, version: int = 2) -> Envelope:
    return seal(catalog(), "alert-update", sample_payloads()["alert-update"],
                publisher_id="510000-police", key=key, sequence=7, occurred_at=T0,
                published_at=T0 + timedelta(seconds=1),
                event_id=uuid.UUID("00112233-4455-6677-8899-aabbccddeeff"), version=version)


def _spec_body(env: Envelope) -> bytes:
    """The body written out field by field from ENVELOPE.md, independently of the code."""
    def micros(t: datetime) -> int:
        return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)

    def name(text: str) -> bytes:
        return bytes([len(text)]) + text.encode("ascii")

    return (env.event_id.bytes + name(env.event_type) + env.schema_fingerprint
            + name(env.publisher_id) + bytes.fromhex(env.key_id)
            + struct.pack(">H", env.schema_version) + struct.pack(">Q", env.sequence)
            + struct.pack(">q", micros(env.occurred_at))
            + struct.pack(">q", micros(env.published_at))
            + struct.pack(">I", len(env.payload)) + env.payload)


class TestSpec:
    @pytest.mark.parametrize("version", [1, 2])
    def test_wire_bytes_match_the_written_spec(self, version: int) -> None:
        """encode_envelope produces exactly magic + body + signature as documented."""
        env = _sealed(generate_keypair(), version)
        magic = b"EXH\x01" if version == 1 else b"EXH\x02"
        assert encode_envelope(env) == magic + _spec_body(env) + env.signature

    def test_v1_signature_covers_prefix_and_body(self) -> None:
        """The bare library verifies a v1 signature over the documented signing bytes."""
        key = generate_keypair()
        env = _sealed(key, 1)
        message = b"org.exchangehub.envelope.v1\x00" + _spec_body(env)
        assert signing_bytes(env) == message
        Ed25519PublicKey.from_public_bytes(key.public_key_bytes).verify(env.signature, message)

    def test_v2_signature_covers_prefix_header_and_payload_digest(self) -> None:
        """A v2 signature covers the v2 prefix, the header with the payload length, and the
        payload's SHA-256 instead of the payload: the bare library checks it that way."""
        key = generate_keypair()
        env = _sealed(key)
        head = _spec_body(env)[: -len(env.payload)]
        message = (b"org.exchangehub.envelope.v2\x00" + head
                   + hashlib.sha256(env.payload).digest())
        assert signing_bytes(env) == message
        Ed25519PublicKey.from_public_bytes(key.public_key_bytes).verify(env.signature, message)

    def test_v2_verifies_from_header_and_digest_without_the_payload(self) -> None:
        """With the payload gone (crypto-shredded), header, kept digest and signature still
        verify; a wrong digest does not."""
        key = generate_keypair()
        env = _sealed(key)
        wire = encode_envelope(env)
        head = wire[: len(wire) - 64 - len(env.payload)]
        digest = hashlib.sha256(env.payload).digest()
        assert head_signature_valid(head, digest, env.signature, key.verify_key)
        assert not head_signature_valid(head, bytes(32), env.signature, key.verify_key)
        assert not head_signature_valid(head[:-1] + b"\x00", digest, env.signature,
                                        key.verify_key)

    def test_old_version_1_envelopes_still_verify(self) -> None:
        """Both readers: v1 and v2 wire bytes decode, keep their version, and verify."""
        key = generate_keypair()
        for version in (1, 2):
            wire = encode_envelope(_sealed(key, version))
            assert decode_envelope(wire).version == version
            assert wire_signature_valid(wire, key.verify_key)
            assert signature_valid(decode_envelope(wire), key.verify_key)

    @pytest.mark.parametrize("version", [1, 2])
    def test_one_flipped_payload_byte_breaks_either_version(self, version: int) -> None:
        """Any payload byte changed makes the signature fail, v2 through the digest."""
        key = generate_keypair()
        wire = bytearray(encode_envelope(_sealed(key, version)))
        wire[-70] ^= 1
        assert not wire_signature_valid(bytes(wire), key.verify_key)

    def test_key_id_is_truncated_sha256(self) -> None:
        """The key id is hex of the first 16 bytes of SHA-256 of the raw public key."""
        key = generate_keypair()
        assert key.key_id == hashlib.sha256(key.public_key_bytes).hexdigest()[:32]

    def test_fingerprint_is_sha256_of_canonical_form(self) -> None:
        """The header's fingerprint is the latest schema's canonical-form SHA-256."""
        env = _sealed(generate_keypair())
        assert env.schema_fingerprint == catalog().latest("alert-update").fingerprint


class TestRoundTrip:
    def test_decode_gives_back_the_envelope(self) -> None:
        """decode(encode(env)) == env, and the payload decodes to what was sealed."""
        env = _sealed(generate_keypair())
        back = decode_envelope(encode_envelope(env))
        assert back == env
        assert decode_payload(catalog(), back)["note"] == "监控显示往南方向"

    def test_signature_helpers(self) -> None:
        """The signature is valid for its key and invalid for another."""
        key, other = generate_keypair(), generate_keypair()
        env = _sealed(key)
        assert signature_valid(env, key.verify_key)
        assert not signature_valid(env, other.verify_key)
        assert wire_signature_valid(encode_envelope(env), key.verify_key)

    def test_wire_sealing_gives_the_same_bytes_as_seal_then_encode(self) -> None:
        """seal_encoded_wire is encode_envelope(seal(...)) byte for byte (Ed25519 is
        deterministic), so the connector's fast path sends what the spec says."""
        key = generate_keypair()
        env = _sealed(key)
        wire = seal_encoded_wire(
            catalog().latest("alert-update"), env.payload, publisher_id=env.publisher_id,
            key=key, sequence=env.sequence, occurred_at=env.occurred_at,
            event_id=env.event_id, published_at=env.published_at,
        )
        assert wire == encode_envelope(env)
        assert wire_signature_valid(wire, key.verify_key)

    def test_sealing_flags_identity_numbers(self) -> None:
        """encode_payload sets id_number_status whatever the caller put there."""
        payload = dict(sample_payloads()["migrant-record"])
        payload["person"] = dict(payload["person"], id_number_status="VALID",
                                 id_number="110105194912310021")
        sv, data = encode_payload(catalog(), "migrant-record", payload)
        env = Envelope(uuid.uuid4(), "migrant-record", sv.version, sv.fingerprint,
                       "320000-migrant-registry", "0" * 32, 1, T0, T0, data)
        decoded = decode_payload(catalog(), env)
        assert decoded["person"]["id_number_status"] == "INVALID_CHECK_DIGIT"


class TestErrors:
    def test_invalid_payload_lists_problems(self) -> None:
        """An invalid payload raises PayloadError carrying each field problem."""
        payload = dict(sample_payloads()["alert-closed"], outcome="ESCAPED")
        del payload["alert_id"]
        with pytest.raises(PayloadError) as caught:
            encode_payload(catalog(), "alert-closed", payload)
        assert {p.field for p in caught.value.problems} == {"outcome", "alert_id"}  # type: ignore[attr-defined]

    def test_sign_refuses_other_key(self) -> None:
        """Signing an envelope that names another key id is refused."""
        env = _sealed(generate_keypair())
        with pytest.raises(EnvelopeError):
            sign(env, generate_keypair())

    def test_unsigned_cannot_be_encoded(self) -> None:
        """An envelope without signature has no wire form."""
        with pytest.raises(EnvelopeError, match="not signed"):
            encode_envelope(replace(_sealed(generate_keypair()), signature=b""))

    def test_naive_time_refused(self) -> None:
        """Naive occurred_at is refused rather than guessed."""
        with pytest.raises(EnvelopeError, match="time zone"):
            signing_bytes(replace(_sealed(generate_keypair()), occurred_at=datetime(2026, 1, 1)))

    @pytest.mark.parametrize("mutate,message", [
        (lambda b: b"XXX\x01" + b[4:], "magic"),
        (lambda b: b[:20] + b"\x00" + b[21:], "event_type"),
        (lambda b: b + b"\x00", "length mismatch"),
        (lambda b: b[:30], "truncated|event_type|publisher_id"),
    ])
    def test_malformed_wire_bytes(self, mutate: object, message: str) -> None:
        """Each kind of malformed wire bytes gives EnvelopeError naming the problem."""
        data = encode_envelope(_sealed(generate_keypair()))
        with pytest.raises(EnvelopeError, match=message):
            decode_envelope(mutate(data))  # type: ignore[operator]

    def test_unknown_fingerprint_on_decode_payload(self) -> None:
        """decode_payload with an unknown fingerprint raises UnknownSchemaError."""
        env = replace(_sealed(generate_keypair()), schema_fingerprint=b"\x01" * 32)
        with pytest.raises(UnknownSchemaError):
            decode_payload(catalog(), env)


class TestKeys:
    def test_saved_key_is_owner_only_and_loads(self, tmp_path: Path) -> None:
        """A saved private key has mode 0600 and loads back to the same key id."""
        key = generate_keypair()
        path = key.save(tmp_path / "keys" / "p.pem")
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert SigningKey.load(path).key_id == key.key_id

    def test_existing_file_not_overwritten(self, tmp_path: Path) -> None:
        """save refuses to replace an existing key file unless asked."""
        path = generate_keypair().save(tmp_path / "p.pem")
        with pytest.raises(KeyFileError, match="already exists"):
            generate_keypair().save(path)
        generate_keypair().save(path, overwrite=True)

    def test_world_readable_key_refused(self, tmp_path: Path) -> None:
        """Loading a private key others can read is refused with the chmod advice."""
        path = generate_keypair().save(tmp_path / "p.pem")
        path.chmod(0o644)
        with pytest.raises(KeyFileError, match="chmod 600"):
            SigningKey.load(path)

    def test_not_a_key(self, tmp_path: Path) -> None:
        """A file that is not a PEM key gives KeyFileError."""
        path = tmp_path / "p.pem"
        path.write_text("hello")
        path.chmod(0o600)
        with pytest.raises(KeyFileError):
            SigningKey.load(path)

    def test_public_key_base64_round_trip(self) -> None:
        """A public key printed as base64 reads back; bad base64 or length is refused."""
        key = generate_keypair()
        assert VerifyKey.from_base64(key.verify_key.base64) == key.verify_key
        with pytest.raises(KeyFileError):
            VerifyKey.from_base64("!!!")
        with pytest.raises(KeyFileError):
            VerifyKey.from_base64("AAAA")

    def test_private_key_not_in_repr(self) -> None:
        """repr of a signing key shows the key id only."""
        key = generate_keypair()
        assert repr(key) == f"SigningKey(key_id={key.key_id})"
