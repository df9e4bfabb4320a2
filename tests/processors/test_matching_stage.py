"""The match stage against a real PostgreSQL, without Kafka: idempotence, review, bad input."""

from __future__ import annotations

import functools
import json
import random
import secrets
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload
from hub.matching import (
    CandidateIndex,
    FellegiSunterModel,
    Matcher,
    facts_from_alert,
    facts_from_migrant_record,
    prepare,
)
from hub.matching.kinship import AlleleTable
from hub.notice import open_notice
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.store import record_of
from processors.match_stage import MatchStage
from processors.operations import rebuild_match_index
from processors.pg_matching import PgMatchStore, facts_from_json, facts_to_json
from processors.pg_store import PgEventStore
from processors.route_stage import Router
from processors.testing import SignedWorld, payload_for
from processors.tracking import InMessage

pytestmark = pytest.mark.services

CATALOG = SchemaCatalog.load()
POLICE = "510000-police"
OTHER_POLICE = "320000-police"
REGISTRY = "320000-migrant-registry"
CHILD = {"name": "周佳怡", "sex": "FEMALE", "birth": {"precision": "DAY", "date": date(2015, 6, 1)}}


class Harness:
    """A stage over a fresh database; events are stored as verify would, then fed in order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.world = SignedWorld(CATALOG)
        self.events = PgEventStore(settings.pg_dsn)
        self.store = PgMatchStore(settings.pg_dsn)
        router = Router(CATALOG, self.world.operator, "t.ingest", lambda p: f"t.notifications.{p}")
        self.stage = MatchStage(self.events, self.store, router)
        self.offset = 0
        for pid in (POLICE, OTHER_POLICE, REGISTRY):
            self.store_wires(self.world.register(pid))

    def store_wires(
        self, wires: list[bytes], body: dict[str, Any] | None = None
    ) -> list[InMessage]:
        messages = []
        with self.events.transaction() as txn:
            for wire in wires:
                env = decode_envelope(wire)
                txn.append(record_of(env, wire, body or decode_payload(CATALOG, env)))
                messages.append(InMessage("t.verified", 0, self.offset, wire))
                self.offset += 1
        return messages

    def feed(self, *wires: bytes) -> list[InMessage]:
        messages = self.store_wires(list(wires))
        self.stage.process(messages)
        return messages

    def alert(self, n: int, person: dict[str, Any]) -> bytes:
        payload = payload_for("missing-person-alert", n, self.world.epoch, POLICE, person=person)
        return self.world.event(POLICE, "missing-person-alert", payload=payload)

    def record(self, n: int, child: dict[str, Any]) -> bytes:
        payload = payload_for("migrant-record", n, self.world.epoch, REGISTRY)
        payload["children"] = [{"child": child, "guardian_relation": "FATHER"}]
        return self.world.event(REGISTRY, "migrant-record", payload=payload)

    def scalar(self, query: str, *params: Any) -> Any:
        with psycopg.connect(self.settings.pg_dsn) as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def outbox_topics(self) -> list[str]:
        with psycopg.connect(self.settings.pg_dsn) as conn:
            return [r[0] for r in conn.execute("SELECT topic FROM match_outbox ORDER BY id")]


def pair_score(alert_wire: bytes, record_wire: bytes) -> float:
    """The matcher's score of the alert's person against the record's first child."""
    alert = decode_payload(CATALOG, decode_envelope(alert_wire))
    record = decode_payload(CATALOG, decode_envelope(record_wire))
    matcher = Matcher()
    scored = matcher.score_pair(
        prepare(facts_from_alert(alert)), prepare(facts_from_migrant_record(record)[1])
    )
    return scored.score


@pytest.fixture
def harness(fresh_db_settings: Settings) -> Iterator[Harness]:
    made = Harness(fresh_db_settings)
    yield made
    made.events.close()
    made.store.close()


def test_redelivered_batch_has_no_second_effect(harness: Harness) -> None:
    """Processing the same messages again writes no second match, event or notification."""
    messages = harness.feed(harness.alert(1, CHILD), harness.record(1, CHILD))
    first = harness.outbox_topics()
    assert first == ["t.ingest", f"t.notifications.{POLICE}", f"t.notifications.{OTHER_POLICE}"]
    again = harness.stage.process(messages)
    assert (again.events, again.skipped) == (0, 2)
    assert harness.outbox_topics() == first
    assert harness.scalar("SELECT count(*) FROM match_pairs") == 1


