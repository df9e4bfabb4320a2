-- Each child of a migrant household as first listed, one row per child (hub.sampling), so that
-- an alert arriving after the household's record finds the children who fit it (sex, birth
-- years, listed only after the disappearance) without reading every household. Written beside
-- sampling_households.children; like it, never emptied by a match-index rebuild.
CREATE TABLE sampling_children (
    record_id       text NOT NULL REFERENCES sampling_households (record_id),
    child_sex       text NOT NULL,
    born_from       integer NOT NULL,
    born_to         integer NOT NULL,
    first_listed_on date NOT NULL,
    PRIMARY KEY (record_id, child_sex, born_from, born_to)
);
CREATE INDEX sampling_children_born ON sampling_children (born_to, born_from);
INSERT INTO sampling_children (record_id, child_sex, born_from, born_to, first_listed_on)
    SELECT h.record_id, c->>'sex', (c->'years'->>0)::integer, (c->'years'->>1)::integer,
           (c->>'first_listed_on')::date
    FROM sampling_households h, jsonb_array_elements(h.children) c
    ON CONFLICT DO NOTHING;
-- Latin-script names counted like Chinese ones (match_name_counts parts latin_family,
-- latin_given, latin_total), so that the streaming matcher adjusts their agreement by frequency
-- as the batch one does; the parts are kept per person so that removing it uncounts them.
ALTER TABLE match_persons ADD COLUMN latin_family text, ADD COLUMN latin_given text;
-- Persons indexed before this file are counted as Latin-named after `hubctl rebuild --match-index`.
ALTER TABLE match_name_counts DROP CONSTRAINT match_name_counts_part_check;
ALTER TABLE match_name_counts
    ADD CONSTRAINT match_name_counts_part_check
    CHECK (part IN ('surname', 'given', 'total', 'persons', 'latin_family', 'latin_given',
                    'latin_total'));
