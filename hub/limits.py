"""Limits every side enforces the same way: the connector before it sends, the hub at ingest.

Sizes sit well below every transport limit (the broker and clients allow about 1 MiB per
message), so an event at the limit still fits when the hub copies it to the quarantine topic
with its reason headers. Text is checked because PostgreSQL cannot store U+0000 in text or
JSON: an event holding it could be signed and sent but never stored.
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_PAYLOAD_BYTES = 256 * 1024
# The envelope header (names of at most 64 bytes, fixed fields) and the signature fit in 1 KiB.
MAX_WIRE_BYTES = MAX_PAYLOAD_BYTES + 1024
UNSTORABLE_CHARS = {"\x00": "U+0000 (NUL)"}


def text_problem(value: object, path: str = "") -> str | None:
    """Where the first string inside ``value`` (dicts, lists, strings) holds a character the
    hub cannot store, in words (``"name holds U+0000 (NUL) at character 3"``), or None."""
    if isinstance(value, str):
        for char, label in UNSTORABLE_CHARS.items():
            at = value.find(char)
            if at >= 0:
                return f"{path or 'text'} holds {label} at character {at + 1}"
        return None
    if isinstance(value, Mapping):
        for name, item in value.items():
            found = text_problem(name, f"{path}.{name}" if path else str(name))
            found = found or text_problem(item, f"{path}.{name}" if path else str(name))
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = text_problem(item, f"{path}[{index}]")
            if found:
                return found
    return None
