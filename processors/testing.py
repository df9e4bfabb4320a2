"""Signed events for tests and benchmarks of the pipeline (public, like ``structlog.testing``).

A :class:`SignedWorld` holds a hub-operator key and participants' keys and turns payloads into
wire bytes exactly as connectors and ``hubctl registry`` do, so the pipeline is tested with real
envelopes and real signatures.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hub.envelope import encode_envelope, seal
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SigningKey, generate_keypair
from hub.registry import (
    add_key_event,
    encryption_key_event,
    permission_event,
    register_participant_event,
    revoke_key_event,
)
from hub.schema_catalog import SchemaCatalog
from hub.sealing import EncryptionKey, generate_encryption_key

__all__ = ["SignedWorld", "payload_for"]

_DAY = timedelta(days=1)


def _person(n: int, *, name: str = "林", sex: str = "FEMALE", year: int = 2014) -> dict[str, Any]:
    return {
        "name": f"{name}{n % 97}号",
        "sex": sex,
        "birth": {"precision": "DAY", "date": date(year, 1 + n % 12, 1 + n % 28)},
        "marks": [],
    }


def _place(code: str, text: str) -> dict[str, Any]:
    return {"area_code": code, "text": text}


def payload_for(
    event_type: str, n: int, at: datetime, unit: str = "320000-police", **extra: Any
) -> dict[str, Any]:
    """A valid payload of this type, distinct per n, issued by unit; ``extra`` overrides."""
    # Ids are unique per issuing unit, as real case numbers are: two units never share a row.
    u = unit.split("-", 1)[0]
    payloads: dict[str, dict[str, Any]] = {
        "tip-report": {
            "tip_id": f"TIP-{u}-{n}",
            "received_at": at,
            "channel": "PHONE",
            "text": f"群众来电第{n}条, 车站附近有可疑人员带着小孩",
            "anonymous": True,
            "issuing_unit": unit,
        },
        "missing-person-alert": {
            "alert_id": f"A-{u}-{n}",
            "case_type": "ABDUCTION",
            "person": _person(n),
            "last_seen_place": _place("320106", "南京市鼓楼区某小学门口"),
            "last_seen_at": at - timedelta(hours=2),
            "circumstances": "放学后未回家",
            "reason": "MISSING_MINOR",
            "action_on_hit": "PLACE_UNDER_PROTECTION",
            "urgency": "URGENT",
            "issuing_unit": unit,
            "jurisdiction": "320000",
            "reported_at": at - timedelta(hours=1),
        },
        "alert-update": {
            "alert_id": f"A-{u}-{n}",
            "update_id": f"U-{u}-{n}",
            "urgency": "IMMEDIATE",
            "note": "监控显示向南",
            "issuing_unit": unit,
        },
        "alert-closed": {
            "alert_id": f"A-{u}-{n}",
            "outcome": "FOUND_ALIVE",
            "found_at": at,
            "note": "已找到",
            "issuing_unit": unit,
        },
        "migrant-record": {
            "record_id": f"M-{u}-{n}",
            "person": _person(n, name="赵", sex="MALE", year=1988),
            "household_registration": _place("510104", "成都市锦江区"),
            "current_address": _place("320505", "苏州市虎丘区某小区"),
            "moved_in_on": date(2026, 1, 10),
            "marital_status": "MARRIED",
            "children": [
                {"child": _person(n, name="赵小"), "guardian_relation": "FATHER"},
                {"child": _person(n + 1, name="赵二", sex="MALE"), "guardian_relation": "FATHER"},
            ],
            "registered_on": date(2026, 1, 12),
            "registering_station": "虎丘派出所",
        },
        "rescue-notice": {
            "rescue_id": f"R-{u}-{n}",
            "person": _person(n, name="无名"),
            "rescued_at": at,
            "rescue_place": _place("530102", "昆明市五华区火车站"),
            "placement": {
                "kind": "WELFARE_INSTITUTION",
                "institution": "昆明市儿童福利院",
                "area_code": "530100",
            },
            "issuing_unit": unit,
        },
        "case-follow-up": {
            "rescue_id": f"R-{u}-{n}",
            "follow_up_id": f"F-{u}-{n}",
            "followed_up_on": at.date(),
            "assistance": ["MEDICAL"],
            "family_reunion": "SEARCHING",
            "status": "IN_PROGRESS",
            "note": "",
            "issuing_unit": unit,
        },
        "match-found": {
            "match_id": uuid.uuid5(uuid.NAMESPACE_OID, f"match-{n}"),
            "alert_id": f"A-{u}-{n}",
            "alert_event_id": uuid.uuid5(uuid.NAMESPACE_OID, f"alert-{n}"),
            "counterpart_kind": "RESCUE_NOTICE",
            "counterpart_id": f"R-{u}-{n}",
            "counterpart_event_id": uuid.uuid5(uuid.NAMESPACE_OID, f"rescue-{n}"),
            "score": 11.5,
            "explanation": ["sex agrees", "birth date within a year"],
            "recipients": ["320000-police"],
        },
        "match-decision": {
            "match_id": uuid.uuid5(uuid.NAMESPACE_OID, f"match-{n}"),
            "alert_id": f"A-{u}-{n}",
            "decision": "CONFIRMED",
            "note": "",
            "deciding_unit": unit,
            "decided_at": at,
        },
    }
    try:
        payload = payloads[event_type]
    except KeyError:
        raise ValueError(f"no sample payload for {event_type}") from None
    payload.update(extra)
    return payload


@dataclass
class SignedWorld:
    """An operator and participants with keys; seals events with rising sequence numbers."""

    catalog: SchemaCatalog
    operator: SigningKey = field(default_factory=generate_keypair)
    keys: dict[str, SigningKey] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)
    sealing_keys: dict[str, EncryptionKey] = field(default_factory=dict)
    epoch: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=1))

    def next_sequence(self, publisher_id: str) -> int:
        value = self.sequences.get(publisher_id, 0) + 1
        self.sequences[publisher_id] = value
        return value

    def register(
        self, participant_id: str, *, with_key: bool = True, key: SigningKey | None = None
    ) -> list[bytes]:
        """Operator events registering a participant (and its key): wire bytes, in order."""
        op = HUB_OPERATOR_ID
        since = self.epoch - _DAY
        out = [
            register_participant_event(
                self.catalog,
                self.operator,
                sequence=self.next_sequence(op),
                participant_id=participant_id,
                display_name=participant_id,
                effective_at=since,
            )
        ]
        self.keys[participant_id] = key or self.keys.get(participant_id) or generate_keypair()
        if with_key:
            out.append(self._key_added(participant_id))
        return [encode_envelope(e) for e in out]

    def _key_added(self, participant_id: str) -> Any:
        since = self.epoch - _DAY
        return add_key_event(
            self.catalog,
            self.operator,
            sequence=self.next_sequence(HUB_OPERATOR_ID),
            participant_id=participant_id,
            public_key=self.keys[participant_id].verify_key,
            valid_from=since,
            at=since,
        )

    def add_key(self, participant_id: str) -> bytes:
        """key-added for the participant's current key (for a key registered late)."""
        return encode_envelope(self._key_added(participant_id))

    def add_encryption_key(self, participant_id: str) -> bytes:
        """encryption-key-added for a new X25519 key of the participant (kept in sealing_keys)."""
        key = self.sealing_keys[participant_id] = generate_encryption_key()
        since = self.epoch - _DAY
        env = encryption_key_event(
            self.catalog,
            self.operator,
            sequence=self.next_sequence(HUB_OPERATOR_ID),
            participant_id=participant_id,
            public_key=key.public,
            valid_from=since,
            at=since,
        )
        return encode_envelope(env)

    def revoke_key(self, participant_id: str, effective_at: datetime) -> bytes:
        env = revoke_key_event(
            self.catalog,
            self.operator,
            sequence=self.next_sequence(HUB_OPERATOR_ID),
            participant_id=participant_id,
            key_id=self.keys[participant_id].key_id,
            effective_at=effective_at,
            reason="test",
            at=self.epoch,
        )
        return encode_envelope(env)

    def withdraw(self, participant_id: str, event_type: str, effective_at: datetime) -> bytes:
        env = permission_event(
            self.catalog,
            self.operator,
            sequence=self.next_sequence(HUB_OPERATOR_ID),
            participant_id=participant_id,
            event_type=event_type,
            granted=False,
            effective_at=effective_at,
            at=self.epoch,
        )
        return encode_envelope(env)

    def event(
        self,
        publisher_id: str,
        event_type: str,
        n: int = 1,
        *,
        payload: dict[str, Any] | None = None,
        key: SigningKey | None = None,
        sequence: int | None = None,
        published_at: datetime | None = None,
        event_id: uuid.UUID | None = None,
    ) -> bytes:
        """Wire bytes of one signed event from a participant."""
        at = self.epoch
        signer = key or (
            self.operator if publisher_id == HUB_OPERATOR_ID else self.keys[publisher_id]
        )
        env = seal(
            self.catalog,
            event_type,
            payload if payload is not None else payload_for(event_type, n, at, publisher_id),
            publisher_id=publisher_id,
            key=signer,
            sequence=sequence if sequence is not None else self.next_sequence(publisher_id),
            occurred_at=at,
            published_at=published_at or at + timedelta(seconds=n % 600),
            event_id=event_id,
        )
        return encode_envelope(env)

    def stream(self, publisher_id: str, event_types: Iterable[str], count: int) -> list[bytes]:
        """count events cycling through event_types, numbered 1..count."""
        types = list(event_types)
        return [self.event(publisher_id, types[i % len(types)], i + 1) for i in range(count)]
