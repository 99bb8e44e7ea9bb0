-- Tag retention (Harbor's RetentionPolicy). A project has at most one
-- policy, linked from its metadata key retention_id as in Harbor; policy is
-- the policy as JSON in Harbor's shape (the id column is authoritative).
-- Policies go with their project.
CREATE TABLE retention_policies (
    id          {{ID}},
    project_id  BIGINT NOT NULL UNIQUE REFERENCES projects(id) ON DELETE CASCADE,
    policy      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- What each retention task did (one task per repository): how it ended
-- (Success, Error, Stopped), how many artifacts it looked at and kept, and
-- what it deleted (a JSON list for the TAG_RETENTION event). A row also marks the task as settled, so the
-- last task of an execution to settle is the one that announces its end.
-- Rows go with their task.
CREATE TABLE retention_results (
    task_id       BIGINT PRIMARY KEY REFERENCES tasks(id) ON DELETE CASCADE,
    execution_id  BIGINT NOT NULL,
    status        VARCHAR(16) NOT NULL,
    total         INTEGER NOT NULL,
    retained      INTEGER NOT NULL,
    deleted       TEXT NOT NULL DEFAULT '[]',
    updated_at    BIGINT NOT NULL
);
CREATE INDEX retention_results_execution ON retention_results (execution_id, task_id);

-- Executions whose end was announced (TAG_RETENTION published).
CREATE TABLE retention_notices (
    execution_id  BIGINT PRIMARY KEY REFERENCES executions(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL
);
