"""The project's own Apache Kafka broker: jars from Maven, KRaft combined mode, loopback only."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from hub.config import KAFKA_BROKER, KAFKA_SUPER_USERS, PROJECT_ROOT, SASL_MECHANISM, Settings
from hub.errors import HubError
from hub.secrets import ensure_secret, make_private_dirs, write_private
from ops.errors import ServiceError, ToolMissingError
from ops.services._kafka_layout import (
    KafkaPaths,
    Layout,
    Node,
    node_paths,
    plan_layout,
    read_layout,
)
from ops.services._status import ServiceStatus
from ops.services.tls import ensure_tls
from processors.processes import (
    ensure_port_free,
    pid_alive,
    port_answers,
    read_pid,
    require_tool,
    run_checked,
    spawn_detached,
    stop_process_group,
    write_pid_file,
)

KAFKA_OPS_DIR = PROJECT_ROOT / "ops" / "kafka"
POM = KAFKA_OPS_DIR / "pom.xml"
MIN_JAVA = 17
BROKER_MAIN = "kafka.Kafka"
HEAP = ("-Xms256m", "-Xmx768m")
READY_TIMEOUT_S = 180.0
CLUSTER_REPLICATION = 3
CLUSTER_MIN_ISR = 2

__all__ = ["KafkaPaths", "Layout", "Node", "probe", "start", "start_all", "status", "statuses",
           "stop"]


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


def render_config(
    settings: Settings, layout: Layout | None = None, node: Node | None = None
) -> Path:
    """Write one node's server.properties (always, so port changes apply); its path.

    Without a layout: the single broker on the settings' ports. The file holds the broker's own
    SCRAM password, so it is readable by its owner only.
    """
    layout = layout or read_layout(settings)
    node = node or layout.nodes[0]
    paths = node_paths(settings, layout, node)
    tls = ensure_tls(settings)
    template = (KAFKA_OPS_DIR / "server.properties.template").read_text()
    replication, min_isr = (CLUSTER_REPLICATION, CLUSTER_MIN_ISR) if layout.is_cluster else (1, 1)
    text = template.format(
        node_id=node.node_id,
        voters=layout.voters(settings.kafka_host),
        host=settings.kafka_host,
        port=node.port,
        controller_port=node.controller_port,
        log_dirs=paths.data,
        keystore=tls.broker_keystore,
        truststore=tls.ca_cert,
        broker_user=KAFKA_BROKER,
        broker_password=super_user_secrets(settings)[KAFKA_BROKER],
        super_users=";".join(f"User:{user}" for user in KAFKA_SUPER_USERS),
        replication=replication,
        min_isr=min_isr,
    )
    paths.home.mkdir(parents=True, exist_ok=True)
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


def format_storage(
    settings: Settings, java: str, paths: KafkaPaths | None = None, cluster_id: str | None = None
) -> bool:
    """Format one node's KRaft log dir once, with the hub's SCRAM users; False when already done.

    In KRaft the first SCRAM credentials can only be written at format time: the broker needs
    its own to talk to itself, and the operator needs one to create everyone else's. The nodes
    of a cluster are formatted with the same `cluster_id`.
    """
    paths = paths or KafkaPaths(settings)
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
    # A tool that runs for seconds gains nothing from the optimising compiler, only start-up.
    argv.insert(1, "-XX:TieredStopAtLevel=1")
    # `--cluster-id=ID` in one word: an id may begin with "-", which the tool would otherwise
    # read as the next option ("expected one argument").
    argv += ["format", f"--cluster-id={cluster_id or new_cluster_id()}", "-c", str(paths.config),
             "--ignore-formatted"]
    for user, password in super_user_secrets(settings).items():
        argv += ["--add-scram", f"{SASL_MECHANISM}=[name={user},password={password}]"]
    run_checked(argv, "Kafka storage format", timeout=300, secret_args=True)
    paths.secure_stamp.write_text(",".join(KAFKA_SUPER_USERS) + "\n")
    return True


def node_settings(settings: Settings, node: Node) -> Settings:
    """Settings that reach this one node only (to ask whether it answers)."""
    return settings.with_overrides(kafka_port=node.port, kafka_peer_ports=())


def _running_pid(paths: KafkaPaths) -> int | None:
    # The config path is unique to this node: a stale pid file whose pid now belongs to another
    # broker on the machine (another checkout's, another node's) is not taken for this one.
    return read_pid(paths.pid_file, str(paths.config))


def _java() -> str:
    java = require_tool("java", "running the Kafka broker")
    major = java_major(java)
    if major < MIN_JAVA:
        raise ToolMissingError(
            f"Kafka needs Java {MIN_JAVA} or newer, found Java {major} at {java}; "
            "install a newer JDK (e.g. apt-get install default-jdk-headless)"
        )
    return java


def start(settings: Settings) -> ServiceStatus:
    """Start the broker unless it already runs; return once it answers a metadata request.

    On a cluster's data dir this starts every node that is not running; the first node's status.
    """
    return start_all(settings)[0]


def start_all(
    settings: Settings,
    brokers: int | None = None,
    peer_ports: Sequence[tuple[int, int]] | None = None,
) -> list[ServiceStatus]:
    """Start every node of the data dir's layout (`brokers` 1 or 3 for a new one) that is not
    running; return once each answers and, for a cluster, every node has joined it.

    `peer_ports`: (client, controller) ports of nodes 2 and 3 of a new cluster; by default the
    four ports after the first node's client port.
    """
    layout = plan_layout(settings, brokers, peer_ports, new_cluster_id())
    deadline = time.monotonic() + READY_TIMEOUT_S * (2 if layout.is_cluster else 1)
    pids: dict[int, tuple[int, bool]] = {}
    to_start: list[tuple[Node, KafkaPaths]] = []
    for node in layout.nodes:
        paths = node_paths(settings, layout, node)
        pid = _running_pid(paths)
        if pid is not None:
            pids[node.node_id] = (pid, False)
            continue
        to_start.append((node, paths))
    if to_start:
        java = _java()
        for node, _ in to_start:
            what = _what(layout, node)
            address = f"{settings.kafka_host}:{node.port}"
            ensure_port_free(settings.kafka_host, node.port, f"Kafka broker{what} ({address})")
            ensure_port_free(settings.kafka_host, node.controller_port, f"Kafka controller{what}")
        fetch_jars(settings)
        for node, _ in to_start:
            render_config(settings, layout, node)
        # One JVM each: formatting the nodes side by side, not one after the other.
        with ThreadPoolExecutor(max_workers=len(to_start)) as pool:
            done = [pool.submit(format_storage, settings, java, paths, layout.cluster_id)
                    for _, paths in to_start]
            for future in done:
                future.result()
        env = dict(os.environ)
        env.pop("KAFKA_OPTS", None)
        for node, paths in to_start:
            argv = [*_java_argv(java, paths, BROKER_MAIN), str(paths.config)]
            pid = spawn_detached(argv, paths.stdout_log, env)
            write_pid_file(paths.pid_file, pid)
            pids[node.node_id] = (pid, True)
    # All nodes are launched before any is waited for: one node of three cannot elect a
    # controller on its own.
    report = []
    for node in layout.nodes:
        pid, started = pids[node.node_id]
        report.append(_wait_ready(settings, layout, node, pid, started, deadline))
    if layout.is_cluster:
        _wait_joined(settings, layout, deadline)
    return report


def _node_name(layout: Layout, node: Node) -> str:
    return f"kafka-{node.node_id}" if layout.is_cluster else "kafka"


def _what(layout: Layout, node: Node) -> str:
    return f" {node.node_id}" if layout.is_cluster else ""


def _wait_ready(
    settings: Settings, layout: Layout, node: Node, pid: int, started: bool, deadline: float
) -> ServiceStatus:
    paths = node_paths(settings, layout, node)
    alone = node_settings(settings, node)
    last = "no answer yet"
    while time.monotonic() < deadline:
        # The pid itself, not its command line: right after the fork that may still be ours
        # (or the launcher's), not yet the JVM's, and must not be taken for a broker that exited.
        if not pid_alive(pid):
            raise ServiceError(
                f"the Kafka broker (pid {pid}) exited during start-up; see "
                f"{paths.logs / 'server.log'} and {paths.stdout_log}"
            )
        ok, last = probe(alone)
        if ok:
            name = _node_name(layout, node)
            return ServiceStatus(name, True, alone.kafka_bootstrap, pid, last, started)
        time.sleep(0.5)
    raise ServiceError(
        f"the Kafka broker (pid {pid}) did not answer on {alone.kafka_bootstrap} in time "
        f"({last}); see {paths.logs / 'server.log'}"
    )


def _wait_joined(settings: Settings, layout: Layout, deadline: float) -> None:
    want = {n.node_id for n in layout.nodes}
    seen: set[int] = set()
    while time.monotonic() < deadline:
        seen = live_brokers(settings)
        if seen >= want:
            return
        time.sleep(0.5)
    missing = ", ".join(str(n) for n in sorted(want - seen))
    raise ServiceError(f"Kafka brokers {missing} did not join the cluster in time; see their "
                       f"server.log under {KafkaPaths(settings).root}")


def _admin(settings: Settings) -> Any:
    # Imported here so that `hubctl --help` does not pay for loading the Kafka client.
    from kafka import KafkaAdminClient

    return KafkaAdminClient(
        **settings.kafka_config(),
        client_id="hubctl-probe",
        request_timeout_ms=5000,
        bootstrap_timeout_ms=5000,
    )


def live_brokers(settings: Settings) -> set[int]:
    """The node ids of the brokers the cluster reports alive (empty when it cannot be asked)."""
    from kafka.errors import KafkaError

    try:
        admin = _admin(settings)
    except (KafkaError, OSError, ValueError, HubError):
        return set()
    try:
        brokers = admin.describe_cluster()["brokers"]
        return {int(b["broker_id"]) for b in brokers if not b.get("is_fenced")}
    except (KafkaError, OSError):
        return set()
    finally:
        admin.close()


def probe(settings: Settings) -> tuple[bool, str]:
    """Ask the broker for its metadata; (True, summary) when it answers."""
    if not any(port_answers(settings.kafka_host, port)
               for port in (settings.kafka_port, *settings.kafka_peer_ports)):
        return False, "port closed"
    from kafka.errors import KafkaError

    try:
        admin = _admin(settings)
    except (KafkaError, OSError, ValueError, HubError) as err:
        return False, f"no metadata: {err!r}"
    try:
        topics = admin.list_topics()
        cluster = admin.describe_cluster()
    except (KafkaError, OSError) as err:
        return False, f"no metadata: {err!r}"
    finally:
        admin.close()
    brokers = len(cluster.get("brokers") or ())
    alive = f", {brokers} brokers alive" if brokers != 1 else ""
    return True, f"cluster {cluster.get('cluster_id')}{alive}, {len(topics)} topics"


def statuses(settings: Settings) -> list[ServiceStatus]:
    """Health of every node of the data dir's layout, without starting any."""
    layout = read_layout(settings)
    report = []
    for node in layout.nodes:
        name = _node_name(layout, node)
        alone = node_settings(settings, node)
        pid = _running_pid(node_paths(settings, layout, node))
        if pid is None:
            report.append(ServiceStatus(name, False, alone.kafka_bootstrap, None, "not running"))
            continue
        ok, detail = probe(alone)
        report.append(ServiceStatus(name, ok, alone.kafka_bootstrap, pid, detail))
    return report


