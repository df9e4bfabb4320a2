-- Matching partitioned by blocking key (hub.matching.fanout): the probes an indexed person sends
-- to the keyed match-keys topic, written in the transaction that indexed it and sent after its
-- commit, like match_outbox but apart from it, so the outbox keeps holding only what goes to
-- participants and the ingest topic. Which probes are still unsent says how far behind the
-- scoring is.
CREATE TABLE match_probe_outbox (
    id          bigserial PRIMARY KEY,
    topic       text NOT NULL,
    msg_key     bytea,
    msg_value   bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    claimed_at  timestamptz,
    sent_at     timestamptz
);
CREATE INDEX match_probe_outbox_pending ON match_probe_outbox (id) WHERE sent_at IS NULL;
