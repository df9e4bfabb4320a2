"""Process plumbing and start-up checks, without the real services."""

from __future__ import annotations

import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import Settings
from ops.errors import PortInUseError, ToolMissingError
from ops.services import _proc, kafka, postgres


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port some other socket is listening on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _fake_program(directory: Path, name: str, script: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


class TestPorts:
    def test_taken_port_is_a_clear_error(self, listening_port: int) -> None:
        """A port held by another process is reported with the service and the port."""
        with pytest.raises(PortInUseError, match=rf"Kafka broker.*127\.0\.0\.1:{listening_port}"):
            _proc.ensure_port_free("127.0.0.1", listening_port, "Kafka broker")

    def test_kafka_refuses_to_start_on_a_taken_port(
        self, tmp_path: Path, listening_port: int
    ) -> None:
        """kafka.start stops before launching anything when its port is taken."""
        settings = Settings(data_dir=tmp_path, kafka_port=listening_port)
        with pytest.raises(PortInUseError, match=str(listening_port)):
            kafka.start(settings)
        assert not (tmp_path / "kafka" / "broker.pid").exists()


class TestTools:
    def test_missing_java_is_named(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without java on PATH the broker start fails naming java and the bootstrap script."""
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(ToolMissingError, match=r"`java`.*ops/bootstrap"):
            kafka.start(Settings(data_dir=tmp_path / "data"))

    def test_missing_maven_is_named(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without mvn on PATH fetching the jars fails naming mvn."""
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(ToolMissingError, match="`mvn`"):
            kafka.fetch_jars(Settings(data_dir=tmp_path / "data"))

    @pytest.mark.parametrize(
        ("banner", "major"),
        [
            ('openjdk version "17.0.15" 2025-04-15', 17),
            ('java version "1.8.0_292"', 8),
            ('openjdk version "21" 2023-09-19', 21),
        ],
    )
    def test_java_version_is_read(self, tmp_path: Path, banner: str, major: int) -> None:
        """Both the old 1.x and the modern version banners give the right major version."""
        _fake_program(tmp_path, "java", f"echo '{banner}' >&2")
        assert kafka.java_major(str(tmp_path / "java")) == major

    def test_old_java_is_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """A Java older than 17 is refused with the version found."""
        _fake_program(tmp_path, "java", "echo 'openjdk version \"11.0.2\"' >&2")
        monkeypatch.setenv("PATH", str(tmp_path))
        with pytest.raises(ToolMissingError, match="Java 17 or newer, found Java 11"):
            kafka.start(Settings(data_dir=tmp_path / "data"))

    def test_postgres_programs_are_found(self) -> None:
        """The PostgreSQL bin dir found holds both pg_ctl and initdb."""
        found = postgres.find_bin_dir()
        assert (found / "pg_ctl").exists() and (found / "initdb").exists()


class TestProcesses:
    def test_detached_process_is_stopped_by_group(self, tmp_path: Path) -> None:
        """A detached process runs on its own and stops on SIGTERM to its group."""
        pid = _proc.spawn_detached(["sleep", "60"], tmp_path / "out.log")
        (tmp_path / "x.pid").write_text(f"{pid}\n")
        assert _proc.read_pid(tmp_path / "x.pid") == pid
        assert _proc.stop_process_group(pid, timeout=10)
        assert _proc.read_pid(tmp_path / "x.pid") is None

    def test_garbage_pid_file_means_not_running(self, tmp_path: Path) -> None:
        """An unreadable or stale pid file is treated as 'not running'."""
        (tmp_path / "a.pid").write_text("not a pid\n")
        assert _proc.read_pid(tmp_path / "a.pid") is None
        assert _proc.read_pid(tmp_path / "missing.pid") is None

    def test_broker_config_follows_settings(self, tmp_path: Path) -> None:
        """The rendered broker config uses the configured ports and the data dir."""
        settings = Settings(data_dir=tmp_path, secrets_dir=tmp_path / "secrets",
                            kafka_port=39111, kafka_controller_port=39112)
        path = kafka.render_config(settings)
        text = path.read_text()
        assert "listeners=CLIENT://127.0.0.1:39111,CONTROLLER://127.0.0.1:39112" in text
        assert "listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL" in text
        assert "PLAINTEXT" not in text and "allow.everyone.if.no.acl.found=false" in text
        # It holds the broker's own SCRAM password.
        assert path.stat().st_mode & 0o077 == 0
        assert f"log.dirs={tmp_path / 'kafka' / 'data'}" in text
        assert "auto.create.topics.enable=false" in text

    def test_cluster_ids_never_look_like_options(self) -> None:
        """No generated KRaft cluster id starts with '-', which the storage tool would misread."""
        assert not any(kafka.new_cluster_id().startswith("-") for _ in range(5000))

    def test_pid_of_another_program_is_not_ours(self, tmp_path: Path) -> None:
        """A pid file naming a live process that is not the expected program counts as stale."""
        pid = _proc.spawn_detached(["sleep", "60"], tmp_path / "out.log")
        try:
            (tmp_path / "b.pid").write_text(f"{pid}\n")
            assert _proc.read_pid(tmp_path / "b.pid", expect="sleep") == pid
            assert _proc.read_pid(tmp_path / "b.pid", expect="kafka.Kafka") is None
        finally:
            _proc.stop_process_group(pid, timeout=10)
