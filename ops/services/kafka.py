"""The project's own Apache Kafka broker: jars from Maven, KRaft combined mode, loopback only."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from hub.config import KAFKA_BROKER, KAFKA_SUPER_USERS, PROJECT_ROOT, SASL_MECHANISM, Settings
from hub.errors import HubError
from hub.secrets import ensure_secret, make_private_dirs, write_private
from ops.errors import ServiceError, ToolMissingError
from ops.services._proc import (
    ensure_port_free,
    pid_alive,
    port_answers,
    read_pid,
    require_tool,
    run_checked,
    spawn_detached,
    stop_process_group,
)
from ops.services._status import ServiceStatus
from ops.services.tls import ensure_tls

KAFKA_OPS_DIR = PROJECT_ROOT / "ops" / "kafka"
POM = KAFKA_OPS_DIR / "pom.xml"
MIN_JAVA = 17
BROKER_MAIN = "kafka.Kafka"
HEAP = ("-Xms256m", "-Xmx768m")
READY_TIMEOUT_S = 120.0


class KafkaPaths:
    """Where the broker's jars, config, data and logs live under the data directory."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.data_dir / "kafka"
        self.libs = self.root / "libs"
        self.data = self.root / "data"
        self.logs = self.root / "logs"
        self.config = self.root / "server.properties"
        self.pid_file = self.root / "broker.pid"
        self.stdout_log = self.logs / "broker.out"
        self.libs_stamp = self.libs / ".pom-sha256"
        # Written when the storage was formatted with the hub's SCRAM super users.
        self.secure_stamp = self.data / ".hub-scram-users"


def java_major(java: str) -> int:
    """The major version of the JVM at `java` (17 for '17.0.15')."""
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as err:
        raise ToolMissingError(f"`{java} -version` could not run: {err}") from err
    # The JVM prints its version on stderr.
    match = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if match is None:
        raise ToolMissingError(f"cannot read the Java version from `{java} -version`")
    major = int(match.group(1))
    # Java 8 and older report themselves as 1.x.
    return int(match.group(2) or 0) if major == 1 else major


def fetch_jars(settings: Settings, maven_repo: Path | None = None) -> bool:
    """Copy the broker jars named by ops/kafka/pom.xml into the data dir; False if already there."""
    paths = KafkaPaths(settings)
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if paths.libs_stamp.exists() and paths.libs_stamp.read_text().strip() == digest:
        return False
    mvn = require_tool("mvn", "fetching the Kafka broker jars from Maven Central")
    staging = paths.root / "libs.new"
    if staging.exists():
        shutil.rmtree(staging)
    argv = [
        mvn,
        "-q",
        "-B",
        "-f",
        str(POM),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
    ]
    if maven_repo is not None:
        argv.append(f"-Dmaven.repo.local={maven_repo}")
    run_checked(argv, "Maven download of the Kafka broker jars", timeout=1200)
    if not any(staging.glob("kafka_2.13-*.jar")):
        raise ServiceError(f"Maven ran but put no kafka_2.13 jar in {staging}")
    # Swap in whole so that a broker never starts from a half-copied directory.
    if paths.libs.exists():
        shutil.rmtree(paths.libs)
    staging.rename(paths.libs)
    paths.libs_stamp.write_text(digest + "\n")
    return True


def super_user_secrets(settings: Settings) -> dict[str, str]:
    """The SCRAM passwords of the hub's own principals, generated on first use."""
    return {user: ensure_secret(settings.kafka_secret_file(user)) for user in KAFKA_SUPER_USERS}


def render_config(settings: Settings) -> Path:
    """Write server.properties for this data dir and these ports (always, so port changes apply).

    The file holds the broker's own SCRAM password, so it is readable by its owner only.
    """
    paths = KafkaPaths(settings)
    tls = ensure_tls(settings)
    template = (KAFKA_OPS_DIR / "server.properties.template").read_text()
    text = template.format(
        host=settings.kafka_host,
        port=settings.kafka_port,
        controller_port=settings.kafka_controller_port,
        log_dirs=paths.data,
        keystore=tls.broker_keystore,
        truststore=tls.ca_cert,
        broker_user=KAFKA_BROKER,
        broker_password=super_user_secrets(settings)[KAFKA_BROKER],
        super_users=";".join(f"User:{user}" for user in KAFKA_SUPER_USERS),
    )
    paths.root.mkdir(parents=True, exist_ok=True)
    write_private(paths.config, text.encode("utf-8"))
    return paths.config


def _java_argv(java: str, paths: KafkaPaths, main_class: str) -> list[str]:
    return [
        java,
        *HEAP,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={paths.logs}",
        f"-Dlog4j2.configurationFile={KAFKA_OPS_DIR / 'log4j2.properties'}",
        "-cp",
        f"{paths.libs}/*",
        main_class,
    ]