def test_same_evidence_seen_by_a_new_consumer_is_not_notified_twice(harness: Harness) -> None:
    """An alert re-searched with nothing new (e.g. a replay) finds its pair already notified."""
    wires = [harness.alert(1, CHILD), harness.record(1, CHILD)]
    harness.feed(*wires)
    harness.stage.consumer = "match-replay"
    harness.stage.process([InMessage("t.verified", 0, i, w) for i, w in enumerate(wires)])
    assert len(harness.outbox_topics()) == 3


def test_between_thresholds_goes_to_the_review_list(harness: Harness) -> None:
    """A pair scoring between review and notify is listed for operators, and notifies no one."""
    alert, record = harness.alert(1, CHILD), harness.record(1, dict(CHILD, name="陈小雨"))
    # Thresholds placed around this pair's own score, so weight tuning cannot move it out.
    score = pair_score(alert, record)
    model = FellegiSunterModel.default().with_thresholds(score + 1.0, score - 1.0)
    harness.stage.matcher = Matcher(model)
    harness.feed(alert, record)
    assert harness.outbox_topics() == []
    review = harness.store.review_list()
    assert [(r["alert_id"], r["counterpart_id"], r["child_index"]) for r in review] == [
        (f"A-{POLICE[:6]}-1", f"M-{REGISTRY[:6]}-1", 0)
    ]
    assert review[0]["explanation"][-1].endswith("-> REVIEW")


def test_bad_facts_are_kept_with_the_reason_and_the_batch_goes_on(harness: Harness) -> None:
    """An age range the matcher cannot use is recorded as a failure; later events still match."""
    bad = harness.record(9, CHILD)
    # Stored by an older verifier that did not check ranges: the body says 9 to 4 years.
    body = decode_payload(CATALOG, decode_envelope(bad))
    body["children"][0]["child"]["birth"] = {"precision": "AGE_RANGE", "age_min": 9, "age_max": 4}
    messages = harness.store_wires([bad], body)
    messages += harness.store_wires([harness.alert(1, CHILD), harness.record(1, CHILD)])
    result = harness.stage.process(messages)
    assert (result.events, result.failed, result.notified) == (3, 1, 1)
    failures = harness.store.failures()
    assert [(f[0], f[1]) for f in failures] == [
        (str(decode_envelope(bad).event_id), "migrant-record")
    ]
    assert "children[0].child.birth" in failures[0][2]
    assert harness.scalar("SELECT count(*) FROM match_pairs WHERE status = 'NOTIFIED'") == 1


def test_notification_body_is_minimised(harness: Harness) -> None:
    """The outbox notification names no person; the match-found event masks identity numbers."""
    harness.feed(harness.alert(1, CHILD), harness.record(1, CHILD))
    with psycopg.connect(harness.settings.pg_dsn) as conn:
        rows = conn.execute("SELECT topic, msg_value FROM match_outbox ORDER BY id").fetchall()
    note = open_notice(bytes(rows[1][1]), harness.world.operator.verify_key, POLICE).body
    assert "周" not in json.dumps(note, ensure_ascii=False)
    assert note["counterpart"]["held_by"] == REGISTRY
    event = decode_payload(CATALOG, decode_envelope(bytes(rows[0][1])))
    assert event["recipients"] == [POLICE, OTHER_POLICE]


def test_facts_survive_the_json_round_trip() -> None:
    """What the index stores gives back the same person facts."""
    payload = payload_for("migrant-record", 3, SignedWorld(CATALOG).epoch, REGISTRY)
    for facts in facts_from_migrant_record(payload, "e-1"):
        assert facts_from_json(json.loads(json.dumps(facts_to_json(facts)))) == facts


def test_outbox_is_sent_once_and_abandoned_claims_are_taken_over(
    fresh_db_settings: Settings,
) -> None:
    """Sent rows are marked; rows a dead worker claimed but never sent go out on a later flush."""
    from kafka import KafkaConsumer

    from hub.topics import notification_topic, topic_name
    from processors.match_stage import ensure_topic
    from processors.route_stage import OutboxSender

    settings = fresh_db_settings.with_overrides(
        topic_prefix=f"{fresh_db_settings.topic_prefix}ob{secrets.token_hex(2)}."
    )
    harness = Harness(settings)
    harness.stage.router = Router(
        CATALOG,
        harness.world.operator,
        topic_name(fresh_db_settings, "ingest"),
        lambda p: notification_topic(settings, p),
    )
    sender = OutboxSender(
        harness.store, settings.kafka_config(), functools.partial(ensure_topic, settings)
    )
    try:
        harness.feed(harness.alert(1, CHILD), harness.record(1, CHILD))
        assert sender.flush() == 3
        assert sender.flush() == 0
        harness.feed(harness.record(2, dict(CHILD, name="周佳")))
        # A worker claimed the new rows and died before sending them.
        assert len(harness.store.claim_outbox()) == 3
        assert sender.flush() == 0
        with psycopg.connect(settings.pg_dsn) as conn:
            conn.execute("UPDATE match_outbox SET claimed_at = claimed_at - interval '1 minute'")
        assert sender.flush() == 3
        consumer = KafkaConsumer(
            notification_topic(settings, POLICE),
            **settings.kafka_config(),
            auto_offset_reset="earliest",
            consumer_timeout_ms=5000,
        )
        notes = [open_notice(m.value, harness.world.operator.verify_key, POLICE).body
                 for m in consumer]
        consumer.close()
        assert sorted(n["counterpart"]["id"] for n in notes) == ["M-320000-1", "M-320000-2"]
    finally:
        sender.close()
        harness.events.close()
        harness.store.close()


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
    return tuple({"kit": "Goldeneye 20A", "lab": None, "loci": x} for x in (father, mother, child))  # type: ignore[return-value]  # three profiles by construction


