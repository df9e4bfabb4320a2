"""The connector's side of two-step disclosure: its encryption key, and opening sealed details."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.cli import main
from connectors.config import load_config
from connectors.inbox import Notification, open_details, parse_message
from hub.disclosure import details_bytes, details_notice
from hub.keys import generate_keypair
from hub.notice import seal_notice
from hub.registry import RegistrationRequest
from hub.sealing import EncryptionKey, SealError, generate_encryption_key, seal_for

POLICE = "510100-police"


def test_init_writes_an_encryption_key_the_request_carries(tmp_path: Path) -> None:
    """init makes a private X25519 key beside the signing key and puts its public half in
    the registration request, so `hubctl registry import` registers it."""
    config = tmp_path / "hub-connector.toml"
    assert main(["init", "--participant-id", POLICE, "--config", str(config)]) == 0
    key_file = load_config(config).encryption_key_file
    assert key_file.name == f"{POLICE}.x25519.pem"
    assert key_file.stat().st_mode & 0o077 == 0
    request = RegistrationRequest.from_json(
        (tmp_path / f"{POLICE}.registration.json").read_text(encoding="utf-8"))
    assert request.encryption_key == EncryptionKey.load(key_file).public


def test_keygen_writes_both_keys_and_refuses_to_overwrite(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    """keygen prints both public keys; a second run without --force keeps both files."""
    out = tmp_path / "k.pem"
    assert main(["keygen", "--out", str(out)]) == 0
    sealing = tmp_path / "k.x25519.pem"
    printed = capsys.readouterr().out
    assert EncryptionKey.load(sealing).public.base64 in printed
    before = sealing.read_bytes()
    assert main(["keygen", "--out", str(out)]) == 1
    assert sealing.read_bytes() == before


def _details_note(key: EncryptionKey, recipient: str = POLICE) -> Notification:
    operator = generate_keypair()
    match_id, request_id = str(uuid.uuid4()), str(uuid.uuid4())
    secret = {"match_id": match_id, "counterpart": {"person": {"name": "李小红"}}}
    box = seal_for(key.public, details_bytes(secret), match_id=match_id, recipient=recipient)
    wire = seal_notice(operator, details_notice(match_id, recipient, request_id, box))
    note = parse_message(operator.verify_key, recipient, "t", 0, 0, wire)
    assert isinstance(note, Notification)
    return note


def test_inbox_opens_details_sealed_to_this_unit() -> None:
    """The unit's own key opens the details; the one-line summary shows no personal data."""
    key = generate_encryption_key()
    note = _details_note(key)
    assert "李" not in note.line() and note.line().startswith("MATCH_DETAILS")
    assert open_details(note, key, POLICE)["counterpart"]["person"]["name"] == "李小红"


def test_another_units_key_does_not_open_them() -> None:
    """Details sealed to one unit stay closed to a unit with another key."""
    note = _details_note(generate_encryption_key())
    with pytest.raises(SealError):
        open_details(note, generate_encryption_key(), POLICE)


def test_details_and_ack_refuse_a_malformed_match_id(tmp_path: Path) -> None:
    """A match id that is not a UUID is refused before anything is signed or sent."""
    config = tmp_path / "c.toml"
    assert main(["init", "--participant-id", POLICE, "--config", str(config)]) == 0
    assert main(["ack", "not-a-match", "--config", str(config)]) == 1
    assert main(["details", "not-a-match", "--reason", "x", "--config", str(config)]) == 1
    assert main(["details", str(uuid.uuid4()), "--reason", "  ", "--config", str(config)]) == 1
