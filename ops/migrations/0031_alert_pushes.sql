-- Urgent child alerts pushed to police units in widening rings (hub.alert_push): one row per
-- alert and unit that received it, so no unit is told twice, whichever worker sweeps.
CREATE TABLE alert_pushes (
    alert_id    text NOT NULL,
    unit        text NOT NULL,
    distance_km real NOT NULL CHECK (distance_km >= 0),
    radius_km   integer NOT NULL CHECK (radius_km > 0),
    located_by  text NOT NULL,
    pushed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (alert_id, unit)
);

-- Where each open alert's push stands: the radius reached, and whether the sweep may skip it
-- until the alert changes (not pushable, or at the final radius).
CREATE TABLE alert_push_progress (
    alert_id   text PRIMARY KEY,
    radius_km  integer,
    settled    boolean NOT NULL,
    checked_at timestamptz NOT NULL,
    note       text
);
