"""The sweep that pushes urgent child alerts to the police around the place last seen.

A timer of the pipeline worker calls :meth:`AlertPusher.sweep`: in one transaction it reads the
open alerts that may still widen, plans each with :func:`hub.alert_push.plan_push`, records every
push in ``alert_pushes`` (one row per alert and unit: no unit is told twice, whichever worker
sweeps) and writes the signed notices to the match outbox, which the worker sends after the
commit. Two workers do not sweep at once (a transaction advisory lock, skipped when held). A
closed or confirmed alert is no longer read, so it stops widening.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.alert_push import PushPlan, PushTarget, plan_push, push_notification
from hub.areas import AreaCoordinates
from hub.keys import SigningKey
from hub.notice import seal_notice
from processors.match_stage import merged_alert
from processors.pg_matching import ALERT_COLUMNS, AlertState, PgMatchTxn, alert_state
from processors.pg_store import PgConnection

log = logging.getLogger(__name__)

__all__ = ["AlertPusher", "PgAlertPushes", "SweepResult"]

_SWEEP_LOCK = 7302


@dataclass(frozen=True)
class SweepResult:
    """What one sweep did."""

    alerts: int
    pushed: int
    skipped: bool = False


class PgAlertPushesTxn:
    """The sweep's reads and writes inside one transaction."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur
        self.matching = PgMatchTxn(cur)

    def try_lock(self) -> bool:
        self._cur.execute("SELECT pg_try_advisory_xact_lock(%s)", (_SWEEP_LOCK,))
        row = self._cur.fetchone()
        return bool(row and row[0])

    def widening(self) -> list[AlertState]:
        """Open alerts that are new to the sweep, changed since it last looked, or not yet at
        their final radius."""
        self._cur.execute(
            f"SELECT {ALERT_COLUMNS} FROM match_alerts a "
            "LEFT JOIN alert_push_progress p ON p.alert_id = a.alert_id "
            "WHERE a.status = 'open' AND a.body IS NOT NULL "
            "AND (p.alert_id IS NULL OR NOT p.settled OR a.updated_at > p.checked_at) "
            "ORDER BY a.alert_id"
        )
        return [alert_state(r) for r in self._cur.fetchall()]

    def told(self, alert_ids: list[str]) -> dict[str, list[str]]:
        self._cur.execute(
            "SELECT alert_id, unit FROM alert_pushes WHERE alert_id = ANY(%s)", (alert_ids,)
        )
        units: dict[str, list[str]] = {}
        for alert_id, unit in self._cur.fetchall():
            units.setdefault(alert_id, []).append(unit)
        return units

    def record_push(self, alert_id: str, target: PushTarget, radius_km: int) -> bool:
        """Record one push; False when the unit was told already (nothing to send)."""
        self._cur.execute(
            "INSERT INTO alert_pushes (alert_id, unit, distance_km, radius_km, located_by) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (alert_id, target.unit, target.distance_km, radius_km, target.located_by),
        )
        return self._cur.rowcount == 1

    def progress(self, plan: PushPlan) -> None:
        # The database's clock, as for match_alerts.updated_at, which it is compared with.
        self._cur.execute(
            "INSERT INTO alert_push_progress (alert_id, radius_km, settled, checked_at, note) "
            "VALUES (%s, %s, %s, clock_timestamp(), %s) ON CONFLICT (alert_id) DO UPDATE SET "
            "radius_km = EXCLUDED.radius_km, settled = EXCLUDED.settled, "
            "checked_at = EXCLUDED.checked_at, note = EXCLUDED.note",
            (plan.alert_id, plan.radius_km, plan.settled, "; ".join(plan.notes) or None),
        )


class PgAlertPushes:
    """Transactions over the push tables (and the match outbox they write to)."""

    def __init__(self, dsn: str) -> None:
        self.db = PgConnection(dsn)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[PgAlertPushesTxn]:
        with self.db.transaction() as cur:
            yield PgAlertPushesTxn(cur)


class AlertPusher:
    """Plans and records the pushes due now; the worker's outbox sender sends them."""

    def __init__(
        self,
        store: PgAlertPushes,
        operator: SigningKey,
        notification_topic: Callable[[str], str],
        areas: AreaCoordinates | None = None,
    ) -> None:
        self.store = store
        self.operator = operator
        self.notification_topic = notification_topic
        self.areas = areas or AreaCoordinates.shipped()

    def sweep(self, now: datetime | None = None) -> SweepResult:
        """Push every open urgent child alert to the units its radius reaches by `now`."""
        now = now or datetime.now(UTC)
        pushed = 0
        with self.store.transaction() as txn:
            if not txn.try_lock():
                return SweepResult(0, 0, skipped=True)
            alerts = txn.widening()
            if not alerts:
                return SweepResult(0, 0)
            registered = txn.matching.registered()
            told = txn.told([a.alert_id for a in alerts])
            for state in alerts:
                alert = merged_alert(state)
                plan = plan_push(
                    state.alert_id, alert, state.publisher_id, registered,
                    told.get(state.alert_id, []), now, self.areas,
                )
                for target in plan.targets:
                    if plan.radius_km is None or not txn.record_push(
                        state.alert_id, target, plan.radius_km
                    ):
                        continue
                    body = push_notification(
                        state.alert_id, alert, state.publisher_id, target, plan.radius_km
                    )
                    txn.matching.outbox(
                        self.notification_topic(target.unit),
                        state.alert_id.encode(),
                        seal_notice(self.operator, body, issued_at=now),
                    )
                    pushed += 1
                txn.progress(plan)
        if pushed:
            log.info("alert push: %d notices for %d alerts", pushed, len(alerts))
        return SweepResult(len(alerts), pushed)
