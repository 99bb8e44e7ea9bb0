package store

import (
	"context"
	"database/sql"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
)

// Tag retention (migrations/0011_retention.sql): the policies, linked from
// project metadata retention_id as in Harbor; the candidates of a
// repository read in three indexed statements; and what each retention
// task did, which also tells the last task of an execution that it is the
// last. Nothing here holds a transaction longer than one small statement
// group: deletions go through DeleteArtifact, one artifact at a time.

// RetentionPolicyRow is a stored policy.
type RetentionPolicyRow struct {
	ID        int64
	ProjectID int64
	Policy    string // Harbor's RetentionPolicy as JSON; its id is ID
	CreatedAt int64
	UpdatedAt int64
}

// RetentionPolicy returns policy id.
func (db *DB) RetentionPolicy(ctx context.Context, id int64) (*RetentionPolicyRow, error) {
	var p RetentionPolicyRow
	err := db.queryRow(ctx, nil, `SELECT id, project_id, policy, created_at, updated_at FROM retention_policies WHERE id = ?`, id).
		Scan(&p.ID, &p.ProjectID, &p.Policy, &p.CreatedAt, &p.UpdatedAt)
	if err != nil {
		return nil, notFound("get retention policy", err, "retention policy %d not found", id)
	}
	return &p, nil
}

// CreateRetentionPolicy stores policy for project projectID and sets the
// project's metadata retention_id to its ID, in one transaction. A project
// that has a policy already is errs.Exists naming it.
func (db *DB) CreateRetentionPolicy(ctx context.Context, projectID int64, policy string) (int64, error) {
	const op = "create retention policy"
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		lock := `SELECT id FROM projects WHERE id = ?`
		if db.pg {
			lock += ` FOR NO KEY UPDATE`
		}
		var pid int64
		if err := db.queryRow(ctx, tx, lock, projectID).Scan(&pid); err != nil {
			return notFound(op, err, "project %d not found", projectID)
		}
		var old int64
		err := db.queryRow(ctx, tx, `SELECT id FROM retention_policies WHERE project_id = ?`, projectID).Scan(&old)
		if err == nil {
			return errs.E(errs.Exists, op, "project %d already has retention policy %d", projectID, old)
		}
		if err != sql.ErrNoRows {
			return err
		}
		t := now()
		if err := db.queryRow(ctx, tx, `INSERT INTO retention_policies (project_id, policy, created_at, updated_at)
			VALUES (?, ?, ?, ?) RETURNING id`, projectID, policy, t, t).Scan(&id); err != nil {
			return err
		}
		_, err = db.exec(ctx, tx, `INSERT INTO project_metadata (project_id, name, value) VALUES (?, 'retention_id', ?)
			ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value`, projectID, strconv.FormatInt(id, 10))
		return err
	})
	if isUniqueViolation(err) {
		return 0, errs.E(errs.Exists, op, "project %d already has a retention policy", projectID)
	}
	return id, err
}

