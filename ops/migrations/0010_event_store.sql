-- The hub's append-only event store, with the bookkeeping the verify stage writes in the same
-- transaction: input positions (tracking), per-publisher sequences, anomalies and quarantine.

CREATE TABLE event_store (
    position            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id            text NOT NULL UNIQUE,
    event_type          text NOT NULL,
    schema_version      integer NOT NULL,
    schema_fingerprint  text NOT NULL,
    publisher_id        text NOT NULL,
    key_id              text NOT NULL,
    sequence            bigint NOT NULL,
    occurred_at         timestamptz NOT NULL,
    published_at        timestamptz NOT NULL,
    payload             bytea NOT NULL,
    signature           bytea NOT NULL,
    wire                bytea NOT NULL,
    body                jsonb NOT NULL,
    stored_at           timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX event_store_type_position ON event_store (event_type, position);
CREATE INDEX event_store_publisher_sequence ON event_store (publisher_id, sequence);

-- The database itself refuses to change or remove a stored event, whoever asks.
CREATE FUNCTION event_store_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_store is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER event_store_no_update_delete BEFORE UPDATE OR DELETE ON event_store
    FOR EACH ROW EXECUTE FUNCTION event_store_refuse_change();
CREATE TRIGGER event_store_no_truncate BEFORE TRUNCATE ON event_store
    FOR EACH STATEMENT EXECUTE FUNCTION event_store_refuse_change();

-- How far each consumer got in each input partition; written with the effect it caused.
CREATE TABLE processed (
    consumer    text NOT NULL,
    topic       text NOT NULL,
    partition   integer NOT NULL,
    "offset"    bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (consumer, topic, partition)
);

CREATE TABLE publisher_sequences (
    publisher_id   text PRIMARY KEY,
    last_sequence  bigint NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    events         bigint NOT NULL DEFAULT 0,
    gaps           bigint NOT NULL DEFAULT 0,
    replays        bigint NOT NULL DEFAULT 0,
    duplicates     bigint NOT NULL DEFAULT 0
);

CREATE TABLE sequence_anomalies (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    publisher_id  text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('gap', 'replay')),
    expected      bigint NOT NULL,
    got           bigint NOT NULL,
    event_id      text NOT NULL,
    detected_at   timestamptz NOT NULL
);
CREATE INDEX sequence_anomalies_publisher ON sequence_anomalies (publisher_id, id);

CREATE TABLE quarantine (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reason            text NOT NULL,
    detail            text NOT NULL,
    wire              bytea NOT NULL,
    received_at       timestamptz NOT NULL,
    source_topic      text NOT NULL DEFAULT '',
    source_partition  integer NOT NULL DEFAULT -1,
    source_offset     bigint NOT NULL DEFAULT -1,
    event_id          text,
    publisher_id      text,
    event_type        text,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'retried', 'resolved')),
    retried_at        timestamptz,
    retries           integer NOT NULL DEFAULT 0
);
CREATE INDEX quarantine_reason_status ON quarantine (reason, status);
CREATE INDEX quarantine_event_id ON quarantine (event_id);
