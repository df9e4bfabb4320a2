-- Two-step disclosure and reply deadlines (issue 13, items 1 and 2).

-- Every request for the personal details behind a hit, granted (by the match stage, which then
-- seals the details to the requesting unit) or refused (by the verify stage). Append-only like
-- the event store: the database itself refuses to change or remove a row.
CREATE TABLE disclosure_audit (
    id               bigserial PRIMARY KEY,
    match_id         text NOT NULL,
    requester        text NOT NULL,
    request_event_id text NOT NULL,
    reason           text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('GRANTED', 'REFUSED')),
    detail           text NOT NULL,
    at               timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX disclosure_audit_match ON disclosure_audit (match_id, id);
CREATE INDEX disclosure_audit_requester ON disclosure_audit (requester, id);

CREATE FUNCTION disclosure_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'disclosure_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER disclosure_audit_no_update_delete BEFORE UPDATE OR DELETE ON disclosure_audit
    FOR EACH ROW EXECUTE FUNCTION disclosure_audit_refuse_change();
CREATE TRIGGER disclosure_audit_no_truncate BEFORE TRUNCATE ON disclosure_audit
    FOR EACH STATEMENT EXECUTE FUNCTION disclosure_audit_refuse_change();

-- What each hit owes by when (hub.projections.response): one acknowledgement per notified unit
-- and one decision per match (unit '*'). A projection: a rebuild reproduces it from the log.
CREATE TABLE proj_match_duties (
    match_id text NOT NULL,
    duty text NOT NULL,
    unit text NOT NULL,
    owed_by text,
    alert_id text,
    urgency text,
    due_at timestamptz,
    done_at timestamptz,
    escalated_at timestamptz,
    escalated_to text,
    escalation_event_id text,
    PRIMARY KEY (match_id, duty, unit)
);
CREATE INDEX proj_match_duties_due ON proj_match_duties (due_at)
    WHERE done_at IS NULL AND escalated_at IS NULL;

-- The deadline sweep's own record of the escalations it wrote to its outbox, in the same
-- transaction: a duty is escalated once, whatever restarts or concurrent sweeps happen before
-- the match-escalated event comes back through verification into the projection above.
CREATE TABLE response_escalations (
    match_id     text NOT NULL,
    duty         text NOT NULL,
    unit         text NOT NULL,
    event_id     text NOT NULL UNIQUE,
    escalated_to text NOT NULL,
    due_at       timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (match_id, duty, unit)
);
