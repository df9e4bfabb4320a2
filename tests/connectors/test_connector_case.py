"""The connector's side of case files: recognising the hub's answer and opening the file."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.casefile import answers, open_case_file
from connectors.cli import main
from connectors.inbox import Notification, parse_message
from hub.case_file import case_file_bytes, case_file_notice, case_refusal_notice
from hub.keys import generate_keypair
from hub.notice import refusal_body, seal_notice
from hub.sealing import (
    CASE_FILE_PURPOSE,
    EncryptionKey,
    SealError,
    generate_encryption_key,
    seal_for,
)

POLICE = "530000-police"
CASE = "R-530000-9"


def _note(body: dict[str, object]) -> Notification:
    operator = generate_keypair()
    note = parse_message(operator.verify_key, POLICE, "t", 0, 0, seal_notice(operator, body))
    assert isinstance(note, Notification)
    return note


def _file_note(key: EncryptionKey, request: str, case: str = CASE) -> Notification:
    content = {"case_id": case, "rescue_notice": {"person": {"name": "李小红"}}}
    box = seal_for(key.public, case_file_bytes(content), match_id=case, recipient=POLICE,
                   purpose=CASE_FILE_PURPOSE)
    return _note(case_file_notice(case, POLICE, request, box))


def test_the_answer_to_a_request_is_recognised_and_nothing_else() -> None:
    """A case file, a hub refusal or a verify-stage refusal of this request answers it; an
    answer to another request does not."""
    request, other = str(uuid.uuid4()), str(uuid.uuid4())
    key = generate_encryption_key()
    assert answers(_file_note(key, request), request)
    assert not answers(_file_note(key, other), request)
    assert answers(_note(case_refusal_notice(CASE, POLICE, request, "not entitled")), request)
    assert answers(_note(refusal_body(POLICE, request, "case-request", "NOT_PERMITTED",
                                      "no permission", 7)), request)
    assert not answers(_note(refusal_body(POLICE, other, "case-request", "NOT_PERMITTED",
                                          "no permission", 8)), request)


def test_case_file_opens_with_this_units_key_only() -> None:
    """The unit's own key opens the file; another key, or a box of another case, does not."""
    key = generate_encryption_key()
    note = _file_note(key, str(uuid.uuid4()))
    assert open_case_file(note, key, POLICE)["rescue_notice"]["person"]["name"] == "李小红"
    with pytest.raises(SealError):
        open_case_file(note, generate_encryption_key(), POLICE)
    payload = dict(note.body["payload"], case_id="R-530000-10")  # relabelled by someone
    with pytest.raises(SealError):
        open_case_file(Notification(note.notification_id, {**note.body, "payload": payload}),
                       key, POLICE)


def test_case_command_has_help_and_refuses_an_empty_case_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`case --help` says who may read a file; an empty case id is refused before anything."""
    with pytest.raises(SystemExit) as done:
        main(["case", "--help"])
    assert done.value.code == 0
    assert "province of rescue" in capsys.readouterr().out
    config = tmp_path / "hub-connector.toml"
    assert main(["init", "--participant-id", POLICE, "--config", str(config)]) == 0
    assert main(["case", " ", "--config", str(config)]) != 0
    assert "CASE_ID must name a case" in capsys.readouterr().err
