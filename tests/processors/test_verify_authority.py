"""No participant changes what is not its own (issue 11 finding 5), over both event stores.

An alert belongs to the unit that issued it; a decision needs a match the hub found and a unit
it notified. Refused changes are quarantined with their reason and never stored, so neither the
projections nor the matcher ever see them; a change that came before its alert or match is
tried again when that arrives.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from hub.config import Settings
from hub.envelope import decode_envelope, encode_envelope
from hub.identity import HUB_OPERATOR_ID
from hub.notice import open_notice
from hub.registry import permission_event
from hub.schema_catalog import SchemaCatalog
from hub.store import EventStore, InMemoryEventStore, QuarantineStatus
from processors.pg_store import PgEventStore
from processors.testing import SignedWorld, payload_for
from processors.tracking import InMessage
from processors.verify_stage import VerifyStage

ISSUER = "320000-police"
OTHER = "510000-police"


@functools.cache
def catalog() -> SchemaCatalog:
    return SchemaCatalog.load()


class Hub:
    """A verify stage with both police units registered, fed one message at a time."""

    def __init__(self, store: EventStore) -> None:
        self.world = SignedWorld(catalog())
        self.stage = VerifyStage(store, catalog(), self.world.operator.verify_key)
        self.offset = -1
        for pid in (ISSUER, OTHER):
            self.send(*self.world.register(pid), topic="registry")

    def send(self, *wires: bytes, topic: str = "ingest") -> list[str]:
        """Feed the wires; the reasons of what got quarantined, in order."""
        before = len(self.stage.store.quarantined())
        messages = []
        for wire in wires:
            self.offset += 1
            messages.append(InMessage(topic, 0, self.offset, wire))
        result = self.stage.process(messages)
        # Re-drives go back in as Kafka would deliver them.
        again = [o for o in result.outgoing if o.stream == "ingest"]
        if again:
            self.offset += 1
            self.stage.process(
                [InMessage("ingest", 0, self.offset + i, o.value, None, dict(o.headers))
                 for i, o in enumerate(again)]
            )
            self.offset += len(again)
        return [e.reason for e in self.stage.store.quarantined()[before:]]

    def stored(self, wire: bytes) -> bool:
        return self.stage.store.get(str(decode_envelope(wire).event_id)) is not None

    def change(self, publisher: str, event_type: str, n: int = 1, **extra: object) -> bytes:
        payload = payload_for(event_type, n, self.world.epoch, publisher, **extra)
        payload["alert_id"] = extra.get("alert_id", f"A-320000-{n}")
        return self.world.event(publisher, event_type, n, payload=payload)

    def match_found(self, n: int, recipients: list[str]) -> bytes:
        payload = payload_for("match-found", n, self.world.epoch, ISSUER, recipients=recipients)
        return self.world.event(HUB_OPERATOR_ID, "match-found", n, payload=payload)


@pytest.fixture(params=["memory", "postgres"])
def hub(request: pytest.FixtureRequest) -> Iterator[Hub]:
    if request.param == "memory":
        yield Hub(InMemoryEventStore())
        return
    if request.config.getoption("-m") == "not services":
        pytest.skip("needs PostgreSQL")
    settings: Settings = request.getfixturevalue("fresh_db_settings")
    store = PgEventStore(settings.pg_dsn)
    yield Hub(store)
    store.close()


def test_another_unit_cannot_update_or_close_an_alert(hub: Hub) -> None:
    alert = hub.world.event(ISSUER, "missing-person-alert", 1)
    assert hub.send(alert) == []
    update = hub.change(OTHER, "alert-update")
    close = hub.change(OTHER, "alert-closed")
    assert hub.send(update, close) == ["NOT_ENTITLED", "NOT_ENTITLED"]
    assert not hub.stored(update) and not hub.stored(close)
    detail = hub.stage.store.quarantined()[-1].detail
    assert f"issued by {ISSUER}" in detail


def test_the_issuer_and_the_operator_may_change_it(hub: Hub) -> None:
    """The operator needs the permission granted to itself first: a signed registry event."""
    grant = permission_event(
        catalog(), hub.world.operator, sequence=hub.world.next_sequence(HUB_OPERATOR_ID),
        participant_id=HUB_OPERATOR_ID, event_type="alert-closed", granted=True,
        effective_at=hub.world.epoch - timedelta(days=1), at=hub.world.epoch,
    )
    hub.send(encode_envelope(grant), topic="registry")
    hub.send(hub.world.event(ISSUER, "missing-person-alert", 1))
    update = hub.change(ISSUER, "alert-update")
    close = hub.change(HUB_OPERATOR_ID, "alert-closed")
    assert hub.send(update, close) == []
    assert hub.stored(update) and hub.stored(close)


def test_nobody_else_issues_an_alert_under_the_same_id(hub: Hub) -> None:
    hub.send(hub.world.event(ISSUER, "missing-person-alert", 1))
    hijack = hub.change(OTHER, "missing-person-alert")
    assert hub.send(hijack) == ["NOT_ENTITLED"]


def test_a_change_before_its_alert_is_stored_when_the_alert_arrives(hub: Hub) -> None:
    update = hub.change(ISSUER, "alert-update", 2)
    assert hub.send(update) == ["UNKNOWN_SUBJECT"]
    assert hub.send(hub.world.event(ISSUER, "missing-person-alert", 2)) == []
    assert hub.stored(update)
    [entry] = hub.stage.store.quarantined(reason="UNKNOWN_SUBJECT")
    assert entry.status is QuarantineStatus.RESOLVED


def test_decisions_need_a_found_match_a_notified_unit_and_its_alert(hub: Hub) -> None:
    hub.send(hub.world.event(ISSUER, "missing-person-alert", 1))
    found = hub.match_found(1, [ISSUER])
    match_id = str(payload_for("match-found", 1, hub.world.epoch, ISSUER)["match_id"])
    early = hub.change(ISSUER, "match-decision", 1, match_id=match_id)
    assert hub.send(early) == ["UNKNOWN_SUBJECT"]
    assert hub.send(found) == []
    assert hub.stored(early)  # re-driven when the match arrived
    outsider = hub.change(OTHER, "match-decision", 2, match_id=match_id)
    wrong_alert = hub.change(ISSUER, "match-decision", 3, match_id=match_id, alert_id="A-510000-9")
    assert hub.send(outsider, wrong_alert) == ["NOT_ENTITLED", "NOT_ENTITLED"]
    assert not hub.stored(outsider) and not hub.stored(wrong_alert)
    details = [e.detail for e in hub.stage.store.quarantined(reason="NOT_ENTITLED")]
    assert f"{OTHER} was not notified" in details[0]
    assert "is about alert A-320000-1" in details[1]


def test_publishers_are_told_of_refusals_of_their_signed_events() -> None:
    """NOT_ENTITLED and NOT_PERMITTED reach the publisher as a notice signed by the hub;
    a forgery in its name does not (anyone could fill its topic otherwise)."""
    hub = Hub(InMemoryEventStore())
    hub.stage.notice_key = hub.world.operator
    hub.send(hub.world.event(ISSUER, "missing-person-alert", 1))
    refused = hub.change(OTHER, "alert-closed")
    not_permitted = hub.world.event(OTHER, "rescue-notice", 4)
    honest = hub.world.event(OTHER, "tip-report", 5)
    forged = honest[:-1] + bytes([honest[-1] ^ 1])  # one signature bit changed
    messages = [InMessage("ingest", 0, 100 + i, w) for i, w in
                enumerate([refused, not_permitted, forged])]
    result = hub.stage.process(messages)
    notices = [o for o in result.outgoing if o.stream == "notice"]
    assert [o.key for o in notices] == [OTHER.encode(), OTHER.encode()]
    bodies = [open_notice(o.value, hub.world.operator.verify_key, OTHER).body for o in notices]
    assert [(b["kind"], b["reason"]) for b in bodies] == [
        ("EVENT_REFUSED", "NOT_ENTITLED"), ("EVENT_REFUSED", "NOT_PERMITTED")
    ]
    assert bodies[0]["event_id"] == str(decode_envelope(refused).event_id)
    assert f"issued by {ISSUER}" in bodies[0]["detail"]


@pytest.mark.services
def test_an_alert_and_its_change_verified_at_once_by_two_workers(
    fresh_db_settings: Settings,
) -> None:
    """Worker A is storing an alert (its transaction still open) when worker B verifies an
    update of it: B waits for A's commit and then accepts the update, instead of parking it as
    UNKNOWN_SUBJECT where A's re-drive, already past, would never look again."""
    first, second = PgEventStore(fresh_db_settings.pg_dsn), PgEventStore(fresh_db_settings.pg_dsn)
    a = Hub(first)
    b = VerifyStage(second, catalog(), a.world.operator.verify_key)
    holding, b_started = threading.Event(), threading.Event()
    redrive = a.stage._redrive

    def slow_redrive(*args: Any) -> None:
        holding.set()
        b_started.wait(10)
        time.sleep(0.5)  # B is now at its lookup of the alert, or past it
        redrive(*args)

    a.stage._redrive = slow_redrive  # type: ignore[method-assign]
    alert = a.world.event(ISSUER, "missing-person-alert", 1)
    update = a.change(ISSUER, "alert-update")
    results: dict[str, Any] = {}
    worker_a = threading.Thread(
        target=lambda: results.update(a=a.stage.process([InMessage("ingest", 0, 50, alert)]))
    )
    worker_a.start()
    assert holding.wait(10)
    b_started.set()
    results["b"] = b.process([InMessage("ingest", 1, 0, update)])
    worker_a.join(10)
    assert results["a"].stored == 1
    assert (results["b"].stored, results["b"].quarantined) == (1, 0)
    first.close()
    second.close()