def new_cluster_id() -> str:
    """A KRaft cluster id: URL-safe base64 of a random UUID, never starting with '-'.

    The storage tool would read a leading '-' as an option (about one id in 64).
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(settings: Settings, java: str) -> bool:
    """Format the KRaft log dir once, with the hub's SCRAM users; False when already formatted.

    In KRaft the first SCRAM credentials can only be written at format time: the broker needs
    its own to talk to itself, and the operator needs one to create everyone else's.
    """
    paths = KafkaPaths(settings)
    if (paths.data / "meta.properties").exists():
        if not paths.secure_stamp.exists():
            raise ServiceError(
                f"the Kafka log in {paths.data} was formatted before the broker required TLS "
                "and SCRAM logins, so it holds no credentials for the hub; stop the broker, "
                f"remove {paths.data} (its topics are lost; the event store in PostgreSQL is "
                "kept) and run `hubctl services up` again"
            )
        return False
    # The log segments hold every event sent to the hub: folders made here are owner only.
    make_private_dirs(paths.data)
    make_private_dirs(paths.logs)
    argv = _java_argv(java, paths, "kafka.tools.StorageTool")
    argv += ["format", "-t", new_cluster_id(), "-c", str(paths.config), "--ignore-formatted"]
    for user, password in super_user_secrets(settings).items():
        argv += ["--add-scram", f"{SASL_MECHANISM}=[name={user},password={password}]"]
    run_checked(argv, "Kafka storage format", timeout=300, secret_args=True)
    paths.secure_stamp.write_text(",".join(KAFKA_SUPER_USERS) + "\n")
    return True


def start(settings: Settings) -> ServiceStatus:
    """Start the broker unless it already runs; return once it answers a metadata request."""
    paths = KafkaPaths(settings)
    address = settings.kafka_bootstrap
    pid = read_pid(paths.pid_file, BROKER_MAIN)
    if pid is not None:
        return _wait_ready(settings, pid, started=False, deadline=time.monotonic() + 30)
    java = require_tool("java", "running the Kafka broker")
    major = java_major(java)
    if major < MIN_JAVA:
        raise ToolMissingError(
            f"Kafka needs Java {MIN_JAVA} or newer, found Java {major} at {java}; "
            "install a newer JDK (e.g. apt-get install default-jdk-headless)"
        )
    ensure_port_free(settings.kafka_host, settings.kafka_port, f"Kafka broker ({address})")
    ensure_port_free(settings.kafka_host, settings.kafka_controller_port, "Kafka controller")
    fetch_jars(settings)
    render_config(settings)
    format_storage(settings, java)
    argv = [*_java_argv(java, paths, BROKER_MAIN), str(paths.config)]
    env = dict(os.environ)
    env.pop("KAFKA_OPTS", None)
    pid = spawn_detached(argv, paths.stdout_log, env)
    paths.pid_file.write_text(f"{pid}\n")
    return _wait_ready(settings, pid, started=True, deadline=time.monotonic() + READY_TIMEOUT_S)


def _wait_ready(settings: Settings, pid: int, started: bool, deadline: float) -> ServiceStatus:
    paths = KafkaPaths(settings)
    last = "no answer yet"
    while time.monotonic() < deadline:
        # The pid itself, not its command line: right after the fork that is still ours, not
        # yet the JVM's, and must not be taken for a broker that exited.
        if not pid_alive(pid):
            raise ServiceError(
                f"the Kafka broker (pid {pid}) exited during start-up; see "
                f"{paths.logs / 'server.log'} and {paths.stdout_log}"
            )
        ok, last = probe(settings)
        if ok:
            return ServiceStatus("kafka", True, settings.kafka_bootstrap, pid, last, started)
        time.sleep(0.5)
    raise ServiceError(
        f"the Kafka broker (pid {pid}) did not answer on {settings.kafka_bootstrap} in time "
        f"({last}); see {paths.logs / 'server.log'}"
    )


def probe(settings: Settings) -> tuple[bool, str]:
    """Ask the broker for its metadata; (True, summary) when it answers."""
    if not port_answers(settings.kafka_host, settings.kafka_port):
        return False, "port closed"
    # Imported here so that `hubctl --help` does not pay for loading the Kafka client.
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(
            **settings.kafka_config(),
            client_id="hubctl-probe",
            request_timeout_ms=5000,
            bootstrap_timeout_ms=5000,
        )
    except (KafkaError, OSError, ValueError, HubError) as err:
        return False, f"no metadata: {err!r}"
    try:
        topics = admin.list_topics()
        cluster = admin.describe_cluster()
    except (KafkaError, OSError) as err:
        return False, f"no metadata: {err!r}"
    finally:
        admin.close()
    return True, f"cluster {cluster.get('cluster_id')}, {len(topics)} topics"


def status(settings: Settings) -> ServiceStatus:
    """Health of the broker without starting it."""
    pid = read_pid(KafkaPaths(settings).pid_file, BROKER_MAIN)
    if pid is None:
        return ServiceStatus("kafka", False, settings.kafka_bootstrap, None, "not running")
    ok, detail = probe(settings)
    return ServiceStatus("kafka", ok, settings.kafka_bootstrap, pid, detail)


def stop(settings: Settings) -> str:
    """Stop the broker (SIGTERM, wait for a clean shutdown); a sentence saying what happened."""
    paths = KafkaPaths(settings)
    pid = read_pid(paths.pid_file, BROKER_MAIN)
    if pid is None:
        paths.pid_file.unlink(missing_ok=True)
        return "kafka: not running"
    if not stop_process_group(pid, timeout=60):
        raise ServiceError(f"the Kafka broker (pid {pid}) did not stop, even after SIGKILL")
    paths.pid_file.unlink(missing_ok=True)
    return f"kafka: stopped (pid {pid})"
