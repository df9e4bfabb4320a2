"""DNA-sampling requests for children of unknown origin, through the match stage against a real
PostgreSQL: asked once per child (also after a restart and a rebuild), and a returned sample of
the true child notifies the alert's unit with the kinship evidence."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload
from hub.matching.kinship import AlleleTable
from hub.notice import open_notice
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.store import record_of
from processors.match_stage import MatchStage
from processors.operations import rebuild_match_index
from processors.pg_matching import PgMatchStore
from processors.pg_store import PgEventStore
from processors.route_stage import Router
from processors.testing import SignedWorld, payload_for
from processors.verify_stage import InMessage

pytestmark = pytest.mark.services

CATALOG = SchemaCatalog.load()
POLICE = "510000-police"
RESIDENCE_POLICE = "320000-police"
REGISTRY = "320000-migrant-registry"
GIRL = {"name": "周佳怡", "sex": "FEMALE", "birth": {"precision": "DAY", "date": date(2015, 6, 1)}}
LOST = datetime(2019, 4, 2, 8, 0, tzinfo=UTC)
# The buyers' name for her, no identity number, registered by a non-relative.
RENAMED = {"name": "王小花", "sex": "FEMALE",
           "birth": {"precision": "YEAR", "date": date(2015, 1, 1)}}


class Harness:
    """A match stage over a fresh database; events are stored as verify would, then fed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.world = SignedWorld(CATALOG)
        self.events = PgEventStore(settings.pg_dsn)
        self.store = PgMatchStore(settings.pg_dsn)
        self.offset = 0
        self.stage = self.new_stage()
        for pid in (POLICE, RESIDENCE_POLICE, REGISTRY):
            self.store_wires(self.world.register(pid))

    def new_stage(self) -> MatchStage:
        """A stage as a restarted worker makes it: nothing carried over but the database."""
        router = Router(CATALOG, self.world.operator, "t.ingest", lambda p: f"t.notifications.{p}")
        return MatchStage(self.events, self.store, router)

    def store_wires(self, wires: list[bytes]) -> list[InMessage]:
        messages = []
        with self.events.transaction() as txn:
            for wire in wires:
                env = decode_envelope(wire)
                txn.append(record_of(env, wire, decode_payload(CATALOG, env)))
                messages.append(InMessage("t.verified", 0, self.offset, wire))
                self.offset += 1
        return messages

    def feed(self, *wires: bytes) -> None:
        self.stage.process(self.store_wires(list(wires)))

    def alert(self) -> bytes:
        payload = payload_for("missing-person-alert", 1, self.world.epoch, POLICE, person=GIRL,
                              last_seen_at=LOST, reported_at=LOST)
        return self.world.event(POLICE, "missing-person-alert", payload=payload)

    def record(self, n: int, child: dict[str, Any], on: date = date(2021, 3, 1)) -> bytes:
        """Household M-320000-1 (the same record id whatever n), listing this child."""
        payload = payload_for("migrant-record", 1, self.world.epoch, REGISTRY,
                              registered_on=on, moved_in_on=on)
        payload["person"]["name"] = f"王建{n}"
        payload["children"] = [{"child": child, "guardian_relation": "NON_RELATIVE"}]
        return self.world.event(REGISTRY, "migrant-record", payload=payload)

    def sample(self, request_id: str, profile: dict[str, Any]) -> bytes:
        payload = {"sample_id": "S-1", "request_id": request_id, "record_id": "M-320000-1",
                   "child_index": 0, "str_profile": profile, "sampled_on": date(2021, 4, 1),
                   "issuing_unit": RESIDENCE_POLICE}
        return self.world.event(RESIDENCE_POLICE, "dna-sample", payload=payload)

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.settings.pg_dsn) as conn:
            return list(conn.execute(query).fetchall())

    def notices(self, recipient: str) -> list[dict[str, Any]]:
        topic = f"t.notifications.{recipient}"
        with psycopg.connect(self.settings.pg_dsn) as conn:
            values = conn.execute(
                "SELECT msg_value FROM match_outbox WHERE topic = %s ORDER BY id", (topic,)
            ).fetchall()
        key = self.world.operator.verify_key
        return [open_notice(bytes(v[0]), key, recipient).body for v in values]


