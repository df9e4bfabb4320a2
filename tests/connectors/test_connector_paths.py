"""Bad paths given to hub-connector and hubctl: one clear line and exit 1, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from connectors.cli import main as connector
from connectors.config import load_config
from ops.cli import main as hubctl

# A command line for a config path: every sub-command that reads --config.
CONFIG_COMMANDS: dict[str, Callable[[Path], list[str]]] = {
    "publish": lambda c: ["publish", "--no-send", "--type", "migrant-record", "--config", str(c),
                          str(c.parent / "rows.jsonl")],
    "status": lambda c: ["status", "--config", str(c)],
    "inbox": lambda c: ["inbox", "--config", str(c)],
    "send": lambda c: ["send", "--config", str(c)],
    "watch": lambda c: ["watch", "--once", "--config", str(c), str(c.parent)],
    "decide": lambda c: ["decide", "00000000-0000-4000-8000-000000000001", "confirm",
                         "--alert-id", "A1", "--config", str(c)],
    "join": lambda c: ["join", "--config", str(c), str(c.parent / "bundle.json")],
}
KINDS = ("missing", "folder", "fifo", "unreadable")


def bad_path(folder: Path, kind: str) -> Path:
    """A path of the given bad kind inside `folder`."""
    path = folder / f"bad-{kind}"
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "unreadable":
        if os.geteuid() == 0:
            pytest.skip("root reads files whatever their mode; chmod 000 proves nothing here")
        path.write_text('participant_id = "320000-police"\n', encoding="utf-8")
        path.chmod(0)
    return path


EXPECTED = {"missing": "no such file", "folder": "is a folder", "fifo": "is a FIFO",
            "unreadable": "permission denied"}


def assert_one_clear_line(err: str, path: Path, kind: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if str(path) in line]
    assert lines, err
    if kind != "missing":
        assert EXPECTED[kind] in lines[0], err


@pytest.fixture
def participant(tmp_path: Path) -> Path:
    """A connector folder made by `hub-connector init` (not joined): its config path."""
    config = tmp_path / "hub-connector.toml"
    assert connector(["init", "--participant-id", "320000-police", "--config", str(config)]) == 0
    return config


class TestConfigPaths:
    @pytest.mark.parametrize("kind", KINDS)
    @pytest.mark.parametrize("command", sorted(CONFIG_COMMANDS))
    def test_bad_config_gives_one_line(
        self, tmp_path: Path, command: str, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every command given a missing, folder, FIFO or unreadable config says so, exit 1."""
        config = bad_path(tmp_path, kind)
        assert connector(CONFIG_COMMANDS[command](config)) == 1
        err = capsys.readouterr().err
        assert_one_clear_line(err, config, kind)
        if kind == "missing":
            assert "no connector configuration" in err


