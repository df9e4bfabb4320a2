"""The console's pages: each handler reads through ops/console/readings.py (or acts through
the same functions `hubctl` uses) and renders one template. GET never changes anything."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from starlette.responses import RedirectResponse, Response

from hub.errors import HubError
from hub.reasons import RejectReason
from hub.review import ReviewAct
from hub.routing import mask_id_numbers
from hub.silence import words
from hub.store import QuarantineStatus, to_jsonable
from ops.console import readings
from ops.console.charts import bar_chart
from ops.console.readings import QuarantineFilter
from ops.console.web import Call, Handler, Refused

REJECT_REASONS = sorted(str(r) for r in RejectReason)
# What a redirect after an action may say; a code, so a link cannot make the page say anything.
NOTICES = {
    "retried": "Put back on the pipeline: the workers verify it again (status 'retried', then "
    "'resolved' once stored).",
    "retried-all": "Every open entry of that reason was put back on the pipeline.",
    "revoked": "The key-revoked event was signed and published to the registry topic.",
    "registered": "Registered: the events were signed and published, and the participant's "
    "bundle (its broker login: hand it over like a key) was written to bundles/ beside the "
    "registry journal.",
    "withdrawn": "The permission-withdrawn event was signed and published to the registry topic.",
    "password": "Your password was changed.",
    "promoted": "The review-promoted event was signed and published: once a worker has applied "
    "it the pair leaves the queue and its notifications go to the police units.",
    "dismissed": "The review-dismissed event was signed and published: once a worker has "
    "applied it the pair leaves the queue.",
}


def _notice(call: Call) -> str:
    return NOTICES.get(call.query("notice") or "", "")


def _int(call: Call, name: str, default: int, low: int = 1) -> int:
    text = call.query(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError as err:
        raise Refused(400, f"'{name}' must be a whole number, not {text!r}") from err
    if value < low:
        raise Refused(400, f"'{name}' must be at least {low}")
    return value


def _time(call: Call, name: str) -> datetime | None:
    text = call.query(name)
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise Refused(400, f"'{name}' is not a date or time like 2026-12-03 or "
                           f"2026-12-03T08:00+08:00: {text!r}") from err
    if value.tzinfo is None:
        value = value.astimezone()  # the console machine's zone, as the operator reads it
    return value


# -- overview -----------------------------------------------------------------------------


def _overview_values(call: Call) -> dict[str, Any]:
    console = call.console
    figures = console.status.latest()
    return {
        "snap": figures.snap,
        "taken": figures.taken,
        "charts": [bar_chart(name, figures.rates[name]) for name in readings.RATE_NAMES],
        "lags": figures.lags,
        "lag_problem": figures.lag_problem,
        "health": readings.health(console.settings, console.events.db, figures.snap),
        "attention": figures.attention,
    }


def overview(call: Call) -> Response:
    """The overview page: rates, lag, workers, health and what needs attention now."""
    return call.render("overview.html", page="overview", **_overview_values(call))


def overview_live(call: Call) -> Response:
    """The overview's changing part alone, fetched by the page's script every few seconds."""
    return call.render("overview_live.html", **_overview_values(call))


# -- participants -------------------------------------------------------------------------


def participants(call: Call) -> Response:
    """Every participant with its keys, last event, gaps, quarantine and unread notifications."""
    figures = call.console.status.latest()
    found = readings.participants(call.console.projections, call.console.events, figures)
    return call.render("participants.html", page="participants", participants=found,
                       unread_problem=figures.unread_problem, words=words,
                       notice=_notice(call))


def participant(call: Call) -> Response:
    """One participant's page: keys, permissions, rhythm and its recent events."""
    pid = call.request.path_params["pid"]
    figures = call.console.status.latest()
    found = [p for p in readings.participants(call.console.projections, call.console.events,
                                              figures) if p.participant_id == pid]
    if not found:
        raise Refused(404, f"no participant {pid!r} is registered")
    anomalies = call.console.events.anomalies(pid)[-50:]
    return call.render("participant.html", page="participants", p=found[0],
                       anomalies=anomalies, words=words, notice=_notice(call))


def _registry_emit(call: Call, namespace: argparse.Namespace) -> list[str]:
    from ops.cli import registry as registry_cli

    said: list[str] = []
    settings = call.console.settings.with_overrides(data_dir=call.console.registry_dir)
    registry_cli.emit(namespace, said.append, settings)
    return said


MAX_REQUEST_BYTES = 16 * 1024