@pytest.fixture
def harness(fresh_db_settings: Settings) -> Iterator[Harness]:
    made = Harness(fresh_db_settings)
    yield made
    made.events.close()
    made.store.close()


def _requests(h: Harness) -> list[tuple[Any, ...]]:
    return h.rows("SELECT request_id::text, reasons, alert_ids, recipient FROM sampling_requests")


def test_a_child_of_unknown_origin_is_asked_for_once_across_restart_and_rebuild(
    harness: Harness, tmp_path: Path
) -> None:
    """One signed request to the police of residence, with its reasons; the record published
    again (the child renamed once more), a restarted stage and a rebuilt index ask nothing new."""
    harness.feed(harness.alert(), harness.record(1, RENAMED))
    requests = _requests(harness)
    assert [(r[1], r[2], r[3]) for r in requests] == [
        (["NO_ID_NUMBER", "NOT_SON_OR_DAUGHTER"], ["A-510000-1"], RESIDENCE_POLICE)
    ]
    notes = harness.notices(RESIDENCE_POLICE)
    assert [n["kind"] for n in notes] == ["DNA_SAMPLING_REQUEST"]
    assert notes[0]["request_id"] == requests[0][0]
    assert notes[0]["child"]["name"] == "王小花" and notes[0]["address"]["area_code"] == "320505"
    ingest = harness.rows("SELECT msg_value FROM match_outbox WHERE topic = 't.ingest'")
    request_event = decode_envelope(bytes(ingest[0][0]))
    assert request_event.event_type == "dna-sampling-request"
    assert harness.notices(POLICE) == []  # the alert's unit hears of a hit, not of a request

    harness.stage = harness.new_stage()
    again = {**RENAMED, "name": "王花花"}
    harness.feed(harness.record(2, again, on=date(2022, 3, 1)))
    settings = harness.settings.with_overrides(data_dir=tmp_path)
    harness.world.operator.save(operator_key_paths(tmp_path)[0])
    rebuild_match_index(settings)
    assert len(_requests(harness)) == 1
    assert len(harness.notices(RESIDENCE_POLICE)) == 1


def test_a_returned_sample_of_the_true_child_notifies_the_alerts_unit(harness: Harness) -> None:
    """The renamed girl is no hit on her record; her sample against the parents' DNA is (trio)."""
    father, mother, own = _profiles(11)
    dna = {"profile_id": "DNA-1", "alert_id": "A-510000-1", "father": father, "mother": mother,
           "sampled_on": date(2019, 4, 5), "issuing_unit": POLICE}
    harness.feed(harness.alert(), harness.world.event(POLICE, "parents-dna-profile", payload=dna),
                 harness.record(1, RENAMED))
    assert harness.notices(POLICE) == []
    [(request_id, *_)] = _requests(harness)
    harness.feed(harness.sample(request_id, own))
    [note] = harness.notices(POLICE)
    assert note["counterpart"]["kind"] == "RECORD" and note["counterpart"]["id"] == "M-320000-1"
    assert (note["dna"]["kind"], note["dna"]["conclusion"]) == ("TRIO", "SUPPORTED")
    assert harness.rows("SELECT sample_event_id IS NOT NULL FROM sampling_requests") == [(True,)]


def test_a_sample_of_another_child_notifies_nobody(harness: Harness) -> None:
    """A child unrelated to the alert's parents is sampled, searched, and not a hit."""
    father, mother, _ = _profiles(11)
    _, _, stranger = _profiles(12)
    dna = {"profile_id": "DNA-1", "alert_id": "A-510000-1", "father": father, "mother": mother,
           "sampled_on": date(2019, 4, 5), "issuing_unit": POLICE}
    harness.feed(harness.alert(), harness.world.event(POLICE, "parents-dna-profile", payload=dna),
                 harness.record(1, RENAMED))
    [(request_id, *_)] = _requests(harness)
    harness.feed(harness.sample(request_id, stranger))
    assert harness.notices(POLICE) == []


