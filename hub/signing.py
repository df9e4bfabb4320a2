"""Checking envelope signatures (signing itself is `hub.envelope.sign`)."""

from __future__ import annotations

from hub.envelope import Envelope, decode_envelope, signed_region, signing_bytes
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