def _act(hub: Hub, publisher: str, event_type: str, match_id: str) -> bytes:
    at = hub.world.epoch
    if event_type == "match-ack":
        payload: dict[str, Any] = {"match_id": match_id, "acknowledging_unit": publisher,
                                   "acknowledged_at": at}
    else:
        payload = {"request_id": match_id, "match_id": match_id, "reason": "to act on the hit",
                   "requesting_unit": publisher, "requested_at": at}
    return hub.world.event(publisher, event_type, payload=payload)


@pytest.mark.parametrize("event_type", ["match-ack", "details-request"])
def test_only_a_notified_unit_acks_or_asks_for_details(hub: Hub, event_type: str) -> None:
    """An ack or a details request needs a found match and a unit notified of it; one that
    came first is stored when the match arrives; another unit's is refused."""
    match_id = str(payload_for("match-found", 1, hub.world.epoch, ISSUER)["match_id"])
    early = _act(hub, ISSUER, event_type, match_id)
    assert hub.send(early) == ["UNKNOWN_SUBJECT"]
    assert hub.send(hub.match_found(1, [ISSUER])) == []
    assert hub.stored(early)
    outsider = _act(hub, OTHER, event_type, match_id)
    assert hub.send(outsider) == ["NOT_ENTITLED"]
    assert not hub.stored(outsider)
    detail = hub.stage.store.quarantined(reason="NOT_ENTITLED")[-1].detail
    assert f"{OTHER} was not notified of match {match_id}" in detail


