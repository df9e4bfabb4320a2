"""Applying events to projections through a :class:`hub.projection_store.ProjectionTxn`.

The live projection agent and ``hubctl rebuild`` both go through :func:`apply_events`, so a
rebuild from the store and the live projection cannot drift apart by code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from hub.errors import ProjectionError
from hub.projection_store import ProjectionStore
from hub.projections import CATALOG
from hub.projections.model import ProjectionCatalog
from hub.store import EventRecord, EventStore

__all__ = ["apply_events", "rebuild"]


def apply_events(
    txn: Any,
    events: Sequence[EventRecord],
    *,
    projections: Iterable[str] | None = None,
    catalog: ProjectionCatalog = CATALOG,
) -> int:
    """Apply events not yet applied, in the given order; how many (projection, event) pairs."""
    wanted = set(catalog.names if projections is None else projections)
    done = 0
    for name in catalog.names:
        if name not in wanted:
            continue
        projection = catalog.projection(name)
        mine = [e for e in events if e.event_type in projection.handlers]
        if not mine:
            continue
        already = txn.applied(name, [e.event_id for e in mine])
        for event in mine:
            if event.event_id in already:
                continue
            try:
                changes = projection.project(event)
            except ProjectionError as err:
                # Kept, not dropped: the failure is recorded where operators look, and counts as
                # applied so the stream moves on; a rebuild records the very same failure.
                txn.fail(name, event.event_id, f"{event.event_type} {event.event_id}: {err}")
            else:
                txn.apply(name, event.event_id, changes)
            already.add(event.event_id)
            done += 1
    return done


def rebuild(
    events: EventStore,
    projections: ProjectionStore,
    names: Iterable[str] | None = None,
    *,
    page: int = 2000,
    catalog: ProjectionCatalog = CATALOG,
) -> int:
    """Empty the named projections (all by default) and replay the whole store into them.

    One transaction: readers see the old rows until the new ones are complete.
    """
    chosen = list(catalog.names if names is None else names)
    types = sorted({t for n in chosen for t in catalog.projection(n).handlers})
    applied = 0
    with projections.transaction() as txn:
        for name in chosen:
            txn.reset(name)
        after = 0
        while True:
            batch = events.read(after=after, limit=page, event_types=types)
            if not batch:
                break
            applied += apply_events(
                txn, [s.record for s in batch], projections=chosen, catalog=catalog
            )
            after = batch[-1].position
    return applied
