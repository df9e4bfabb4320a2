"""Realistic sample payloads and a small signed world for the event-contract tests."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.envelope import Envelope, encode_envelope, seal
from hub.keys import SigningKey, generate_keypair
from hub.registry import Registry, add_key_event, register_participant_event
from hub.schema_catalog import SchemaCatalog
from hub.verify import (
    MemorySeenEvents,
    MemorySequenceTracker,
    Rejected,
    Verified,
    apply_registry_event,
    verify,
)

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@functools.cache
def catalog() -> SchemaCatalog:
    """The repository's schemas, loaded once."""
    return SchemaCatalog.load()


def _place(code: str, text: str) -> dict[str, Any]:
    return {"area_code": code, "text": text}


def _child() -> dict[str, Any]:
    return {
        "name": "小明", "sex": "MALE",
        "birth": {"precision": "AGE_RANGE", "age_min": 4, "age_max": 6,
                  "age_assessed_on": date(2026, 2, 20)},
        "dialect": "四川话", "marks": ["左耳后有痣"],
    }


def sample_payloads() -> dict[str, dict[str, Any]]:
    """One plausible payload per event type."""
    missing = {
        "name": "王小红", "former_names": ["王红"], "sex": "FEMALE",
        "birth": {"precision": "DAY", "date": date(2015, 6, 3)}, "ethnicity": "汉族",
        "id_number": "510104201506030023", "height_cm": 130,
        "description": "偏瘦 短发", "marks": ["右手腕烫伤疤痕"], "dialect": "成都话",
        "clothing": "红色外套 蓝色牛仔裤",
    }
    match_id = uuid.UUID("6f1c9a1e-0d7e-4a51-9a55-2d3f0f2b7c11")
    str_profile = {"kit": "Goldeneye 20A", "lab": "四川省公安厅物证鉴定中心",
                   "loci": [{"locus": "D8S1179", "alleles": ["13", "14"]},
                            {"locus": "TH01", "alleles": ["9.3", "9.3"]}]}
    return {
        "missing-person-alert": {
            "alert_id": "A-510100-2026-0042", "case_number": "J5101002026030001",
            "case_type": "SUSPECTED_TRAFFICKING", "person": missing,
            "household_registration": _place("510104", "成都市锦江区某街道"),
            "last_seen_place": _place("510104", "春熙路地铁站C口"),
            "last_seen_at": T0 - timedelta(hours=3),
            "circumstances": "放学后未回家 有陌生男子搭讪",
            "reason": "MISSING_MINOR", "action_on_hit": "PLACE_UNDER_PROTECTION",
            "urgency": "IMMEDIATE", "issuing_unit": "510000-police", "jurisdiction": "510000",
            "reporter": {"name": "王建国", "relationship": "父亲", "phone": "13800000000"},
            "reported_at": T0 - timedelta(hours=1),
        },
        "alert-update": {"alert_id": "A-510100-2026-0042", "update_id": "U1",
                         "urgency": "URGENT", "note": "监控显示往南方向",
                         "issuing_unit": "510000-police"},
        "alert-closed": {"alert_id": "A-510100-2026-0042", "outcome": "FOUND_ALIVE",
                         "found_place": _place("530102", "昆明市五华区"), "found_at": T0,
                         "match_id": match_id, "issuing_unit": "510000-police"},
        "parents-dna-profile": {"profile_id": "P-1", "alert_id": "A-510100-2026-0042",
                                "mother": str_profile, "father": None,
                                "sampled_on": date(2026, 3, 1),
                                "issuing_unit": "510000-police"},
        "migrant-record": {
            "record_id": "M-320500-0001",
            "person": {"name": "张伟", "sex": "MALE",
                       "birth": {"precision": "DAY", "date": date(1985, 1, 1)},
                       "id_number": "510104198501010010"},
            "household_registration": _place("510104", "成都市锦江区"),
            "current_address": _place("320505", "苏州市虎丘区某小区"),
            "moved_in_on": date(2026, 1, 10), "marital_status": "MARRIED",
            "children": [{"child": _child(), "guardian_relation": "FATHER"}],
            "registered_on": date(2026, 1, 12), "registering_station": "虎丘派出所",
        },
        "rescue-notice": {
            "rescue_id": "R-530000-0007", "person": _child(), "rescued_at": T0,
            "rescue_place": _place("530102", "昆明市五华区火车站"),
            "own_account": "记得家门口有河",
            "placement": {"kind": "WELFARE_INSTITUTION", "institution": "昆明市儿童福利院",
                          "area_code": "530100", "contact": "0871-0000000"},
            "str_profile": str_profile, "issuing_unit": "530000-civil-affairs",
        },
        "case-follow-up": {"rescue_id": "R-530000-0007", "follow_up_id": "F1",
                           "followed_up_on": date(2026, 3, 20),
                           "assistance": ["MEDICAL", "PSYCHOLOGICAL", "SCHOOLING"],
                           "family_reunion": "SEARCHING", "status": "IN_PROGRESS",
                           "issuing_unit": "530000-civil-affairs"},
        "tip-report": {"tip_id": "TIP-9", "received_at": T0, "channel": "PHONE",
                       "text": "见到一个说四川话的小女孩跟着陌生人",
                       "place": _place("530102", "五华区某菜市场"),
                       "related_alert_id": "A-510100-2026-0042",
                       "issuing_unit": "530000-womens-federation"},
        "match-found": {"match_id": match_id, "alert_id": "A-510100-2026-0042",
                        "alert_event_id": uuid.uuid4(), "counterpart_kind": "RESCUE_NOTICE",
                        "counterpart_id": "R-530000-0007", "counterpart_event_id": uuid.uuid4(),
                        "score": 12.5, "explanation": ["sex agrees", "age range overlaps"],
                        "recipients": ["510000-police", "530000-civil-affairs"]},
        "match-decision": {"match_id": match_id, "alert_id": "A-510100-2026-0042",
                           "decision": "CONFIRMED", "deciding_unit": "510000-police",
                           "decided_at": T0},
        "participant-registered": {"participant_id": "450000-police", "jurisdiction": "450000",
                                   "department": "POLICE", "display_name": "广西公安厅",
                                   "initial_permissions": ["missing-person-alert"],
                                   "effective_at": T0},
        "key-added": {"participant_id": "450000-police", "key_id": "0" * 32,
                      "public_key": bytes(32), "valid_from": T0},
        "key-revoked": {"participant_id": "450000-police", "key_id": "0" * 32,
                        "effective_at": T0, "reason": "rotation"},
        "permission-granted": {"participant_id": "450000-police", "event_type": "tip-report",
                               "effective_at": T0},
        "permission-withdrawn": {"participant_id": "450000-police", "event_type": "tip-report",
                                 "effective_at": T0},
        "details-request": {"request_id": match_id, "match_id": match_id,
                            "reason": "child held at a station, identity to confirm",
                            "requesting_unit": "510000-police", "requested_at": T0},
        "match-ack": {"match_id": match_id, "acknowledging_unit": "510000-police",
                      "acknowledged_at": T0},
        "case-request": {"request_id": match_id, "case_id": "R-530000-2026-0007",
                         "reason": "placement review", "requesting_unit": "530000-civil-affairs",
                         "requested_at": T0},
        "match-escalated": {"match_id": match_id, "alert_id": "A-510100-2026-0042",
                            "duty": "ACK", "overdue_unit": "510100-police", "due_at": T0,
                            "escalated_to": "510000-police", "urgency": "URGENT"},
        "encryption-key-added": {"participant_id": "450000-police", "key_id": "0" * 32,
                                 "public_key": bytes(32), "valid_from": T0},
        "dna-sampling-request": {"request_id": match_id, "record_id": "R-320000-0001",
                                 "record_event_id": uuid.uuid4(), "child_index": 0,
                                 "reasons": ["NO_ID_NUMBER"], "alert_ids": ["A-510100-2026-0042"],
                                 "alerts_fitting": 1, "recipient": "320000-police",
                                 "requested_at": T0},
        "dna-sample": {"sample_id": "S-1", "request_id": match_id, "record_id": "R-320000-0001",
                       "child_index": 0, "sampled_on": date(2026, 3, 20),
                       "str_profile": {"kit": "Goldeneye 20A", "lab": None, "population": None,
                                       "loci": [{"locus": "TH01", "alleles": ["9", "9.3"]}]},
                       "issuing_unit": "510000-police"},
        "review-promoted": {"match_id": match_id, "alert_id": "A-510100-2026-0042",
                            "operator": "li.na", "reason": "same scar, dates one year apart"},
        "review-dismissed": {"match_id": match_id, "alert_id": "A-510100-2026-0042",
                             "operator": "li.na", "reason": "different mother named in file"},
        "case-shredded": {"case_id": "R-530000-2026-0001", "kind": "RETENTION",
                          "reason": "retention of 3650 days ran out", "requested_by": "hub"},
    }


