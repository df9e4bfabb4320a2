-- Case files read under audit (issue 13, item 5).

-- Every request for a rescued person's case file whose signature held, granted or refused:
-- refused by the verify stage (step 'verify': no permission, key revoked ...) or decided on
-- entitlement by the case-file stage (step 'entitlement'), which then seals the file to the
-- requesting unit. Append-only like the event store: the database refuses to change or remove
-- a row.
CREATE TABLE case_audit (
    id               bigserial PRIMARY KEY,
    case_id          text NOT NULL,
    requester        text NOT NULL,
    request_event_id text NOT NULL,
    reason           text NOT NULL,
    step             text NOT NULL CHECK (step IN ('verify', 'entitlement')),
    outcome          text NOT NULL CHECK (outcome IN ('GRANTED', 'REFUSED')),
    detail           text NOT NULL,
    at               timestamptz NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
-- One entitlement decision per request: a request fed through the stage again (a redelivery,
-- `hubctl rebuild --match-index`) finds its decision taken and sends nothing a second time.
CREATE UNIQUE INDEX case_audit_decided ON case_audit (request_event_id)
    WHERE step = 'entitlement';
CREATE INDEX case_audit_case ON case_audit (case_id, id);
CREATE INDEX case_audit_requester ON case_audit (requester, id);

CREATE FUNCTION case_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER case_audit_no_update_delete BEFORE UPDATE OR DELETE ON case_audit
    FOR EACH ROW EXECUTE FUNCTION case_audit_refuse_change();
CREATE TRIGGER case_audit_no_truncate BEFORE TRUNCATE ON case_audit
    FOR EACH STATEMENT EXECUTE FUNCTION case_audit_refuse_change();

-- The case file is assembled from the event store (processors.pg_cases): the rescue notice and
-- its follow-ups by rescue id, the hits on it by counterpart id, their decisions by match id.
CREATE INDEX event_store_rescue_case ON event_store ((body ->> 'rescue_id'))
    WHERE event_type = 'rescue-notice';
CREATE INDEX event_store_follow_up_case ON event_store ((body ->> 'rescue_id'))
    WHERE event_type = 'case-follow-up';
CREATE INDEX event_store_match_counterpart ON event_store ((body ->> 'counterpart_id'))
    WHERE event_type = 'match-found';
CREATE INDEX event_store_decision_match ON event_store ((body ->> 'match_id'))
    WHERE event_type = 'match-decision';
-- The deadline sweep skips duties of matches whose alert was closed.
CREATE INDEX event_store_alert_closed ON event_store ((body ->> 'alert_id'))
    WHERE event_type = 'alert-closed';
