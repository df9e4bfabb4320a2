"""Details sealed to one participant's X25519 key (hub.sealing) and how the registry keeps it."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.errors import KeyFileError, RegistryError
from hub.keys import generate_keypair
from hub.registry import RegistrationRequest, Registry
from hub.sealing import EncryptionKey, SealError, generate_encryption_key, open_sealed, seal_for

MATCH = "6f1c9a1e-0d7e-4a51-9a55-2d3f0f2b7c11"
UNIT = "510000-police"
SECRET = "李小红 510104201603051224".encode()


class TestSealing:
    def test_recipient_opens(self) -> None:
        """The holder of the key opens what was sealed to it for this match."""
        key = generate_encryption_key()
        box = seal_for(key.public, SECRET, match_id=MATCH, recipient=UNIT)
        assert SECRET not in base64.b64decode(box["ciphertext"])
        assert open_sealed(key, box, match_id=MATCH, recipient=UNIT) == SECRET

    def test_another_key_cannot_open(self) -> None:
        """Another participant's key fails, even with the box relabelled to its key id."""
        key, other = generate_encryption_key(), generate_encryption_key()
        box = seal_for(key.public, SECRET, match_id=MATCH, recipient=UNIT)
        with pytest.raises(SealError):
            open_sealed(other, box, match_id=MATCH, recipient=UNIT)
        with pytest.raises(SealError):
            open_sealed(other, {**box, "key_id": other.public.key_id}, match_id=MATCH,
                        recipient=UNIT)

    @pytest.mark.parametrize("match_id, recipient", [
        ("00000000-0000-4000-8000-000000000000", UNIT), (MATCH, "320000-police")])
    def test_bound_to_match_and_recipient(self, match_id: str, recipient: str) -> None:
        """The associated data names match and recipient: a box moved elsewhere fails."""
        key = generate_encryption_key()
        box = seal_for(key.public, SECRET, match_id=MATCH, recipient=UNIT)
        with pytest.raises(SealError):
            open_sealed(key, box, match_id=match_id, recipient=recipient)

    def test_altered_box_fails(self) -> None:
        """One flipped ciphertext bit and the box does not open."""
        key = generate_encryption_key()
        box = seal_for(key.public, SECRET, match_id=MATCH, recipient=UNIT)
        raw = bytearray(base64.b64decode(box["ciphertext"]))
        raw[0] ^= 1
        with pytest.raises(SealError):
            open_sealed(key, {**box, "ciphertext": base64.b64encode(raw).decode()},
                        match_id=MATCH, recipient=UNIT)

    def test_key_file_is_private_and_never_overwritten(self, tmp_path: Path) -> None:
        """The private key file is 0600, loads back, and a second save refuses."""
        key = generate_encryption_key()
        path = key.save(tmp_path / "k.x25519.pem")
        assert path.stat().st_mode & 0o777 == 0o600
        assert EncryptionKey.load(path).public == key.public
        with pytest.raises(KeyFileError):
            key.save(path)


class TestRegistryKeys:
    T0 = datetime(2026, 3, 1, tzinfo=UTC)

    def _registry(self) -> Registry:
        reg = Registry.bootstrap(generate_keypair().verify_key)
        reg.apply("r1", "000000-hub-operator", "participant-registered", {
            "participant_id": UNIT, "jurisdiction": "510000", "department": "POLICE",
            "display_name": "x", "initial_permissions": [], "effective_at": self.T0})
        return reg

    def _add(self, reg: Registry, event_id: str, key: EncryptionKey, since: datetime) -> None:
        reg.apply(event_id, "000000-hub-operator", "encryption-key-added", {
            "participant_id": UNIT, "key_id": key.public.key_id, "public_key": key.public.raw,
            "valid_from": since})

    def test_newest_valid_key_wins(self) -> None:
        """A later key rotates the earlier one from its valid_from on."""
        reg, old, new = self._registry(), generate_encryption_key(), generate_encryption_key()
        self._add(reg, "k1", old, self.T0)
        self._add(reg, "k2", new, self.T0 + timedelta(days=10))
        assert reg.encryption_key(UNIT, self.T0 + timedelta(days=1)) == old.public
        assert reg.encryption_key(UNIT, self.T0 + timedelta(days=11)) == new.public
        assert reg.encryption_key("320000-police", self.T0) is None

    def test_wrong_key_id_is_refused(self) -> None:
        """The key id must be the fingerprint of the key."""
        reg, key = self._registry(), generate_encryption_key()
        with pytest.raises(RegistryError, match="fingerprint"):
            reg.apply("k1", "000000-hub-operator", "encryption-key-added", {
                "participant_id": UNIT, "key_id": "0" * 32, "public_key": key.public.raw,
                "valid_from": self.T0})

    def test_request_carries_the_encryption_key(self) -> None:
        """The registration request round-trips the key; a malformed one is named."""
        key = generate_encryption_key()
        request = RegistrationRequest(UNIT, "x", "510000", generate_keypair().verify_key, (),
                                      key.public)
        assert RegistrationRequest.from_json(request.to_json()).encryption_key == key.public
        broken = request.to_json().replace(key.public.base64, "not-base64!")
        with pytest.raises(RegistryError, match="encryption_public_key"):
            RegistrationRequest.from_json(broken)


def test_a_degenerate_ephemeral_key_is_refused() -> None:
    """An all-zero ephemeral key (no shared secret) is a SealError, not a crash."""
    key = generate_encryption_key()
    box = seal_for(key.public, SECRET, match_id=MATCH, recipient=UNIT)
    with pytest.raises(SealError):
        open_sealed(key, {**box, "ephemeral": base64.b64encode(bytes(32)).decode()},
                    match_id=MATCH, recipient=UNIT)
