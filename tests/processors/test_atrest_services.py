"""Rescued persons' personal data at rest (issue 13 item 6), on the real broker and database:
a dump of the database shows none of it, readers get it back through the case key, a hub key
rotation keeps every case readable, and shredding makes it unreadable while the envelopes
still verify and a rebuild still succeeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pipeline_support import CATALOG, Lane, make_lane

from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload, encode_envelope, seal
from hub.registry import operator_key_paths
from hub.signing import head_signature_valid
from ops.services._pg_cluster import find_bin_dir
from processors.operations import rebuild_projections
from processors.pg_keys import keyring_for
from processors.pg_matching import PgMatchStore
from processors.pg_store import PgEventStore
from processors.shredding import RetentionSweep
from processors.testing import payload_for

pytestmark = pytest.mark.services

CIVIL = "530000-civil-affairs"
POLICE = "510000-police"
CASE = "R-530000-ATREST-1"
NAME = "秘名甲乙"
ID_NUMBER = "510104201403051226"
ADDRESS = "昆明市盘龙区秘密巷88号"
ACCOUNT = "我记得家门口有一棵大榕树"
INSTITUTION = "昆明市第九儿童福利院"
NOTE = "秘名甲乙已入学三年级"
PERSONAL = (NAME, ID_NUMBER, ADDRESS, ACCOUNT, INSTITUTION, NOTE)


def _person() -> dict[str, Any]:
    return {"name": NAME, "sex": "FEMALE", "id_number": ID_NUMBER,
            "birth": {"precision": "DAY", "date": date(2014, 3, 5)}, "marks": []}


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        made.world.operator.save(operator_key_paths(made.settings.data_dir)[0])
        made.register(CIVIL, POLICE)
        yield made


def _publish_case(lane: Lane) -> tuple[str, str]:
    """A rescue notice (envelope v2) and a follow-up (an old v1 envelope) of one case, and a
    tampered copy of the notice; the two event ids."""
    at = lane.world.epoch
    notice = payload_for(
        "rescue-notice", 1, at, CIVIL, rescue_id=CASE, person=_person(),
        rescue_place={"area_code": "530102", "text": ADDRESS}, own_account=ACCOUNT,
        placement={"kind": "WELFARE_INSTITUTION", "institution": INSTITUTION,
                   "area_code": "530100"},
    )
    notice_wire = lane.world.event(CIVIL, "rescue-notice", payload=notice)
    follow_up = seal(CATALOG, "case-follow-up",
                     payload_for("case-follow-up", 1, at, CIVIL, rescue_id=CASE, note=NOTE),
                     publisher_id=CIVIL, key=lane.world.keys[CIVIL],
                     sequence=lane.world.next_sequence(CIVIL), occurred_at=at, version=1)
    tampered = bytearray(lane.world.event(CIVIL, "rescue-notice", 2, payload=notice))
    tampered[-70] ^= 1  # a payload byte: BAD_SIGNATURE, kept in quarantine
    lane.publish([notice_wire, encode_envelope(follow_up), bytes(tampered)])
    return str(decode_envelope(notice_wire).event_id), str(follow_up.event_id)


def _publish_alert(lane: Lane) -> None:
    """The police's alert of the same child (its own data is the police's, kept in clear)."""
    alert = payload_for("missing-person-alert", 1, lane.world.epoch, POLICE, person=_person(),
                        jurisdiction="510100")
    lane.publish([lane.world.event(POLICE, "missing-person-alert", payload=alert)])


def _rows_naming(dump: str, marker: str) -> list[str]:
    """Data lines of the dump that hold `marker`, each with its table's name."""
    table, out = "", []
    for line in dump.splitlines():
        if line.startswith("COPY "):
            table = line.split()[1]
        elif marker in line:
            out.append(f"{table}: {line}")
    return out


def _dump(settings: Settings) -> str:
    done = subprocess.run(
        [str(find_bin_dir() / "pg_dump"), "--data-only", "-d", settings.pg_owner_dsn],
        check=True, capture_output=True, timeout=120,
    )
    return done.stdout.decode("utf-8")


def _hubctl(lane: Lane, *args: str) -> subprocess.CompletedProcess[str]:
    hubctl = Path(sys.executable).with_name("hubctl")
    return subprocess.run([str(hubctl), *args], env={**os.environ, **lane.environment()},
                          capture_output=True, text=True, timeout=180, check=False)


