-- Each artifact keeps Harbor's size of its manifest (its bytes plus its
-- config's and layers', oci.TotalSize), computed at push, so artifact
-- listings need neither read nor parse the manifest. -1: not known yet;
-- this migration's hook fills it for the artifacts already there.
ALTER TABLE artifacts ADD COLUMN total_size BIGINT NOT NULL DEFAULT -1;