def status(settings: Settings) -> ServiceStatus:
    """Health of the broker (a cluster's first node) without starting it."""
    return statuses(settings)[0]


def node_pids(settings: Settings) -> dict[int, int]:
    """The running nodes' pids by node id."""
    layout = read_layout(settings)
    found = {}
    for node in layout.nodes:
        pid = _running_pid(node_paths(settings, layout, node))
        if pid is not None:
            found[node.node_id] = pid
    return found


def stop(settings: Settings) -> str:
    """Stop the broker, or every node of a cluster (SIGTERM, wait for a clean shutdown).

    The nodes of a cluster are told to stop all at once: one by one, the last two would be
    left without a controller quorum to approve their controlled shutdown.
    """
    layout = read_layout(settings)
    running = node_pids(settings)
    if not running:
        for node in layout.nodes:
            node_paths(settings, layout, node).pid_file.unlink(missing_ok=True)
        return "kafka: not running"
    for pid in running.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
    for node_id, pid in running.items():
        if not stop_process_group(pid, timeout=90):
            raise ServiceError(f"the Kafka broker (pid {pid}) did not stop, even after SIGKILL")
        node = next(n for n in layout.nodes if n.node_id == node_id)
        node_paths(settings, layout, node).pid_file.unlink(missing_ok=True)
    if not layout.is_cluster:
        return f"kafka: stopped (pid {running[1]})"
    listed = ", ".join(f"{node_id}: pid {pid}" for node_id, pid in sorted(running.items()))
    return f"kafka: stopped {len(running)} of {len(layout.nodes)} brokers ({listed})"
