"""The operator console in a real headless Chromium, against real Kafka, PostgreSQL and a
pipeline worker. Screenshots of every page go to .data/test-output/console/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import (
    CIVIL,
    PASSWORD,
    POLICE,
    REGISTRY,
    SHOTS,
    SICHUAN_POLICE,
    Hub,
    Served,
)
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By

from connectors.cli import main as connector_main
from hub.identity import HUB_OPERATOR_ID, check_character
from hub.keys import generate_keypair
from hub.registry import RegistrationRequest
from ops.broker_access import grant_access
from processors.testing import payload_for

pytestmark = [pytest.mark.services, pytest.mark.slow]


def shot(driver: Any, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def log_in(driver: Any, console: Served, user: str, password: str = PASSWORD) -> None:
    driver.delete_all_cookies()
    driver.get(f"{console.url}/login")
    driver.find_element(By.NAME, "username").send_keys(user)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    # The click does not wait for the answer: a page asked for too early would cut it off.
    wait_until("the login answered", lambda: "/login" not in driver.current_url
               or driver.find_elements(By.ID, "error"))


def text(driver: Any, css: str, timeout: float = 60.0) -> str:
    """The element's text once the page shows it (a click may return before the answer is
    loaded); read again when the live refresh swapped it mid-read. On time-out, the failure
    says what the page showed instead."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(driver.find_element(By.CSS_SELECTOR, css).text)
        except (StaleElementReferenceException, NoSuchElementException) as missing:
            if time.monotonic() > deadline:
                shown = driver.find_element(By.TAG_NAME, "body").text[:800]
                raise AssertionError(
                    f"no {css} on {driver.current_url}; it showed:\n{shown}") from missing
            time.sleep(0.1)