// UpdateRetentionPolicy replaces the JSON of policy id.
func (db *DB) UpdateRetentionPolicy(ctx context.Context, id int64, policy string) error {
	const op = "update retention policy"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE retention_policies SET policy = ?, updated_at = ? WHERE id = ?`, policy, now(), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "retention policy %d not found", id)
		}
		return nil
	})
}

// DeleteRetentionPolicy removes policy id and its project's retention_id.
func (db *DB) DeleteRetentionPolicy(ctx context.Context, id int64) error {
	const op = "delete retention policy"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		var project int64
		if err := db.queryRow(ctx, tx, `DELETE FROM retention_policies WHERE id = ? RETURNING project_id`, id).Scan(&project); err != nil {
			return notFound(op, err, "retention policy %d not found", id)
		}
		_, err := db.exec(ctx, tx, `DELETE FROM project_metadata WHERE project_id = ? AND name = 'retention_id' AND value = ?`,
			project, strconv.FormatInt(id, 10))
		return err
	})
}

// ActiveExecutions returns the executions of vendorType/vendorID that have
// not finished (pending or running), oldest first.
func (db *DB) ActiveExecutions(ctx context.Context, vendorType string, vendorID int64) ([]int64, error) {
	const op = "list active executions"
	rows, err := db.query(ctx, nil, `SELECT id FROM executions WHERE vendor_type = ? AND vendor_id = ? AND status IN (?, ?) ORDER BY id`,
		vendorType, vendorID, JobPending, JobRunning)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// RetentionRepository is a repository a retention run may visit.
type RetentionRepository struct {
	ID   int64
	Name string // full name, project/repo
}

// RetentionRepositories lists the repositories of project projectID by name.
func (db *DB) RetentionRepositories(ctx context.Context, projectID int64) ([]RetentionRepository, error) {
	const op = "list repositories"
	rows, err := db.query(ctx, nil, `SELECT id, name FROM repositories WHERE project_id = ? ORDER BY name`, projectID)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	var out []RetentionRepository
	for rows.Next() {
		var r RetentionRepository
		if err := rows.Scan(&r.ID, &r.Name); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RetentionArtifact is a candidate of a retention run: a top-level
// artifact of a repository with its tags (newest first) and label names.
type RetentionArtifact struct {
	ID       int64
	Digest   string
	Kind     string // IMAGE, CHART, ...
	PushTime int64
	PullTime int64
	Tags     []Tag
	Labels   []string
}

// RetentionCandidates returns the artifacts of repository repositoryID
// that retention considers: those a listing shows by default (not index
// children without tags of their own, not accessories: referrers of an
// artifact of the repository and cosign signatures tagged
// sha256-<hex>.sig), newest first. It reads the repository's artifacts,
// tags, index references and labels in four indexed statements whatever
// the count, without manifests, and tells them apart here rather than in
// correlated subqueries (PostgreSQL may answer those by scanning every
// tag).
func (db *DB) RetentionCandidates(ctx context.Context, repositoryID int64) ([]RetentionArtifact, error) {
	const op = "list retention candidates"
	type row struct {
		RetentionArtifact
		subject string
	}
	rows, err := db.query(ctx, nil, `SELECT id, digest, kind, subject_digest, push_time, pull_time FROM artifacts
		WHERE repository_id = ? ORDER BY push_time DESC, id DESC`, repositoryID)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	var all []row
	byDigest := map[string]int{}
	at := map[int64]int{}
	for rows.Next() {
		var a row
		if err := rows.Scan(&a.ID, &a.Digest, &a.Kind, &a.subject, &a.PushTime, &a.PullTime); err != nil {
			rows.Close()
			return nil, errs.Wrap(op, err)
		}
		byDigest[a.Digest] = len(all)
		at[a.ID] = len(all)
		all = append(all, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, errs.Wrap(op, err)
	}
	if len(all) == 0 {
		return []RetentionArtifact{}, nil
	}
	rows, err = db.query(ctx, nil, `SELECT `+tagFields+` FROM tags WHERE repository_id = ? ORDER BY push_time DESC, id DESC`, repositoryID)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	for rows.Next() {
		var t Tag
		if err := rows.Scan(tagDest(&t)...); err != nil {
			rows.Close()
			return nil, errs.Wrap(op, err)
		}
		if i, ok := at[t.ArtifactID]; ok {
			all[i].Tags = append(all[i].Tags, t)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, errs.Wrap(op, err)
	}
	children, err := db.strings(ctx, op, `SELECT ar.child_digest FROM artifacts p JOIN artifact_references ar ON ar.parent_id = p.id
		WHERE p.repository_id = ?`, repositoryID)
	if err != nil {
		return nil, err
	}
	child := make(map[string]bool, len(children))
	for _, c := range children {
		child[c] = true
	}
	rows, err = db.query(ctx, nil, `SELECT al.artifact_id, l.name FROM artifacts a JOIN artifact_labels al ON al.artifact_id = a.id
		JOIN labels l ON l.id = al.label_id WHERE a.repository_id = ? ORDER BY l.name`, repositoryID)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, errs.Wrap(op, err)
		}
		if i, ok := at[id]; ok {
			all[i].Labels = append(all[i].Labels, name)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, errs.Wrap(op, err)
	}
	out := make([]RetentionArtifact, 0, len(all))
	for _, a := range all {
		if len(a.Tags) == 0 && child[a.Digest] {
			continue // an index child without a tag of its own
		}
		if _, ok := byDigest[a.subject]; ok && a.subject != "" {
			continue // a referrer of an artifact of the repository
		}
		if isCosignTagged(a.Tags, byDigest) {
			continue // a cosign signature of an artifact of the repository
		}
		out = append(out, a.RetentionArtifact)
	}
	return out, nil
}

// isCosignTagged reports whether one of tags is a cosign signature tag
// sha256-<hex>.sig of an artifact of the repository (digests).
func isCosignTagged(tags []Tag, digests map[string]int) bool {
	for _, t := range tags {
		if subject, ok := oci.CosignSignatureSubject(t.Name); ok {
			if _, ok := digests[subject]; ok {
				return true
			}
		}
	}
	return false
}

// RetentionResult is what one retention task did.
type RetentionResult struct {
	TaskID      int64
	ExecutionID int64
	Status      string // how the task ended: JobSuccess, JobError or JobStopped
	Total       int
	Retained    int
	Deleted     string // JSON list, for the TAG_RETENTION event
}

// SettleRetentionTask records what a task did (replacing an earlier record
// of the same task) and reports whether the task's execution is now over:
// every other task has finished or settled, and no earlier call said so.
// True is returned once per execution, to the caller that announces it.
func (db *DB) SettleRetentionTask(ctx context.Context, res RetentionResult) (bool, error) {
	const op = "settle retention task"
	var last bool
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		if res.Deleted == "" {
			res.Deleted = "[]"
		}
		if _, err := db.exec(ctx, tx, `INSERT INTO retention_results (task_id, execution_id, status, total, retained, deleted, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE SET status = excluded.status, total = excluded.total,
			retained = excluded.retained, deleted = excluded.deleted, updated_at = excluded.updated_at`,
			res.TaskID, res.ExecutionID, res.Status, res.Total, res.Retained, res.Deleted, now()); err != nil {
			return err
		}
		var err error
		last, err = db.settle(ctx, tx, res.ExecutionID, res.TaskID)
		return err
	})
	return last, err
}

// SettleRetentionExecution reports whether execution id is over (every
// task finished or settled) and no earlier call said so; for a stop, which
// ends pending tasks without running them.
func (db *DB) SettleRetentionExecution(ctx context.Context, id int64) (bool, error) {
	var last bool
	err := db.tx(ctx, "settle retention execution", func(tx *sql.Tx) error {
		var err error
		last, err = db.settle(ctx, tx, id, 0)
		return err
	})
	return last, err
}

// settle decides, under a lock on the execution row (SQLite has a single
// writer), whether every task but self has finished or settled, and if so
// claims the execution's notice.
func (db *DB) settle(ctx context.Context, tx *sql.Tx, execID, self int64) (bool, error) {
	lock := `SELECT id FROM executions WHERE id = ?`
	if db.pg {
		lock += ` FOR NO KEY UPDATE`
	}
	var id int64
	if err := db.queryRow(ctx, tx, lock, execID).Scan(&id); err != nil {
		if err == sql.ErrNoRows {
			return false, nil // purged meanwhile: nothing to announce
		}
		return false, err
	}
	var open int
	if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM tasks t WHERE t.execution_id = ? AND t.status IN (?, ?) AND t.id <> ?
		AND NOT EXISTS (SELECT 1 FROM retention_results r WHERE r.task_id = t.id)`, execID, JobPending, JobRunning, self).Scan(&open); err != nil {
		return false, err
	}
	if open > 0 {
		return false, nil
	}
	res, err := db.exec(ctx, tx, `INSERT INTO retention_notices (execution_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, execID, now())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// RetentionSummary is how an execution ended and what its tasks did.
type RetentionSummary struct {
	// Status is Error if a task failed, else Stopped if one was stopped,
	// else Success; a task's own record counts over its row's status
	// (which the job system sets only after the task settles).
	Status  string
	Results []RetentionResult // by task
}

// RetentionSummary sums up execution id.
func (db *DB) RetentionSummary(ctx context.Context, id int64) (*RetentionSummary, error) {
	const op = "sum up retention execution"
	rows, err := db.query(ctx, nil, `SELECT t.id, t.status, r.status, r.total, r.retained, r.deleted FROM tasks t
		LEFT JOIN retention_results r ON r.task_id = t.id WHERE t.execution_id = ? ORDER BY t.id`, id)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := &RetentionSummary{Status: JobSuccess}
	var failed, stopped bool
	for rows.Next() {
		var taskID int64
		var taskStatus string
		var status, deleted sql.NullString
		var total, retained sql.NullInt64
		if err := rows.Scan(&taskID, &taskStatus, &status, &total, &retained, &deleted); err != nil {
			return nil, errs.Wrap(op, err)
		}
		s := taskStatus
		if status.Valid {
			s = status.String
			out.Results = append(out.Results, RetentionResult{TaskID: taskID, ExecutionID: id, Status: s,
				Total: int(total.Int64), Retained: int(retained.Int64), Deleted: deleted.String})
		}
		failed = failed || s == JobError
		stopped = stopped || s == JobStopped
	}
	if err := rows.Err(); err != nil {
		return nil, errs.Wrap(op, err)
	}
	switch {
	case failed:
		out.Status = JobError
	case stopped:
		out.Status = JobStopped
	}
	return out, nil
}

// RetentionTaskResults returns the results recorded for tasks ids (a task
// still running has none).
func (db *DB) RetentionTaskResults(ctx context.Context, ids []int64) (map[int64]RetentionResult, error) {
	const op = "list retention results"
	out := map[int64]RetentionResult{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.query(ctx, nil, `SELECT task_id, execution_id, total, retained FROM retention_results
		WHERE task_id IN (`+placeholders(len(ids))+`)`, idArgs(ids)...)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r RetentionResult
		if err := rows.Scan(&r.TaskID, &r.ExecutionID, &r.Total, &r.Retained); err != nil {
			return nil, errs.Wrap(op, err)
		}
		out[r.TaskID] = r
	}
	return out, rows.Err()
}

// PoolStats returns the statistics of the writer and the reader pools (one
// pool on PostgreSQL, returned twice), for benchmarks and monitoring.
func (db *DB) PoolStats() (writer, reader sql.DBStats) {
	return db.w.Stats(), db.r.Stats()
}
