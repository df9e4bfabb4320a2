"""Process plumbing and start-up checks, without the real services."""

from __future__ import annotations

import socket
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import Settings, load_settings
from hub.topics import Durability
from ops.errors import PortInUseError, ServiceError, ToolMissingError
from ops.services import kafka, postgres
from ops.services._kafka_layout import Layout, Node, node_paths, plan_layout, read_layout
from processors import processes as _proc


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


class TestStartupRaces:
    """Start-up checks that once failed by chance, with the race window held open on purpose."""

    def _single(self, tmp_path: Path) -> tuple[Settings, Layout, Node]:
        (port, controller) = _proc.free_ports(2)
        settings = Settings(data_dir=tmp_path / "data", kafka_port=port,
                            kafka_controller_port=controller)
        layout = read_layout(settings)
        return settings, layout, layout.nodes[0]

    def test_launcher_not_yet_the_jvm_is_not_an_exited_broker(self, tmp_path: Path) -> None:
        """A broker whose process does not yet show the JVM's command line is still starting.

        The launcher below keeps a command line without `kafka.Kafka` for its whole life, as a
        forked child does until exec (or a java wrapper script until it execs the JVM): the
        wait must time out ("did not answer"), never report an exit.
        """
        settings, layout, node = self._single(tmp_path)
        paths = node_paths(settings, layout, node)
        pid = _proc.spawn_detached(["sleep", "30"], paths.stdout_log)
        try:
            _proc.write_pid_file(paths.pid_file, pid)
            with pytest.raises(ServiceError, match="did not answer") as caught:
                kafka._wait_ready(settings, layout, node, pid, True, time.monotonic() + 2)
            assert "exited" not in str(caught.value)
        finally:
            _proc.stop_process_group(pid, timeout=10)

    def test_broker_that_dies_is_reported_at_once(self, tmp_path: Path) -> None:
        """A launched broker that exits is reported as exited well before the deadline."""
        settings, layout, node = self._single(tmp_path)
        paths = node_paths(settings, layout, node)
        pid = _proc.spawn_detached(["sh", "-c", "exit 3"], paths.stdout_log)
        began = time.monotonic()
        with pytest.raises(ServiceError, match=f"pid {pid}. exited during start-up"):
            kafka._wait_ready(settings, layout, node, pid, True, began + 60)
        assert time.monotonic() - began < 30

    def test_stale_pid_of_another_broker_is_not_ours(self, tmp_path: Path) -> None:
        """A pid file whose pid now runs another checkout's broker does not make ours 'running'.

        Six checkouts share the machine: after a crash the pid may have gone to a JVM whose
        command line also says kafka.Kafka. Only this node's own config path counts.
        """
        settings, layout, node = self._single(tmp_path)
        paths = node_paths(settings, layout, node)
        other = tmp_path / "elsewhere" / "server.properties"
        script = "import time; time.sleep(30)"
        pid = _proc.spawn_detached(
            [sys.executable, "-c", script, kafka.BROKER_MAIN, str(other)], tmp_path / "o.log"
        )
        try:
            paths.home.mkdir(parents=True)
            _proc.write_pid_file(paths.pid_file, pid)
            assert kafka.status(settings).pid is None
            assert kafka.stop(settings) == "kafka: not running"
            assert _proc.pid_alive(pid), "stop must not signal another checkout's broker"
        finally:
            _proc.stop_process_group(pid, timeout=10)

    def test_stale_postmaster_pid_of_another_cluster_is_not_ours(self, tmp_path: Path) -> None:
        """A postmaster.pid naming another cluster's process is stale, not a running cluster."""
        settings = Settings(data_dir=tmp_path / "data", pg_port=_proc.free_ports(1)[0])
        paths = postgres.PgPaths(settings)
        paths.cluster.mkdir(parents=True)
        script = "import time; time.sleep(30)"
        pid = _proc.spawn_detached(
            [sys.executable, "-c", script, "postgres", "-D", str(tmp_path / "other")],
            tmp_path / "o.log",
        )
        try:
            (paths.cluster / "postmaster.pid").write_text(f"{pid}\n{tmp_path / 'other'}\n")
            assert postgres.running_pid(paths) is None
            assert postgres.status(settings).pid is None
        finally:
            _proc.stop_process_group(pid, timeout=10)

    def test_pid_file_is_never_seen_half_written(self, tmp_path: Path) -> None:
        """The pid file is replaced whole: no partial file lies beside it afterwards."""
        _proc.write_pid_file(tmp_path / "x.pid", 4321)
        _proc.write_pid_file(tmp_path / "x.pid", 1234)
        assert (tmp_path / "x.pid").read_text() == "1234\n"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["x.pid"]

    def test_private_ports_avoid_the_ephemeral_range(self) -> None:
        """Ports for private services lie below the range outgoing connections draw from."""
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
        ports = _proc.free_ports(6)
        assert len(set(ports)) == 6 and all(port < low for port in ports)


