-- The streaming matcher's state (processors/pg_matching.py). Kept in PostgreSQL, not in a worker,
-- so it survives restarts and every worker sharing the verified partitions sees the same index.

-- One row per person that can be matched: an open alert's missing person, or a person of a
-- migrant record (the registrant and each accompanying child) or of a rescue notice.
CREATE TABLE match_persons (
    person_ref    text PRIMARY KEY,          -- e.g. RECORD:M-1#0, ALERT:A-7
    side          text NOT NULL CHECK (side IN ('ALERT', 'OTHER')),
    business_id   text NOT NULL,
    child_index   integer,
    event_id      text NOT NULL,             -- the event whose facts are indexed
    publisher_id  text NOT NULL,
    area_code     text,                      -- where found / registered / rescued
    facts         jsonb NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX match_persons_business ON match_persons (business_id);

-- Blocking keys: a candidate search is one index lookup per key.
CREATE TABLE match_keys (
    block_key   text NOT NULL,
    person_ref  text NOT NULL REFERENCES match_persons (person_ref) ON DELETE CASCADE,
    side        text NOT NULL,
    PRIMARY KEY (block_key, side, person_ref)
);
CREATE INDEX match_keys_person ON match_keys (person_ref);

-- Each alert as the matcher knows it: the alert body, its updates and parents' DNA, whatever
-- order they arrive in, and whether it still takes part in matching.
CREATE TABLE match_alerts (
    alert_id       text PRIMARY KEY,
    alert_event_id text,
    publisher_id   text,
    body           jsonb,
    updates        jsonb NOT NULL DEFAULT '[]'::jsonb,
    parents_dna    jsonb,
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'confirmed')),
    status_reason  text,
    updated_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Every pair at or above the review threshold, with its police decision; one row per match id.
CREATE TABLE match_pairs (
    match_id          text PRIMARY KEY,
    alert_id          text,
    counterpart_ref   text,
    counterpart_kind  text,
    counterpart_id    text,
    child_index       integer,
    score             double precision,
    level             text CHECK (level IN ('NOTIFY', 'REVIEW')),
    status            text NOT NULL,         -- NOTIFIED, REVIEW, CONFIRMED, REJECTED, NEED_INFO
    explanation       jsonb,
    recipients        jsonb,
    routing_notes     jsonb,
    alert_event_id    text,
    counterpart_event_id text,
    notifications     integer NOT NULL DEFAULT 0,
    decided_by        text,
    decided_at        timestamptz,
    first_found_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at        timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX match_pairs_alert ON match_pairs (alert_id);

-- The operators' review list: pairs between the thresholds that nobody has decided on yet.
CREATE VIEW match_review AS
    SELECT match_id, alert_id, counterpart_kind, counterpart_id, child_index, score,
           explanation, first_found_at, updated_at
    FROM match_pairs WHERE status = 'REVIEW';

-- Messages to send once the transaction that produced them has committed (transactional outbox):
-- a crash between commit and send leaves them here, and the next batch sends them.
CREATE TABLE match_outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    msg_key     bytea,
    msg_value   bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_at  timestamptz,
    sent_at     timestamptz
);
CREATE INDEX match_outbox_pending ON match_outbox (id) WHERE sent_at IS NULL;

-- Events the matcher could not use (malformed facts): kept with the reason, never dropped.
CREATE TABLE match_failures (
    event_id    text PRIMARY KEY,
    event_type  text NOT NULL,
    reason      text NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Sequence numbers of the hub operator's match-found events; far above the registry tool's own
-- numbering so the two never reuse a number.
CREATE SEQUENCE match_found_sequence START WITH 1000000000;
