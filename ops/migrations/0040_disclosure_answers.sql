-- Which details requests the match stage has answered (sealed details or a refusal), so that a
-- request fed again (redelivery, `hubctl rebuild --match-index`) is answered and audited once.
-- Not part of the match index: a rebuild keeps it. Requests granted before this table existed
-- are taken from disclosure_audit (only the match stage grants).
CREATE TABLE disclosure_answers (
    request_event_id text PRIMARY KEY,
    answered_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
INSERT INTO disclosure_answers (request_event_id)
    SELECT DISTINCT request_event_id FROM disclosure_audit WHERE outcome = 'GRANTED';