class TestClusterLayout:
    def test_three_broker_configs(self, tmp_path: Path) -> None:
        """Each node of a cluster gets its own ports, data dir, the full quorum and RF 3."""
        settings = Settings(data_dir=tmp_path, secrets_dir=tmp_path / "secrets",
                            kafka_port=39111, kafka_controller_port=39112)
        layout = plan_layout(settings, 3, None, "abc")
        assert [(n.node_id, n.port, n.controller_port) for n in layout.nodes] == [
            (1, 39111, 39112), (2, 39113, 39114), (3, 39115, 39116)]
        text = kafka.render_config(settings, layout, layout.nodes[2]).read_text()
        assert "node.id=3" in text
        assert "controller.quorum.voters=1@127.0.0.1:39112,2@127.0.0.1:39114,3@127.0.0.1:39116" \
            in text
        assert "listeners=CLIENT://127.0.0.1:39115,CONTROLLER://127.0.0.1:39116" in text
        assert f"log.dirs={tmp_path / 'kafka' / 'node-3' / 'data'}" in text
        for line in ("default.replication.factor=3", "min.insync.replicas=2",
                     "offsets.topic.replication.factor=3", "transaction.state.log.min.isr=2"):
            assert line in text
        # Settings loaded from that data dir bootstrap from all three brokers.
        loaded = load_settings({"HUB_DATA_DIR": str(tmp_path), "HUB_KAFKA_PORT": "39111"})
        assert loaded.kafka_bootstrap == "127.0.0.1:39111,127.0.0.1:39113,127.0.0.1:39115"
        assert load_settings(loaded.as_environment()).kafka_peer_ports == (39113, 39115)

    def test_single_broker_keeps_one_copy(self, tmp_path: Path) -> None:
        """The default single broker has replication factor 1 and its flat layout."""
        settings = Settings(data_dir=tmp_path, secrets_dir=tmp_path / "secrets")
        text = kafka.render_config(settings).read_text()
        assert "default.replication.factor=1" in text and "min.insync.replicas=1" in text
        assert "controller.quorum.voters=1@127.0.0.1:29093" in text
        assert not (tmp_path / "kafka" / "cluster.json").exists()

    def test_broker_count_cannot_change_on_an_existing_log(self, tmp_path: Path) -> None:
        """A log formatted for one broker refuses --brokers 3 with what to do instead."""
        settings = Settings(data_dir=tmp_path)
        (tmp_path / "kafka" / "data").mkdir(parents=True)
        (tmp_path / "kafka" / "data" / "meta.properties").write_text("cluster.id=x\n")
        with pytest.raises(ServiceError, match=r"made for 1 broker.*cannot become 3"):
            plan_layout(settings, 3, None, "abc")
        with pytest.raises(ServiceError, match="1 or 3"):
            plan_layout(settings, 2, None, "abc")

    def test_durability_follows_the_broker_count(self) -> None:
        """Topics get three copies with two in sync on a cluster, one copy on one broker."""
        assert Durability.for_brokers(3) == Durability(3, 2)
        assert Durability.for_brokers(2) == Durability(3, 2)
        assert Durability.for_brokers(1) == Durability(1, 1)
