-- Core data model: users, projects, repositories, artifacts, tags, blobs,
-- uploads. {{ID}} is the dialect's auto-increment primary key, {{BYTES}} its
-- binary type, {{C}} the byte-order collation that OCI listings sort by. Times are Unix milliseconds.

CREATE TABLE properties (
    name  VARCHAR(255) PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE users (
    id            {{ID}},
    username      VARCHAR(255) NOT NULL UNIQUE,
    email         VARCHAR(255) NOT NULL DEFAULT '',
    realname      VARCHAR(255) NOT NULL DEFAULT '',
    comment       TEXT NOT NULL DEFAULT '',
    password_hash VARCHAR(255) NOT NULL DEFAULT '',
    sysadmin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE projects (
    id         {{ID}},
    name       VARCHAR(255) NOT NULL UNIQUE,
    owner_id   BIGINT NOT NULL DEFAULT 0,
    public     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE project_metadata (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       VARCHAR(255) NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE repositories (
    id          {{ID}},
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        VARCHAR(255) {{C}} NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    pull_count  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX repositories_project ON repositories (project_id, name);

-- One row per distinct manifest or index in a repository.
CREATE TABLE artifacts (
    id                  {{ID}},
    project_id          BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    repository_id       BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    digest              VARCHAR(255) NOT NULL,
    kind                VARCHAR(64) NOT NULL,
    manifest_media_type VARCHAR(255) NOT NULL,
    config_media_type   VARCHAR(255) NOT NULL DEFAULT '',
    artifact_type       VARCHAR(255) NOT NULL DEFAULT '',
    size                BIGINT NOT NULL,
    annotations         TEXT NOT NULL DEFAULT '',
    subject_digest      VARCHAR(255) NOT NULL DEFAULT '',
    manifest            {{BYTES}} NOT NULL,
    push_time           BIGINT NOT NULL,
    pull_time           BIGINT NOT NULL DEFAULT 0,
    UNIQUE (repository_id, digest)
);
CREATE INDEX artifacts_repo_push ON artifacts (repository_id, push_time);
CREATE INDEX artifacts_project_push ON artifacts (project_id, push_time);
CREATE INDEX artifacts_subject ON artifacts (repository_id, subject_digest, push_time);
CREATE INDEX artifacts_digest ON artifacts (digest);

CREATE TABLE tags (
    id            {{ID}},
    repository_id BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    artifact_id   BIGINT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    name          VARCHAR(255) {{C}} NOT NULL,
    push_time     BIGINT NOT NULL,
    pull_time     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (repository_id, name)
);
CREATE INDEX tags_artifact ON tags (artifact_id);

-- Index -> child manifests.
CREATE TABLE artifact_references (
    parent_id    BIGINT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    child_digest VARCHAR(255) NOT NULL,
    media_type   VARCHAR(255) NOT NULL DEFAULT '',
    platform     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (parent_id, child_digest)
);
CREATE INDEX artifact_references_child ON artifact_references (child_digest);

CREATE TABLE blobs (
    digest     VARCHAR(255) PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Manifest -> blobs (config and layers).
CREATE TABLE artifact_blobs (
    artifact_id BIGINT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    blob_digest VARCHAR(255) NOT NULL,
    PRIMARY KEY (artifact_id, blob_digest)
);
CREATE INDEX artifact_blobs_blob ON artifact_blobs (blob_digest);

-- Blobs visible in a project; the sum of their sizes is the project's usage.
CREATE TABLE project_blobs (
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    blob_digest VARCHAR(255) NOT NULL REFERENCES blobs(digest),
    size        BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (project_id, blob_digest)
);
CREATE INDEX project_blobs_blob ON project_blobs (blob_digest);

CREATE TABLE uploads (
    id          VARCHAR(64) PRIMARY KEY,
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    repository  VARCHAR(255) NOT NULL,
    size        BIGINT NOT NULL DEFAULT 0,
    hash_state  {{BYTES}},
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX uploads_updated ON uploads (updated_at);
