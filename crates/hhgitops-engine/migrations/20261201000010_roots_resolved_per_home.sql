-- A fabric's root is resolved by each process in its own home from the rule's inputs (path, or Git URL, branch
-- and path): the database no longer holds one machine's absolute root. Rule-1 fabrics keep their `--path`
-- (the one absolute path that every process sharing the database must see alike).
UPDATE fabrics SET path = root_path WHERE root_rule = 'path' AND path IS NULL;
ALTER TABLE fabrics DROP COLUMN root_path;
