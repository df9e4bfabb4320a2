"""Limits every side enforces the same way: the connector before it sends, the hub at ingest.

Sizes sit well below every transport limit (the broker and clients allow about 1 MiB per
message), so an event at the limit still fits when the hub copies it to the quarantine topic
with its reason headers. Text is checked because PostgreSQL cannot store U+0000 in text or
JSON: an event holding it could be signed and sent but never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_PAYLOAD_BYTES = 256 * 1024
# The envelope header (names of at most 64 bytes, fixed fields) and the signature fit in 1 KiB.
MAX_WIRE_BYTES = MAX_PAYLOAD_BYTES + 1024
UNSTORABLE_CHARS = {"\x00": "U+0000 (NUL)"}


def holds_unstorable(value: object) -> bool:
    """Whether any string inside ``value`` (dicts, lists, strings) holds U+0000: the cheap
    check, run on every event; :func:`text_problem` then says where."""
    # Exact type tests, no recursion: this is on the path of every event.
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is str:
            if "\x00" in item:
                return True
        elif kind is dict:
            stack.extend(item.keys())
            stack.extend(item.values())
        elif kind is list or kind is tuple:
            stack.extend(item)
    return False


def text_problem(value: object, path: str = "") -> str | None:
    """Where the first string inside ``value`` (dicts, lists, strings) holds a character the
    hub cannot store, in words (``"name holds U+0000 (NUL) at character 3"``), or None."""
    if not holds_unstorable(value):
        return None
    return _located(value, path)


def _located(value: object, path: str) -> str | None:
    if isinstance(value, str):
        for char, label in UNSTORABLE_CHARS.items():
            at = value.find(char)
            if at >= 0:
                return f"{path or 'text'} holds {label} at character {at + 1}"
        return None
    if isinstance(value, Mapping):
        for name, item in value.items():
            found = _located(name, f"{path}.{name}" if path else str(name))
            found = found or _located(item, f"{path}.{name}" if path else str(name))
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _located(item, f"{path}[{index}]")
            if found:
                return found
    return None


def storable_text(text: str, limit: int | None = None) -> str:
    """Text the store can keep, for what the hub writes about a message (reasons, details):
    U+0000 spelled out as \\x00, and at most `limit` characters when one is given."""
    text = text.replace("\x00", "\\x00")
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"
