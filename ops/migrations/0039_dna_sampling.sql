-- Children of unknown origin (hub.sampling). Each migrant household's children as the hub first
-- saw them listed (sex, birth years, day), so a child re-registered under a new name is the same
-- child; and one DNA-sampling request per child and household, never repeated, with the sample
-- that answered it. Neither table is emptied by a match-index rebuild.
CREATE TABLE sampling_households (
    record_id       text PRIMARY KEY,
    since           date NOT NULL,
    latest_event_id text NOT NULL,
    latest_on       date NOT NULL,
    children        jsonb NOT NULL DEFAULT '[]'
);
CREATE TABLE sampling_requests (
    request_id      uuid PRIMARY KEY,
    record_id       text NOT NULL,
    record_event_id text NOT NULL,
    child_index     integer NOT NULL,
    child_sex       text NOT NULL,
    born_from       integer NOT NULL,
    born_to         integer NOT NULL,
    reasons         text[] NOT NULL,
    alert_ids       text[] NOT NULL,
    recipient       text,
    requested_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    sample_event_id text,
    sample          jsonb,
    sampled_at      timestamptz
);
CREATE INDEX sampling_requests_record ON sampling_requests (record_id);
