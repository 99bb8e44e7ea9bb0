-- The indexes (OCI image indexes, Docker manifest lists) of a repository,
-- the only artifacts with child references. Counting the artifacts a
-- repository shows (shownCount: repository listings, search) looks for
-- index children through them; in a repository of plain images this index
-- range is empty, where walking every artifact to probe its references was
-- half of the count's work.
CREATE INDEX artifacts_indexes ON artifacts (repository_id)
	WHERE manifest_media_type IN ('application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json');
