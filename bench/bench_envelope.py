"""Envelope throughput against bare Ed25519 on the same machine, in one run.

Prints, per second: events sealed (validated, Avro-encoded, signed, wire-encoded); events
through the envelope path (wire decode, schema lookup, registry, key window, permission and
signature checks, without decoding the Avro payload); events through the whole
`hub.verify.verify` (the envelope path plus Avro payload decoding, duplicate and sequence
bookkeeping); and bare `cryptography` Ed25519 verifications of the same signing bytes.
The ratios are costs per event against the bare verification (limit for the envelope
path: 1.25). Rounds are interleaved and the best of each kept, so load from other
processes hits all figures alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from hub.envelope import decode_envelope, encode_envelope, seal, signed_region
from hub.keys import SIGNATURE_SIZE, generate_keypair
from hub.registry import Registry, add_key_event, register_participant_event
from hub.schema_catalog import SchemaCatalog
from hub.verify import (
    MemorySeenEvents,
    MemorySequenceTracker,
    Verified,
    apply_registry_event,
    verify,
)

LIMIT = 1.25
PUBLISHER = "510000-police"
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def alert(i: int) -> dict[str, Any]:
    """A typical missing-person alert (a few hundred bytes of Avro)."""
    return {
        "alert_id": f"A-510100-2026-{i:06d}", "case_type": "SUSPECTED_TRAFFICKING",
        "person": {"name": "王小红", "former_names": ["王红"], "sex": "FEMALE",
                   "birth": {"precision": "DAY", "date": date(2015, 6, 3)},
                   "id_number": "510104201506030023", "height_cm": 130,
                   "description": "偏瘦 短发", "marks": ["右手腕烫伤疤痕"], "dialect": "成都话"},
        "last_seen_place": {"area_code": "510104", "text": "春熙路地铁站C口"},
        "last_seen_at": T0 - timedelta(hours=3), "circumstances": "放学后未回家",
        "reason": "MISSING_MINOR", "action_on_hit": "PLACE_UNDER_PROTECTION",
        "urgency": "IMMEDIATE", "issuing_unit": PUBLISHER, "jurisdiction": "510000",
        "reported_at": T0,
    }


def timed(label: str, count: int, work: Callable[[], None]) -> float:
    """Run `work` once, print and return operations per second."""
    start = time.perf_counter()
    work()
    elapsed = time.perf_counter() - start
    rate = count / elapsed
    print(f"{label:<46} {rate:>10,.0f} /s   ({elapsed * 1e6 / count:7.1f} us each)")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_envelope",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=5000, help="events per phase")
    parser.add_argument("--rounds", type=int, default=5,
                        help="rounds; each interleaves the three timed phases block by block")
    parser.add_argument("--block", type=int, default=250, help="events per interleaved block")
    args = parser.parse_args(argv)
    measure(args.events, args.rounds, args.block)
    return 0


def measure(n: int, rounds_wanted: int = 5, block: int = 250) -> dict[str, float]:
    """Run the benchmark, print it, and return its figures (rates per second and ratios)."""
    catalog = SchemaCatalog.load()
    operator, member = generate_keypair(), generate_keypair()
    registry = Registry.bootstrap(operator.verify_key)
    setup_seen, setup_seq = MemorySeenEvents(), MemorySequenceTracker()
    for env in (
        register_participant_event(catalog, operator, sequence=1, participant_id=PUBLISHER,
                                   display_name="四川省公安厅", effective_at=T0 - timedelta(1)),
        add_key_event(catalog, operator, sequence=2, participant_id=PUBLISHER,
                      public_key=member.verify_key, valid_from=T0 - timedelta(1), at=T0),
    ):
        outcome = verify(encode_envelope(env), catalog=catalog, registry=registry,
                         seen=setup_seen, sequences=setup_seq, now=T0)
        assert isinstance(outcome, Verified) and apply_registry_event(registry, outcome) is None

    payloads = [alert(i) for i in range(n)]
    wires: list[bytes] = []

    def seal_all() -> None:
        for i, payload in enumerate(payloads, 1):
            wires.append(encode_envelope(seal(
                catalog, "missing-person-alert", payload, publisher_id=PUBLISHER, key=member,
                sequence=i, occurred_at=T0, published_at=T0, event_id=uuid.uuid4())))

    print(f"{n} missing-person-alert events, {len(alert(0))} top-level fields, "
          f"wire size about {len(encode_envelope(seal(catalog, 'missing-person-alert', alert(0), publisher_id=PUBLISHER, key=member, sequence=1, occurred_at=T0, published_at=T0)))} bytes")  # noqa: E501
    sealed = timed("sealed (validate+encode+sign+wire) per second", n, seal_all)

    now = T0 + timedelta(minutes=1)
    public = Ed25519PublicKey.from_public_bytes(member.public_key_bytes)
    pairs = [(w[-SIGNATURE_SIZE:], signed_region(w)) for w in wires]

    def envelope_path(block: list[bytes]) -> None:
        # The checks of hub.verify up to and including the signature, payload left encoded.
        for data in block:
            env = decode_envelope(data)
            writer = catalog.by_fingerprint(env.schema_fingerprint)
            key = registry.key(env.publisher_id, env.key_id)
            if (writer is None or writer.event_type != env.event_type
                    or registry.participant(env.publisher_id) is None or key is None
                    or not key.key.verify(data[-SIGNATURE_SIZE:], signed_region(data))
                    or key.state_at(env.published_at) != "VALID"
                    or not registry.permitted(env.publisher_id, env.event_type,
                                              env.published_at)):
                raise SystemExit("benchmark event failed the envelope checks")

    def bare(block: list[tuple[bytes, bytes]]) -> None:
        for signature, message in block:
            public.verify(signature, message)

    def full(block: list[bytes], seen: MemorySeenEvents,
             sequences: MemorySequenceTracker) -> None:
        for data in block:
            outcome = verify(data, catalog=catalog, registry=registry, seen=seen,
                             sequences=sequences, now=now)
            if not isinstance(outcome, Verified):
                raise SystemExit(f"benchmark event rejected: {outcome}")

    # Small interleaved blocks: a burst of load from other processes lands on all three.
    rounds: list[dict[str, float]] = []
    for _ in range(rounds_wanted):
        spent = {"bare": 0.0, "envelope": 0.0, "verify": 0.0}
        seen, sequences = MemorySeenEvents(), MemorySequenceTracker()
        for start in range(0, n, block):
            stop = start + block
            spent["bare"] += clock(bare, pairs[start:stop])
            spent["envelope"] += clock(envelope_path, wires[start:stop])
            spent["verify"] += clock(full, wires[start:stop], seen, sequences)
        rounds.append(spent)
        print("round: " + "  ".join(f"{k} {n / v:,.0f}/s" for k, v in spent.items()))

    env_ratio = statistics.median(r["envelope"] / r["bare"] for r in rounds)
    full_ratio = statistics.median(r["verify"] / r["bare"] for r in rounds)
    rate = {k: n / min(r[k] for r in rounds) for k in ("bare", "envelope", "verify")}
    verdict = "within" if env_ratio <= LIMIT else "OVER"
    print(f"\n{rounds_wanted} rounds of {n} events (best round shown, ratios are medians):")
    print(f"  sealed/s                          {sealed:>9,.0f}")
    print(f"  envelope path/s                   {rate['envelope']:>9,.0f}")
    print(f"  full hub.verify/s                 {rate['verify']:>9,.0f}")
    print(f"  bare Ed25519 verifications/s      {rate['bare']:>9,.0f}")
    print(f"cost ratio envelope path / bare Ed25519 = {env_ratio:.3f} (limit {LIMIT}: {verdict})")
    print(f"cost ratio full verify (incl. Avro payload decode) / bare = {full_ratio:.3f}")
    return {"sealed": sealed, **rate, "envelope_ratio": env_ratio, "verify_ratio": full_ratio}


def clock(work: Callable[..., None], *args: Any) -> float:
    """Seconds taken by `work(*args)`."""
    start = time.perf_counter()
    work(*args)
    return time.perf_counter() - start


if __name__ == "__main__":
    raise SystemExit(main())
