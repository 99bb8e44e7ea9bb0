-- Search finds repositories whose name contains a keyword. A LIKE '%k%'
-- scan reads every repository name; a trigram index reads the few that
-- can match. SQLite: an FTS5 table with the trigram tokenizer over the
-- names (external content: the names stay in repositories), kept in step
-- by triggers. Its LIKE is case-insensitive and finds a superset when the
-- keyword holds LIKE wildcards, so search checks each hit with instr().
CREATE VIRTUAL TABLE repository_names USING fts5(name, tokenize = 'trigram', content = 'repositories', content_rowid = 'id');
INSERT INTO repository_names (repository_names) VALUES ('rebuild');
CREATE TRIGGER repository_names_insert AFTER INSERT ON repositories BEGIN INSERT INTO repository_names (rowid, name) VALUES (new.id, new.name); END;
CREATE TRIGGER repository_names_delete AFTER DELETE ON repositories BEGIN INSERT INTO repository_names (repository_names, rowid, name) VALUES ('delete', old.id, old.name); END;
CREATE TRIGGER repository_names_update AFTER UPDATE OF name ON repositories BEGIN INSERT INTO repository_names (repository_names, rowid, name) VALUES ('delete', old.id, old.name); INSERT INTO repository_names (rowid, name) VALUES (new.id, new.name); END;
