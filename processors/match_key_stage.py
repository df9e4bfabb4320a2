"""The second half of matching partitioned by blocking key: the owner of a key scores it.

Consumes the keyed topic (``match-keys``, hub.topics): each message is a probe sent once a
person was indexed by the match stage (hub.matching.fanout). A batch is one transaction with its
input positions (consumer ``match-keys``), so a redelivered probe has no second effect and a
worker that restarts resumes where its partitions were left; hits go through the same rules,
pair lock and outbox as the match stage's. No lock is shared between batches: two workers own
different keys, and a pair found by both is merged by its own lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hub.errors import MatchingInputError, RoutingError
from hub.limits import storable_text
from hub.matching.fanout import decode_probe
from hub.matching.store import MatchStore, MatchTxn
from processors.match_stage import MatchResult, MatchStage, is_outage
from processors.tracking import InMessage, advance_partitions, claim_partitions

log = logging.getLogger(__name__)

__all__ = ["KEYS_CONSUMER", "KeyStage"]

KEYS_CONSUMER = "match-keys"


class _ProbeFailed(Exception):
    """A probe failed in a batch searched without savepoints: undo it, redo it guarded."""


class KeyStage:
    """Run batches of probes through the match stage's scoring (see the module docstring)."""

    def __init__(self, stage: MatchStage, store: MatchStore, consumer: str = KEYS_CONSUMER):
        self.stage = stage
        self.store = store
        self.consumer = consumer

    def process(self, messages: Sequence[InMessage]) -> MatchResult:
        """One batch, one transaction; raises StoreUnavailable to be retried as a whole.

        The probes are searched together, their persons and candidates read with one query
        each for the whole batch and without a savepoint each; should one fail, the batch is
        undone and done again probe by probe with a savepoint each, so that probe alone is
        kept as failed.
        """
        try:
            return self._run(messages, guarded=False)
        except _ProbeFailed:
            return self._run(messages, guarded=True)

    def _run(self, messages: Sequence[InMessage], guarded: bool) -> MatchResult:
        result = MatchResult()
        self.stage.begin_batch()
        with self.store.transaction() as txn:
            done = claim_partitions(txn, self.consumer, messages)
            fresh = [m for m in messages if m.offset > done[(m.topic, m.partition)]]
            result.skipped += len(messages) - len(fresh)
            result.events += len(fresh)
            if guarded:
                for msg in fresh:
                    self._guarded(txn, msg, result)
            else:
                try:
                    self.stage.search_probes(txn, [decode_probe(m.value) for m in fresh], result)
                except Exception as err:
                    if is_outage(err):
                        raise
                    raise _ProbeFailed from err
            advance_partitions(txn, self.consumer, messages)
        return result

    def _guarded(self, txn: MatchTxn, msg: InMessage, result: MatchResult) -> None:
        where = f"{msg.topic}[{msg.partition}]@{msg.offset}"
        try:
            with txn.savepoint():
                self.stage.search_probe(txn, decode_probe(msg.value), result)
        except (MatchingInputError, RoutingError) as err:
            self._failed(txn, where, str(err), result)
        except Exception as err:
            if is_outage(err):
                raise  # the whole batch waits and is retried
            log.exception("match-keys: probe %s failed", where)
            self._failed(txn, where, f"{type(err).__name__}: {err}", result)

    def _failed(self, txn: MatchTxn, where: str, reason: str, result: MatchResult) -> None:
        """Keep a probe that could not be searched, named by its place in the keyed topic."""
        result.failed += 1
        txn.fail(where, "match-probe", storable_text(reason))
        log.warning("match-keys: probe %s kept as failed: %s", where, reason)
