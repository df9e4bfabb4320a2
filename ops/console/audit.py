"""The console's audit log: one row per view of personal data and per action, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from processors.pg_store import PgConnection

MAX_REASON = 500


@dataclass(frozen=True)
class AuditRow:
    """Who did or saw what, when, and why."""

    id: int
    at: datetime
    username: str
    action: str
    target: str
    reason: str
    outcome: str


class AuditLog:
    """Writes and reads `console_audit` (append-only: the database refuses changes)."""

    def __init__(self, db: PgConnection) -> None:
        self.db = db

    def write(
        self, username: str, action: str, target: str = "", reason: str = "", outcome: str = "done"
    ) -> int:
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO console_audit (username, action, target, reason, outcome) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (username, action, target[:200], reason[:MAX_REASON], outcome[:200]),
            )
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def recent(
        self, *, username: str | None = None, action: str | None = None, limit: int = 200
    ) -> list[AuditRow]:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT id, at, username, action, target, reason, outcome FROM console_audit "
                "WHERE (%s::text IS NULL OR username = %s) AND (%s::text IS NULL OR action = %s) "
                "ORDER BY id DESC LIMIT %s",
                (username, username, action, action, limit),
            )
            return [AuditRow(*row) for row in cur.fetchall()]

    def actions(self) -> list[str]:
        with self.db.cursor() as cur:
            cur.execute("SELECT DISTINCT action FROM console_audit ORDER BY 1")
            return [row[0] for row in cur.fetchall()]
