"""Cost of sealing a rescued person's event at rest, against verifying its signature.

Per rescue notice the event store now does, besides storing it: the SHA-256 of payload and wire,
the clear view of the body, its JSON text, and three AES-256-GCM encryptions under the case
key (wire, payload and body); a reader does the three decryptions. Both are timed per event
against the bare Ed25519 verification of the same envelope, which the hub does for every event
anyway, in interleaved rounds (best of each kept, so load from other processes hits all figures
alike).
Limit: sealing costs at most as much as one verification (ratio <= 1.0). What it cannot show:
the database round trip to fetch or create the case's key (one query per batch, not per event).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.atrest import clear_view, new_data_key, open_bytes, seal_bytes
from hub.envelope import decode_payload, encode_envelope, seal, signed_region
from hub.keys import SIGNATURE_SIZE, generate_keypair
from hub.schema_catalog import SchemaCatalog
from hub.store import to_jsonable

LIMIT = 1.0
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def notice(i: int) -> dict[str, object]:
    """A typical rescue notice (about half a kilobyte of Avro)."""
    return {
        "rescue_id": f"R-530000-2026-{i:06d}",
        "person": {"name": "无名女孩", "sex": "FEMALE", "marks": ["左耳后有痣"],
                   "birth": {"precision": "AGE_RANGE", "age_min": 6, "age_max": 8},
                   "description": "偏瘦 短发", "dialect": "四川口音", "clothing": "红色外套"},
        "rescued_at": T0, "rescue_place": {"area_code": "530102", "text": "昆明火车站候车室"},
        "own_account": "记得家门口有一条河 爸爸开货车", "health": "营养不良",
        "placement": {"kind": "WELFARE_INSTITUTION", "institution": "昆明市儿童福利院",
                      "area_code": "530100", "contact": "0871-0000000"},
        "issuing_unit": "530000-civil-affairs",
    }


def best(rounds: int, work: Callable[[], None]) -> float:
    """The shortest of `rounds` runs of `work`, in seconds."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="events per round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    args = parser.parse_args()
    catalog, key = SchemaCatalog.load(), generate_keypair()
    envelopes = [seal(catalog, "rescue-notice", notice(i), publisher_id="530000-civil-affairs",
                      key=key, sequence=i + 1, occurred_at=T0) for i in range(args.events)]
    wires = [encode_envelope(e) for e in envelopes]
    bodies = [to_jsonable(decode_payload(catalog, e)) for e in envelopes]
    data_key = new_data_key("R-530000-2026-000001")
    public = Ed25519PublicKey.from_public_bytes(key.public_key_bytes)
    sealed: list[tuple[bytes, bytes, bytes]] = []

    def verify_all() -> None:
        for wire in wires:
            public.verify(wire[-SIGNATURE_SIZE:], signed_region(wire))

    def seal_all() -> None:
        sealed.clear()
        for env, wire, body in zip(envelopes, wires, bodies, strict=True):
            event_id = str(env.event_id)
            hashlib.sha256(env.payload).digest()
            hashlib.sha256(wire).digest()
            clear_view("rescue-notice", body)
            text = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
            sealed.append((seal_bytes(data_key, event_id, "wire", wire),
                           seal_bytes(data_key, event_id, "payload", env.payload),
                           seal_bytes(data_key, event_id, "body", text)))

    def open_all() -> None:
        for env, (wire, payload, body) in zip(envelopes, sealed, strict=True):
            event_id = str(env.event_id)
            open_bytes(data_key, event_id, "wire", wire)
            open_bytes(data_key, event_id, "payload", payload)
            json.loads(open_bytes(data_key, event_id, "body", body))

    results: dict[str, list[float]] = {"verify": [], "seal": [], "open": []}
    for _ in range(args.rounds):  # interleaved: each round times all three
        results["verify"].append(best(1, verify_all))
        results["seal"].append(best(1, seal_all))
        results["open"].append(best(1, open_all))
    n = args.events
    per = {k: min(v) / n for k, v in results.items()}
    print(f"rescue notice: {len(wires[0])} wire bytes; {n} events x {args.rounds} rounds")
    for name in ("verify", "seal", "open"):
        print(f"{name:7s} {1 / per[name]:>10,.0f} events/s  {per[name] * 1e6:7.1f} us/event")
    ratio = per["seal"] / per["verify"]
    verdict = "within" if ratio <= LIMIT else "OVER"
    print(f"seal / verify = {ratio:.2f} (limit {LIMIT:.2f}: {verdict}); "
          f"open / verify = {per['open'] / per['verify']:.2f}")


if __name__ == "__main__":
    main()
