-- Projection tables, one per view the other parts read. Generated from hub.projections'
-- catalogue (processors.pg_store.projection_ddl); a test checks the two agree.

-- Which events each projection applied, written in the same transaction as the rows.
CREATE TABLE proj_applied (
    projection  text NOT NULL,
    event_id    text NOT NULL,
    failure     text,
    PRIMARY KEY (projection, event_id)
);

CREATE TABLE proj_participants (
    participant_id text NOT NULL,
    jurisdiction text,
    department text,
    display_name text,
    registered_at timestamptz,
    registered_event_id text,
    PRIMARY KEY (participant_id)
);

CREATE TABLE proj_participant_keys (
    participant_id text NOT NULL,
    key_id text NOT NULL,
    public_key text,
    valid_from timestamptz,
    valid_until timestamptz,
    status text,
    revoked_at timestamptz,
    revoke_reason text,
    PRIMARY KEY (participant_id, key_id)
);

CREATE TABLE proj_participant_permissions (
    participant_id text NOT NULL,
    event_type text NOT NULL,
    status text,
    effective_at timestamptz,
    PRIMARY KEY (participant_id, event_type)
);

CREATE TABLE proj_alerts (
    alert_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    name text,
    sex text,
    birth_date date,
    birth_precision text,
    id_number text,
    person jsonb,
    alert_event_id text,
    case_number text,
    case_type text,
    reason text,
    urgency text,
    action_on_hit text,
    last_seen_area text,
    last_seen_place text,
    last_seen_at timestamptz,
    issuing_unit text,
    jurisdiction text,
    reported_at timestamptz,
    status text,
    outcome text,
    closed_at timestamptz,
    closed_event_id text,
    updates integer,
    PRIMARY KEY (alert_id)
);

CREATE TABLE proj_alert_updates (
    alert_id text NOT NULL,
    update_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    event_id text,
    details jsonb,
    PRIMARY KEY (alert_id, update_id)
);

CREATE TABLE proj_migrant_records (
    record_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    name text,
    sex text,
    birth_date date,
    birth_precision text,
    id_number text,
    person jsonb,
    record_event_id text,
    household_area text,
    current_area text,
    current_address text,
    moved_in_on date,
    moved_out_on date,
    registered_on date,
    registering_station text,
    children integer,
    details jsonb,
    PRIMARY KEY (record_id)
);

CREATE TABLE proj_migrant_children (
    record_id text NOT NULL,
    child_no text NOT NULL,
    name text,
    sex text,
    birth_date date,
    birth_precision text,
    id_number text,
    person jsonb,
    guardian_relation text,
    relation_text text,
    guardian_id_number text,
    PRIMARY KEY (record_id, child_no)
);

CREATE TABLE proj_rescue_cases (
    rescue_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    name text,
    sex text,
    birth_date date,
    birth_precision text,
    id_number text,
    person jsonb,
    rescue_event_id text,
    rescued_at timestamptz,
    rescue_area text,
    rescue_place text,
    trafficked_from_area text,
    has_dna_profile boolean,
    issuing_unit text,
    placement jsonb,
    placement_since timestamptz,
    case_status text,
    family_reunion text,
    followed_up_on date,
    follow_ups integer,
    PRIMARY KEY (rescue_id)
);

CREATE TABLE proj_case_follow_ups (
    rescue_id text NOT NULL,
    follow_up_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    event_id text,
    followed_up_on date,
    status text,
    family_reunion text,
    details jsonb,
    PRIMARY KEY (rescue_id, follow_up_id)
);

CREATE TABLE proj_matches (
    match_id text NOT NULL,
    publisher_id text,
    found_at timestamptz,
    alert_id text,
    alert_event_id text,
    counterpart_kind text,
    counterpart_id text,
    counterpart_event_id text,
    child_index integer,
    score double precision,
    explanation jsonb,
    dna jsonb,
    recipients jsonb,
    decision text,
    decided_by text,
    decided_at timestamptz,
    decisions integer,
    PRIMARY KEY (match_id)
);

CREATE TABLE proj_match_decisions (
    match_id text NOT NULL,
    event_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    alert_id text,
    decision text,
    note text,
    deciding_unit text,
    decided_at timestamptz,
    PRIMARY KEY (match_id, event_id)
);

CREATE TABLE proj_tips (
    tip_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    received_at timestamptz,
    channel text,
    area_code text,
    related_alert_id text,
    details jsonb,
    PRIMARY KEY (tip_id)
);

CREATE TABLE proj_parents_dna_profiles (
    profile_id text NOT NULL,
    publisher_id text,
    occurred_at timestamptz,
    alert_id text,
    sampled_on date,
    details jsonb,
    PRIMARY KEY (profile_id)
);
