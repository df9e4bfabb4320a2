"""The demo's one tampered event: correctly signed, then one payload byte flipped in transit.

It goes straight to the ingest topic (no connector would send it), so the hub's verify stage is
what must catch it: BAD_SIGNATURE, kept in quarantine.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.config import Settings
from hub.envelope import encode_envelope, seal
from hub.keys import SigningKey
from hub.schema_catalog import SchemaCatalog
from hub.topics import topic_name
from ops.errors import DemoError

# Far beyond any sequence the publisher's own connector uses in a demo.
TAMPER_SEQUENCE = 1_000_000


def tampered_wire(payload: dict[str, Any], publisher_id: str, key: SigningKey) -> bytes:
    """A signed missing-person-alert envelope with one byte of its payload flipped."""
    catalog = SchemaCatalog.load()
    envelope = seal(catalog, "missing-person-alert", payload, publisher_id=publisher_id,
                    key=key, sequence=TAMPER_SEQUENCE, occurred_at=datetime.now(UTC))
    wire = bytearray(encode_envelope(envelope))
    at = bytes(wire).find(envelope.payload)
    if at < 0:
        raise DemoError("cannot find the payload inside the encoded envelope")
    wire[at + len(envelope.payload) // 2] ^= 0x01
    return bytes(wire)


def send_tampered(settings: Settings, wire: bytes, publisher_id: str) -> None:
    """Produce the tampered bytes to the ingest topic, as a connector would."""
    from kafka import KafkaProducer

    producer = KafkaProducer(**settings.kafka_config(), acks="all")
    try:
        producer.send(topic_name(settings, "ingest"), key=publisher_id.encode(),
                      value=wire).get(timeout=30)
    except Exception as err:  # kafka-python raises its own hierarchy and OSErrors
        raise DemoError(f"could not send the tampered event: {err}") from err
    finally:
        producer.close(timeout=5)
