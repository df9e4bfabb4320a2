"""Console operators, their passwords (Argon2id), sessions and the failed-login brake."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hub.errors import HubError
from processors.pg_store import PgConnection

ROLES = ("operator", "auditor")
USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")
MIN_PASSWORD = 12
# Five wrong passwords for one name, or twenty from one address, within the window: wait.
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_USER = 5
MAX_FAILURES_PER_CLIENT = 20
SESSION_LIFETIME = timedelta(minutes=30)

# Argon2id with the library's defaults (64 MiB, 3 passes): memory-hard, ~0.1 s a check here.
_HASHER = PasswordHasher()
# Checked against when the user name is unknown, so both cases take the same time.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


class ConsoleError(HubError):
    """A console request or command that cannot be carried out, said in the user's words."""


@dataclass(frozen=True)
class Operator:
    """Someone who may log in to the console."""

    username: str
    role: str
    disabled_at: datetime | None
    must_change: bool

    @property
    def may_act(self) -> bool:
        return self.role == "operator"


@dataclass(frozen=True)
class Session:
    """A logged-in operator's session, found by the token in the cookie."""

    operator: Operator
    csrf_token: str
    expires_at: datetime


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def one_time_password() -> str:
    """A random password to hand over once; about 120 bits."""
    return secrets.token_urlsafe(15)


