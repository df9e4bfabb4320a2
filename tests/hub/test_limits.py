"""Text the hub cannot store is found wherever it sits, and said where."""

from __future__ import annotations

import pytest

from hub.limits import holds_unstorable, storable_text, text_problem


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("a\x00b", "text holds U+0000 (NUL) at character 2"),
        ({"person": {"name": "林\x00"}}, "person.name holds U+0000 (NUL) at character 2"),
        ({"marks": ["ok", "\x00"]}, "marks[1] holds U+0000 (NUL) at character 1"),
        ({"k\x00": "v"}, "k\x00 holds U+0000 (NUL) at character 2"),
        ({"children": [{"child": {"name": "\x00"}}]},
         "children[0].child.name holds U+0000 (NUL) at character 1"),
    ],
)
def test_unstorable_text_is_found_with_its_place(value: object, where: str) -> None:
    assert holds_unstorable(value)
    assert text_problem(value) == where


def test_clean_values_pass() -> None:
    value = {"name": "林小红", "n": 0, "birth": None, "marks": ["痣"], "bytes": b"\x00"}
    assert not holds_unstorable(value)
    assert text_problem(value) is None


def test_storable_text_spells_out_nul_and_keeps_within_the_limit() -> None:
    assert storable_text("a\x00b") == "a\\x00b"
    assert storable_text("x" * 10, 5) == "xxxx…"
    assert storable_text("short", 5) == "short"
