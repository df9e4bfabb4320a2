-- One sequence per publisher identity (issue 12): every event signed as the hub operator draws
-- its number from match_found_sequence, the registry events of `hubctl registry` as well as the
-- match-found, escalation, sampling-request, review and shredding events the pipeline signs.
-- Until now the registry tool numbered from its journal (1, 2, ...) and the pipeline from
-- 1,000,000,000, so every new database showed a gap for the operator. A database whose counter
-- was never used now starts at 1; one already used keeps counting (the registry tool never
-- draws below its journal, so no number is used twice).
DO $$
BEGIN
    IF NOT (SELECT is_called FROM match_found_sequence) THEN
        ALTER SEQUENCE match_found_sequence RESTART WITH 1;
    END IF;
END
$$;
COMMENT ON SEQUENCE match_found_sequence IS
    'Sequence numbers of every event signed as 000000-hub-operator (migration 0045).';
