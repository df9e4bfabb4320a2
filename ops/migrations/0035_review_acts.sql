-- The review queue's acts as the match stage applied them (review-promoted, review-dismissed:
-- signed operator events in the log, hub.review). Kept like match_pairs across a rebuild of
-- the match index, so an act fed again is recognised and has no second effect.
CREATE TABLE match_review_acts (
    event_id    text PRIMARY KEY,
    match_id    text NOT NULL,
    act         text NOT NULL CHECK (act IN ('review-promoted', 'review-dismissed')),
    operator    text NOT NULL,
    reason      text NOT NULL,
    acted_at    timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX match_review_acts_match ON match_review_acts (match_id);

-- The console's "silent for longer than usual": each publisher's recent bursts of events,
-- found by walking this index backwards a minute at a time (ops/console/readings.py).
CREATE INDEX console_event_store_publisher_stored ON event_store (publisher_id, stored_at);

-- The console's review queue: waiting pairs, best score first, without sorting them all.
CREATE INDEX console_match_pairs_review ON match_pairs (score DESC, first_found_at, match_id)
    WHERE status = 'REVIEW';
