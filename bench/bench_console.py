"""Benchmark: the operator console's page render times over a large store.

Fills a database of its own with N stored events (spread over the last week), M match
pairs with one notification each, quarantine entries and decisions, then serves it with
`hubctl console` and times every page through real HTTP requests of a logged-in operator
(render on the server, as the browser waits for it). The limit is the issue's: p95 under
300 ms per page.

    .venv/bin/python bench/bench_console.py [--events 1000000] [--matches 100000] [--rounds 40]

Also run by `hubctl bench` (`--quick`: 100,000 events and 10,000 matches).

Needs the services (`hubctl services up`); uses its own topic prefix and database, and removes
both at the end.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psycopg

from hub.config import Settings, load_settings
from ops import db
from ops.console.accounts import Accounts
from ops.console.detached import launch
from ops.console.loopback import address
from processors import topic_admin
from processors.processes import free_ports

LIMIT_MS = 300.0
# Stored events arrive over a week (about 6 a second for a million), the last hour's among them.
SPREAD_S = 7 * 24 * 3600
PASSWORD = "benchmark-password"
PUBLISHERS = [f"{code}-{dept}" for code in ("320000", "340000", "410000", "450000", "510000",
                                            "520000", "530000")
              for dept in ("police", "migrant-registry", "civil-affairs")]
REASONS = ["BAD_SIGNATURE", "UNKNOWN_KEY", "NOT_PERMITTED", "MALFORMED", "DUPLICATE"]
STATES = ["NOTIFIED", "REVIEW", "CONFIRMED", "REJECTED", "NEED_INFO"]


def fill(settings: Settings, events: int, matches: int, quarantined: int) -> None:
    """Synthetic rows straight into the tables the console reads (the owner role writes)."""
    pubs, reasons, states = (
        "ARRAY[" + ",".join(f"'{v}'" for v in values) + "]"
        for values in (PUBLISHERS, REASONS, STATES)
    )
    notify = f"{settings.topic_prefix}notifications.510000-police"
    statements = [
        "INSERT INTO event_store (event_id, event_type, schema_version, schema_fingerprint, "
        "publisher_id, key_id, sequence, occurred_at, published_at, payload, signature, wire, "
        f"body, stored_at) SELECT gen_random_uuid()::text, 'migrant-record', 1, 'f', "
        f"({pubs})[1 + i % {len(PUBLISHERS)}], 'k', i, now(), now(), "
        "decode(repeat('ab', 150), 'hex'), decode(repeat('cd', 64), 'hex'), "
        "decode(repeat('ef', 400), 'hex'), jsonb_build_object('record_id', 'M-' || i), "
        f"now() - (i % {SPREAD_S}) * interval '1 second' FROM generate_series(1, {events}) AS i",
        "INSERT INTO publisher_sequences (publisher_id, last_sequence, last_seen_at, events) "
        f"SELECT p, {events}, now(), {events // len(PUBLISHERS)} FROM unnest({pubs}) AS p",
        "INSERT INTO proj_participants (participant_id, jurisdiction, department, display_name, "
        "registered_at) SELECT p, left(p, 6), split_part(p, '-', 2), p, now() "
        f"FROM unnest({pubs}) AS p",
        "INSERT INTO proj_participant_keys (participant_id, key_id, public_key, valid_from, "
        "valid_until, status) SELECT p, md5(p), 'x', now() - interval '30 days', "
        f"now() + interval '7 days', 'active' FROM unnest({pubs}) AS p",
        "INSERT INTO proj_participant_permissions (participant_id, event_type, status, "
        f"effective_at) SELECT p, 'migrant-record', 'granted', now() FROM unnest({pubs}) AS p",
        "INSERT INTO quarantine (reason, detail, wire, received_at, publisher_id, event_type) "
        f"SELECT ({reasons})[1 + i % {len(REASONS)}], 'detail ' || i, "
        "decode(repeat('ab', 300), 'hex'), now() - (i % 7200) * interval '1 second', "
        f"({pubs})[1 + i % {len(PUBLISHERS)}], 'migrant-record' "
        f"FROM generate_series(1, {quarantined}) AS i",
        "INSERT INTO match_pairs (match_id, alert_id, counterpart_kind, counterpart_id, score, "
        "level, status, explanation, recipients, first_found_at) SELECT "
        "md5(i::text), 'A-' || (i % 5000), 'MIGRANT_RECORD', 'M-' || i, 10 + i % 20, "
        f"'NOTIFY', ({states})[1 + i % {len(STATES)}], "
        "'[\"name: agree (林小红 ~ 林晓红) +4.1\", \"birth: agree (2014-02-02) +3.0\", "
        "\"place: near (510104 ~ 510105) +1.2\"]'::jsonb, '[\"510000-police\"]'::jsonb, "
        f"now() - (i % 86400) * interval '1 second' FROM generate_series(1, {matches}) AS i",
        "INSERT INTO match_outbox (topic, msg_key, msg_value, sent_at) SELECT "
        f"'{notify}', convert_to(md5(i::text), 'UTF8'), '\\x00', now() - (i % 7200) * "
        f"interval '1 second' FROM generate_series(1, {matches}) AS i",
        "INSERT INTO proj_match_decisions (match_id, event_id, publisher_id, occurred_at, "
        "alert_id, decision, deciding_unit, decided_at) SELECT md5(i::text), "
        "gen_random_uuid()::text, '510000-police', now(), 'A-1', 'CONFIRMED', '510000-police', "
        f"now() FROM generate_series(1, {matches // 5}) AS i",
        "ANALYZE",
    ]
    with psycopg.connect(settings.pg_owner_dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def serve(settings: Settings, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    (port,) = free_ports(1)
    env = {**os.environ, **settings.with_overrides(data_dir=data_dir).as_environment()}
    process = launch(str(Path(sys.executable).parent / "hubctl"), port, [], env,
                     data_dir / "console.log")
    return process, address(port).rstrip("/")


def logged_in(url: str) -> urllib.request.OpenerDirector:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/login").read().decode()
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    form = urllib.parse.urlencode(
        {"csrf": found.group(1), "username": "bench", "password": PASSWORD}).encode()
    landed = opener.open(f"{url}/login", data=form)
    if "/login" in landed.geturl():
        raise SystemExit("benchmark login refused")
    return opener


def time_pages(url: str, pages: list[str], rounds: int) -> dict[str, list[float]]:
    opener = logged_in(url)
    out: dict[str, list[float]] = {}
    for page in pages:
        for _ in range(3):  # warm caches and the status snapshot
            opener.open(url + page).read()
        times = []
        for _ in range(rounds):
            began = time.perf_counter()
            response = opener.open(url + page)
            response.read()
            times.append((time.perf_counter() - began) * 1000)
            if response.status != 200:
                raise SystemExit(f"{page}: HTTP {response.status}")
        out[page] = times
    return out


def run(events: int, matches: int, rounds: int = 40) -> dict[str, dict[str, float]]:
    base = load_settings()
    rid = secrets.token_hex(3)
    name = f"bench_console_{rid}"
    settings = db.create_database(base, name, exist_ok=False).with_overrides(
        topic_prefix=f"benchconsole{rid}.")
    process = None
    try:
        db.migrate(settings.pg_owner_dsn)
        topic_admin.apply(settings)
        began = time.monotonic()
        fill(settings, events, matches, max(events // 200, 100))
        print(f"filled {events} events and {matches} matches in "
              f"{time.monotonic() - began:.0f}s", flush=True)
        Accounts(settings.pg_dsn).add("bench", "operator", PASSWORD)
        with psycopg.connect(settings.pg_dsn) as conn:
            row = conn.execute("SELECT min(id) FROM quarantine").fetchone()
        entry = row[0] if row else 1
        with tempfile.TemporaryDirectory() as data_dir:
            process, url = serve(settings, Path(data_dir))
            pages = ["/", "/overview/live", "/participants", f"/participants/{PUBLISHERS[0]}",
                     "/quarantine", "/quarantine?reason=UNKNOWN_KEY&status=open",
                     f"/quarantine/{entry}", "/review", "/matches", "/matches?state=REVIEW",
                     f"/matches?page={max(matches // 100 // 2, 1)}",
                     f"/matches/{_md5(1)}", "/audit"]
            timed = time_pages(url, pages, rounds)
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=20)
        db.drop_database(base, name)
        topic_admin.delete_prefixed(settings)
    figures = {}
    for page, times in timed.items():
        ordered = sorted(times)
        figures[page] = {
            "p50": statistics.median(ordered),
            "p95": ordered[max(int(len(ordered) * 0.95) - 1, 0)],
            "max": ordered[-1],
        }
    return figures


def _md5(n: int) -> str:
    import hashlib

    return hashlib.md5(str(n).encode()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    figures = run(args.events, args.matches, args.rounds)
    print(f"console pages, {args.events} events, {args.matches} matches, "
          f"{args.rounds} requests each (limit p95 < {LIMIT_MS:.0f} ms):")
    over = 0
    for page, f in figures.items():
        verdict = "within" if f["p95"] < LIMIT_MS else "OVER"
        over += verdict == "OVER"
        print(f"  {page:<44} p50 {f['p50']:7.1f} ms  p95 {f['p95']:7.1f} ms  "
              f"max {f['max']:7.1f} ms  {verdict}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