def register_participant(call: Call) -> Response:
    """Register from a connector's request file, as `hubctl registry import` does; the bundle
    (broker login) is written beside the registry journal, to be handed over like a key."""
    from hub.registry import RegistrationRequest
    from ops.cli import registry as registry_cli

    call.must_act("register", "registration request")
    upload = call.form.get("request") if call.form is not None else None
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise Refused(400, "choose the participant's registration request file "
                           "(<participant>.registration.json, made by hub-connector init)")
    raw = upload.file.read(MAX_REQUEST_BYTES + 1)
    if len(raw) > MAX_REQUEST_BYTES:
        raise Refused(400, f"{upload.filename}: a registration request is a small JSON file; "
                           f"this one is over {MAX_REQUEST_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeError as err:
        raise Refused(400, f"{upload.filename} is not UTF-8 text: {err}") from err
    request = RegistrationRequest.from_json(text)  # names the field that is wrong
    reason = call.reason()
    pid = request.participant_id
    folder = call.console.registry_dir / "requests"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    saved = folder / f"{pid}.registration.json"
    saved.write_text(text, encoding="utf-8")
    bundle = call.console.registry_dir / "bundles" / f"{pid}.bundle.json"
    bundle.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        _registry_emit(call, argparse.Namespace(
            request_file=saved, allow_extra=False, out=None, bundle=bundle,
            build=registry_cli._build_import))
    except Exception as err:
        call.console.audit.write(call.session.operator.username, "register", pid, reason,
                                 f"refused: {err}")
        raise
    call.console.audit.write(call.session.operator.username, "register", pid, reason)
    # To the list, not the participant's own page: the registration is published but may not
    # be verified and projected yet, and that page would say it does not exist.
    return RedirectResponse("/participants?notice=registered", status_code=303)


def revoke_key(call: Call) -> Response:
    """Revoke one of a participant's keys with a signed key-revoked event, as hubctl does."""
    from ops.cli import registry as registry_cli

    pid = call.request.path_params["pid"]
    key_id = call.field("key_id", limit=64)
    call.must_act("revoke-key", f"{pid} key {key_id}")
    reason = call.reason()
    try:
        _registry_emit(call, argparse.Namespace(
            participant_id=pid, key_id=key_id, effective_at=None, reason=reason, out=None,
            build=registry_cli._build_revoke))
    except Exception as err:
        call.console.audit.write(call.session.operator.username, "revoke-key",
                                 f"{pid} key {key_id}", reason, f"refused: {err}")
        raise
    call.console.audit.write(call.session.operator.username, "revoke-key",
                             f"{pid} key {key_id}", reason)
    return RedirectResponse(f"/participants/{pid}?notice=revoked", status_code=303)


def withdraw(call: Call) -> Response:
    """Withdraw a permission with a signed permission-withdrawn event, as hubctl does."""
    from ops.cli import registry as registry_cli

    pid = call.request.path_params["pid"]
    event_type = call.field("event_type", limit=64)
    call.must_act("withdraw-permission", f"{pid} {event_type}")
    reason = call.reason()
    try:
        _registry_emit(call, argparse.Namespace(
            participant_id=pid, event_type=event_type, effective_at=None, out=None,
            build=registry_cli._build_permission(False)))
    except Exception as err:
        call.console.audit.write(call.session.operator.username, "withdraw-permission",
                                 f"{pid} {event_type}", reason, f"refused: {err}")
        raise
    call.console.audit.write(call.session.operator.username, "withdraw-permission",
                             f"{pid} {event_type}", reason)
    return RedirectResponse(f"/participants/{pid}?notice=withdrawn", status_code=303)


# -- quarantine ---------------------------------------------------------------------------


def _filter(call: Call) -> QuarantineFilter:
    reason = call.query("reason")
    if reason is not None and reason not in REJECT_REASONS:
        raise Refused(400, f"'reason' must be one of {', '.join(REJECT_REASONS)}, not {reason!r}")
    status = call.query("status")
    statuses = [s.value for s in QuarantineStatus]
    if status is not None and status not in statuses:
        raise Refused(400, f"'status' must be one of {', '.join(statuses)}, not {status!r}")
    return QuarantineFilter(
        reason=RejectReason(reason) if reason else None,
        publisher=call.query("publisher"),
        status=QuarantineStatus(status) if status else None,
        since=_time(call, "since"),
        until=_time(call, "until"),
    )


def quarantine(call: Call) -> Response:
    """Quarantine entries filtered by reason, publisher, status and time."""
    chosen = _filter(call)
    entries, total = readings.quarantine_entries(call.console.events, chosen)
    return call.render("quarantine.html", page="quarantine", entries=entries, total=total,
                       chosen=chosen, reasons=REJECT_REASONS,
                       statuses=[s.value for s in QuarantineStatus], q=call.request.query_params,
                       mask=mask_id_numbers, notice=_notice(call))


def _entry(call: Call) -> Any:
    entry_id = call.request.path_params["entry_id"]
    entry = call.console.events.quarantine_entry(entry_id)
    if entry is None:
        raise Refused(404, f"there is no quarantine entry {entry_id}")
    return entry


def quarantine_entry(call: Call, payload: str | None = None,
                     payload_problem: str = "", reason: str = "") -> Response:
    """One quarantine entry: decoded header, reason and detail; the payload hidden unless asked."""
    entry = _entry(call)
    envelope, problem = readings.decoded_header(entry)
    return call.render("quarantine_entry.html", page="quarantine", e=entry, env=envelope,
                       header_problem=problem, payload=payload, payload_problem=payload_problem,
                       revealed_for=reason, mask=mask_id_numbers, notice=_notice(call))


def quarantine_reveal(call: Call) -> Response:
    """Show an entry's payload after the operator gave a reason, which is audited."""
    entry = _entry(call)
    reason = call.reason()
    envelope, problem = readings.decoded_header(entry)
    body, payload_problem = (None, problem) if envelope is None else readings.decoded_payload(
        call.console.catalog, envelope)
    call.console.audit.write(call.session.operator.username, "reveal-payload",
                             f"quarantine #{entry.id}", reason)
    shown = None if body is None else json.dumps(to_jsonable(body), ensure_ascii=False, indent=2)
    return quarantine_entry(call, shown, payload_problem or "", reason)


def quarantine_retry(call: Call) -> Response:
    """Send one quarantined message through verification again."""
    from processors.operations import retry_quarantined

    entry = _entry(call)
    call.must_act("quarantine-retry", f"quarantine #{entry.id}")
    reason = call.reason()
    retry_quarantined(call.console.settings, entry_id=entry.id, store=call.console.events)
    call.console.audit.write(call.session.operator.username, "quarantine-retry",
                             f"quarantine #{entry.id}", reason)
    return RedirectResponse(f"/quarantine/{entry.id}?notice=retried", status_code=303)


def quarantine_retry_reason(call: Call) -> Response:
    """Send every open entry of one reason through verification again."""
    from processors.operations import retry_quarantined

    code = call.field("reject_reason", limit=64)
    if code not in REJECT_REASONS:
        raise Refused(400, f"'{code}' is not a rejection reason")
    call.must_act("quarantine-retry-all", code)
    reason = call.reason()
    done = retry_quarantined(call.console.settings, reason=RejectReason(code),
                             store=call.console.events)
    call.console.audit.write(call.session.operator.username, "quarantine-retry-all",
                             f"{code}: {len(done)} entries", reason)
    return RedirectResponse(f"/quarantine?reason={code}&notice=retried-all", status_code=303)


# -- matches ------------------------------------------------------------------------------

PAGE_SIZE = 100


def matches(call: Call) -> Response:
    """Every hit with its state, filtered by state, a page at a time."""
    state = call.query("state")
    if state is not None and state not in readings.MATCH_STATES:
        raise Refused(400, f"'state' must be one of {', '.join(readings.MATCH_STATES)}")
    number = _int(call, "page", 1)
    rows, total = readings.matches_page(call.console.events.db, state=state,
                                        offset=(number - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return call.render("matches.html", page="matches", rows=rows, total=total, state=state,
                       states=readings.MATCH_STATES, number=number,
                       pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1))


def _match(call: Call) -> dict[str, Any]:
    match_id = call.request.path_params["match_id"]
    if len(match_id) > 64:
        raise Refused(400, "a match id has at most 64 characters")
    found = readings.match_detail(call.console.events.db, match_id)
    if found is None:
        raise Refused(404, f"there is no match {match_id!r}")
    return found


def match(call: Call, revealed: str = "") -> Response:
    """One hit: who was told and when, its deadlines, review acts and decisions."""
    pair = _match(call)
    lines = pair["explanation"] or []
    # Identity numbers stay masked even when revealed, as in the hub's match-found events.
    shown = [mask_id_numbers(x) for x in lines] if revealed else readings.masked_explanation(
        lines)
    return call.render("match.html", page="matches", m=pair, lines=shown, revealed_for=revealed,
                       now=datetime.now(UTC))


def match_reveal(call: Call) -> Response:
    """Show a hit's compared values after the operator gave a reason, which is audited."""
    pair = _match(call)
    reason = call.reason()
    call.console.audit.write(call.session.operator.username, "reveal-evidence",
                             f"match {pair['match_id']}", reason)
    return match(call, reason)


# -- review queue -------------------------------------------------------------------------


def review(call: Call) -> Response:
    """The review queue: pairs between the review and notify thresholds, best first."""
    rows, total = readings.review_queue(call.console.events.db, limit=PAGE_SIZE)
    for row in rows:
        row["lines"] = readings.masked_explanation(row["explanation"])
    acts = readings.review_acts(call.console.events.db, limit=20)
    return call.render("review.html", page="review", rows=rows, total=total, acts=acts,
                       notice=_notice(call))


def _review_act(call: Call, act: ReviewAct) -> Response:
    from processors.review_stage import publish_review_act

    match_id = call.request.path_params["match_id"]
    if len(match_id) > 64:
        raise Refused(400, "a match id has at most 64 characters")
    name = "review-promote" if act is ReviewAct.PROMOTE else "review-dismiss"
    call.must_act(name, f"match {match_id}")
    reason = call.reason()
    operator = call.session.operator.username
    try:
        publish_review_act(call.console.settings, act, match_id, operator=operator,
                           reason=reason, key_dir=call.console.registry_dir)
    except HubError as err:
        call.console.audit.write(operator, name, f"match {match_id}", reason, f"refused: {err}")
        raise
    call.console.audit.write(operator, name, f"match {match_id}", reason)
    notice = "promoted" if act is ReviewAct.PROMOTE else "dismissed"
    return RedirectResponse(f"/review?notice={notice}", status_code=303)


def review_promote(call: Call) -> Response:
    """Promote a review pair with a reason: it is notified like any hit."""
    return _review_act(call, ReviewAct.PROMOTE)


def review_dismiss(call: Call) -> Response:
    """Dismiss a review pair with a reason: it leaves the queue."""
    return _review_act(call, ReviewAct.DISMISS)


# -- audit and account --------------------------------------------------------------------


def audit(call: Call) -> Response:
    """Who viewed or did what and when, filtered by operator and action."""
    rows = call.console.audit.recent(username=call.query("user"), action=call.query("action"),
                                     limit=_int(call, "limit", 200))
    return call.render("audit.html", page="audit", rows=rows,
                       actions=call.console.audit.actions(), q=call.request.query_params)


def password_form(call: Call) -> Response:
    """The form to change one's password (forced after a one-time password)."""
    return call.render("password.html", page="password", forced=call.session.operator.must_change)


def password_change(call: Call) -> Response:
    """Change the operator's password once the old one is given and the new one twice."""
    old, new, again = (call.field(n, limit=1024) for n in ("old", "new", "again"))
    if new != again:
        raise Refused(400, "the two new passwords differ")
    call.console.accounts.change_password(call.session.operator.username, old, new)
    call.console.audit.write(call.session.operator.username, "password-change")
    return RedirectResponse("/participants?notice=password", status_code=303)


ROUTES: list[tuple[str, Handler, bool]] = [
    ("/", overview, False),
    ("/overview/live", overview_live, False),
    ("/participants", participants, False),
    ("/participants/register", register_participant, True),
    ("/participants/{pid}", participant, False),
    ("/participants/{pid}/revoke-key", revoke_key, True),
    ("/participants/{pid}/withdraw", withdraw, True),
    ("/quarantine", quarantine, False),
    ("/quarantine/retry-reason", quarantine_retry_reason, True),
    ("/quarantine/{entry_id:int}", quarantine_entry, False),
    ("/quarantine/{entry_id:int}/reveal", quarantine_reveal, True),
    ("/quarantine/{entry_id:int}/retry", quarantine_retry, True),
    ("/review", review, False),
    ("/review/{match_id}/promote", review_promote, True),
    ("/review/{match_id}/dismiss", review_dismiss, True),
    ("/matches", matches, False),
    ("/matches/{match_id}", match, False),
    ("/matches/{match_id}/reveal", match_reveal, True),
    ("/audit", audit, False),
    ("/password", password_form, False),
    ("/password", password_change, True),
]
