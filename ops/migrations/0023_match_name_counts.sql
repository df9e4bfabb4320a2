-- How often each surname and given name (toneless pinyin) occurs among the indexed persons, so
-- the streaming matcher weighs a common name agreeing less than a rare one, as the batch matcher
-- does with its in-memory index. Value '*' of part 'total' counts the Han-named persons.
ALTER TABLE match_persons ADD COLUMN surname_py text;
ALTER TABLE match_persons ADD COLUMN given_py text;

CREATE TABLE match_name_counts (
    part   text NOT NULL CHECK (part IN ('surname', 'given', 'total')),
    value  text NOT NULL,
    n      integer NOT NULL,
    PRIMARY KEY (part, value)
);