def test_a_closed_alert_asks_for_no_more_children(harness: Harness) -> None:
    """Once the alert is closed, a child who fits only it is not asked for (the stage's view of
    the open alerts follows the closing)."""
    harness.feed(harness.alert(), harness.record(1, RENAMED))
    assert len(_requests(harness)) == 1
    closed = payload_for("alert-closed", 1, harness.world.epoch, POLICE)
    other = payload_for("migrant-record", 2, harness.world.epoch, REGISTRY,
                        registered_on=date(2021, 3, 1), moved_in_on=date(2021, 3, 1))
    other["children"] = [{"child": RENAMED, "guardian_relation": "NON_RELATIVE"}]
    harness.feed(harness.world.event(POLICE, "alert-closed", payload=closed),
                 harness.world.event(REGISTRY, "migrant-record", payload=other))
    assert len(_requests(harness)) == 1


def test_a_sample_naming_no_request_is_kept_as_failed(harness: Harness) -> None:
    """A sample for a request the hub never made is refused with the field and kept."""
    _, _, own = _profiles(11)
    harness.feed(harness.sample("6f1c0d3e-0000-5000-8000-000000000000", own))
    [(event_type, reason)] = harness.rows("SELECT event_type, reason FROM match_failures")
    assert event_type == "dna-sample" and "field request_id" in reason


def test_an_alert_arriving_after_the_record_asks_for_the_fitting_child_once(
    harness: Harness,
) -> None:
    """The household listed the girl in 2021; the alert for a girl lost in 2019 arrives later
    (reported late, or published late by its province): the alert's arrival sends the request,
    and the alert updated or published again, or a second fitting alert, sends none."""
    harness.feed(harness.record(1, RENAMED))
    assert _requests(harness) == []  # no open alert yet: nobody to fit
    harness.feed(harness.alert())
    requests = _requests(harness)
    assert [(r[1], r[2], r[3]) for r in requests] == [
        (["NO_ID_NUMBER", "NOT_SON_OR_DAUGHTER"], ["A-510000-1"], RESIDENCE_POLICE)
    ]
    [note] = harness.notices(RESIDENCE_POLICE)
    assert (note["request_id"], note["record_id"], note["child_index"]) == (
        requests[0][0], "M-320000-1", 0)
    assert note["child"]["name"] == "王小花"

    harness.stage = harness.new_stage()
    harness.feed(harness.alert())  # the same alert again (a republication)
    second = payload_for("missing-person-alert", 2, harness.world.epoch, POLICE, person=GIRL,
                         last_seen_at=LOST, reported_at=LOST)
    harness.feed(harness.world.event(POLICE, "missing-person-alert", payload=second))
    assert len(_requests(harness)) == 1
    assert len(harness.notices(RESIDENCE_POLICE)) == 1


def test_an_alert_asks_for_no_child_listed_before_the_disappearance(harness: Harness) -> None:
    """A girl the household listed in 2018, before the girl of the alert went missing in 2019,
    cannot be her: the late alert asks for nothing; nor for a boy of the same age."""
    harness.feed(harness.record(1, RENAMED, on=date(2018, 5, 1)))
    boy = payload_for("migrant-record", 2, harness.world.epoch, REGISTRY,
                      registered_on=date(2021, 3, 1), moved_in_on=date(2021, 3, 1))
    boy["children"] = [{"child": {**RENAMED, "name": "王小龙", "sex": "MALE"},
                        "guardian_relation": "NON_RELATIVE"}]
    harness.feed(harness.world.event(REGISTRY, "migrant-record", payload=boy))
    harness.feed(harness.alert())
    assert _requests(harness) == []


