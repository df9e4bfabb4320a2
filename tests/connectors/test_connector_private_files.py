"""Files of a connector that hold personal data are its owner's only (0600, folders 0700)."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.cli import main as connector
from connectors.config import load_config
from connectors.inbox import DeliveredStore, Notification
from connectors.outbox import Outbox, Sealed


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """Umask 000: a file that is private here is private because the code made it so."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def sqlite_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


class TestOutbox:
    def test_database_and_its_wal_and_shm_files_are_private(self, tmp_path: Path) -> None:
        """The outbox, its -wal and -shm files are 0600 and a folder it makes is 0700."""
        path = tmp_path / "state" / "new" / "outbox.sqlite3"
        with Outbox(path) as outbox:
            outbox.append([(None, "t", "x", lambda seq: Sealed(f"e{seq}", b"data"))])
            assert [mode(p) for p in sqlite_files(path)] == [0o600] * 3
        assert mode(path.parent) == 0o700 and mode(path.parent.parent) == 0o700

    def test_an_existing_folder_keeps_its_mode(self, tmp_path: Path) -> None:
        """A folder that was there before the outbox is not changed."""
        shared = tmp_path / "shared"
        shared.mkdir(mode=0o755)
        shared.chmod(0o755)
        Outbox(shared / "outbox.sqlite3").close()
        assert mode(shared) == 0o755 and mode(shared / "outbox.sqlite3") == 0o600

    def test_an_old_world_readable_outbox_is_made_private(self, tmp_path: Path) -> None:
        """An outbox file left readable by others (an earlier version) is made 0600 on open."""
        path = tmp_path / "outbox.sqlite3"
        Outbox(path).close()
        path.chmod(0o644)
        Outbox(path).close()
        assert mode(path) == 0o600


class TestInbox:
    def test_delivered_store_and_its_wal_and_shm_files_are_private(self, tmp_path: Path) -> None:
        """The inbox database, -wal and -shm files are 0600; a folder it makes is 0700."""
        path = tmp_path / "state" / "inbox.sqlite3"
        store = DeliveredStore(path)
        try:
            store.remember(Notification("n1", {"payload": {"match_id": "m", "alert_id": "a"}}))
            assert [mode(p) for p in sqlite_files(path)] == [0o600] * 3
        finally:
            store.close()
        assert mode(path.parent) == 0o700


class TestParticipantFolder:
    def test_init_makes_state_and_key_folders_private(self, tmp_path: Path) -> None:
        """init creates the state and key folders 0700 and leaves the chosen folder alone."""
        tmp_path.chmod(0o755)
        config = tmp_path / "hub-connector.toml"
        assert connector(["init", "--participant-id", "320000-police",
                          "--config", str(config)]) == 0
        settings = load_config(config)
        assert mode(settings.state_dir) == 0o700 and mode(settings.state_dir.parent) == 0o700
        assert mode(settings.key_file.parent) == 0o700 and mode(settings.key_file) == 0o600
        assert mode(tmp_path) == 0o755

    def test_rejects_file_is_private(self, tmp_path: Path) -> None:
        """<file>.rejects.csv copies the rejected rows, so only its owner can read it."""
        config = tmp_path / "hub-connector.toml"
        assert connector(["init", "--participant-id", "320000-migrant-registry",
                          "--config", str(config)]) == 0
        source = tmp_path / "rows.jsonl"
        source.write_text(json.dumps({"record_id": "R1", "person.name": "李四"}) + "\n",
                          encoding="utf-8")
        assert connector(["publish", "--no-send", "--type", "migrant-record",
                          "--config", str(config), str(source)]) == 1
        rejects = tmp_path / "rows.jsonl.rejects.csv"
        assert "R1" in rejects.read_text(encoding="utf-8-sig")
        assert mode(rejects) == 0o600
        assert mode(load_config(config).outbox_path) == 0o600