def wait_until(what: str, check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:  # the element may be swapped by the live refresh mid-read
            pass
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def hubctl_status(hub: Hub) -> str:
    env = {**os.environ, **hub.settings.as_environment(), "COLUMNS": "200"}
    done = subprocess.run([str(Path(sys.executable).parent / "hubctl"), "status"], env=env,
                          capture_output=True, text=True, timeout=120)
    return done.stdout


def test_login_and_overview_agree_with_hubctl_status(
    hub: Hub, console: Served, browser: Any
) -> None:
    """An operator logs in; the overview's stored-event count and quarantine counts are those
    `hubctl status` prints, and new events show up without a reload."""
    hub.publish([hub.world.event(POLICE, "tip-report", n) for n in range(1, 4)])
    hub.publish([b"EXH\x01 truncated on purpose"])
    hub.wait_for("events stored and quarantined", lambda: hub.scalar(
        "SELECT count(*) FROM event_store WHERE event_type = 'tip-report'") == 3
        and hub.scalar("SELECT count(*) FROM quarantine") == 1)
    log_in(browser, console, "olga")
    assert browser.current_url.rstrip("/") == console.url
    status = hubctl_status(hub)
    stored = int(re.search(r"publishers \((\d+) events stored\)", status).group(1))  # type: ignore[union-attr]
    wait_until("overview shows the stored events",
               lambda: int(text(browser, "#stored-events")) == stored)
    assert re.search(r"MALFORMED\s+.\s+open\s+.\s+1", status)
    assert text(browser, '[data-reason="MALFORMED/open"]') == "1"
    ingest = hub.settings.topic_prefix + "ingest"
    messages = int(re.search(rf"{re.escape(ingest)}\s+.\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    # The broker's figures are read apart from the database's: wait for the live refresh.
    wait_until("overview shows the ingest topic's messages",
               lambda: text(browser, f'[data-topic="{ingest}"]') == str(messages))
    assert "1 open quarantine entry MALFORMED" in text(browser, "#attention")
    assert "up" in text(browser, "#pg-health") and "up" in text(browser, "#broker-health")
    assert re.search(rf"verify {re.escape(ingest)} 0", text(browser, "#lag"))
    # Live: mark the page, publish more, and see the figure change with the mark still there.
    browser.execute_script("window.consoleMark = 'same page';")
    hub.publish([hub.world.event(POLICE, "tip-report", n) for n in range(4, 6)])
    wait_until("live refresh shows two more events",
               lambda: int(text(browser, "#stored-events")) == stored + 2)
    assert browser.execute_script("return window.consoleMark;") == "same page"
    shot(browser, "overview")


def _unstorable_entry(hub: Hub) -> int:
    """A rescue notice the event store refuses (a check the owner adds, as when a disk or a
    constraint fails): the verify stage quarantines it as UNSTORABLE. The check is then
    removed, so only an operator's retry can store it."""
    hub.as_owner(
        "CREATE FUNCTION refuse_rescue() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "RAISE EXCEPTION 'refused for the test' USING ERRCODE = 'check_violation'; END $$; "
        "CREATE TRIGGER refuse_rescue BEFORE INSERT ON event_store FOR EACH ROW "
        "WHEN (NEW.event_type = 'rescue-notice') EXECUTE FUNCTION refuse_rescue()"
    )
    try:
        hub.publish([hub.world.event(CIVIL, "rescue-notice", 1)])
        hub.wait_for("rescue notice quarantined as UNSTORABLE", lambda: hub.scalar(
            "SELECT count(*) FROM quarantine WHERE reason = 'UNSTORABLE'") == 1)
    finally:
        hub.as_owner("DROP TRIGGER refuse_rescue ON event_store; DROP FUNCTION refuse_rescue()")
    return int(hub.scalar("SELECT id FROM quarantine WHERE reason = 'UNSTORABLE'"))


def test_retry_a_quarantined_event_and_see_it_stored(
    hub: Hub, console: Served, browser: Any
) -> None:
    """The payload is hidden until asked for with a reason (audited); a retry with a reason
    puts the event back on the pipeline and it is stored."""
    entry = _unstorable_entry(hub)
    log_in(browser, console, "olga")
    browser.get(f"{console.url}/quarantine?reason=UNSTORABLE")
    shot(browser, "quarantine")
    browser.find_element(By.LINK_TEXT, f"#{entry}").click()
    assert "rescue-notice" in text(browser, "#entry")
    assert not browser.find_elements(By.ID, "payload")
    browser.find_element(By.CSS_SELECTOR, "#reveal input[name=reason]").send_keys(
        "checking what the store refused")
    browser.find_element(By.CSS_SELECTOR, "#reveal button").click()
    assert "rescue_id" in text(browser, "#payload")
    assert hub.scalar(
        "SELECT count(*) FROM console_audit WHERE action = 'reveal-payload' AND username = "
        "'olga' AND reason = 'checking what the store refused'") == 1
    shot(browser, "quarantine-entry")
    browser.find_element(By.CSS_SELECTOR, "#retry input[name=reason]").send_keys(
        "the store check was fixed")
    browser.find_element(By.CSS_SELECTOR, "#retry button").click()
    assert "Put back on the pipeline" in text(browser, "#notice")
    hub.wait_for("retried rescue notice stored", lambda: hub.scalar(
        "SELECT count(*) FROM event_store WHERE event_type = 'rescue-notice'") == 1)
    hub.wait_for("entry resolved", lambda: hub.scalar(
        "SELECT status FROM quarantine WHERE id = %s", entry) == "resolved")
    browser.refresh()
    assert text(browser, "#entry-status").startswith("resolved")
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE action = 'quarantine-retry' "
                      "AND target = %s", f"quarantine #{entry}") == 1


def test_withdraw_a_permission_as_a_signed_registry_event(
    hub: Hub, console: Served, browser: Any
) -> None:
    """Withdrawing on the participant page publishes the registry event hubctl would."""
    log_in(browser, console, "olga")
    browser.get(f"{console.url}/participants")
    shot(browser, "participants")
    browser.find_element(By.LINK_TEXT, POLICE).click()
    assert hub.world.keys[POLICE].key_id in text(browser, "#keys")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "#permissions tr")
               if r.text.startswith("alert-closed"))
    row.find_element(By.NAME, "reason").send_keys("unit merged into another")
    row.find_element(By.TAG_NAME, "button").click()
    assert "permission-withdrawn" in text(browser, "#notice")
    hub.wait_for("withdrawal stored and projected", lambda: hub.scalar(
        "SELECT status FROM proj_participant_permissions WHERE participant_id = %s "
        "AND event_type = 'alert-closed'", POLICE) == "withdrawn")
    browser.refresh()
    assert any(r.text.startswith("alert-closed withdrawn")
               for r in browser.find_elements(By.CSS_SELECTOR, "#permissions tr"))
    shot(browser, "participant")
    assert hub.scalar("SELECT count(*) FROM event_store WHERE event_type = "
                      "'permission-withdrawn' AND body->>'participant_id' = %s", POLICE) == 1


