-- Durable jobs, Harbor's execution model: an execution (one run of some
-- vendor's job: a GC, a retention policy, a webhook delivery) owns tasks;
-- workers claim tasks from this table with a lease, so a task whose worker
-- dies is claimed again once the lease runs out. Logs are kept per task.

CREATE TABLE executions (
    id             {{ID}},
    vendor_type    VARCHAR(64) NOT NULL,
    vendor_id      BIGINT NOT NULL DEFAULT 0,
    trigger_type   VARCHAR(16) NOT NULL,
    status         VARCHAR(16) NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    extra_attrs    TEXT NOT NULL DEFAULT '{}',
    start_time     BIGINT NOT NULL,
    end_time       BIGINT NOT NULL DEFAULT 0,
    update_time    BIGINT NOT NULL
);
CREATE INDEX executions_vendor ON executions (vendor_type, vendor_id, id);
CREATE INDEX executions_status ON executions (vendor_type, status, id);

CREATE TABLE tasks (
    id             {{ID}},
    execution_id   BIGINT NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    kind           VARCHAR(64) NOT NULL,
    params         TEXT NOT NULL DEFAULT '{}',
    status         VARCHAR(16) NOT NULL,
    status_message TEXT NOT NULL DEFAULT '',
    attempts       INTEGER NOT NULL DEFAULT 0,
    max_attempts   INTEGER NOT NULL DEFAULT 1,
    run_at         BIGINT NOT NULL,
    lease_owner    VARCHAR(64) NOT NULL DEFAULT '',
    lease_until    BIGINT NOT NULL DEFAULT 0,
    stop_requested BOOLEAN NOT NULL DEFAULT FALSE,
    extra_attrs    TEXT NOT NULL DEFAULT '{}',
    creation_time  BIGINT NOT NULL,
    start_time     BIGINT NOT NULL DEFAULT 0,
    end_time       BIGINT NOT NULL DEFAULT 0,
    update_time    BIGINT NOT NULL
);
CREATE INDEX tasks_queue ON tasks (status, run_at, id);
CREATE INDEX tasks_execution ON tasks (execution_id, id);
CREATE INDEX tasks_lease ON tasks (status, lease_until);

CREATE TABLE task_logs (
    task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    seq     BIGINT NOT NULL,
    text    TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);

CREATE TABLE schedules (
    id            {{ID}},
    vendor_type   VARCHAR(64) NOT NULL,
    vendor_id     BIGINT NOT NULL DEFAULT 0,
    cron          VARCHAR(128) NOT NULL,
    params        TEXT NOT NULL DEFAULT '{}',
    next_run      BIGINT NOT NULL,
    creation_time BIGINT NOT NULL,
    update_time   BIGINT NOT NULL,
    UNIQUE (vendor_type, vendor_id)
);
CREATE INDEX schedules_next ON schedules (next_run);

CREATE TABLE job_queues (
    kind   VARCHAR(64) PRIMARY KEY,
    paused BOOLEAN NOT NULL DEFAULT FALSE
);
