"""The hub operator's one sequence counter, in PostgreSQL (migration 0045).

Every event signed as the hub operator takes its number here: the registry events of `hubctl
registry` and the events the pipeline signs (match-found, escalations, sampling requests, review
acts, shredding). One counter for one publisher identity, so the hub's own sequence tracking
shows a gap or a replay for the operator only when there really is one.
"""

from __future__ import annotations

from typing import Any

import psycopg

from hub.errors import StoreError

__all__ = ["OPERATOR_SEQUENCE", "draw_operator_sequences"]

# Named after its first use (migration 0020); it numbers every operator event now.
OPERATOR_SEQUENCE = "match_found_sequence"


def draw_operator_sequences(cur: psycopg.Cursor[Any], count: int, floor: int = 1) -> list[int]:
    """`count` new sequence numbers for the operator, ascending, none below `floor`.

    `floor` is one past the registry journal's highest number: a database created after events
    were journalled never hands out a number the journal used already.
    """
    if count < 1:
        return []
    # is_called false: the next nextval returns last_value itself.
    cur.execute(
        f"SELECT setval('{OPERATOR_SEQUENCE}', %s, false) FROM {OPERATOR_SEQUENCE} "
        "WHERE last_value + is_called::int < %s",
        (floor, floor),
    )
    cur.execute(f"SELECT nextval('{OPERATOR_SEQUENCE}') FROM generate_series(1, %s)", (count,))
    numbers = sorted(int(row[0]) for row in cur.fetchall())
    if len(numbers) != count:
        raise StoreError(f"{OPERATOR_SEQUENCE} gave {len(numbers)} numbers, not {count}")
    return numbers
