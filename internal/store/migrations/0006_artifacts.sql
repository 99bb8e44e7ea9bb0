-- Indexes for the management API's artifact, repository and label listings.

-- GET /artifacts (every artifact the caller can see), newest first.
CREATE INDEX artifacts_push ON artifacts (push_time);

-- Repository listings, newest first, in one project and across projects.
CREATE INDEX repositories_project_created ON repositories (project_id, created_at);
CREATE INDEX repositories_created ON repositories (created_at);

-- Tags of an artifact, newest first.
CREATE INDEX tags_artifact_push ON tags (artifact_id, push_time);

-- Labels of one scope and project.
CREATE INDEX labels_scope_project ON labels (scope, project_id, id);
