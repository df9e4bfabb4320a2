-- Tips forwarded by the matcher (hub.tips): one row per tip event and recipient, with the alerts
-- the tip fits for that recipient; a re-run of the same tip event sends nothing twice.
CREATE TABLE tip_forwards (
    tip_event_id text NOT NULL,
    tip_id       text NOT NULL,
    recipient    text NOT NULL,
    role         text NOT NULL,
    alert_ids    text[] NOT NULL DEFAULT '{}',
    forwarded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (tip_event_id, recipient)
);
CREATE INDEX tip_forwards_tip ON tip_forwards (tip_id);
