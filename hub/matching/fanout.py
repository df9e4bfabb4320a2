"""Matching partitioned by blocking key: what an indexed person sends through the keyed topic.

Once a person is indexed (its commit done), one probe per search key goes to the keyed topic
(``match-keys`` in hub.topics), keyed by that blocking key, so each key is owned by one partition
and its candidates are scored there. A probe is processed after its own person's commit, so of
any two persons sharing a key the later one's probe finds the earlier one; a candidate sharing
several keys with the probe is scored only under the smallest of them. DNA is searched once per
person (its share counts over every locus group), under its smallest DNA key.

Pairs found under two keys, or from both sides at once, are merged per (alert, person) by the
store's pair lock (hub.matching.store.MatchTxn.pair): one match, notified once.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from hub.errors import MatchingInputError
from hub.matching.store import Side

__all__ = ["Probe", "ProbeKind", "decode_probe", "encode_probe", "probes_for"]


class ProbeKind(enum.StrEnum):
    """A probe searches one plain blocking key, or all of a person's DNA keys."""

    KEY = "KEY"
    DNA = "DNA"


@dataclass(frozen=True)
class Probe:
    """Search for the indexed person `ref` of `side` under `key`; `trigger` is the event whose
    indexing sent it (the trigger of any notification)."""

    key: str
    kind: ProbeKind
    side: Side
    ref: str
    trigger: str


def probes_for(side: Side, ref: str, search_keys: set[str], trigger: str) -> list[Probe]:
    """The probes of one indexed person, by key: one per plain key, one for its DNA."""
    plain = sorted(k for k in search_keys if not k.startswith("dna:"))
    dna = sorted(k for k in search_keys if k.startswith("dna:"))
    probes = [Probe(k, ProbeKind.KEY, side, ref, trigger) for k in plain]
    if dna:
        probes.append(Probe(dna[0], ProbeKind.DNA, side, ref, trigger))
    return probes


def encode_probe(probe: Probe) -> bytes:
    """The probe as the keyed topic's message value (JSON)."""
    return json.dumps(
        {"key": probe.key, "kind": probe.kind.value, "side": probe.side.value,
         "ref": probe.ref, "trigger": probe.trigger},
        ensure_ascii=False, separators=(",", ":"),
    ).encode()


def decode_probe(value: bytes) -> Probe:
    """The inverse of :func:`encode_probe`; a message that is not a probe is bad input."""
    try:
        raw = json.loads(value)
        return Probe(
            str(raw["key"]), ProbeKind(raw["kind"]), Side(raw["side"]), str(raw["ref"]),
            str(raw["trigger"]),
        )
    except (ValueError, KeyError, TypeError) as err:
        raise MatchingInputError(f"not a matching probe ({type(err).__name__}: {err})") from err
