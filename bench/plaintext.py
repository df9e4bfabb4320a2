"""A plaintext Kafka broker and plaintext clients, for measuring what security costs, only.

Nothing in the hub can speak plaintext: the broker's only listeners are TLS, and every client is
built from `hub.config.KafkaAccess`, which always logs in. The security benchmark starts a
second broker of its own with PLAINTEXT listeners and no authorizer, on loopback, for the length
of one run, and swaps the clients' connection settings inside its own processes
(`plaintext_clients`, and `python -m bench.plain_worker` for pipeline workers). Keep it that way:
this module is imported by benchmarks alone.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

import processors.app
from hub.config import KafkaAccess, Settings
from ops.services.kafka import HEAP, KafkaPaths, new_cluster_id
from processors.processes import require_tool, run_checked, spawn_detached, stop_process_group

_CONFIG = """process.roles=broker,controller
node.id=1
controller.quorum.voters=1@{host}:{controller_port}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
"""


@contextmanager
def plaintext_broker(secure: Settings, root: Path, port: int, controller_port: int
                     ) -> Iterator[Settings]:
    """A broker of this run's own on loopback, from the hub's jars; stopped and gone after."""
    java = require_tool("java", "the benchmark's plaintext broker")
    libs = KafkaPaths(secure).libs
    config = root / "server.properties"
    config.write_text(_CONFIG.format(host=secure.kafka_host, port=port,
                                     controller_port=controller_port, data=root / "data"))

    def argv(main_class: str) -> list[str]:
        return [java, *HEAP, f"-Dkafka.logs.dir={root / 'logs'}", "-cp", f"{libs}/*", main_class]

    run_checked([*argv("kafka.tools.StorageTool"), "format", f"--cluster-id={new_cluster_id()}",
                 "-c", str(config)], "plaintext broker storage format", timeout=300)
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_OPTS"}
    pid = spawn_detached([*argv("kafka.Kafka"), str(config)], root / "broker.out", env)
    plain = secure.with_overrides(kafka_port=port, kafka_controller_port=controller_port)
    try:
        _wait_ready(f"{secure.kafka_host}:{port}")
        yield plain
    finally:
        stop_process_group(pid, timeout=30)


def _wait_ready(bootstrap: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000).close()
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _plain_kafka_python(self: KafkaAccess) -> dict[str, Any]:
    return {"bootstrap_servers": self.bootstrap}


@contextmanager
def plaintext_clients() -> Iterator[None]:
    """Inside: every client of this process connects without TLS or login."""
    saved = (KafkaAccess.kafka_python, KafkaAccess.aiokafka, processors.app._credentials)
    KafkaAccess.kafka_python = _plain_kafka_python  # type: ignore[method-assign]
    KafkaAccess.aiokafka = _plain_kafka_python  # type: ignore[method-assign]
    processors.app._credentials = lambda settings: None  # type: ignore[assignment,return-value]
    try:
        yield
    finally:
        KafkaAccess.kafka_python, KafkaAccess.aiokafka, processors.app._credentials = saved
