"""Where the hub's Kafka nodes live: one broker, or a KRaft cluster of several on loopback.

A data dir holds one broker (files directly under `kafka/`) unless `kafka/cluster.json` says it
holds a cluster: then each node has its own folder `kafka/node-<id>/` and the file records every
node's ports and the cluster id they were all formatted with. The first node always listens on
the settings' own ports, so `HUB_KAFKA_PORT` keeps naming the hub's first broker.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.config import Settings
from hub.secrets import write_private
from ops.errors import ServiceError

CLUSTER_FILE = "cluster.json"


@dataclass(frozen=True)
class Node:
    """One Kafka process: KRaft broker and controller in one JVM."""

    node_id: int
    port: int
    controller_port: int


@dataclass(frozen=True)
class Layout:
    """The nodes of a data dir and, for a cluster, the cluster id they share."""

    nodes: tuple[Node, ...]
    cluster_id: str | None = None

    @property
    def is_cluster(self) -> bool:
        return len(self.nodes) > 1

    def voters(self, host: str) -> str:
        """`controller.quorum.voters`: every node votes (a quorum of three survives one loss)."""
        return ",".join(f"{n.node_id}@{host}:{n.controller_port}" for n in self.nodes)


class KafkaPaths:
    """Where one node's jars, config, data and logs live under the data directory."""

    def __init__(self, settings: Settings, node: int | None = None) -> None:
        self.root = settings.data_dir / "kafka"
        self.libs = self.root / "libs"
        self.libs_stamp = self.libs / ".pom-sha256"
        self.cluster_file = self.root / CLUSTER_FILE
        # A single broker keeps the layout it always had; cluster nodes get a folder each.
        home = self.root if node is None else self.root / f"node-{node}"
        self.home = home
        self.data = home / "data"
        self.logs = home / "logs"
        self.config = home / "server.properties"
        self.pid_file = home / "broker.pid"
        self.stdout_log = self.logs / "broker.out"
        # Written when the storage was formatted with the hub's SCRAM super users.
        self.secure_stamp = self.data / ".hub-scram-users"


def node_paths(settings: Settings, layout: Layout, node: Node) -> KafkaPaths:
    """The paths of `node` in `layout` (a single broker keeps the flat layout)."""
    return KafkaPaths(settings, node.node_id if layout.is_cluster else None)


def read_layout(settings: Settings) -> Layout:
    """The layout recorded in the data dir; a single broker on the settings' ports if none."""
    single = Layout((Node(1, settings.kafka_port, settings.kafka_controller_port),))
    path = KafkaPaths(settings).cluster_file
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        peers = [Node(int(n["node_id"]), int(n["port"]), int(n["controller_port"]))
                 for n in data["nodes"][1:]]
        cluster_id = str(data["cluster_id"])
    except FileNotFoundError:
        return single
    except (OSError, ValueError, KeyError, TypeError, IndexError) as err:
        raise ServiceError(f"{path} cannot be read ({err!r}); it records the Kafka cluster's "
                           "nodes: restore it, or stop the brokers and remove the kafka folder "
                           "to start afresh") from err
    return Layout((single.nodes[0], *peers), cluster_id)


def default_peer_ports(settings: Settings, brokers: int) -> list[tuple[int, int]]:
    """Client and controller ports of nodes 2..N: the ports right after the first node's."""
    base = settings.kafka_port
    return [(base + 2 * k, base + 2 * k + 1) for k in range(1, brokers)]


def plan_layout(
    settings: Settings,
    brokers: int | None,
    peer_ports: Sequence[tuple[int, int]] | None,
    new_cluster_id: str,
) -> Layout:
    """The layout `up` must run: the recorded one, or a new one of `brokers` nodes.

    The number of brokers is fixed when the log is first formatted (the controller quorum is
    written into it), so asking for another number on an existing log is an error, not a change.
    """
    recorded = read_layout(settings)
    formatted = (KafkaPaths(settings).data / "meta.properties").exists()
    exists = recorded.is_cluster or formatted
    if brokers is None:
        return recorded
    if brokers not in (1, 3):
        raise ServiceError(f"--brokers must be 1 or 3 (a KRaft quorum that survives losing one "
                           f"broker needs three), not {brokers}")
    if exists and brokers != len(recorded.nodes):
        raise ServiceError(
            f"the Kafka log in {recorded_home(settings)} was made for {len(recorded.nodes)} "
            f"broker(s); it cannot become {brokers}: run `hubctl services down`, then either "
            f"keep {len(recorded.nodes)} or remove {KafkaPaths(settings).root / 'data'} and "
            f"{KafkaPaths(settings).root / 'node-*'} (its topics are lost; PostgreSQL is kept)"
        )
    if brokers == 1 or recorded.is_cluster:
        return recorded
    ports = list(peer_ports) if peer_ports is not None else default_peer_ports(settings, brokers)
    if len(ports) != brokers - 1:
        raise ServiceError(f"{brokers} brokers need {brokers - 1} pairs of peer ports")
    nodes = (recorded.nodes[0], *(Node(k + 2, p, c) for k, (p, c) in enumerate(ports)))
    taken = [port for n in nodes for port in (n.port, n.controller_port)]
    if len(set(taken)) != len(taken):
        raise ServiceError(f"the cluster's ports must all differ: {taken}")
    layout = Layout(nodes, new_cluster_id)
    _write_layout(settings, layout)
    return layout


def recorded_home(settings: Settings) -> Path:
    """The folder that holds the broker (or brokers) of these settings."""
    return KafkaPaths(settings).root


def _write_layout(settings: Settings, layout: Layout) -> None:
    path = KafkaPaths(settings).cluster_file
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "cluster_id": layout.cluster_id,
        "nodes": [{"node_id": n.node_id, "port": n.port, "controller_port": n.controller_port}
                  for n in layout.nodes],
    }
    write_private(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))
