-- Each repository keeps the number of artifacts a listing shows
-- (shownCount): repository listings and search read it instead of
-- counting every hit's artifacts. Every transaction that adds or removes
-- an artifact or a tag locks the repository row first and stores the
-- recount before it commits (store.recount); migration 0018's hook fills
-- the column (with 0018's) for the repositories already there.
ALTER TABLE repositories ADD COLUMN artifact_count BIGINT NOT NULL DEFAULT 0;
