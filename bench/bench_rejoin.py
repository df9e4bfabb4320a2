"""How fast a SIGKILLed pipeline worker consumes again, measured on the real services.

One worker runs in its own namespace; it is killed with SIGKILL and an event is published at
once. Printed: seconds from the kill until the supervisor has started a new worker process, and
from then until the event is in the event store, i.e. until the new worker rejoined its
consumer group and consumed again.

Needs `hubctl services up`. Uses its own topic prefix and database, removed afterwards.

    .venv/bin/python -m bench.bench_rejoin [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import signal
import time

from kafka import KafkaProducer

from bench.bench_pipeline import _count, _wait, lane
from hub import topics
from hub.config import Settings
from hub.schema_catalog import SchemaCatalog
from processors.processes import pid_alive
from processors.supervisor import workers
from processors.testing import SignedWorld
from processors.watchdog import QUICK_DEATH

POLICE = "320000-police"
STORED = "SELECT count(*) FROM event_store"


def _worker_pid(settings: Settings, other_than: int | None = None) -> int | None:
    pids = [w.pid for w in workers(settings) if w.pid is not None and w.pid != other_than]
    return pids[0] if pids else None


def one_round(settings: Settings, world: SignedWorld, producer: KafkaProducer, n: int) -> tuple[
    float, float
]:
    """(kill -> new worker process, new worker process -> event stored) in seconds."""
    time.sleep(QUICK_DEATH)  # a worker killed sooner is restarted after a pause, by design
    victim = _worker_pid(settings)
    assert victim is not None, "no worker runs"
    before = _count(settings, STORED)
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    while pid_alive(victim):
        time.sleep(0.05)
    producer.send(
        topics.topic_name(settings, "ingest"),
        key=POLICE.encode(),
        value=world.event(POLICE, "tip-report", 100 + n),
    )
    producer.flush()
    deadline = killed + 120
    while _worker_pid(settings, other_than=victim) is None:
        if time.monotonic() > deadline:
            raise TimeoutError("no worker came back within 120s")
        time.sleep(0.05)
    restarted = time.monotonic()
    _wait(settings, STORED, before + 1, 300)
    return restarted - killed, time.monotonic() - restarted


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_rejoin")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    world = SignedWorld(SchemaCatalog.load())
    with lane(1, world) as settings:
        producer = KafkaProducer(**settings.kafka_config(), acks="all")
        wires = world.register(POLICE)
        for wire in wires:
            producer.send(topics.topic_name(settings, "registry"), key=b"reg", value=wire)
        producer.flush()
        _wait(settings, STORED, len(wires), 120)
        for n in range(args.rounds):
            back, consuming = one_round(settings, world, producer, n)
            print(
                f"round {n + 1}: worker back {back:.1f}s after the kill, "
                f"consuming again {consuming:.1f}s later (total {back + consuming:.1f}s)"
            )
        producer.close()


if __name__ == "__main__":
    main()
