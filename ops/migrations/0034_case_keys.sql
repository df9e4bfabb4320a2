-- Personal data of rescued persons encrypted at rest (hub/atrest.py, processors/pg_keys.py).
-- The hub keys themselves are files outside the database; this table names them only.
CREATE TABLE hub_keys (
    key_id      text PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    retired_at  timestamptz
);
-- Exactly one hub key wraps new data keys: the one not retired.
CREATE UNIQUE INDEX hub_keys_one_current ON hub_keys ((true)) WHERE retired_at IS NULL;

-- One data key per case, kept only wrapped by a hub key. Shredding empties `wrapped` for good.
CREATE TABLE case_keys (
    case_id         text PRIMARY KEY,
    hub_key_id      text REFERENCES hub_keys (key_id),
    wrapped         bytea,
    created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    last_sealed_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    shred_requested_at timestamptz,      -- a case-shredded event is on its way (retention sweep)
    shredded_at     timestamptz,
    shred_reason    text,
    CHECK ((wrapped IS NULL) = (shredded_at IS NOT NULL)),
    CHECK ((wrapped IS NULL) = (hub_key_id IS NULL))
);
CREATE INDEX case_keys_hub_key ON case_keys (hub_key_id) WHERE wrapped IS NOT NULL;
CREATE INDEX case_keys_last_sealed ON case_keys (last_sealed_at) WHERE wrapped IS NOT NULL;

-- A sealed event keeps in clear what verifies it (the wire header up to the payload length,
-- the payload's SHA-256 and the signature) and what the projections count by (`body`, see
-- hub.atrest.clear_view); `wire` and `sealed_body` are ciphertext under the case's data key.
ALTER TABLE event_store
    ADD COLUMN sealed_case     text,
    ADD COLUMN wire_head       bytea,
    ADD COLUMN payload_digest  bytea,
    ADD COLUMN wire_digest     bytea,
    ADD COLUMN sealed_body     bytea;
CREATE INDEX event_store_sealed_case ON event_store (sealed_case) WHERE sealed_case IS NOT NULL;

-- A quarantined copy of such an event is sealed under the same case key (or a key of its own
-- when the case cannot be read from it).
ALTER TABLE quarantine ADD COLUMN sealed_case text;

-- The rescue projection says when a case was shredded (event case-shredded) and why.
ALTER TABLE proj_rescue_cases
    ADD COLUMN shredded_at  timestamptz,
    ADD COLUMN shred_kind   text;

-- A rescued person's facts in the matcher's index are sealed under the case's data key
-- (processors/pg_match_seal.py); blocking keys are stored as keyed hashes from now on, so an
-- index built before this migration is rebuilt (`hubctl rebuild --match-index`).
ALTER TABLE match_persons ADD COLUMN sealed_case text;
