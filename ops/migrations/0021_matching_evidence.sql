-- What a notified pair was last notified on (alert version + counterpart event), so that the
-- same evidence is never notified twice while new evidence (an updated record) is.
ALTER TABLE match_pairs ADD COLUMN evidence text;
