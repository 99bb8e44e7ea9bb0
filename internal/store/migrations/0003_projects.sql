-- Projects API and quotas: listings sort by creation time and filter by
-- owner; the quota of a project is its storage_limit (-1 unlimited), with
-- its own update time. Usage lives in the project_usage shards (0002); this
-- migration counts the blobs already visible in each project into shard 0.

ALTER TABLE projects ADD COLUMN quota_updated_at BIGINT NOT NULL DEFAULT 0;

CREATE INDEX projects_created ON projects (created_at, id);
CREATE INDEX projects_owner ON projects (owner_id, created_at, id);
CREATE INDEX projects_storage_limit ON projects (storage_limit, id);

INSERT INTO project_usage (project_id, shard, bytes)
    SELECT project_id, 0, SUM(size) FROM project_blobs WHERE TRUE GROUP BY project_id
    ON CONFLICT (project_id, shard) DO UPDATE SET bytes = project_usage.bytes + excluded.bytes;

-- project_blobs and uploads lose their foreign key to projects. On
-- PostgreSQL every insert into a referencing table locks the referenced row
-- (FOR KEY SHARE); concurrent pushes into one project then all lock its one
-- projects row, which takes a MultiXact per new locker and made a push into
-- one busy project ~35% slower than into a quiet one. Deleting a project
-- removes these rows itself (DeleteProject). The tables are rebuilt, the
-- one way to drop a constraint that SQLite and PostgreSQL share.

CREATE TABLE project_blobs_new (
    project_id  BIGINT NOT NULL,
    blob_digest VARCHAR(255) NOT NULL REFERENCES blobs(digest),
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, blob_digest)
);
INSERT INTO project_blobs_new (project_id, blob_digest, size, created_at)
    SELECT project_id, blob_digest, size, created_at FROM project_blobs;
DROP TABLE project_blobs;
ALTER TABLE project_blobs_new RENAME TO project_blobs;
CREATE INDEX project_blobs_blob ON project_blobs (blob_digest);

CREATE TABLE uploads_new (
    id          VARCHAR(64) PRIMARY KEY,
    project_id  BIGINT NOT NULL,
    repository  VARCHAR(255) NOT NULL,
    size        BIGINT NOT NULL DEFAULT 0,
    hash_state  {{BYTES}},
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
INSERT INTO uploads_new (id, project_id, repository, size, hash_state, created_at, updated_at)
    SELECT id, project_id, repository, size, hash_state, created_at, updated_at FROM uploads;
DROP TABLE uploads;
ALTER TABLE uploads_new RENAME TO uploads;
CREATE INDEX uploads_updated ON uploads (updated_at);
