"""The hub pipeline: thin loops around the stages, each reading its own consumer's batches.

- ``verify``: ingest + registry topics -> :class:`processors.verify_stage.VerifyStage` -> the
  verified and quarantine topics (sent after the store transaction commits).
- ``project``: verified topic -> :class:`processors.project_stage.ProjectStage`.
- ``match``: verified topic -> :class:`processors.match_stage.MatchStage`, which indexes each
  person and sends one probe per blocking key to the keyed ``match-keys`` topic through its
  outbox; ``match-keys``: that topic -> :class:`processors.match_key_stage.KeyStage`, where each
  key's owner scores its candidates (hub.matching.fanout). Their outbox (probes, match-found
  events to ingest, notifications to recipients) is sent after each commit. Off when the hub
  operator's signing key is absent.
- an alert-push timer: :class:`processors.push_stage.AlertPusher` pushes urgent child alerts
  to the police around the place last seen, in rings widening with time (with matching).
- a timer runs the deadline sweep (:mod:`processors.deadline_sweep`) every
  ``sweep_every_s`` seconds: overdue hits are escalated through the same outbox.

Each stage reads through a consumer group of its own (:mod:`processors.batch_consumer`),
whole batches per fetch, and commits its offsets only once the batch is stored and its outputs
acknowledged. Faust runs the producer and the timers (``memory://`` table store, no tables, no
consumer of its own). Names carry the topic prefix, so test runs and the real hub never share a
consumer group. When the database is unreachable a stage retries the same batch until it
succeeds (nothing is skipped and nothing is committed before it is stored).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

import faust
from faust.app import BootStrategy

from hub.config import SASL_MECHANISM, Settings
from hub.errors import StoreUnavailable
from hub.keys import SigningKey, VerifyKey
from hub.registry import load_operator_key, operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.topics import notification_topic, topic_name
from processors.batch_consumer import StageConsumer
from processors.deadline_sweep import DeadlineSweep
from processors.match_key_stage import KeyStage
from processors.match_stage import create_match_stage
from processors.pg_matching import PgMatchStore
from processors.pg_projections import PgProjectionStore
from processors.pg_store import PgEventStore
from processors.project_stage import ProjectStage
from processors.push_stage import AlertPusher, PgAlertPushes
from processors.shredding import RetentionSweep
from processors.topic_admin import ensure_notification_topic
from processors.tracking import InMessage
from processors.verify_stage import BatchResult, Outgoing, VerifyStage

log = logging.getLogger(__name__)

__all__ = ["BATCH", "PipelineApp", "app_id", "create_app", "load_anchor"]

BATCH = 500
WITHIN = 0.2  # how long a partial batch waits: bounds latency at low load, no cost at high load
OUTBOX_EVERY = 5.0
ANCHOR_ENV = "HUB_OPERATOR_PUBLIC_KEY"
T = TypeVar("T")


def app_id(settings: Settings) -> str:
    """The Faust app id (its producer's client id and scratch folder): one per topic prefix.
    The stages' consumer groups are named after it (processors.batch_consumer)."""
    return f"{settings.topic_prefix}pipeline"


def load_anchor(settings: Settings, env: dict[str, str] | None = None) -> VerifyKey:
    """The hub operator's anchor public key: $HUB_OPERATOR_PUBLIC_KEY (base64) when set, else
    the file `hubctl registry init` wrote under the data directory."""
    env = dict(os.environ) if env is None else env
    text = env.get(ANCHOR_ENV, "").strip()
    if text:
        return VerifyKey.from_base64(text)
    return load_operator_key(settings.data_dir)


async def _until_stored(what: str, work: Callable[[], T]) -> T:
    """Run blocking store work until it succeeds, retrying the same batch.

    An unreachable database is waited out. Any other failure is logged with its traceback and
    retried too: acknowledging the batch instead would lose events, and an exception escaping
    the agent would stop it for good.
    """
    delay = 0.2
    while True:
        try:
            # Run on the loop thread: a worker thread would fight the loop for the GIL on every
            # socket call (measured: about a quarter slower); a batch blocks the loop for a
            # fraction of a second, far below the consumer session timeout.
            return work()
        except StoreUnavailable as err:
            log.warning("%s waits for PostgreSQL (retry in %.1fs): %s", what, delay, err)
        except Exception:
            log.exception("%s failed; the same batch is retried in %.1fs", what, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


def _credentials(settings: Settings) -> faust.SASLCredentials:
    """TLS against the hub CA and a SCRAM login, as for every other client of the broker."""
    access = settings.kafka
    return faust.SASLCredentials(
        username=access.username,
        password=access.password,
        mechanism=SASL_MECHANISM,
        ssl_context=access.ssl_context(),
    )


class _ProducerOnly(BootStrategy):
    # The stages read through consumers of their own (processors.batch_consumer): Faust's
    # consumer would only join a group for nothing.
    enable_kafka_consumer = False


class _ProducingApp(faust.App):
    BootStrategy = _ProducerOnly


class PipelineApp:
    """The Faust app (producer and timers) with the stages' consumer loops, for one Settings."""

    def __init__(
        self,
        settings: Settings,
        *,
        anchor: VerifyKey | None = None,
        batch: int = BATCH,
        slot: int | None = None,
    ) -> None:
        self.settings = settings
        self.batch = batch
        self.slot = slot
        self.catalog = SchemaCatalog.load()
        self.anchor = anchor or load_anchor(settings)
        # Faust wants a directory of its own even with the memory store; nothing durable in it.
        datadir = settings.data_dir / "faust" / f"{app_id(settings)}-{os.getpid()}"
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = _ProducingApp(
            app_id(settings),
            broker=f"kafka://{settings.kafka_bootstrap}",
            broker_credentials=_credentials(settings),
            store="memory://",
            datadir=str(datadir),
            web_enabled=False,
            topic_allow_declare=False,  # declared in hub/topics.py, made by `hubctl topics apply`
            topic_disable_leader=True,
            key_serializer="raw",
            value_serializer="raw",
            producer_acks=-1,
            # A batch's outputs leave in a few large produce requests rather than one small
            # request per partition and message: fewer socket writes and TLS records per event.
            producer_linger_ms=5,
            producer_max_batch_size=512 * 1024,
        )
        names = {
            s: topic_name(settings, s)
            for s in ("ingest", "registry", "verified", "quarantine", "match-keys")
        }
        raw: dict[str, Any] = {
            "key_type": bytes,
            "value_type": bytes,
            "key_serializer": "raw",
            "value_serializer": "raw",
        }
        self._raw = raw
        # Where each kind of stage output goes (re-drives go back to where events come in).
        self.outputs = {
            "verified": self.app.topic(names["verified"], **raw),
            "quarantine": self.app.topic(names["quarantine"], **raw),
            "ingest": self.app.topic(names["ingest"], **raw),
            "registry": self.app.topic(names["registry"], **raw),
        }
        private, _ = operator_key_paths(settings.data_dir)
        self.verify_stage = VerifyStage(
            PgEventStore(settings.pg_dsn),
            self.catalog,
            self.anchor,
            first_topics=[names["registry"]],
            notice_key=SigningKey.load(private) if private.exists() else None,
        )
        self._notice_topics: dict[str, Any] = {}
        self.project_stage = ProjectStage(
            PgEventStore(settings.pg_dsn), PgProjectionStore(settings.pg_dsn), catalog=self.catalog
        )
        self.app.task(self._verify_loop)
        self.app.task(self._project_loop)
        matching = create_match_stage(settings, self.catalog, keyed=True)
        if matching is not None:
            self.match_stage, self.match_sender = matching
            self.key_stage = KeyStage(self.match_stage, self.match_sender.store)
            self.app.task(self._match_loop)
            self.app.task(self._key_loop)
            # Messages left in the outbox by a worker that died after its commit go out even
            # when no new event arrives.
            self.app.timer(OUTBOX_EVERY)(self._flush_outbox)
            self.pusher = AlertPusher(
                PgAlertPushes(settings.pg_dsn),
                SigningKey.load(private),
                lambda participant: notification_topic(settings, participant),
            )
            self.app.timer(settings.sweep_every_s)(self._push_alerts)
            self.sweep = DeadlineSweep(
                self.match_sender.store, self.catalog, SigningKey.load(private),
                names["ingest"], functools.partial(notification_topic, settings),
            )
            self.app.timer(settings.sweep_every_s)(self._sweep)
            # Retention reads the case keys, which only the PostgreSQL store keeps.
            store = self.match_sender.store
            self.retention = RetentionSweep(
                store, self.catalog, SigningKey.load(private), names["ingest"],
                timedelta(days=settings.case_retention_days), store.keyring(),
            ) if isinstance(store, PgMatchStore) and settings.case_retention_days > 0 else None

    async def _send_all(self, outgoing: Sequence[Outgoing]) -> None:
        """Send every output and wait for the broker's acknowledgements, retrying on failure.

        A retry may send some outputs twice; their consumers absorb repeats by event id.
        """
        delay = 0.5
        while True:
            try:
                await self._send_once(outgoing)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sending %d outputs failed; retry in %.1fs", len(outgoing), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _send_once(self, outgoing: Sequence[Outgoing]) -> None:
        futures: list[Awaitable[Any]] = []
        # Straight to the producer: the raw bytes need none of Topic.send's per-message
        # envelope, codec and callback objects (about a tenth of a worker's time per event).
        producer = self.app.producer
        for out in outgoing:
            if out.stream == "notice":
                topic = self._notice_topic(out.key.decode("utf-8"))
            else:
                topic = self.outputs[out.stream]
            fut = await producer.send(
                topic.get_topic_name(), out.key, out.value, None, None, list(out.headers)
            )
            futures.append(fut)
        # Only once every output is acknowledged may the stage commit its input offsets.
        await asyncio.gather(*futures)

    def _notice_topic(self, participant: str) -> Any:
        """The participant's notification topic, created on first use by this worker."""
        topic = self._notice_topics.get(participant)
        if topic is None:
            name = ensure_notification_topic(self.settings, participant)
            topic = self._notice_topics[participant] = self.app.topic(name, **self._raw)
        return topic

    async def _reading(
        self, stage: str, handle: Callable[[StageConsumer, list[InMessage]], Awaitable[None]]
    ) -> None:
        """Run one stage: its consumer's batches through `handle` until the worker stops.

        An error `handle` does not absorb itself (the broker, not PostgreSQL) is logged and the
        consumer started afresh from the committed offsets: nothing uncommitted is skipped.
        """
        while True:
            reader = StageConsumer(
                self.settings, stage, batch=self.batch, wait_s=WITHIN, slot=self.slot
            )
            try:
                await reader.start()
                async for messages in reader.batches():
                    await handle(reader, messages)
                    # A batch runs on the loop thread: let the other stages in between.
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: reading failed; its consumer starts again in 3s", stage)
                await asyncio.sleep(3)
            finally:
                await reader.stop()

    async def _verify_loop(self) -> None:
        # One batch's outputs wait for the broker's acknowledgements while the next batch is
        # verified and stored: at most one batch in delivery, delivered and committed in order.
        delivering: asyncio.Future[None] | None = None

        async def verify(reader: StageConsumer, messages: list[InMessage]) -> None:
            nonlocal delivering
            started = time.monotonic()
            result = await _until_stored(
                "verify", functools.partial(self.verify_stage.process, messages)
            )
            if delivering is not None:
                await delivering
            delivering = asyncio.ensure_future(self._deliver(reader, messages, result, started))

        try:
            await self._reading("verify", verify)
        finally:
            if delivering is not None and not delivering.done():
                # Stopping: what is not committed yet is read again and absorbed.
                delivering.cancel()

    async def _deliver(
        self, reader: StageConsumer, messages: list[InMessage], result: BatchResult,
        started: float,
    ) -> None:
        await self._send_all(result.outgoing)
        await reader.commit(messages)
        log.info(
            "verify: %d messages, %d stored, %d quarantined, %d duplicates, %d resent, "
            "%d re-driven in %.3fs",
            len(messages),
            result.stored,
            result.quarantined,
            result.duplicates,
            result.resent,
            result.redriven,
            time.monotonic() - started,
        )

    async def _project_loop(self) -> None:
        async def project(reader: StageConsumer, messages: list[InMessage]) -> None:
            result = await _until_stored(
                "project", functools.partial(self.project_stage.process, messages)
            )
            await reader.commit(messages)
            log.info(
                "project: %d messages, %d applied, %d skipped, %d unknown",
                len(messages), result.applied, result.skipped, result.unknown,
            )

        await self._reading("project", project)

    async def _match_loop(self) -> None:
        await self._reading("match", self._matching("match", self.match_stage.process, "events"))

    async def _key_loop(self) -> None:
        await self._reading(
            "match-keys", self._matching("match-keys", self.key_stage.process, "probes")
        )

    def _matching(
        self, stage: str, process: Callable[[list[InMessage]], Any], what: str
    ) -> Callable[[StageConsumer, list[InMessage]], Awaitable[None]]:
        """A matching stage's batch: one transaction, then the outbox sent after the commit
        (whatever is not acknowledged stays in the outbox), then the input committed."""

        async def match(reader: StageConsumer, messages: list[InMessage]) -> None:
            started = time.monotonic()
            result = await _until_stored(stage, functools.partial(process, messages))
            matched = time.monotonic()
            sent = await _until_stored("match outbox", self.match_sender.flush)
            await reader.commit(messages)
            log.info(
                "%s: %d %s, %d notified, %d to review, %d suppressed, %d failed in %.3fs; "
                "%d sent in %.3fs",
                stage, result.events, what, result.notified, result.reviewed, result.suppressed,
                result.failed, matched - started, sent, time.monotonic() - matched,
            )

        return match

    async def _push_alerts(self) -> None:
        swept = await _until_stored("alert push", self.pusher.sweep)
        if swept.pushed:
            await self._flush_outbox()
    async def _sweep(self) -> None:
        escalated = await _until_stored("deadline sweep", self.sweep.run_once)
        if self.retention is not None:
            escalated += await _until_stored("retention sweep", self.retention.run_once)
        if escalated:
            sent = await _until_stored("match outbox", self.match_sender.flush)
            log.info("deadline sweep: %d escalated, %d sent", escalated, sent)

    async def _flush_outbox(self) -> None:
        sent = await _until_stored("match outbox", self.match_sender.flush)
        if sent:
            log.info("match outbox: %d pending messages sent", sent)


def create_app(settings: Settings, **kwargs: Any) -> faust.App:
    """The Faust app for these settings (see :class:`PipelineApp`)."""
    return PipelineApp(settings, **kwargs).app
