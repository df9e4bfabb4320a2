"""A whole services life cycle on a private data dir and private ports: up, up, down."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import Settings
from ops import services
from ops.services import kafka, postgres
from ops.services._pg_cluster import SERVER_USER
from processors.processes import free_ports

pytestmark = [pytest.mark.services, pytest.mark.slow]


@pytest.fixture
def private_settings(
    tmp_path_factory: pytest.TempPathFactory, services_up: Settings
) -> Iterator[Settings]:
    """Settings for a second, throw-away pair of services; stopped and removed afterwards."""
    kafka_port, controller_port, pg_port = free_ports(3)
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("lifecycle") / "data",
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        pg_port=pg_port,
    )
    try:
        yield settings
    finally:
        services.down(settings)
        # Under root the cluster may live outside the data dir (see ops/services/postgres.py).
        note = settings.data_dir / "postgres.location"
        if note.exists():
            shutil.rmtree(Path(note.read_text().strip()).parent, ignore_errors=True)


def _hubctl_status(settings: Settings) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(
        HUB_DATA_DIR=str(settings.data_dir),
        HUB_KAFKA_PORT=str(settings.kafka_port),
        HUB_KAFKA_CONTROLLER_PORT=str(settings.kafka_controller_port),
        HUB_PG_PORT=str(settings.pg_port),
    )
    return subprocess.run(
        [str(Path(sys.executable).parent / "hubctl"), "services", "status"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_up_up_down(private_settings: Settings) -> None:
    """First up starts both, second up keeps the same processes, down stops both cleanly."""
    first = services.up(private_settings)
    assert [(s.name, s.healthy, s.started) for s in first] == [
        ("kafka", True, True),
        ("postgres", True, True),
    ]
    kafka_dir = private_settings.data_dir / "kafka"
    # Log segments hold every event, broker output may quote them: the owner's only.
    assert [(kafka_dir / name).stat().st_mode & 0o777 for name in ("data", "logs")] == [0o700] * 2
    assert (kafka_dir / "logs" / "broker.out").stat().st_mode & 0o777 == 0o600
    second = services.up(private_settings)
    assert [(s.pid, s.started) for s in second] == [(s.pid, False) for s in first]
    assert _hubctl_status(private_settings).returncode == 0

    said = services.down(private_settings)
    assert said == [
        f"kafka: stopped (pid {first[0].pid})",
        f"postgres: stopped (pid {first[1].pid})",
    ]
    after = services.status(private_settings)
    assert [(s.healthy, s.pid) for s in after] == [(False, None), (False, None)]
    stopped = _hubctl_status(private_settings)
    assert stopped.returncode == 1
    assert "not running" in stopped.stdout


def test_private_broker_restarts_without_touching_the_shared_one(
    private_kafka_settings: Settings, services_up: Settings
) -> None:
    """A test's own broker can be stopped and started again; the shared broker keeps running."""
    shared_before = kafka.status(services_up).pid
    first = kafka.status(private_kafka_settings)
    assert first.healthy and first.pid != shared_before
    kafka.stop(private_kafka_settings)
    assert not kafka.status(private_kafka_settings).healthy
    again = kafka.start(private_kafka_settings)
    assert again.healthy and again.started and again.pid != first.pid
    assert kafka.status(services_up).pid == shared_before


def test_cluster_id_starting_with_a_dash_formats(
    tmp_path: Path, services_up: Settings
) -> None:
    """The real storage tool takes a cluster id that begins with '-' (about one id in 64)."""
    settings = Settings(data_dir=tmp_path / "data", secrets_dir=services_up.secrets_dir)
    paths = kafka.KafkaPaths(settings)
    paths.root.mkdir(parents=True)
    # The jars of the shared broker, instead of a second copy from Maven.
    paths.libs.symlink_to(kafka.KafkaPaths(services_up).libs)
    kafka.render_config(settings)
    java = shutil.which("java")
    assert java is not None
    assert kafka.format_storage(settings, java, cluster_id="-wfmFKFxQvqqKD8OwWzgHQ")
    meta = (paths.data / "meta.properties").read_text()
    assert "cluster.id=-wfmFKFxQvqqKD8OwWzgHQ" in meta


def test_private_postgres_restarts_without_touching_the_shared_one(
    private_postgres_settings: Settings, services_up: Settings
) -> None:
    """A test's own cluster can be stopped and started again; the shared one keeps running."""
    shared_before = postgres.status(services_up).pid
    first = postgres.status(private_postgres_settings)
    assert first.healthy and first.pid != shared_before
    postgres.stop(private_postgres_settings)
    assert not postgres.status(private_postgres_settings).healthy
    again = postgres.start(private_postgres_settings)
    assert again.healthy and again.started and again.pid != first.pid
    assert postgres.status(services_up).pid == shared_before


def test_private_postgres_starts_over_a_stale_pid_file(
    private_postgres_settings: Settings,
) -> None:
    """A postmaster.pid left by a killed cluster, whose pid now runs another program of the
    server's user, does not stop the cluster from starting (the server would refuse: "lock
    file already exists")."""
    paths = postgres.PgPaths(private_postgres_settings)
    postgres.stop(private_postgres_settings)
    # The server checks the pid with kill(pid, 0): the stand-in must belong to its user.
    user = SERVER_USER if os.geteuid() == 0 else None
    # Named "postgres", as another cluster's process would be ("; :" keeps the shell alive).
    stand_in = subprocess.Popen(["sh", "-c", "sleep 120; :", "postgres"], user=user)
    try:
        paths.pid_file.write_text(f"{stand_in.pid}\n{paths.cluster}\n")
        again = postgres.start(private_postgres_settings)
        assert again.healthy and again.started and again.pid != stand_in.pid
    finally:
        stand_in.kill()
        stand_in.wait()
