"""The matcher's stored facts at rest (hub.atrest), at the boundary of processors.pg_matching.

A rescued person's facts (names, identity number, address, DNA profile) are stored encrypted
under the case's data key, so shredding the case makes them unreadable like every other copy;
a shredded person is no longer a candidate. Every blocking key, of every side, is stored and
looked up as a keyed hash (hub.atrest.blind_key), so the index reveals no name or address.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg

from hub.atrest import blind_key, open_bytes, seal_bytes
from hub.matching.facts import PersonFacts, SourceKind
from processors.pg_keys import CaseKeyring

__all__ = ["MatchSealer"]

_LABEL = "match-facts"
_SEALED = "sealed"


class MatchSealer:
    """Seals rescued persons' facts and blinds blocking keys for the matcher's tables."""

    def __init__(self, keyring: CaseKeyring) -> None:
        self.keyring = keyring

    def keys(self, keys: Iterable[str]) -> list[str]:
        """The stored form of blocking keys, sorted and without repeats."""
        secret = self.keyring.blocking_secret()
        return sorted({blind_key(secret, k) for k in keys})

    @staticmethod
    def case_of(facts: PersonFacts) -> str | None:
        """The case whose key seals these facts (a rescued person's), else None."""
        return facts.ref.business_id if facts.ref.source is SourceKind.RESCUE else None

    def seal(self, cur: psycopg.Cursor[Any], facts: PersonFacts,
             as_json: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The facts as stored, and the case sealing them (None: stored as they are)."""
        case = self.case_of(facts)
        if case is None:
            return as_json, None
        key = self.keyring.keys(cur, [case], create=True).get(case)
        if key is None:
            # Shredded already: nothing readable is kept, and the person is never a candidate.
            return {_SEALED: ""}, case
        plain = json.dumps(as_json, ensure_ascii=False, sort_keys=True).encode("utf-8")
        sealed = seal_bytes(key, facts.ref.label(), _LABEL, plain)
        return {_SEALED: base64.b64encode(sealed).decode("ascii"), "ref": facts.ref.label()}, case

    def open(self, cur: psycopg.Cursor[Any],
             rows: Sequence[tuple[Any, str | None]]) -> list[dict[str, Any] | None]:
        """Each stored (facts, sealed_case) as facts JSON; None for a shredded case."""
        cases = {c for _, c in rows if c is not None}
        keys = self.keyring.keys(cur, cases, create=False) if cases else {}
        out: list[dict[str, Any] | None] = []
        for stored, case in rows:
            if case is None:
                out.append(stored)
                continue
            key = keys.get(case)
            if key is None or not stored.get(_SEALED):
                out.append(None)
                continue
            plain = open_bytes(key, str(stored["ref"]), _LABEL, base64.b64decode(stored[_SEALED]))
            out.append(json.loads(plain))
        return out
