"""Reading notification records: the router's JSON, signed envelopes, and anything else."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.inbox import DeliveredStore, parse_message
from hub.envelope import encode_envelope, seal
from hub.keys import generate_keypair
from hub.schema_catalog import SchemaCatalog


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


class TestParseMessage:
    def test_router_json(self, catalog: SchemaCatalog) -> None:
        """A JSON hit keeps its own notification id, match id and alert id."""
        match_id = str(uuid.uuid4())
        value = json.dumps({"notification_id": "n-1", "kind": "MATCH_HIT", "match_id": match_id,
                            "alert_id": "A-7", "urgency": "IMMEDIATE", "score": 9.5,
                            "explanation": ["birth date agrees"]}).encode()
        note = parse_message(catalog, "t.notifications.320000-police", 0, 4, value)
        assert (note.notification_id, note.match_id, note.alert_id) == ("n-1", match_id, "A-7")
        assert "MATCH_HIT [IMMEDIATE]" in note.line() and "A-7" in note.line()

    def test_signed_envelope(self, catalog: SchemaCatalog) -> None:
        """A signed event is identified by its event id and its payload decoded."""
        match_id = str(uuid.uuid4())
        payload = {"match_id": match_id, "alert_id": "A-1", "alert_event_id": str(uuid.uuid4()),
                   "counterpart_kind": "RESCUE_NOTICE", "counterpart_id": "J-1",
                   "counterpart_event_id": str(uuid.uuid4()), "child_index": None, "score": 3.0,
                   "explanation": [], "dna": None, "recipients": ["320000-police"]}
        env = seal(catalog, "match-found", payload, publisher_id="000000-hub-operator",
                   key=generate_keypair(), sequence=7, occurred_at=datetime.now(UTC))
        note = parse_message(catalog, "t", 1, 2, encode_envelope(env))
        assert note.notification_id == str(env.event_id)
        assert note.match_id == match_id and note.body["sequence"] == 7

    def test_unknown_bytes_are_kept_not_dropped(self, catalog: SchemaCatalog) -> None:
        """Bytes that are neither are delivered as base64 under their position."""
        note = parse_message(catalog, "t", 2, 9, b"\xff\x00garbage")
        assert note.notification_id == "t:2:9"
        assert note.body["raw"]


class TestDeliveredStore:
    def test_remembers_across_reopen(self, tmp_path: Path, catalog: SchemaCatalog) -> None:
        """A delivered id is still known after reopening, with the alert of its match."""
        value = json.dumps({"notification_id": "n-2", "match_id": "m-2", "alert_id": "A-2"})
        note = parse_message(catalog, "t", 0, 0, value.encode())
        store = DeliveredStore(tmp_path / "inbox.sqlite3")
        store.remember(note)
        store.close()
        again = DeliveredStore(tmp_path / "inbox.sqlite3")
        assert again.seen("n-2") and not again.seen("n-3")
        assert again.alert_for_match("m-2") == "A-2"
        again.close()