def test_parents_dna_re_searches_the_alert_and_notifies_with_kinship(harness: Harness) -> None:
    """A renamed rescued child is not a hit on facts alone; the parents' DNA makes it one."""
    father, mother, own = _profiles(7)
    civil = "530000-civil-affairs"
    harness.world.register(civil)
    rescued = {
        "name": "无名氏",
        "sex": "FEMALE",
        "birth": {
            "precision": "AGE_RANGE",
            "age_min": 8,
            "age_max": 12,
            "age_assessed_on": date(2026, 1, 5),
        },
    }
    notice = payload_for(
        "rescue-notice", 5, harness.world.epoch, civil, person=rescued, str_profile=own
    )
    harness.feed(
        harness.alert(5, CHILD), harness.world.event(civil, "rescue-notice", payload=notice)
    )
    assert harness.scalar("SELECT count(*) FROM match_pairs WHERE status = 'NOTIFIED'") == 0
    dna = {
        "profile_id": "DNA-5",
        "alert_id": "A-510000-5",
        "father": father,
        "mother": mother,
        "sampled_on": date(2026, 1, 2),
        "issuing_unit": POLICE,
    }
    harness.feed(harness.world.event(POLICE, "parents-dna-profile", payload=dna))
    assert harness.scalar("SELECT status FROM match_pairs") == "NOTIFIED"
    with psycopg.connect(harness.settings.pg_dsn) as conn:
        rows = conn.execute("SELECT msg_value FROM match_outbox ORDER BY id").fetchall()
    note = open_notice(bytes(rows[1][0]), harness.world.operator.verify_key, POLICE).body
    assert (note["dna"]["kind"], note["dna"]["conclusion"]) == ("TRIO", "SUPPORTED")
    assert note["counterpart"]["kind"] == "RESCUE"
    assert "no registered police covers 530102" in note["notes"][0]


def _in_memory_index(wires: list[bytes]) -> tuple[CandidateIndex, Any]:
    """The batch matcher's index over the same events, and the (last) alert among them."""
    index = CandidateIndex()
    alert = None
    for wire in wires:
        env = decode_envelope(wire)
        body = decode_payload(CATALOG, env)
        if env.event_type == "missing-person-alert":
            alert = prepare(facts_from_alert(body, None, str(env.event_id)))
            index.add(alert)
        else:
            for person in facts_from_migrant_record(body, str(env.event_id)):
                index.add(prepare(person))
    return index, alert


def test_scores_weigh_name_frequency_like_the_in_memory_index(harness: Harness) -> None:
    """With enough persons indexed, a hit's score equals the batch matcher's over the same index."""
    wires = [harness.alert(1, CHILD)]
    wires += [
        harness.world.event(REGISTRY, "migrant-record", n)
        for n in range(200, 400)  # three Han-named persons each: well above the 500 needed
    ]
    target = harness.record(1, dict(CHILD, name="周家怡"))
    harness.feed(*wires, target)
    index, alert = _in_memory_index([*wires, target])
    child = index.get(
        facts_from_migrant_record(
            decode_payload(CATALOG, decode_envelope(target)), str(decode_envelope(target).event_id)
        )[1].ref
    )
    assert child is not None
    expected = Matcher().score_pair(alert, child, index).score
    assert expected != Matcher().score_pair(alert, child).score  # the frequencies do matter
    assert harness.scalar("SELECT score FROM match_pairs") == round(expected, 3)
    assert harness.scalar("SELECT n FROM match_name_counts WHERE part = 'total'") == len(index)
    assert harness.scalar("SELECT n FROM match_name_counts WHERE part = 'persons'") == len(index)


