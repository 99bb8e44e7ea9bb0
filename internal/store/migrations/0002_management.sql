-- Harbor's management layer: members, robots, labels, audit log, browser
-- sessions, quotas. Quota usage is kept in per-project shards so concurrent
-- pushes into one project update different rows (Harbor's quota_usage row is
-- its worst contention point, harbor#18440); usage is the sum of the shards.

ALTER TABLE projects ADD COLUMN storage_limit BIGINT NOT NULL DEFAULT -1;
ALTER TABLE users ADD COLUMN cli_secret VARCHAR(255) NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN password_changed_at BIGINT NOT NULL DEFAULT 0;

CREATE INDEX users_email ON users (email);

CREATE TABLE project_members (
    id          {{ID}},
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    entity_type CHAR(1) NOT NULL,
    entity_id   BIGINT NOT NULL,
    role        INTEGER NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, entity_type, entity_id)
);
CREATE INDEX project_members_entity ON project_members (entity_type, entity_id);

CREATE TABLE robots (
    id           {{ID}},
    name         VARCHAR(255) {{C}} NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    level        VARCHAR(16) NOT NULL,
    project_id   BIGINT NOT NULL DEFAULT 0,
    secret_hash  VARCHAR(255) NOT NULL,
    duration     BIGINT NOT NULL DEFAULT -1,
    expires_at   BIGINT NOT NULL DEFAULT -1,
    disabled     BOOLEAN NOT NULL DEFAULT FALSE,
    permissions  TEXT NOT NULL DEFAULT '[]',
    creator_type VARCHAR(16) NOT NULL DEFAULT '',
    creator_ref  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX robots_project ON robots (project_id, name);

CREATE TABLE labels (
    id          {{ID}},
    name        VARCHAR(255) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    color       VARCHAR(16) NOT NULL DEFAULT '',
    scope       CHAR(1) NOT NULL,
    project_id  BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (scope, project_id, name)
);

CREATE TABLE artifact_labels (
    artifact_id BIGINT NOT NULL REFERENCES artifacts(id) ON DELETE CASCADE,
    label_id    BIGINT NOT NULL REFERENCES labels(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (artifact_id, label_id)
);
CREATE INDEX artifact_labels_label ON artifact_labels (label_id, artifact_id);

CREATE TABLE audit_log (
    id            {{ID}},
    project_id    BIGINT NOT NULL DEFAULT 0,
    operation     VARCHAR(64) NOT NULL,
    resource_type VARCHAR(64) NOT NULL,
    resource      TEXT NOT NULL,
    username      VARCHAR(255) NOT NULL,
    op_desc       TEXT NOT NULL DEFAULT '',
    op_result     BOOLEAN NOT NULL DEFAULT TRUE,
    op_time       BIGINT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (op_time);
CREATE INDEX audit_log_project_time ON audit_log (project_id, op_time);

CREATE TABLE sessions (
    id_hash    VARCHAR(64) PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       VARCHAR(64) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE project_usage (
    project_id BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    shard      INTEGER NOT NULL,
    bytes      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (project_id, shard)
);

-- Counters for listings that show them, kept in step with the rows.
CREATE INDEX artifacts_kind ON artifacts (project_id, kind);
CREATE INDEX repositories_updated ON repositories (project_id, updated_at);
