-- Webhook policies (Harbor's notification_policy): per project, a name
-- unique in the project, the event types it listens to and its targets
-- (both JSON in Harbor's shapes), and the secret that signs every delivery
-- (HMAC-SHA256; kept retrievable because signing needs it, like the token
-- signing key in properties). Policies go with their project. Deliveries
-- are jobs (executions of vendor WEBHOOK or SLACK, vendor_id = policy id).
CREATE TABLE webhook_policies (
    id          {{ID}},
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name        VARCHAR(255) NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    event_types TEXT NOT NULL DEFAULT '[]',
    targets     TEXT NOT NULL DEFAULT '[]',
    secret      VARCHAR(255) NOT NULL,
    creator     VARCHAR(255) NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);
-- A project's policies: the listing, and the event subscriber's lookup.
CREATE INDEX webhook_policies_project ON webhook_policies (project_id, id);

-- When each policy last fired for each event type (Harbor's LastTrigger),
-- kept apart from the execution history, which is purged.
CREATE TABLE webhook_last_triggers (
    policy_id    BIGINT NOT NULL REFERENCES webhook_policies(id) ON DELETE CASCADE,
    event_type   VARCHAR(64) NOT NULL,
    triggered_at BIGINT NOT NULL,
    PRIMARY KEY (policy_id, event_type)
);