# Which sample participant publishes which type.
PUBLISHER_OF = {
    "missing-person-alert": "510000-police", "alert-update": "510000-police",
    "alert-closed": "510000-police", "parents-dna-profile": "510000-police",
    "match-decision": "510000-police", "migrant-record": "320000-migrant-registry",
    "details-request": "510000-police", "match-ack": "510000-police",
    "dna-sample": "510000-police",
    "rescue-notice": "530000-civil-affairs", "case-follow-up": "530000-civil-affairs",
    "case-request": "530000-civil-affairs",
    "tip-report": "530000-womens-federation",
}


@dataclass
class World:
    """An operator, a few registered participants with keys, and fresh verifier state."""

    operator: SigningKey
    registry: Registry
    keys: dict[str, SigningKey]
    seen: MemorySeenEvents = field(default_factory=MemorySeenEvents)
    sequences: MemorySequenceTracker = field(default_factory=MemorySequenceTracker)
    next_seq: dict[str, int] = field(default_factory=dict)
    op_seq: int = 0

    def operator_event(self, env: Envelope) -> None:
        """Verify and apply a registry event, as the pipeline would."""
        outcome = self.check(encode_envelope(env))
        assert isinstance(outcome, Verified), outcome
        assert apply_registry_event(self.registry, outcome) is None

    def op_sequence(self) -> int:
        self.op_seq += 1
        return self.op_seq

    def seal(self, event_type: str, payload: dict[str, Any] | None = None, *,
             publisher: str | None = None, key: SigningKey | None = None,
             sequence: int | None = None, published_at: datetime | None = None,
             event_id: uuid.UUID | None = None) -> Envelope:
        """A signed event from a sample publisher (defaults for everything)."""
        pid = publisher or PUBLISHER_OF.get(event_type, "000000-hub-operator")
        signer = key or (self.operator if pid == "000000-hub-operator" else self.keys[pid])
        if sequence is None:
            sequence = self.next_seq.get(pid, 0) + 1
        self.next_seq[pid] = sequence
        return seal(catalog(), event_type, payload or sample_payloads()[event_type],
                    publisher_id=pid, key=signer, sequence=sequence, occurred_at=T0,
                    published_at=published_at or T0 + timedelta(minutes=5), event_id=event_id)

    def check(self, data: bytes, now: datetime | None = None) -> Verified | Rejected:
        """Run the verifier with this world's state."""
        return verify(data, catalog=catalog(), registry=self.registry, seen=self.seen,
                      sequences=self.sequences, now=now or T0 + timedelta(hours=1))


def make_world() -> World:
    """Registry with the sample publishers, each with one key valid from T0 - 1 day."""
    operator = generate_keypair()
    world = World(operator, Registry.bootstrap(operator.verify_key), {})
    cat = catalog()
    since = T0 - timedelta(days=1)
    for pid in sorted(set(PUBLISHER_OF.values())):
        key = generate_keypair()
        world.keys[pid] = key
        world.operator_event(register_participant_event(
            cat, operator, sequence=world.op_sequence(), participant_id=pid,
            display_name=pid, effective_at=since))
        world.operator_event(add_key_event(
            cat, operator, sequence=world.op_sequence(), participant_id=pid,
            public_key=key.verify_key, valid_from=since, at=since))
    return world
