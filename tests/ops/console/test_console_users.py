"""`hubctl console user add|disable|reset` against the real PostgreSQL."""

from __future__ import annotations

import re

import pytest

from hub.config import Settings
from ops.cli import main as hubctl
from ops.console.accounts import Accounts, ConsoleError

pytestmark = pytest.mark.services


def _password(out: str) -> str:
    found = re.search(r"one-time password(?: for \S+)?: (\S+)", out)
    assert found, out
    return found.group(1)


def test_add_disable_reset(
    fresh_db_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A new operator gets a one-time password that must be changed; disabling refuses the
    login and ends sessions; reset gives a new one-time password and enables again."""
    for name, value in fresh_db_settings.as_environment().items():
        monkeypatch.setenv(name, value)
    assert hubctl(["console", "user", "add", "mei", "--role", "auditor"]) == 0
    first = _password(capsys.readouterr().out)
    accounts = Accounts(fresh_db_settings.pg_dsn)
    try:
        token, session = accounts.log_in("mei", first, "test")
        assert session.operator.role == "auditor" and session.operator.must_change
        assert not session.operator.may_act
        assert accounts.session(token) is not None
        assert hubctl(["console", "user", "disable", "mei"]) == 0
        assert accounts.session(token) is None  # the session ended with the account
        with pytest.raises(ConsoleError, match="wrong user name or password"):
            accounts.log_in("mei", first, "test")
        assert hubctl(["console", "user", "reset", "mei"]) == 0
        second = _password(capsys.readouterr().out)
        assert second != first
        with pytest.raises(ConsoleError):
            accounts.log_in("mei", first, "test")
        accounts.log_in("mei", second, "test")
        stored = accounts.db
        with stored.cursor() as cur:
            cur.execute("SELECT password_hash FROM console_operators WHERE username = 'mei'")
            row = cur.fetchone()
        assert row is not None and row[0].startswith("$argon2id$")
        assert second not in row[0]
    finally:
        accounts.close()


def test_bad_names_and_roles_are_refused_in_words(
    fresh_db_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A bad user name, a duplicate or an unknown user is one clear line, exit 1."""
    for name, value in fresh_db_settings.as_environment().items():
        monkeypatch.setenv(name, value)
    assert hubctl(["console", "user", "add", "Bad Name"]) == 1
    assert "is not allowed" in capsys.readouterr().err
    assert hubctl(["console", "user", "add", "lin"]) == 0
    assert hubctl(["console", "user", "add", "lin"]) == 1
    assert "exists already" in capsys.readouterr().err
    assert hubctl(["console", "user", "reset", "nobody"]) == 1
    assert "no operator nobody" in capsys.readouterr().err
