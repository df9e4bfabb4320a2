"""The streaming matcher's state in PostgreSQL (tables of migration 0020_matching.sql): the
:class:`hub.matching.store.MatchStore` the pipeline runs with.

The candidate index is two tables: persons with their facts as JSON, and (blocking key, person)
rows with the key indexed, so any worker of the pipeline searches the same index and it survives
restarts. Every write of one batch happens in one transaction with the batch's input positions;
outgoing messages go through an outbox table and are sent after the commit.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hub.atrest import redacted_explanation
from hub.config import load_settings
from hub.errors import StoreError
from hub.matching.facts import (
    BirthInfo,
    DatePrecision,
    DnaOrigin,
    NameKind,
    PersonFacts,
    PersonRef,
    Sex,
    SourceKind,
)
from hub.matching.kinship import TableSet, normalise_profile
from hub.matching.rules import (
    AlertState,
    AlertStatus,
    IndexedPerson,
    KnownPair,
    PairRecord,
    PairStatus,
)
from hub.matching.store import (
    RECLAIM_AFTER,
    IndexEntry,
    MatchFailure,
    NameCounts,
    Outbox,
    OutboxMessage,
    OwnedQuery,
    Replacement,
    Side,
)
from hub.store import to_jsonable
from processors import pg_tracking
from processors.pg_keys import CaseKeyring, keyring_for
from processors.pg_match_seal import MatchSealer
from processors.pg_store import PgConnection

__all__ = [
    "ALERT_COLUMNS",
    "AlertState",
    "PgMatchStore",
    "PgMatchTxn",
    "alert_state",
    "dna_coverage",
    "facts_from_json",
    "facts_to_json",
]

# One lock for batches that search in place (a rebuild): an alert and a record committed at the
# same moment would otherwise each search an index without the other. The workers fan out by
# blocking key instead (hub.matching.fanout) and take no such lock.
_MATCH_LOCK = 0x6D617463  # "matc"
# The class of per-pair locks (two-key advisory locks: this class, a hash of the match id).
_PAIR_LOCKS = 0x70616972  # "pair"


def facts_to_json(facts: PersonFacts) -> dict[str, Any]:
    """A JSON object holding everything the matcher compares about a person."""
    birth = facts.birth
    return {
        "ref": [
            facts.ref.source.value,
            facts.ref.event_id,
            facts.ref.business_id,
            facts.ref.child_index,
        ],
        "name": facts.name,
        "other_names": list(facts.other_names),
        "surname": facts.surname,
        "given_name": facts.given_name,
        "name_kind": facts.name_kind.value,
        "family_name": facts.family_name,
        "given_names": facts.given_names,
        "foreign_documents": list(facts.foreign_documents),
        "address_text": facts.address_text,
        "sex": facts.sex.value,
        "birth": None
        if birth is None
        else {
            "precision": birth.precision.value,
            "date": birth.date.isoformat() if birth.date else None,
            "min_age": birth.min_age,
            "max_age": birth.max_age,
        },
        "observed_at": facts.observed_at.isoformat() if facts.observed_at else None,
        "id_number": facts.id_number,
        "home_province": facts.home_province,
        "seen_provinces": list(facts.seen_provinces),
        "marks": facts.marks,
        "str_profile": _profile_json(facts.str_profile),
        "father_profile": _profile_json(facts.father_profile),
        "mother_profile": _profile_json(facts.mother_profile),
        "dna_origin": _origin_json(facts.dna_origin),
        "parents_dna_origin": _origin_json(facts.parents_dna_origin),
    }


def _origin_json(origin: DnaOrigin | None) -> dict[str, str | None] | None:
    if origin is None:
        return None
    return {"kit": origin.kit, "lab": origin.lab, "population": origin.population}


def _origin(raw: Any) -> DnaOrigin | None:
    # Rows written before kits were kept have no origin: kit unknown.
    if not isinstance(raw, dict):
        return None
    return DnaOrigin(raw.get("kit"), raw.get("lab"), raw.get("population"))


def _profile_json(profile: dict[str, tuple[str, str]] | None) -> dict[str, list[str]] | None:
    return None if profile is None else {k: list(v) for k, v in profile.items()}


def _profile(raw: Any) -> dict[str, tuple[str, str]] | None:
    return None if raw is None else {k: (str(v[0]), str(v[1])) for k, v in raw.items()}


def _day(raw: Any) -> dt.date | None:
    return None if raw is None else dt.date.fromisoformat(str(raw))


def facts_from_json(raw: dict[str, Any]) -> PersonFacts:
    """The inverse of :func:`facts_to_json`."""
    source, event_id, business_id, child_index = raw["ref"]
    birth = raw.get("birth")
    return PersonFacts(
        ref=PersonRef(SourceKind(source), event_id, business_id, child_index),
        name=raw.get("name"),
        other_names=tuple(raw.get("other_names") or ()),
        surname=raw.get("surname"),
        given_name=raw.get("given_name"),
        # Rows stored before names had a kind hold full names.
        name_kind=NameKind(raw.get("name_kind") or "FULL"),
        family_name=raw.get("family_name"),
        given_names=raw.get("given_names"),
        foreign_documents=tuple(raw.get("foreign_documents") or ()),
        address_text=raw.get("address_text"),
        sex=Sex(raw.get("sex") or "U"),
        birth=None
        if birth is None
        else BirthInfo(
            DatePrecision(birth["precision"]),
            _day(birth.get("date")),
            birth.get("min_age"),
            birth.get("max_age"),
        ),
        observed_at=_day(raw.get("observed_at")),
        id_number=raw.get("id_number"),
        home_province=raw.get("home_province"),
        seen_provinces=tuple(raw.get("seen_provinces") or ()),
        marks=raw.get("marks"),
        str_profile=_profile(raw.get("str_profile")),
        father_profile=_profile(raw.get("father_profile")),
        mother_profile=_profile(raw.get("mother_profile")),
        dna_origin=_origin(raw.get("dna_origin")),
        parents_dna_origin=_origin(raw.get("parents_dna_origin")),
    )


# The columns of match_alerts (as table alias `a`) that make an AlertState, in its order.
ALERT_COLUMNS = (
    "a.alert_id, a.alert_event_id, a.publisher_id, a.body, a.updates, a.parents_dna, a.status"
)


def alert_state(row: Sequence[Any]) -> AlertState:
    """An AlertState from a row of ALERT_COLUMNS."""
    alert_id, event_id, publisher_id, body, updates, parents_dna, status = row
    return AlertState(
        alert_id, event_id, publisher_id, body, tuple(updates or ()), parents_dna,
        AlertStatus(status),
    )


def _no_index() -> MatchSealer:
    raise StoreError("this matcher transaction has no access to the candidate index")


class PgMatchTxn:
    """The matcher's reads and writes inside one transaction (a :class:`MatchTxn`)."""

    def __init__(self, cur: psycopg.Cursor[Any],
                 sealer: Callable[[], MatchSealer] | None = None) -> None:
        self._cur = cur
        # Rescued persons' facts sealed, blocking keys blinded; only the candidate index needs it.
        self._sealer = sealer or _no_index

    @property
    def cursor(self) -> psycopg.Cursor[Any]:
        """The transaction's cursor, for the response tables (processors.pg_response)."""
        return self._cur

    def lock(self) -> None:
        self._cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MATCH_LOCK,))

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        """The last offset this consumer processed on a partition (-1 if none); row-locked."""
        return pg_tracking.claim(self._cur, consumer, topic, partition)

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        pg_tracking.advance(self._cur, consumer, topic, partition, offset)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: work for one event is undone alone when it fails."""
        with self._cur.connection.transaction():
            yield

    # --- the candidate index ---------------------------------------------------------------

    def replace_persons(self, business_id: str, side: Side, entries: Sequence[IndexEntry]) -> None:
        self.replace_batch([Replacement(business_id, side, entries)])

    def replace_batch(self, replacements: Sequence[Replacement]) -> None:
        # One statement per table for the whole batch: a person per row was two round trips
        # per blocking key, the most of what indexing cost.
        latest = {(r.business_id, r.side): r.entries for r in replacements}
        if not latest:
            return
        counts = self._delete([(b, s) for b, s in latest])
        sealer = self._sealer()
        persons: list[tuple[Any, ...]] = []
        keys: list[tuple[str, str, str]] = []
        for (business_id, side), entries in latest.items():
            for entry in entries:
                person, pinyin, latin = entry.person, entry.pinyin, entry.latin
                ref = person.facts.ref.label()
                facts, sealed_case = sealer.seal(self._cur, person.facts,
                                                 facts_to_json(person.facts))
                if sealed_case is not None:
                    # A rescued person's name is not kept in clear, not even counted.
                    pinyin = latin = None
                persons.append((
                    ref, side.value, business_id, person.facts.ref.child_index,
                    person.facts.ref.event_id, person.publisher_id, person.area_code,
                    json.dumps(facts, ensure_ascii=False),
                    pinyin[0] if pinyin else None, pinyin[1] if pinyin else None, sealed_case,
                    latin[0] if latin else None, latin[1] if latin else None,
                ))
                _count(counts, pinyin, latin, +1)
                keys.extend((key, side.value, ref) for key in sealer.keys(entry.keys))
        if persons:
            self._cur.execute(
                "INSERT INTO match_persons (person_ref, side, business_id, child_index, "
                "event_id, publisher_id, area_code, facts, surname_py, given_py, sealed_case, "
                "latin_family, latin_given) "
                "SELECT r, s, b, c, e, pub, area, f::jsonb, sp, gp, sc, lf, lg FROM unnest("
                "%b::text[], %b::text[], %b::text[], %b::int[], %b::text[], %b::text[], "
                "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], "
                "%b::text[]) AS t(r, s, b, c, e, pub, area, f, sp, gp, sc, lf, lg)",
                [list(column) for column in zip(*persons, strict=True)],
            )
        if keys:
            self._cur.execute(
                "INSERT INTO match_keys (block_key, side, person_ref) "
                "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[]) "
                "ON CONFLICT DO NOTHING",
                [list(column) for column in zip(*keys, strict=True)],
            )
        self._add_counts(counts)

    def remove_persons(self, business_id: str, side: Side) -> int:
        counts = self._delete([(business_id, side)])
        self._add_counts(counts)
        return -counts.get(("persons", "*"), 0)

    def _delete(self, wanted: Sequence[tuple[str, Side]]) -> dict[tuple[str, str], int]:
        """Drop the persons of these (business id, side); the name counts they took away."""
        self._cur.execute(
            "DELETE FROM match_persons p USING unnest(%b::text[], %b::text[]) AS d(b, s) "
            "WHERE p.business_id = d.b AND p.side = d.s "
            "RETURNING p.surname_py, p.given_py, p.latin_family, p.latin_given",
            ([b for b, _ in wanted], [s.value for _, s in wanted]),
        )
        counts: dict[tuple[str, str], int] = {}
        for surname, given, family, first in self._cur.fetchall():
            _count(counts, None if surname is None else (surname, given or ""),
                   None if family is None else (family, first or ""), -1)
        return counts

    def _add_counts(self, counts: dict[tuple[str, str], int]) -> None:
        # In key order, so that two workers lock the shared rows in one order.
        changed = sorted((part, value, n) for (part, value), n in counts.items() if n)
        if not changed:
            return
        self._cur.execute(
            "INSERT INTO match_name_counts (part, value, n) "
            "SELECT * FROM unnest(%b::text[], %b::text[], %b::int[]) "
            "ON CONFLICT (part, value) DO UPDATE SET n = match_name_counts.n + EXCLUDED.n",
            [list(column) for column in zip(*changed, strict=True)],
        )

    def name_counts(
        self, names: Iterable[tuple[str, str]], latin: Iterable[tuple[str, str]] = ()
    ) -> NameCounts:
        wanted, latin_wanted = list(names), list(latin)
        self._cur.execute(
            "SELECT part, value, n FROM match_name_counts "
            "WHERE (part = 'surname' AND value = ANY(%s)) "
            "OR (part = 'given' AND value = ANY(%s)) "
            "OR (part = 'latin_family' AND value = ANY(%s)) "
            "OR (part = 'latin_given' AND value = ANY(%s)) "
            "OR part IN ('total', 'persons', 'latin_total')",
            (sorted({surname for surname, _ in wanted}), sorted({given for _, given in wanted}),
             sorted({family for family, _ in latin_wanted}),
             sorted({first for _, first in latin_wanted})),
        )
        counts = NameCounts()
        for part, value, n in self._cur.fetchall():
            if part == "total":
                counts.named = int(n)
            elif part == "persons":
                counts.persons = int(n)
            elif part == "latin_total":
                counts.latin_named = int(n)
            elif part in ("latin_family", "latin_given"):
                prefix = "f:" if part == "latin_family" else "g:"
                counts.latin_counts[prefix + value] = int(n)
            else:
                table = counts.surname_counts if part == "surname" else counts.given_counts
                table[value] = int(n)
        return counts

    def candidates(self, keys: Iterable[str], side: Side) -> list[IndexedPerson]:
        wanted = self._sealer().keys(keys)
        if not wanted:
            return []
        self._cur.execute(
            "SELECT p.facts, p.publisher_id, p.area_code, p.sealed_case FROM match_persons p "
            "WHERE p.person_ref IN (SELECT k.person_ref FROM match_keys k "
            "WHERE k.side = %s AND k.block_key = ANY(%b::text[])) ORDER BY p.person_ref",
            (side.value, wanted),
        )
        return self._indexed(self._cur.fetchall())

    def blind(self, keys: Iterable[str]) -> list[str]:
        return self._sealer().keys(keys)

    def owned_candidates(
        self, key: str, probe_keys: Iterable[str], side: Side
    ) -> list[IndexedPerson]:
        # Keys in their stored form (blind); compared in code point order (COLLATE "C"), as
        # every worker and Python sort them.
        self._cur.execute(
            "SELECT p.facts, p.publisher_id, p.area_code, p.sealed_case FROM match_keys k "
            "JOIN match_persons p ON p.person_ref = k.person_ref "
            "WHERE k.side = %(side)s AND k.block_key = %(key)s AND NOT EXISTS ("
            "SELECT 1 FROM match_keys o WHERE o.person_ref = k.person_ref AND o.side = k.side "
            "AND o.block_key = ANY(%(probe)s) "
            'AND o.block_key COLLATE "C" < %(key)s COLLATE "C") ORDER BY p.person_ref',
            {"side": side.value, "key": key, "probe": sorted(set(probe_keys))},
        )
        return self._indexed(self._cur.fetchall())

    def owned_candidates_batch(self, queries: Sequence[OwnedQuery]) -> list[list[IndexedPerson]]:
        if not queries:
            return []
        # As owned_candidates, for every query at once: the persons under each query's key
        # less those under any of its probe keys smaller than that key (code point order, as
        # COLLATE "C"), both found by the key index. A person found by several queries comes
        # with its facts once.
        smaller = [(i, k, q.side.value) for i, q in enumerate(queries)
                   for k in sorted(set(q.probe_keys)) if k < q.key]
        self._cur.execute(
            "WITH q AS (SELECT * FROM unnest(%b::int[], %b::text[], %b::text[]) "
            "AS q(i, key, side)), "
            "s AS (SELECT * FROM unnest(%b::int[], %b::text[], %b::text[]) AS s(i, key, side)), "
            "found AS (SELECT q.i, k.person_ref FROM q JOIN match_keys k "
            "ON k.block_key = q.key AND k.side = q.side EXCEPT "
            "SELECT s.i, o.person_ref FROM s JOIN match_keys o "
            "ON o.block_key = s.key AND o.side = s.side), "
            "ranked AS (SELECT i, person_ref, "
            "row_number() OVER (PARTITION BY person_ref ORDER BY i) AS n FROM found) "
            "SELECT r.i, r.person_ref, p.facts, p.publisher_id, p.area_code, p.sealed_case "
            "FROM ranked r LEFT JOIN match_persons p ON p.person_ref = r.person_ref AND r.n = 1",
            (list(range(len(queries))), [q.key for q in queries],
             [q.side.value for q in queries], [x[0] for x in smaller],
             [x[1] for x in smaller], [x[2] for x in smaller]),
        )
        rows = self._cur.fetchall()
        first = [r for r in rows if r[2] is not None]
        opened = dict(zip((r[1] for r in first), self._opened([
            (r[2], r[3], r[4], r[5]) for r in first]), strict=True))
        out: list[list[tuple[str, IndexedPerson]]] = [[] for _ in queries]
        for i, ref, *_ in rows:
            found = opened.get(ref)
            if found is not None:
                out[i].append((ref, found))
        # By person label, as the single query (sorted here: sorting the wide rows in
        # PostgreSQL spilled to disk).
        return [[p for _, p in sorted(found, key=lambda f: f[0])] for found in out]

    def persons(self, wanted: Iterable[tuple[Side, str]]) -> dict[tuple[Side, str], IndexedPerson]:
        asked = set(wanted)
        if not asked:
            return {}
        self._cur.execute(
            "SELECT side, person_ref, facts, publisher_id, area_code, sealed_case "
            "FROM match_persons WHERE person_ref = ANY(%b::text[])",
            (sorted({ref for _, ref in asked}),),
        )
        rows = [r for r in self._cur.fetchall() if (Side(r[0]), r[1]) in asked]
        opened = self._opened([(r[2], r[3], r[4], r[5]) for r in rows])
        return {(Side(r[0]), r[1]): p for r, p in zip(rows, opened, strict=True)
                if p is not None}

    def person(self, side: Side, ref: str) -> IndexedPerson | None:
        self._cur.execute(
            "SELECT facts, publisher_id, area_code, sealed_case FROM match_persons "
            "WHERE person_ref = %s AND side = %s",
            (ref, side.value),
        )
        row = self._cur.fetchone()
        found = self._indexed([row]) if row is not None else []
        return found[0] if found else None

    def _indexed(self, rows: Sequence[Sequence[Any]]) -> list[IndexedPerson]:
        # Rows of (facts, publisher_id, area_code, sealed_case); a shredded person is left out.
        return [p for p in self._opened(rows) if p is not None]

    def _opened(self, rows: Sequence[Sequence[Any]]) -> list[IndexedPerson | None]:
        """Each row of (facts, publisher_id, area_code, sealed_case) as a person; None for a
        shredded one."""
        opened = self._sealer().open(self._cur, [(r[0], r[3]) for r in rows])
        return [None if f is None else IndexedPerson(facts_from_json(f), r[1], r[2])
                for f, r in zip(opened, rows, strict=True)]

    def dna_candidates(
        self, keys: Iterable[str], side: Side, min_share: float, limit: int | None
    ) -> list[IndexedPerson]:
        wanted = self._sealer().keys(keys)
        if not wanted:
            return []
        self._cur.execute(
            "WITH k AS (SELECT person_ref, "
            "count(DISTINCT split_part(block_key, ':', 2)) "
            "FILTER (WHERE block_key LIKE 'dna:%%') AS shared, "
            "count(*) FILTER (WHERE block_key LIKE 'dnag:%%') AS possible "
            "FROM match_keys WHERE side = %s AND block_key = ANY(%b::text[]) GROUP BY person_ref) "
            "SELECT p.facts, p.publisher_id, p.area_code, p.sealed_case FROM k "
            "JOIN match_persons p ON p.person_ref = k.person_ref "
            "WHERE k.shared > 0 AND k.shared >= %s * greatest(k.possible, 1) "
            "ORDER BY k.shared::float / greatest(k.possible, 1) DESC, p.person_ref LIMIT %s",
            (side.value, wanted, min_share, limit),
        )
        return self._indexed(self._cur.fetchall())

    # --- alerts and tips -------------------------------------------------------------------

    def alert(self, alert_id: str) -> AlertState | None:
        self._cur.execute(
            f"SELECT {ALERT_COLUMNS} FROM match_alerts a WHERE alert_id = %s FOR UPDATE",
            (alert_id,),
        )
        row = self._cur.fetchone()
        return None if row is None else alert_state(row)

    def save_alert(self, state: AlertState, reason: str | None = None) -> None:
        self._cur.execute(
            "INSERT INTO match_alerts (alert_id, alert_event_id, publisher_id, body, updates, "
            "parents_dna, status, status_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (alert_id) DO UPDATE SET alert_event_id = EXCLUDED.alert_event_id, "
            "publisher_id = EXCLUDED.publisher_id, body = EXCLUDED.body, "
            "updates = EXCLUDED.updates, parents_dna = EXCLUDED.parents_dna, "
            "status = EXCLUDED.status, "
            "status_reason = COALESCE(EXCLUDED.status_reason, match_alerts.status_reason), "
            "updated_at = clock_timestamp()",
            (
                state.alert_id,
                state.alert_event_id,
                state.publisher_id,
                _json(state.body),
                Jsonb(to_jsonable(list(state.updates))),
                _json(state.parents_dna),
                state.status.value,
                reason,
            ),
        )

    def open_alerts(self, not_sex: str | None, seen_by: str | None) -> list[AlertState]:
        self._cur.execute(
            f"SELECT {ALERT_COLUMNS} FROM match_alerts a "
            "WHERE status = 'open' AND body IS NOT NULL "
            "AND (%(sex)s::text IS NULL OR body->'person'->>'sex' IS DISTINCT FROM %(sex)s) "
            "AND (%(seen)s::timestamptz IS NULL "
            "OR (body->>'last_seen_at')::timestamptz <= %(seen)s::timestamptz) "
            "ORDER BY alert_id",
            {"sex": not_sex, "seen": seen_by},
        )
        return [alert_state(r) for r in self._cur.fetchall()]

    def record_tip_forward(
        self, tip_event_id: str, tip_id: str, recipient: str, role: str, alert_ids: list[str]
    ) -> bool:
        self._cur.execute(
            "INSERT INTO tip_forwards (tip_event_id, tip_id, recipient, role, alert_ids) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (tip_event_id, tip_id, recipient, role, alert_ids),
        )
        return self._cur.rowcount == 1

    # --- pairs and decisions ---------------------------------------------------------------

    def pair(self, match_id: str) -> KnownPair | None:
        # A row lock cannot hold a pair that has no row yet: the pair's own advisory lock makes
        # two workers finding the same new pair (under two blocking keys) take turns.
        self._cur.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_PAIR_LOCKS, match_id)
        )
        self._cur.execute(
            "SELECT status, evidence, recipients FROM match_pairs WHERE match_id = %s FOR UPDATE",
            (match_id,),
        )
        row = self._cur.fetchone()
        if row is None:
            return None
        status, evidence, recipients = row
        return KnownPair(PairStatus(status), evidence, tuple(recipients or ()))

    def save_pair(self, match_id: str, pair: PairRecord, notified: bool) -> None:
        explanation: list[Any] = list(pair.explanation)
        if pair.counterpart_kind == "RESCUE":
            # A rescued person's compared values stay sealed in the match-found event.
            explanation = redacted_explanation(explanation)
        self._cur.execute(
            "INSERT INTO match_pairs (match_id, alert_id, counterpart_ref, counterpart_kind, "
            "counterpart_id, child_index, score, level, explanation, alert_event_id, "
            "counterpart_event_id, status, recipients, routing_notes, evidence, notifications) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (match_id) DO UPDATE SET alert_id = EXCLUDED.alert_id, "
            "counterpart_ref = EXCLUDED.counterpart_ref, "
            "counterpart_kind = EXCLUDED.counterpart_kind, "
            "counterpart_id = EXCLUDED.counterpart_id, child_index = EXCLUDED.child_index, "
            "score = EXCLUDED.score, level = EXCLUDED.level, "
            "explanation = EXCLUDED.explanation, alert_event_id = EXCLUDED.alert_event_id, "
            "counterpart_event_id = EXCLUDED.counterpart_event_id, "
            "recipients = COALESCE(EXCLUDED.recipients, match_pairs.recipients), "
            "routing_notes = COALESCE(EXCLUDED.routing_notes, match_pairs.routing_notes), "
            "evidence = COALESCE(EXCLUDED.evidence, match_pairs.evidence), "
            "status = CASE WHEN match_pairs.status IN ('CONFIRMED', 'REJECTED', 'NEED_INFO') "
            "THEN match_pairs.status ELSE EXCLUDED.status END, "
            "notifications = match_pairs.notifications + EXCLUDED.notifications, "
            "updated_at = clock_timestamp()",
            (
                match_id,
                pair.alert_id,
                pair.counterpart_ref,
                pair.counterpart_kind,
                pair.counterpart_id,
                pair.child_index,
                pair.score,
                pair.level.value,
                _json(explanation),
                pair.alert_event_id,
                pair.counterpart_event_id,
                pair.status.value,
                _json(None if pair.recipients is None else list(pair.recipients)),
                _json(None if pair.routing_notes is None else list(pair.routing_notes)),
                pair.evidence,
                1 if notified else 0,
            ),
        )

    def decide(
        self, match_id: str, alert_id: str | None, decision: PairStatus, by: str, at: Any
    ) -> None:
        self._cur.execute(
            "INSERT INTO match_pairs (match_id, alert_id, status, decided_by, decided_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (match_id) DO UPDATE SET "
            "status = CASE WHEN match_pairs.decided_at IS NULL OR EXCLUDED.decided_at IS NULL "
            "OR EXCLUDED.decided_at >= match_pairs.decided_at THEN EXCLUDED.status "
            "ELSE match_pairs.status END, "
            "decided_by = EXCLUDED.decided_by, "
            "decided_at = GREATEST(match_pairs.decided_at, EXCLUDED.decided_at), "
            "alert_id = COALESCE(match_pairs.alert_id, EXCLUDED.alert_id), "
            "updated_at = clock_timestamp()",
            (match_id, alert_id, decision.value, by, at),
        )

    # --- participants, outbox, sequence, failures ----------------------------------------

    def registered(self) -> dict[str, str | None]:
        """Registered participants and their jurisdictions.

        Read from the event store, not the registry projection: the verify stage stores a
        registration before anything after it reaches the verified topic, while the projection
        agent may still be behind the matcher.
        """
        self._cur.execute(
            "SELECT body->>'participant_id', body->>'jurisdiction' FROM event_store "
            "WHERE event_type = 'participant-registered' ORDER BY position"
        )
        return {pid: area for pid, area in self._cur.fetchall() if pid}

    def outbox(
        self, topic: str, key: bytes | None, value: bytes, box: Outbox = Outbox.MESSAGES
    ) -> None:
        self._cur.execute(
            sql.SQL("INSERT INTO {} (topic, msg_key, msg_value) VALUES (%s, %s, %s)").format(
                sql.Identifier(box.value)
            ),
            (topic, key, value),
        )

    def outbox_batch(
        self, messages: Sequence[tuple[str, bytes | None, bytes]], box: Outbox = Outbox.MESSAGES
    ) -> None:
        if not messages:
            return
        self._cur.execute(
            sql.SQL("INSERT INTO {} (topic, msg_key, msg_value) SELECT t, k, v FROM unnest("
                    "%b::text[], %b::bytea[], %b::bytea[]) WITH ORDINALITY AS m(t, k, v, n) "
                    "ORDER BY n").format(sql.Identifier(box.value)),
            [list(column) for column in zip(*messages, strict=True)],
        )

    def next_sequence(self) -> int:
        self._cur.execute("SELECT nextval('match_found_sequence')")
        row = self._cur.fetchone()
        if row is None:
            raise StoreError("nextval('match_found_sequence') returned no row")
        return int(row[0])

    def fail(self, event_id: str, event_type: str, reason: str) -> None:
        self._cur.execute(
            "INSERT INTO match_failures (event_id, event_type, reason) VALUES (%s, %s, %s) "
            "ON CONFLICT (event_id) DO UPDATE SET reason = EXCLUDED.reason",
            (event_id, event_type, reason),
        )


def _count(counts: dict[tuple[str, str], int], pinyin: tuple[str, str] | None,
           latin: tuple[str, str] | None, delta: int) -> None:
    """Add a person to (or take one from) the name counts: every person, and by its name."""
    parts = [("persons", "*")]
    if pinyin is not None:
        parts += [("surname", pinyin[0]), ("given", pinyin[1]), ("total", "*")]
    if latin is not None:
        # A part the name lacks (one word, no given name) is not counted, as in the batch.
        parts += [(part, value) for part, value in (
            ("latin_family", latin[0]), ("latin_given", latin[1]), ("latin_total", "*")) if value]
    for part in parts:
        counts[part] = counts.get(part, 0) + delta


def _json(value: Any) -> Jsonb | None:
    return None if value is None else Jsonb(to_jsonable(value))


class PgMatchStore:
    """Transactions over the matcher's tables, the outbox and the review list."""

    def __init__(self, dsn: str, keyring: CaseKeyring | None = None) -> None:
        self.db = PgConnection(dsn)
        self._dsn = dsn
        self._sealer = None if keyring is None else MatchSealer(keyring)

    def sealer(self) -> MatchSealer:
        """How rescued persons' facts and the blocking keys are kept at rest."""
        if self._sealer is None:
            self._sealer = MatchSealer(keyring_for(self._dsn, load_settings().secrets_dir))
        return self._sealer

    def keyring(self) -> CaseKeyring:
        """The data keys of this database's cases."""
        return self.sealer().keyring

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[PgMatchTxn]:
        with self.db.transaction() as cur:
            yield PgMatchTxn(cur, self.sealer)

    def claim_outbox(
        self, limit: int = 1000, box: Outbox = Outbox.MESSAGES
    ) -> list[OutboxMessage]:
        """Unsent messages not being sent by another worker (or abandoned), oldest first."""
        with self.db.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "UPDATE {box} SET claimed_at = clock_timestamp() WHERE id IN ("
                    "SELECT id FROM {box} WHERE sent_at IS NULL "
                    "AND (claimed_at IS NULL OR claimed_at < clock_timestamp() - %s) "
                    "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
                    "RETURNING id, topic, msg_key, msg_value"
                ).format(box=sql.Identifier(box.value)),
                (RECLAIM_AFTER, limit),
            )
            rows = sorted(cur.fetchall())
        return [
            OutboxMessage(row_id, topic, None if key is None else bytes(key), bytes(value))
            for row_id, topic, key, value in rows
        ]

    def mark_sent(self, ids: Sequence[int], box: Outbox = Outbox.MESSAGES) -> None:
        if not ids:
            return
        with self.db.transaction() as cur:
            cur.execute(
                sql.SQL(
                    "UPDATE {} SET sent_at = clock_timestamp() WHERE id = ANY(%b::bigint[])"
                ).format(sql.Identifier(box.value)),
                (list(ids),),
            )

    def review_list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Undecided pairs between the thresholds, best score first."""
        with self.db.transaction() as cur:
            cur.execute(
                "SELECT match_id, alert_id, counterpart_kind, counterpart_id, child_index, score, "
                "explanation, first_found_at FROM match_review "
                "ORDER BY score DESC, first_found_at LIMIT %s",
                (limit,),
            )
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def failures(self) -> list[MatchFailure]:
        with self.db.cursor() as cur:
            cur.execute("SELECT event_id, event_type, reason FROM match_failures ORDER BY event_id")
            return [MatchFailure(*row) for row in cur.fetchall()]


def dna_coverage(cur: psycopg.Cursor[Any], tables: TableSet,
                 sealer: MatchSealer) -> dict[str, tuple[int, int]]:
    """Per allele table: indexed DNA profiles it was chosen for, and how many of them it does
    not cover well (their DNA cannot notify alone); for `hubctl status`. Rescued persons'
    sealed facts are opened to look (a shredded one counts no more)."""
    cur.execute(
        "SELECT facts, sealed_case FROM match_persons WHERE facts->'str_profile' <> 'null' "
        "OR facts->'father_profile' <> 'null' OR facts->'mother_profile' <> 'null' "
        "OR sealed_case IS NOT NULL"
    )
    out: dict[str, list[int]] = {}
    for raw in sealer.open(cur, [(r[0], r[1]) for r in cur.fetchall()]):
        if raw is None:
            continue
        facts = facts_from_json(raw)
        for profile, origin in (
            (facts.str_profile, facts.dna_origin),
            (facts.father_profile, facts.parents_dna_origin),
            (facts.mother_profile, facts.parents_dna_origin),
        ):
            if not profile:
                continue
            table = tables.choose(origin)
            kit = origin.kit if origin is not None and origin.kit_known else None
            counts = out.setdefault(table.name, [0, 0])
            counts[0] += 1
            counts[1] += not table.coverage(normalise_profile(profile), kit).fits
    return {name: (c[0], c[1]) for name, c in out.items()}