class TestInputPaths:
    @pytest.mark.parametrize("kind", KINDS)
    def test_publish_names_the_bad_input_file(
        self, participant: Path, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bad input file is reported with its path and problem, and not published."""
        source = bad_path(participant.parent, kind)
        assert connector(["publish", "--no-send", "--type", "migrant-record",
                          "--config", str(participant), str(source)]) == 1
        err = capsys.readouterr().err
        assert_one_clear_line(err, source, kind)
        assert "NOT PUBLISHED" in err and "files not readable 1" in err
        assert not source.with_name(source.name + ".rejects.csv").exists()

    @pytest.mark.parametrize("kind", KINDS)
    def test_publish_names_the_bad_mapping_file(
        self, participant: Path, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bad --mapping file is one line naming it."""
        rows = participant.parent / "rows.jsonl"
        rows.write_text('{"record_id": "R1"}\n', encoding="utf-8")
        mapping = bad_path(participant.parent, kind)
        assert connector(["publish", "--no-send", "--type", "migrant-record", "--mapping",
                          str(mapping), "--config", str(participant), str(rows)]) == 1
        assert_one_clear_line(capsys.readouterr().err, mapping, kind)

    @pytest.mark.parametrize("kind", KINDS)
    def test_join_names_the_bad_bundle(
        self, participant: Path, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A bad bundle path given to join is one line naming it."""
        bundle = bad_path(participant.parent, kind)
        assert connector(["join", "--config", str(participant), str(bundle)]) == 1
        assert_one_clear_line(capsys.readouterr().err, bundle, kind)

    @pytest.mark.parametrize("kind", ["missing", "fifo"])
    def test_watch_needs_a_folder(
        self, participant: Path, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """watch given a missing folder or a FIFO says so."""
        folder = bad_path(participant.parent, kind)
        assert connector(["watch", "--once", "--config", str(participant), str(folder)]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(folder) in err
        assert ("no such folder" if kind == "missing" else "not a folder") in err

    @pytest.mark.parametrize("kind", ["missing", "folder", "fifo"])
    def test_status_names_a_bad_key_file(
        self, participant: Path, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The key file the configuration names, when missing, a folder or a FIFO, is named."""
        key = load_config(participant).key_file
        key.unlink()
        if kind == "folder":
            key.mkdir()
        elif kind == "fifo":
            os.mkfifo(key)
        assert connector(["status", "--config", str(participant)]) == 1
        assert_one_clear_line(capsys.readouterr().err, key, kind)

    def test_init_into_a_folder_it_cannot_write(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """init with --config inside a file (not a folder) is one line, no traceback."""
        blocker = tmp_path / "plain-file"
        blocker.write_text("x", encoding="utf-8")
        config = blocker / "hub-connector.toml"
        assert connector(["init", "--participant-id", "320000-police",
                          "--config", str(config)]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(blocker) in err

    def test_inbox_output_that_is_a_folder(
        self, participant: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """inbox --jsonl naming a folder is one line, no traceback (before any connection)."""
        folder = bad_path(participant.parent, "folder")
        assert connector(["inbox", "--config", str(participant), "--jsonl", str(folder)]) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and str(folder) in err


class TestHubctlPaths:
    @pytest.mark.parametrize("kind", KINDS)
    def test_match_batch_names_the_bad_input(
        self, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """hubctl match --alerts with a bad path is one line naming it."""
        alerts = bad_path(tmp_path, kind)
        records = tmp_path / "records.jsonl"
        records.write_text("", encoding="utf-8")
        assert hubctl(["match", "--alerts", str(alerts), "--records", str(records),
                       "--out", str(tmp_path / "pairs.csv")]) == 1
        assert_one_clear_line(capsys.readouterr().err, alerts, kind)

    @pytest.mark.parametrize("kind", KINDS)
    def test_registry_publish_names_the_bad_file(
        self, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """hubctl registry publish FILE with a bad path is one line naming it."""
        monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
        events = bad_path(tmp_path, kind)
        assert hubctl(["registry", "publish", str(events)]) == 1
        assert_one_clear_line(capsys.readouterr().err, events, kind)

    @pytest.mark.parametrize("kind", KINDS)
    def test_registry_import_names_the_bad_request(
        self, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """hubctl registry import REQUEST with a bad path is one line naming it."""
        monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path / "data"))
        assert hubctl(["registry", "init"]) == 0
        request = bad_path(tmp_path, kind)
        assert hubctl(["registry", "import", str(request), "--out",
                       str(tmp_path / "events.b64")]) == 1
        assert_one_clear_line(capsys.readouterr().err, request, kind)

    @pytest.mark.parametrize("kind", ["missing", "fifo"])
    def test_schemas_dir_must_be_a_folder(
        self, tmp_path: Path, kind: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """hubctl schemas list --dir with a missing path or a FIFO is one line naming it."""
        folder = bad_path(tmp_path, kind)
        assert hubctl(["schemas", "list", "--dir", str(folder)]) == 1
        assert_one_clear_line(capsys.readouterr().err, folder, kind)
