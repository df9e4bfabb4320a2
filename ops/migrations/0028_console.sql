-- The operator console (ops/console): its operators, their sessions, failed logins, and the
-- audit log of every view of personal data and every action taken through it.

CREATE TABLE console_operators (
    username       text PRIMARY KEY CHECK (username ~ '^[a-z][a-z0-9._-]{1,31}$'),
    role           text NOT NULL CHECK (role IN ('operator', 'auditor')),
    password_hash  text NOT NULL,              -- Argon2id, in the PHC string format
    must_change    boolean NOT NULL DEFAULT false,
    disabled_at    timestamptz,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Server-side sessions: the cookie holds a random token, the table only its SHA-256, so a
-- copy of this table logs nobody in. A session ends at expires_at or when its operator is
-- disabled or logs out.
CREATE TABLE console_sessions (
    token_sha256   text PRIMARY KEY,
    username       text NOT NULL REFERENCES console_operators (username),
    csrf_token     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at     timestamptz NOT NULL
);
CREATE INDEX console_sessions_user ON console_sessions (username);

-- Failed logins, counted per user name and per client address to slow down guessing.
CREATE TABLE console_login_failures (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username       text NOT NULL,
    client         text NOT NULL,
    failed_at      timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX console_login_failures_user ON console_login_failures (username, failed_at);
CREATE INDEX console_login_failures_client ON console_login_failures (client, failed_at);

-- Who viewed or did what, when and why. Append-only like the event store: the database
-- refuses any change or removal, whoever asks.
CREATE TABLE console_audit (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT clock_timestamp(),
    username       text NOT NULL,
    action         text NOT NULL,              -- e.g. reveal-payload, quarantine-retry, login
    target         text NOT NULL DEFAULT '',   -- what it was about (entry id, participant, key)
    reason         text NOT NULL DEFAULT '',   -- why, as the operator wrote it
    outcome        text NOT NULL DEFAULT 'done'
);
CREATE INDEX console_audit_at ON console_audit (at);

CREATE FUNCTION console_audit_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'console_audit is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER console_audit_no_update_delete BEFORE UPDATE OR DELETE ON console_audit
    FOR EACH ROW EXECUTE FUNCTION console_audit_refuse_change();
CREATE TRIGGER console_audit_no_truncate BEFORE TRUNCATE ON console_audit
    FOR EACH STATEMENT EXECUTE FUNCTION console_audit_refuse_change();

-- What the console's pages look up by time or by match, kept fast with a million events:
-- the overview's per-minute rates, the newest matches first (per state too), and the
-- notifications sent for one match (the outbox keys them by match id).
CREATE INDEX console_event_store_stored_at ON event_store (stored_at);
CREATE INDEX console_quarantine_received_at ON quarantine (received_at);
CREATE INDEX console_outbox_sent_at ON match_outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX console_outbox_key ON match_outbox (msg_key);
CREATE INDEX console_match_pairs_found ON match_pairs (first_found_at DESC, match_id);
CREATE INDEX console_match_pairs_state ON match_pairs (status, first_found_at DESC, match_id);
