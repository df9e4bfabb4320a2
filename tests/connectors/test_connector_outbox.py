"""The SQLite outbox: sequence allocation, row identities, acknowledgements."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from connectors.outbox import Outbox, Sealed


def sealer(tag: str) -> Callable[[int], Sealed]:
    """A sealing function producing recognisable ids and bytes."""
    return lambda seq: Sealed(f"{tag}-{seq}", f"{tag}:{seq}".encode())


class TestOutbox:
    def test_sequences_are_monotonic_and_never_reused(self, tmp_path: Path) -> None:
        """Numbers continue after a reopen and after rows are deleted."""
        path = tmp_path / "o.sqlite3"
        with Outbox(path) as box:
            first = box.append([("a", "f:2", "t", sealer("a")), ("b", "f:3", "t", sealer("b"))])
            assert [s for s, _ in first] == [1, 2]
            box._db.execute("DELETE FROM events WHERE sequence = 2")
        with Outbox(path) as box:
            assert [s for s, _ in box.append([("c", "f:4", "t", sealer("c"))])] == [3]

    def test_known_rows_are_skipped(self, tmp_path: Path) -> None:
        """A row identity stored once is not stored again, and uses no sequence number."""
        with Outbox(tmp_path / "o.sqlite3") as box:
            box.append([("a", "f:2", "t", sealer("a"))])
            again = box.append([("a", "f:2", "t", sealer("x")), ("b", "f:3", "t", sealer("b"))])
            assert [(s, x.event_id) for s, x in again] == [(2, "b-2")]
            assert box.known_row_keys(["a", "b", "z"]) == {"a", "b"}

    def test_pending_until_acknowledged(self, tmp_path: Path) -> None:
        """Events stay pending, with their exact bytes, until marked sent."""
        with Outbox(tmp_path / "o.sqlite3") as box:
            box.append([(None, "x", "t", sealer("a")), (None, "y", "t", sealer("b"))])
            assert [p.envelope for p in box.iter_pending()] == [b"a:1", b"b:2"]
            box.mark_sent([(1, 0, 10)])
            stats = box.stats()
            assert (stats.total, stats.pending, stats.last_sent_sequence) == (2, 1, 1)
            assert [p.event_id for p in box.iter_pending()] == ["b-2"]

    def test_failed_sealing_allocates_nothing(self, tmp_path: Path) -> None:
        """If sealing fails mid-batch, the whole batch is rolled back."""
        def broken(seq: int) -> Sealed:
            raise ValueError("boom")

        with Outbox(tmp_path / "o.sqlite3") as box:
            with contextlib.suppress(ValueError):
                box.append([("a", "x", "t", sealer("a")), ("b", "y", "t", broken)])
            assert box.stats().total == 0
            assert [s for s, _ in box.append([("a", "x", "t", sealer("a"))])] == [1]