def test_personal_data_sealed_rotated_and_shredded(lane: Lane) -> None:
    """The dump holds no name, identity number, address, account, institution or note; the
    store gives them back; a rotation keeps them readable; after `hubctl case shred` they are
    gone from store and quarantine, the v2 envelope verifies from its digest, and a rebuild
    succeeds with the case marked shredded."""
    lane.start(1)
    notice_id, follow_up_id = _publish_case(lane)
    lane.wait_for("case projected and indexed, copy quarantined", lambda: (
        lane.scalar("SELECT follow_ups FROM proj_rescue_cases WHERE rescue_id = %s", CASE) == 1
        and lane.scalar("SELECT count(*) FROM quarantine") == 1
        and lane.scalar("SELECT count(*) FROM match_persons WHERE sealed_case = %s", CASE) == 1
    ), timeout=240)
    dump = _dump(lane.settings)
    assert CASE in dump and "WELFARE_INSTITUTION" in dump  # the dump is of this case's data
    for personal in PERSONAL:
        assert personal not in dump, personal

    # A hit on the rescued person: its event and the matcher's pair quote no rescued person's
    # values in clear (the alert's own rows are the police's data, in clear by design).
    _publish_alert(lane)
    lane.wait_for("hit found", lambda: lane.scalar(
        "SELECT count(*) FROM event_store WHERE event_type = 'match-found'") == 1, timeout=240)
    assert lane.scalar("SELECT sealed_case FROM event_store WHERE event_type = 'match-found'") \
        == CASE
    rows = _rows_naming(_dump(lane.settings), CASE)
    assert any(r.startswith("public.match_pairs") for r in rows)
    for row in rows:
        for personal in PERSONAL:
            assert personal not in row, (personal, row[:200])

    events = PgEventStore(lane.settings.pg_dsn)
    try:
        stored = events.get(notice_id)
        assert stored is not None and not stored.record.shredded
        assert stored.record.body["person"]["name"] == NAME
        assert stored.record.body["own_account"] == ACCOUNT
        case_file = events.case_events(CASE)
        assert [e.record.event_type for e in case_file] == [
            "rescue-notice", "case-follow-up", "match-found"]
        assert any(NAME[1:] in line for line in case_file[2].record.body["explanation"])
        follow = events.get(follow_up_id)
        assert follow is not None and follow.record.body["note"] == NOTE
        assert decode_envelope(follow.record.wire).version == 1
        (entry,) = events.quarantined()
        assert entry.reason == "BAD_SIGNATURE"
        kept = decode_payload(CATALOG, decode_envelope(entry.wire))
        assert kept["person"]["name"] == NAME

        keyring = keyring_for(lane.settings.pg_dsn, lane.settings.secrets_dir)
        before = {p.stem for p in keyring.folder.glob("*.key")}
        rotated = _hubctl(lane, "keys", "rotate-hub-key")
        assert rotated.returncode == 0, rotated.stderr
        after = {p.stem for p in keyring.folder.glob("*.key")}
        assert len(after) == 1 and not after & before  # the old key file is destroyed
        again = events.get(notice_id)
        assert again is not None and again.record.body["person"]["name"] == NAME

        shred = _hubctl(lane, "case", "shred", CASE, "--reason", "家属要求删除 test")
        assert shred.returncode == 0, shred.stdout + shred.stderr
        gone = events.get(notice_id)
        assert gone is not None and gone.record.shredded and gone.record.wire == b""
        assert "name" not in gone.record.body["person"]
        assert json.dumps(gone.record.body, ensure_ascii=False).count(NAME) == 0
        with psycopg.connect(lane.settings.pg_dsn) as conn:
            head, digest, signature = conn.execute(
                "SELECT wire_head, payload_digest, signature FROM event_store "
                "WHERE event_id = %s", (notice_id,)).fetchone() or (b"", b"", b"")
        assert head_signature_valid(bytes(head), bytes(digest), bytes(signature),
                                    lane.world.keys[CIVIL].verify_key)
        assert events.quarantined()[0].wire == b""
        shredded_follow = events.get(follow_up_id)
        assert shredded_follow is not None and shredded_follow.record.shredded
    finally:
        events.close()

    lane.wait_for("shredding projected", lambda: lane.scalar(
        "SELECT shred_kind FROM proj_rescue_cases WHERE rescue_id = %s", CASE) == "OPERATOR")
    applied, _ = rebuild_projections(lane.settings)
    assert applied > 0
    assert lane.scalar("SELECT shred_kind FROM proj_rescue_cases WHERE rescue_id = %s",
                       CASE) == "OPERATOR"
    assert lane.scalar("SELECT follow_ups FROM proj_rescue_cases WHERE rescue_id = %s", CASE) == 1
    state = _hubctl(lane, "case", "key", CASE)
    assert "was shredded" in state.stdout, state.stdout + state.stderr


def test_retention_expiry_shreds_a_case_once(lane: Lane) -> None:
    """A case whose key sealed nothing for the retention period is shredded by a signed
    RETENTION event, once however often the sweep runs; a fresher case is kept."""
    lane.start(1)
    at = lane.world.epoch
    old_case, new_case = "R-530000-OLD", "R-530000-NEW"
    lane.publish([
        lane.world.event(CIVIL, "rescue-notice", 1,
                         payload=payload_for("rescue-notice", 1, at, CIVIL, rescue_id=old_case)),
    ])
    # Stored and indexed by the matcher: both seal under the case key (and note the time).
    lane.wait_for("old case stored and indexed", lambda: lane.scalar(
        "SELECT count(*) FROM match_persons WHERE sealed_case = %s", old_case) == 1)
    with psycopg.connect(lane.settings.pg_dsn) as conn:
        conn.execute("UPDATE case_keys SET last_sealed_at = now() - interval '40 days' "
                     "WHERE case_id = %s", (old_case,))
    lane.publish([
        lane.world.event(CIVIL, "rescue-notice", 2,
                         payload=payload_for("rescue-notice", 2, at, CIVIL, rescue_id=new_case)),
    ])
    lane.wait_for("new case stored", lambda: lane.scalar(
        "SELECT count(*) FROM case_keys WHERE case_id = %s", new_case) == 1)
    store = PgMatchStore(lane.settings.pg_dsn)
    try:
        sweep = RetentionSweep(store, CATALOG, lane.world.operator, lane.topic("ingest"),
                               timedelta(days=30), store.keyring())
        assert sweep.run_once() == 1
        assert sweep.run_once() == 0  # claimed: no second event, whichever worker sweeps
    finally:
        store.close()
    lane.wait_for("old case shredded", lambda: lane.scalar(
        "SELECT shred_kind FROM proj_rescue_cases WHERE rescue_id = %s", old_case) == "RETENTION")
    assert lane.scalar("SELECT wrapped IS NULL FROM case_keys WHERE case_id = %s", old_case)
    assert lane.scalar("SELECT wrapped IS NOT NULL FROM case_keys WHERE case_id = %s", new_case)
    assert lane.scalar("SELECT count(*) FROM event_store WHERE event_type = 'case-shredded'") == 1
