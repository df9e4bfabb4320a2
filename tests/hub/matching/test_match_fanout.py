"""Matching partitioned by blocking key: the probes an indexed person sends (fanout)."""

from __future__ import annotations

import pytest

from hub.errors import MatchingInputError
from hub.matching.fanout import Probe, ProbeKind, decode_probe, encode_probe, probes_for
from hub.matching.store import Side


def test_one_probe_per_plain_key_and_one_for_all_dna() -> None:
    """Plain keys each get a probe; DNA keys share one, under the smallest of them."""
    keys = {"n:zhou|jiayi", "b:2015", "dna:g2:8-9", "dna:g1:12-13"}
    probes = probes_for(Side.OTHER, "RECORD:M-1#0", keys, "ev-1")
    assert [(p.key, p.kind) for p in probes] == [
        ("b:2015", ProbeKind.KEY), ("n:zhou|jiayi", ProbeKind.KEY),
        ("dna:g1:12-13", ProbeKind.DNA),
    ]
    assert {(p.side, p.ref, p.trigger) for p in probes} == {(Side.OTHER, "RECORD:M-1#0", "ev-1")}
    assert probes_for(Side.ALERT, "ALERT:A-1", set(), "ev-2") == []


def test_a_probe_survives_the_topic_and_anything_else_is_bad_input() -> None:
    """The message value reads back as the same probe; a value that is not one is named."""
    probe = Probe("n:周", ProbeKind.KEY, Side.ALERT, "ALERT:A-1", "ev-3")
    assert decode_probe(encode_probe(probe)) == probe
    for bad in (b"", b"[]", b'{"key": "k"}', b'{"key":"k","kind":"X","side":"ALERT",'
                b'"ref":"r","trigger":"t"}', b"\xff"):
        with pytest.raises(MatchingInputError, match="not a matching probe"):
            decode_probe(bad)
