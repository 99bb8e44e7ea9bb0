-- A repository is "plain" when it holds no index, no referrer and no tag
-- named like a cosign signature: then every artifact is shown and none has
-- an accessory, and listings skip both checks. Kept by the same recount
-- as artifact_count (store.recount); FALSE (not known) checks as before.
ALTER TABLE repositories ADD COLUMN plain BOOLEAN NOT NULL DEFAULT FALSE;
