-- The streaming matcher weighs a search by the number of persons indexed (the population term),
-- as the batch matcher does with len(index): part 'persons' counts every indexed person, with a
-- Chinese name or not. Filled from the persons already indexed.
ALTER TABLE match_name_counts DROP CONSTRAINT match_name_counts_part_check;
ALTER TABLE match_name_counts
    ADD CONSTRAINT match_name_counts_part_check
    CHECK (part IN ('surname', 'given', 'total', 'persons'));
INSERT INTO match_name_counts (part, value, n)
SELECT 'persons', '*', count(*) FROM match_persons
ON CONFLICT (part, value) DO UPDATE SET n = EXCLUDED.n;