def test_a_sample_from_a_unit_that_was_not_asked_is_refused_and_kept(harness: Harness) -> None:
    """The request went to the police of residence; the same sample signed by the alert's own
    unit is refused with who was asked, kept in match_failures, and puts no profile on the
    child; the asked unit's sample is then taken."""
    father, mother, own = _profiles(11)
    dna = {"profile_id": "DNA-1", "alert_id": "A-510000-1", "father": father, "mother": mother,
           "sampled_on": date(2019, 4, 5), "issuing_unit": POLICE}
    harness.feed(harness.alert(), harness.world.event(POLICE, "parents-dna-profile", payload=dna),
                 harness.record(1, RENAMED))
    [(request_id, *_)] = _requests(harness)
    payload = {"sample_id": "S-9", "request_id": request_id, "record_id": "M-320000-1",
               "child_index": 0, "str_profile": own, "sampled_on": date(2021, 4, 1),
               "issuing_unit": POLICE}
    harness.feed(harness.world.event(POLICE, "dna-sample", payload=payload))
    [(event_type, reason)] = harness.rows("SELECT event_type, reason FROM match_failures")
    assert event_type == "dna-sample"
    assert f"publisher {POLICE}" in reason and f"sent to {RESIDENCE_POLICE}" in reason
    assert harness.rows("SELECT sample IS NULL FROM sampling_requests") == [(True,)]
    assert harness.notices(POLICE) == []
    harness.feed(harness.sample(request_id, own))
    assert len(harness.notices(POLICE)) == 1
    assert harness.rows("SELECT sample IS NOT NULL FROM sampling_requests") == [(True,)]


def _profiles(seed: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Father, mother and their child (one allele from each parent), as StrProfile records."""
    rng = random.Random(seed)
    table = AlleleTable.load()
    father, mother, child = [], [], []
    for locus in list(table.frequencies)[:20]:
        alleles = list(table.frequencies[locus])
        f, m = rng.sample(alleles, 2), rng.sample(alleles, 2)
        father.append({"locus": locus, "alleles": f})
        mother.append({"locus": locus, "alleles": m})
        child.append({"locus": locus, "alleles": [rng.choice(f), rng.choice(m)]})
    return tuple({"kit": "Goldeneye 20A", "lab": None, "loci": x}  # type: ignore[return-value]
                 for x in (father, mother, child))


def test_a_household_registered_twice_in_one_batch_is_one_household(harness: Harness) -> None:
    """The households of a batch are read once at its start; the second registration in the
    same batch sees the first one's child (listed since its day) and asks nothing again."""
    first, second = harness.record(1, RENAMED), harness.record(
        2, {**RENAMED, "name": "王花花"}, on=date(2022, 3, 1)
    )
    harness.feed(harness.alert(), first, second)
    assert len(_requests(harness)) == 1
    second_id = str(decode_envelope(second).event_id)
    assert harness.rows(
        "SELECT since, latest_event_id, latest_on, jsonb_array_length(children) "
        "FROM sampling_households"
    ) == [(date(2021, 3, 1), second_id, date(2022, 3, 1), 1)]
    assert harness.rows("SELECT count(*) FROM sampling_children") == [(1,)]


def test_an_alert_after_the_record_in_the_same_batch_finds_the_child(harness: Harness) -> None:
    """The record's household is written before the alert of the same batch reads the
    households (outside the alert's savepoint), so the alert sends the request."""
    harness.feed(harness.record(1, RENAMED), harness.alert())
    assert [(r[1], r[2]) for r in _requests(harness)] == [
        (["NO_ID_NUMBER", "NOT_SON_OR_DAUGHTER"], ["A-510000-1"])
    ]


def test_an_alert_closed_between_two_records_of_one_batch_is_closed_for_the_second(
    harness: Harness,
) -> None:
    """The open alerts are checked once per run of records: the closing between the two
    records of the same batch is seen by the second one."""
    closed = payload_for("alert-closed", 1, harness.world.epoch, POLICE)
    other = payload_for("migrant-record", 2, harness.world.epoch, REGISTRY,
                        registered_on=date(2021, 3, 1), moved_in_on=date(2021, 3, 1))
    other["children"] = [{"child": RENAMED, "guardian_relation": "NON_RELATIVE"}]
    harness.feed(harness.alert(), harness.record(1, RENAMED),
                 harness.world.event(POLICE, "alert-closed", payload=closed),
                 harness.world.event(REGISTRY, "migrant-record", payload=other))
    assert len(_requests(harness)) == 1