def _a_hit(hub: Hub) -> str:
    """A Sichuan alert and a Jiangsu migrant record of the same girl: the worker's match stage
    finds the hit and notifies the police."""
    girl = {"name": "李小红", "sex": "FEMALE", "birth": {"precision": "DAY",
            "date": date(2016, 3, 5)}, "id_number": "51010420160305122"
            + check_character("51010420160305122"), "marks": ["左耳后有痣"]}
    at = hub.world.epoch
    alert = payload_for("missing-person-alert", 1, at, SICHUAN_POLICE, person=girl,
                        last_seen_place={"area_code": "510104", "text": "成都市锦江区某小区"},
                        jurisdiction="510000")
    record = payload_for("migrant-record", 1, at, REGISTRY)
    record["children"] = [{"child": girl, "guardian_relation": "NON_RELATIVE"}]
    record["moved_in_on"] = date(2023, 5, 1)
    hub.publish([hub.world.event(SICHUAN_POLICE, "missing-person-alert", payload=alert)])
    hub.wait_for("alert indexed", lambda: hub.scalar("SELECT count(*) FROM match_alerts") == 1)
    hub.publish([hub.world.event(REGISTRY, "migrant-record", payload=record)])
    hub.wait_for("hit notified", lambda: hub.scalar(
        "SELECT count(*) FROM match_outbox WHERE sent_at IS NOT NULL AND topic LIKE "
        "'%%notifications.%%'") >= 1, timeout=120)
    return str(hub.scalar("SELECT match_id FROM match_pairs WHERE status = 'NOTIFIED'"))


def test_matches_and_audit_pages(hub: Hub, console: Served, browser: Any) -> None:
    """A hit is listed with its state and who was told; its compared values are hidden until
    asked for with a reason; the audit page shows who did what and why."""
    match_id = _a_hit(hub)
    log_in(browser, console, "olga")
    browser.get(f"{console.url}/matches")
    assert "NOTIFIED" in text(browser, "#matches") and SICHUAN_POLICE in text(browser, "#matches")
    shot(browser, "matches")
    # The hit's match-found event comes back through verification with its reply deadlines.
    hub.wait_for("reply deadlines projected", lambda: hub.scalar(
        "SELECT count(*) FROM proj_match_duties WHERE match_id = %s", match_id) >= 2)
    browser.get(f"{console.url}/matches/{match_id}")
    assert SICHUAN_POLICE in text(browser, "#told")
    duties = text(browser, "#duties")
    assert "acknowledgement" in duties and "decision" in duties and SICHUAN_POLICE in duties
    assert "not yet" in duties  # nobody has acknowledged
    assert "李" not in text(browser, "#evidence") and "id_number" in text(browser, "#evidence")
    browser.find_element(By.CSS_SELECTOR, "#reveal input[name=reason]").send_keys(
        "checking the hit before the call")
    browser.find_element(By.CSS_SELECTOR, "#reveal button").click()
    revealed = text(browser, "#evidence")
    assert "李 = 李" in revealed
    assert "20160305" not in revealed  # identity numbers stay masked even then
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE action = 'reveal-evidence' "
                      "AND target = %s", f"match {match_id}") == 1
    shot(browser, "match")
    browser.get(f"{console.url}/matches?state=NOPE")
    assert "'state' must be one of" in text(browser, "#error")
    browser.get(f"{console.url}/audit")
    assert "olga" in text(browser, "#audit") and "login" in text(browser, "#audit")
    shot(browser, "audit")


