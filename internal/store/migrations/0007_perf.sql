-- Indexes for the listings at goharbor/perf's "small" size (100,000
-- artifacts, 500,000 tags; bench/api.sh, docs/performance.md).

-- Whether an artifact carries a cosign signature tag (sha256-<hex>.sig),
-- asked for every artifact a listing shows or counts: one seek on
-- (artifact_id, name range) instead of reading each of its tags' rows.
CREATE INDEX tags_artifact_name ON tags (artifact_id, name);