def _letters(n: int) -> str:
    return "".join(chr(ord("a") + int(d)) for d in str(n))


def test_latin_names_weigh_their_frequency_like_the_in_memory_index(harness: Harness) -> None:
    """A foreign child's Latin name: the streaming score adjusts a common family name by its
    frequency among the indexed persons exactly as the batch matcher does over the same index."""
    girl = {"name": "Anna Smith", "sex": "FEMALE",
            "birth": {"precision": "DAY", "date": date(2015, 6, 1)}}
    wires = [harness.alert(1, girl)]
    for n in range(200, 470):  # registrants and a child each, Latin-named: above the 500 needed
        payload = payload_for("migrant-record", n, harness.world.epoch, REGISTRY)
        family = "Smith" if n % 5 == 0 else "Fam" + _letters(n)
        payload["person"]["name"] = f"Gen{_letters(n)} {family}"
        payload["person"]["id_number"] = None
        kid = {"name": f"Kid{_letters(n)} {family}", "sex": "MALE",
               "birth": {"precision": "YEAR", "date": date(2001 + n % 20, 1, 1)}}
        payload["children"] = [{"child": kid, "guardian_relation": "FATHER"}]
        wires.append(harness.world.event(REGISTRY, "migrant-record", payload=payload))
    target = harness.record(1, girl)
    harness.feed(*wires, target)
    index, alert = _in_memory_index([*wires, target])
    assert alert is not None and index.latin_named > 500
    target_env = decode_envelope(target)
    body = decode_payload(CATALOG, target_env)
    child = index.get(facts_from_migrant_record(body, str(target_env.event_id))[1].ref)
    assert child is not None
    scored = Matcher().score_pair(alert, child, index)
    assert scored.contributions["latin_family"] != Matcher().score_pair(alert, child).contributions[
        "latin_family"]  # the frequency does matter
    assert harness.scalar("SELECT score FROM match_pairs") == round(scored.score, 3)
    assert harness.scalar(
        "SELECT n FROM match_name_counts WHERE part = 'latin_total'") == index.latin_named


def test_match_index_is_rebuilt_from_the_event_store(
    harness: Harness, tmp_path: Path
) -> None:
    """Events stored but never matched (a worker lost them) are matched by the rebuild; hits
    already notified are not notified again, and the index holds what live matching built."""
    settings = harness.settings.with_overrides(data_dir=tmp_path)
    harness.world.operator.save(operator_key_paths(tmp_path)[0])
    harness.feed(harness.alert(1, CHILD), harness.record(1, CHILD))
    index = "SELECT md5(string_agg(person_ref || facts::text, ',' ORDER BY person_ref)) FROM "
    live = harness.scalar(index + "match_persons")
    outbox = harness.scalar("SELECT count(*) FROM match_outbox")
    other = {**CHILD, "name": "吴雨桐", "birth": {"precision": "DAY", "date": date(2012, 3, 9)}}
    harness.store_wires([harness.alert(2, other), harness.record(2, other)])  # never matched
    fed = rebuild_match_index(settings)
    assert fed == harness.scalar("SELECT count(*) FROM event_store")
    assert harness.scalar("SELECT count(*) FROM match_pairs WHERE status = 'NOTIFIED'") == 2
    assert harness.scalar("SELECT count(*) FROM match_outbox") == 2 * outbox  # the new hit only
    rebuilt = harness.scalar(index + "match_persons WHERE business_id LIKE '%%-1'")
    assert rebuilt == live


def test_name_fields_survive_the_json_round_trip() -> None:
    """Name kind, Latin name parts, foreign documents and address text are stored and read back;
    a row stored before they existed reads as a full name without documents."""
    payload = payload_for("migrant-record", 4, SignedWorld(CATALOG).epoch, REGISTRY)
    payload["person"].update(name="秀英", name_kind="GIVEN_ONLY", family_name="Nguyen",
                             given_names="Thi Lan", foreign_documents=[
                                 {"kind": "PASSPORT", "country": "VNM", "number": "C1234567"}])
    payload["current_address"] = {"area_code": "", "text": "12 Hang Bac, Hanoi"}
    facts = facts_from_migrant_record(payload, "e-2")[0]
    assert facts.name_kind.value == "GIVEN_ONLY" and facts.address_text == "12 Hang Bac, Hanoi"
    stored = json.loads(json.dumps(facts_to_json(facts)))
    assert facts_from_json(stored) == facts
    for key in ("name_kind", "family_name", "given_names", "foreign_documents", "address_text"):
        del stored[key]
    old = facts_from_json(stored)
    assert old.name_kind.value == "FULL" and old.foreign_documents == ()