def test_wrong_password_is_refused_and_guessing_is_slowed(
    hub: Hub, console: Served, browser: Any
) -> None:
    """A wrong password gets a plain refusal; after five, even the right one waits."""
    log_in(browser, console, "olga", "not-the-password")
    assert "wrong user name or password" in text(browser, "#error")
    assert "/login" in browser.current_url
    shot(browser, "login-refused")
    for _ in range(4):
        log_in(browser, console, "olga", "not-the-password")
    log_in(browser, console, "olga")
    assert "too many failed logins" in text(browser, "#error")
    hub.as_owner("DELETE FROM console_login_failures")


def test_an_expired_session_is_refused(hub: Hub, console: Served, browser: Any) -> None:
    """Once its time is up a session opens nothing: the browser is sent to the login page."""
    log_in(browser, console, "olga")
    browser.get(f"{console.url}/quarantine")
    assert browser.find_elements(By.ID, "entries")
    hub.as_owner("UPDATE console_sessions SET expires_at = now() - interval '1 second' "
                 "WHERE username = 'olga'")
    browser.get(f"{console.url}/quarantine")
    assert "/login" in browser.current_url
    assert "session has expired" in text(browser, "main")
    assert not browser.find_elements(By.ID, "entries")


def test_a_forged_form_post_is_refused(hub: Hub, console: Served, browser: Any) -> None:
    """A form with a wrong CSRF token changes nothing; a post from another site carries no
    session cookie (SameSite=Strict) and lands on the login page."""
    entry = int(hub.scalar("SELECT id FROM quarantine WHERE reason = 'MALFORMED'"))
    before = hub.scalar("SELECT retries FROM quarantine WHERE id = %s", entry)
    log_in(browser, console, "olga")
    browser.get(f"{console.url}/quarantine/{entry}")
    browser.execute_script(
        "document.querySelector('#retry input[name=csrf]').value = 'forged';")
    browser.find_element(By.CSS_SELECTOR, "#retry input[name=reason]").send_keys("forged")
    browser.find_element(By.CSS_SELECTOR, "#retry button").click()
    assert "security token is missing or wrong" in text(browser, "#error")
    shot(browser, "forged-post")
    # From another origin: a page of its own that posts to the console.
    browser.get("data:text/html,<form id=f method=post action='"
                f"{console.url}/quarantine/{entry}/retry'><input name=reason value=x>"
                "<input name=csrf value=x></form><script>f.submit()</script>")
    wait_until("landed on the login page", lambda: "/login" in browser.current_url)
    assert hub.scalar("SELECT retries FROM quarantine WHERE id = %s", entry) == before
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE action = 'forged-post'") >= 1


def test_an_auditor_reads_but_cannot_act(hub: Hub, console: Served, browser: Any) -> None:
    """An auditor sees no action forms, and a hand-made post with its own valid token is
    refused and audited."""
    entry = int(hub.scalar("SELECT id FROM quarantine WHERE reason = 'MALFORMED'"))
    before = hub.scalar("SELECT retries FROM quarantine WHERE id = %s", entry)
    log_in(browser, console, "arno")
    browser.get(f"{console.url}/quarantine/{entry}")
    assert not browser.find_elements(By.ID, "retry")
    status = browser.execute_async_script(
        "const done = arguments[0];"
        "const csrf = document.querySelector('#reveal input[name=csrf]').value;"
        f"fetch('/quarantine/{entry}/retry', {{method: 'POST', body: new URLSearchParams("
        "{csrf: csrf, reason: 'auditor trying'})}).then(r => done(r.status));")
    assert status == 403
    assert hub.scalar("SELECT retries FROM quarantine WHERE id = %s", entry) == before
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE username = 'arno' AND "
                      "action = 'quarantine-retry' AND outcome LIKE 'refused%%'") == 1


def test_the_audit_log_refuses_changes(hub: Hub, console: Served) -> None:
    """Neither the pipeline role nor the owner may rewrite or remove an audit row."""
    for dsn in (hub.settings.pg_dsn, hub.settings.pg_owner_dsn):
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in ("UPDATE console_audit SET reason = 'rewritten'",
                              "DELETE FROM console_audit", "TRUNCATE console_audit"):
                with pytest.raises(psycopg.Error, match=r"append-only|permission denied"):
                    conn.execute(statement.encode())
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE reason = 'rewritten'") == 0


