"""Checking envelope signatures (signing itself is `hub.envelope.sign`)."""

from __future__ import annotations

from hub.envelope import (
    MAGIC_V2,
    SIGNING_DOMAIN_V2,
    Envelope,
    decode_envelope,
    signed_region,
    signing_bytes,
)
from hub.keys import SIGNATURE_SIZE, VerifyKey


def signature_valid(env: Envelope, key: VerifyKey) -> bool:
    """True if the envelope's signature is valid for its canonical bytes under `key`."""
    if len(env.signature) != SIGNATURE_SIZE:
        return False
    return key.verify(env.signature, signing_bytes(env))


def wire_signature_valid(data: bytes, key: VerifyKey) -> bool:
    """Like `signature_valid`, straight from wire bytes (no re-encoding of the body)."""
    decode_envelope(data)  # raises EnvelopeError on malformed bytes
    return key.verify(data[-SIGNATURE_SIZE:], signed_region(data))


def head_signature_valid(wire_head: bytes, payload_digest: bytes, signature: bytes,
                         key: VerifyKey) -> bool:
    """A version 2 envelope's signature checked from what the event store keeps in clear of a
    sealed event: the wire bytes up to the payload (magic and header), the payload's SHA-256
    and the signature. It holds after crypto-shredding, when the payload is unreadable."""
    if wire_head[:4] != MAGIC_V2 or len(payload_digest) != 32 or len(signature) != SIGNATURE_SIZE:
        return False
    return key.verify(signature, SIGNING_DOMAIN_V2 + wire_head[4:] + payload_digest)
