-- A rescue case as it stands once police confirmed a match with it. Derived from two
-- projections (proj_rescue_cases and proj_matches, both rebuilt from events), so a rebuild can
-- never lose the confirmation: the case's own family_reunion is kept, and family_reunion_now
-- says FAMILY_FOUND when a confirmed match exists and the case had not got further.
CREATE VIEW rescue_case_matches AS
    SELECT r.rescue_id,
           r.publisher_id,
           r.case_status,
           r.family_reunion,
           CASE WHEN m.match_id IS NOT NULL
                     AND COALESCE(r.family_reunion, 'NOT_STARTED') IN ('NOT_STARTED', 'SEARCHING')
                THEN 'FAMILY_FOUND'
                ELSE r.family_reunion
           END AS family_reunion_now,
           m.match_id AS confirmed_match_id,
           m.alert_id AS confirmed_alert_id,
           m.decided_by AS confirmed_by,
           m.decided_at AS confirmed_at
    FROM proj_rescue_cases r
    LEFT JOIN LATERAL (
        SELECT match_id, alert_id, decided_by, decided_at
        FROM proj_matches
        WHERE counterpart_kind = 'RESCUE_NOTICE'
          AND counterpart_id = r.rescue_id
          AND decision = 'CONFIRMED'
        ORDER BY decided_at DESC NULLS LAST
        LIMIT 1
    ) m ON true;
