"""hub-connector keygen: a key pair whose private half only its owner can read."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.cli import main as connector
from hub.keys import SigningKey, VerifyKey


def test_keygen_writes_owner_only_key_and_prints_public(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The key file is 0600; the printed public key and key id belong to it."""
    path = tmp_path / "keys" / "me.pem"
    assert connector(["keygen", "--out", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    printed = dict(line.split(":", 1) for line in capsys.readouterr().out.splitlines())
    key = SigningKey.load(path)
    assert VerifyKey.from_base64(printed["public key"].strip()) == key.verify_key
    assert printed["key id"].strip() == key.key_id


def test_keygen_does_not_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An existing key file is left alone unless --force is given."""
    path = tmp_path / "me.pem"
    assert connector(["keygen", "--out", str(path)]) == 0
    before = path.read_bytes()
    assert connector(["keygen", "--out", str(path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert connector(["keygen", "--out", str(path), "--force"]) == 0
    assert path.read_bytes() != before