def test_register_a_participant_from_its_request_file(
    hub: Hub, console: Served, browser: Any, tmp_path: Path
) -> None:
    """An uploaded request is registered as `hubctl registry import` would (events stored,
    bundle written owner-only); a file that is no request is refused naming what is wrong."""
    pid = "340000-womens-federation"
    key = generate_keypair().verify_key
    request = RegistrationRequest(pid, "安徽省妇女联合会", "340000", key, ())
    good = tmp_path / f"{pid}.registration.json"
    good.write_text(request.to_json(), encoding="utf-8")
    bad = tmp_path / "not-a-request.json"
    bad.write_text('{"participant_id": "340000-womens-federation"}', encoding="utf-8")
    log_in(browser, console, "olga")
    for path in (bad, good):
        browser.get(f"{console.url}/participants")
        browser.find_element(By.CSS_SELECTOR, "#register input[type=file]").send_keys(str(path))
        browser.find_element(By.CSS_SELECTOR, "#register input[name=reason]").send_keys(
            "new partner in Anhui")
        browser.find_element(By.CSS_SELECTOR, "#register button").click()
        if path is bad:
            assert "display_name" in text(browser, "#error") or "field" in text(browser, "#error")
            assert hub.scalar("SELECT count(*) FROM proj_participants WHERE participant_id = %s",
                              pid) == 0
    assert "Registered" in text(browser, "#notice")
    hub.wait_for("registration projected", lambda: hub.scalar(
        "SELECT count(*) FROM proj_participants WHERE participant_id = %s", pid) == 1)
    bundle = hub.settings.data_dir / "bundles" / f"{pid}.bundle.json"
    assert bundle.exists() and bundle.stat().st_mode & 0o077 == 0
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE action = 'register' "
                      "AND target = %s AND outcome = 'done'", pid) == 1


def _police_connector(hub: Hub, folder: Path) -> Path:
    """Sichuan police's connector: `hub-connector init`, a broker login and ACLs, `join`."""
    folder.mkdir()
    config = folder / "hub-connector.toml"
    assert connector_main(["init", "--participant-id", SICHUAN_POLICE, "--config", str(config),
                           "--hub", hub.settings.kafka_bootstrap,
                           "--topic-prefix", hub.settings.topic_prefix]) == 0
    bundle = grant_access(hub.settings, SICHUAN_POLICE, hub.world.operator.verify_key)
    bundle.save(folder / "bundle.json")
    assert connector_main(["join", "--config", str(config), str(folder / "bundle.json")]) == 0
    return config


