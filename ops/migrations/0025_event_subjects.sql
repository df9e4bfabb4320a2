-- The verify stage asks, for every change to an alert and every decision on a match, who issued
-- that alert and whom the hub notified of that match (hub.authority): one index each, on the
-- id inside the stored body of the event that created the subject.
CREATE INDEX event_store_alert_subject ON event_store ((body ->> 'alert_id'))
    WHERE event_type = 'missing-person-alert';
CREATE INDEX event_store_match_subject ON event_store ((body ->> 'match_id'))
    WHERE event_type = 'match-found';