class Accounts:
    """Operators and sessions in PostgreSQL (tables of migration 0028)."""

    def __init__(self, dsn: str, *, session_lifetime: timedelta = SESSION_LIFETIME) -> None:
        self.db = PgConnection(dsn)
        self.session_lifetime = session_lifetime

    def close(self) -> None:
        self.db.close()

    # -- operators ------------------------------------------------------------------------

    def add(self, username: str, role: str, password: str | None = None) -> str:
        """Create an operator; the password it was given (a one-time one unless set)."""
        if USERNAME.match(username) is None:
            raise ConsoleError(
                f"user name {username!r} is not allowed: 2-32 characters, lower-case letters, "
                "digits, '.', '_' or '-', starting with a letter"
            )
        if role not in ROLES:
            raise ConsoleError(f"role {role!r} is unknown: choose {' or '.join(ROLES)}")
        chosen = password or one_time_password()
        _check_strength(chosen)
        with self.db.transaction() as cur:
            cur.execute("SELECT 1 FROM console_operators WHERE username = %s", (username,))
            if cur.fetchone() is not None:
                raise ConsoleError(f"operator {username} exists already; use `reset`")
            cur.execute(
                "INSERT INTO console_operators (username, role, password_hash, must_change) "
                "VALUES (%s, %s, %s, %s)",
                (username, role, _HASHER.hash(chosen), password is None),
            )
        return chosen

    def disable(self, username: str) -> None:
        """Refuse the operator's logins from now on and end their sessions."""
        with self.db.transaction() as cur:
            cur.execute(
                "UPDATE console_operators SET disabled_at = clock_timestamp() "
                "WHERE username = %s AND disabled_at IS NULL RETURNING username",
                (username,),
            )
            if cur.fetchone() is None:
                self._missing(cur, username)
            cur.execute("DELETE FROM console_sessions WHERE username = %s", (username,))

    def reset(self, username: str) -> str:
        """A new one-time password (enables a disabled operator again); ends their sessions."""
        password = one_time_password()
        with self.db.transaction() as cur:
            cur.execute(
                "UPDATE console_operators SET password_hash = %s, must_change = true, "
                "disabled_at = NULL WHERE username = %s RETURNING username",
                (_HASHER.hash(password), username),
            )
            if cur.fetchone() is None:
                self._missing(cur, username)
            cur.execute("DELETE FROM console_sessions WHERE username = %s", (username,))
            cur.execute("DELETE FROM console_login_failures WHERE username = %s", (username,))
        return password

    def operators(self) -> list[Operator]:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT username, role, disabled_at, must_change FROM console_operators "
                "ORDER BY username"
            )
            return [Operator(*row) for row in cur.fetchall()]

    @staticmethod
    def _missing(cur: Any, username: str) -> None:
        cur.execute("SELECT disabled_at FROM console_operators WHERE username = %s", (username,))
        row = cur.fetchone()
        if row is None:
            raise ConsoleError(f"no operator {username}")
        raise ConsoleError(f"operator {username} is disabled already")

    # -- logging in -----------------------------------------------------------------------

    def log_in(self, username: str, password: str, client: str) -> tuple[str, Session]:
        """Check the password; the new session's cookie token and the session.

        ConsoleError says why not, in words that do not tell whether the name exists.
        """
        now = datetime.now(UTC)
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT count(*) FILTER (WHERE username = %s), count(*) FILTER (WHERE client = %s) "
                "FROM console_login_failures WHERE failed_at > %s",
                (username, client, now - FAILURE_WINDOW),
            )
            row = cur.fetchone()
            by_user, by_client = (int(row[0]), int(row[1])) if row else (0, 0)
            if by_user >= MAX_FAILURES_PER_USER or by_client >= MAX_FAILURES_PER_CLIENT:
                minutes = int(FAILURE_WINDOW.total_seconds() // 60)
                raise ConsoleError(
                    f"too many failed logins; wait {minutes} minutes and try again"
                )
            cur.execute(
                "SELECT username, role, disabled_at, must_change, password_hash "
                "FROM console_operators WHERE username = %s",
                (username,),
            )
            found = cur.fetchone()
        stored = found[4] if found else _DUMMY_HASH
        try:
            _HASHER.verify(stored, password)
            good = found is not None and found[2] is None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            good = False
        if not good or found is None:
            with self.db.transaction() as cur:
                cur.execute(
                    "INSERT INTO console_login_failures (username, client) VALUES (%s, %s)",
                    (username, client),
                )
            raise ConsoleError("wrong user name or password, or the account is disabled")
        operator = Operator(found[0], found[1], found[2], found[3])
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires = now + self.session_lifetime
        with self.db.transaction() as cur:
            cur.execute(
                "INSERT INTO console_sessions (token_sha256, username, csrf_token, expires_at) "
                "VALUES (%s, %s, %s, %s)",
                (_digest(token), operator.username, csrf, expires),
            )
            cur.execute("DELETE FROM console_login_failures WHERE username = %s", (username,))
            cur.execute("DELETE FROM console_sessions WHERE expires_at < %s", (now,))
        return token, Session(operator, csrf, expires)

    def session(self, token: str | None) -> Session | None:
        """The live session of a cookie token; None when absent, unknown or expired."""
        if not token:
            return None
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT o.username, o.role, o.disabled_at, o.must_change, s.csrf_token, "
                "s.expires_at FROM console_sessions s JOIN console_operators o USING (username) "
                "WHERE s.token_sha256 = %s AND s.expires_at > clock_timestamp() "
                "AND o.disabled_at IS NULL",
                (_digest(token),),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return Session(Operator(row[0], row[1], row[2], row[3]), row[4], row[5])

    def log_out(self, token: str) -> None:
        with self.db.transaction() as cur:
            cur.execute("DELETE FROM console_sessions WHERE token_sha256 = %s", (_digest(token),))

    def change_password(self, username: str, old: str, new: str) -> None:
        """Replace a password after checking the old one (used after a one-time password)."""
        _check_strength(new)
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT password_hash FROM console_operators WHERE username = %s", (username,)
            )
            row = cur.fetchone()
        try:
            _HASHER.verify(row[0] if row else _DUMMY_HASH, old)
        except (VerifyMismatchError, VerificationError, InvalidHashError) as err:
            raise ConsoleError("the current password is wrong") from err
        with self.db.transaction() as cur:
            cur.execute(
                "UPDATE console_operators SET password_hash = %s, must_change = false "
                "WHERE username = %s",
                (_HASHER.hash(new), username),
            )


def _check_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise ConsoleError(f"a password needs at least {MIN_PASSWORD} characters")