def _inbox(config: Path, jsonl: Path) -> str:
    """The real `hub-connector inbox`, once: what it printed."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hub-connector"), "inbox", "--config", str(config),
         "--jsonl", str(jsonl)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _unread(browser: Any, console: Served, pid: str) -> str:
    browser.get(f"{console.url}/participants")
    row = browser.find_element(By.XPATH, f"//table[@id='participants']//tr[td/a[text()='{pid}']]")
    return str(row.find_element(By.CSS_SELECTOR, "td.unread").text)


def test_promote_a_review_pair_and_the_police_inbox_receives_it(
    hub: Hub, console: Served, browser: Any, tmp_path: Path
) -> None:
    """A pair between the thresholds (a child registered without a name) waits in the review
    queue; an auditor sees no forms; the operator promotes it with a reason; the worker
    applies the signed review-promoted event, the pair leaves the queue, and Sichuan police's
    `hub-connector inbox` receives the hit. The participants page counts it as unread until
    the inbox has fetched it."""
    config = _police_connector(hub, tmp_path / "police")
    _inbox(config, tmp_path / "earlier.jsonl")  # whatever earlier tests sent: read now
    girl = {"name": "王小芳", "sex": "FEMALE",
            "birth": {"precision": "DAY", "date": date(2017, 8, 9)}}
    at = hub.world.epoch
    alert = payload_for("missing-person-alert", 7, at, SICHUAN_POLICE, person=girl,
                        last_seen_place={"area_code": "510104", "text": "成都市锦江区某路"},
                        jurisdiction="510000")
    record = payload_for("migrant-record", 7, at, REGISTRY)
    unnamed = {k: v for k, v in girl.items() if k != "name"}
    record["children"] = [{"child": unnamed, "guardian_relation": "NON_RELATIVE"}]
    record["moved_in_on"] = date(2023, 5, 1)
    hub.publish([hub.world.event(SICHUAN_POLICE, "missing-person-alert", payload=alert)])
    hub.wait_for("alert indexed", lambda: hub.scalar(
        "SELECT count(*) FROM match_alerts WHERE alert_id = %s", alert["alert_id"]) == 1)
    hub.publish([hub.world.event(REGISTRY, "migrant-record", payload=record)])
    hub.wait_for("pair on the review queue", lambda: hub.scalar(
        "SELECT count(*) FROM match_pairs WHERE status = 'REVIEW' AND alert_id = %s",
        alert["alert_id"]) == 1)
    match_id = str(hub.scalar("SELECT match_id FROM match_pairs WHERE alert_id = %s",
                              alert["alert_id"]))
    row = f"#review tr[data-match='{match_id}']"

    log_in(browser, console, "arno")
    browser.get(f"{console.url}/review")
    assert "auditors read only" in text(browser, row)
    assert not browser.find_elements(By.CSS_SELECTOR, f"{row} form")
    status = browser.execute_async_script(
        "const done = arguments[0];"
        "const csrf = document.querySelector('input[name=csrf]').value;"
        f"fetch('/review/{match_id}/promote', {{method: 'POST', body: new URLSearchParams("
        "{csrf: csrf, reason: 'auditor trying'})}).then(r => done(r.status));")
    assert status == 403
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE username = 'arno' AND "
                      "action = 'review-promote' AND outcome LIKE 'refused%%'") == 1

    log_in(browser, console, "olga")
    wait_until("nothing unread before", lambda: _unread(browser, console, SICHUAN_POLICE) == "0")
    browser.get(f"{console.url}/review")
    listed = text(browser, row)
    assert alert["alert_id"] in listed and "-> REVIEW" in listed
    assert "王" not in listed  # compared values stay hidden on the queue
    shot(browser, "review")
    browser.find_element(By.CSS_SELECTOR, f"{row} form.promote input[name=reason]").send_keys(
        "birth date and the non-relative guardian fit; worth a call")
    browser.find_element(By.CSS_SELECTOR, f"{row} form.promote button").click()
    wait_until("promoted notice", lambda: "review-promoted" in text(browser, "#notice"))
    hub.wait_for("promotion applied", lambda: hub.scalar(
        "SELECT status FROM match_pairs WHERE match_id = %s", match_id) == "NOTIFIED")
    assert hub.scalar("SELECT publisher_id FROM event_store WHERE event_type = "
                      "'review-promoted' AND body->>'match_id' = %s", match_id) \
        == HUB_OPERATOR_ID
    assert hub.scalar("SELECT count(*) FROM console_audit WHERE username = 'olga' AND "
                      "action = 'review-promote' AND target = %s", f"match {match_id}") == 1
    hub.wait_for("notification sent", lambda: hub.scalar(
        "SELECT count(*) FROM match_outbox WHERE msg_key = %s AND sent_at IS NOT NULL AND "
        "topic LIKE %s", match_id.encode(), f"%notifications.{SICHUAN_POLICE}") == 1)
    browser.get(f"{console.url}/review")
    assert not browser.find_elements(By.CSS_SELECTOR, row)
    assert "olga" in text(browser, "#acts") and "promoted" in text(browser, "#acts")
    wait_until("counted unread", lambda: _unread(browser, console, SICHUAN_POLICE) == "1")
    shot(browser, "participants-unread")

    printed = _inbox(config, tmp_path / "hits.jsonl")
    hits = [json.loads(line) for line in (tmp_path / "hits.jsonl").read_text().splitlines()]
    assert [h["payload"]["match_id"] for h in hits] == [match_id], printed
    assert hits[0]["payload"]["recipient"] == SICHUAN_POLICE
    wait_until("read by the inbox", lambda: _unread(browser, console, SICHUAN_POLICE) == "0")