def test_a_refused_details_request_is_audited(hub: Hub) -> None:
    """Who asked, for which match, why and the refusal are kept in the disclosure audit."""
    match_id = str(payload_for("match-found", 1, hub.world.epoch, ISSUER)["match_id"])
    hub.send(hub.match_found(1, [ISSUER]))
    outsider = _act(hub, OTHER, "details-request", match_id)
    hub.send(outsider)
    [row] = hub.stage.store.disclosure_audits(match_id)
    assert (row.requester, row.outcome, row.reason) == (OTHER, "REFUSED", "to act on the hit")
    assert row.request_event_id == str(decode_envelope(outsider).event_id)
    assert row.detail.startswith("NOT_ENTITLED: ")


def test_a_forged_details_request_is_not_audited_in_a_units_name() -> None:
    """A request whose signature fails is quarantined, but writes no audit row for the unit
    it claims to come from."""
    hub = Hub(InMemoryEventStore())
    match_id = str(payload_for("match-found", 1, hub.world.epoch, ISSUER)["match_id"])
    hub.send(hub.match_found(1, [ISSUER]))
    honest = _act(hub, OTHER, "details-request", match_id)
    assert hub.send(honest[:-1] + bytes([honest[-1] ^ 1])) == ["BAD_SIGNATURE"]
    assert hub.stage.store.disclosure_audits(match_id) == []
