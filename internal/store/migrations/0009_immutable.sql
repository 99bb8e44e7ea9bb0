-- Tag immutability rules (Harbor's ImmutableRule). rule is the rule as
-- JSON in Harbor's shape; priority and disabled are kept beside it so they
-- can be filtered and toggled; selectors is what the rule selects
-- (repository and tag decorations and patterns), unique per project so a
-- duplicate rule is refused. Rules go with their project.
CREATE TABLE immutable_rules (
    id          {{ID}},
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    priority    INTEGER NOT NULL DEFAULT 0,
    disabled    BOOLEAN NOT NULL DEFAULT FALSE,
    rule        TEXT NOT NULL,
    selectors   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, selectors)
);
-- A project's rules in order: the listing and every push's check.
CREATE INDEX immutable_rules_project ON immutable_rules (project_id, id);
