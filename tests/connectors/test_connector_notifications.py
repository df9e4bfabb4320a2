"""Reading notification records: only notices the pinned hub key signed for this recipient."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from connectors.inbox import DeliveredStore, Notification, Refusal, parse_message
from hub.keys import SigningKey, generate_keypair
from hub.notice import seal_notice
from hub.reasons import NoticeRefusal

POLICE = "320000-police"


@pytest.fixture(scope="module")
def operator() -> SigningKey:
    return generate_keypair()


def body(match_id: str, recipient: str = POLICE) -> dict[str, object]:
    return {"notification_id": "n-1", "kind": "MATCH_HIT", "recipient": recipient,
            "match_id": match_id, "alert_id": "A-7", "urgency": "IMMEDIATE", "score": 9.5,
            "explanation": ["birth date agrees"]}


class TestParseMessage:
    def test_signed_hit(self, operator: SigningKey) -> None:
        """A signed hit keeps its notification id, match id and alert id."""
        match_id = str(uuid.uuid4())
        wire = seal_notice(operator, body(match_id))
        note = parse_message(operator.verify_key, POLICE, "t.notifications.x", 0, 4, wire)
        assert isinstance(note, Notification)
        assert (note.notification_id, note.match_id, note.alert_id) == ("n-1", match_id, "A-7")
        assert "MATCH_HIT [IMMEDIATE]" in note.line() and "A-7" in note.line()

    def test_plain_json_is_refused(self, operator: SigningKey) -> None:
        """The router's old plain JSON (what a forger writes) is refused as unsigned."""
        wire = json.dumps(body(str(uuid.uuid4()))).encode()
        got = parse_message(operator.verify_key, POLICE, "t", 2, 9, wire)
        assert isinstance(got, Refusal) and got.reason is NoticeRefusal.UNSIGNED
        assert got.record()["offset"] == 9 and got.record()["raw"]

    def test_other_recipient_is_refused(self, operator: SigningKey) -> None:
        """A genuine notice for another unit, copied onto this topic, is not shown."""
        wire = seal_notice(operator, body(str(uuid.uuid4()), "510000-police"))
        got = parse_message(operator.verify_key, POLICE, "t", 0, 1, wire)
        assert isinstance(got, Refusal) and got.reason is NoticeRefusal.WRONG_RECIPIENT


class TestDeliveredStore:
    def test_remembers_across_reopen(self, tmp_path: Path, operator: SigningKey) -> None:
        """A delivered id is still known after reopening, with the alert of its match."""
        wire = seal_notice(operator, body("m-2") | {"notification_id": "n-2", "alert_id": "A-2"})
        note = parse_message(operator.verify_key, POLICE, "t", 0, 0, wire)
        assert isinstance(note, Notification)
        store = DeliveredStore(tmp_path / "state" / "inbox.sqlite3")
        store.remember(note)
        store.close()
        assert (tmp_path / "state" / "inbox.sqlite3").stat().st_mode & 0o077 == 0
        again = DeliveredStore(tmp_path / "state" / "inbox.sqlite3")
        assert again.seen("n-2") and not again.seen("n-3")
        assert again.alert_for_match("m-2") == "A-2"
        again.close()
