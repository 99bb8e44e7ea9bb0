package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// Webhook policies (migrations/0012_webhooks.sql). Event types and targets
// are stored as JSON in Harbor's shapes; the secret signs deliveries.
// Deliveries are executions of vendor type WebhookVendor or SlackVendor
// whose vendor ID is the policy's.

// Vendor types of webhook deliveries (Harbor's).
const (
	WebhookVendor = "WEBHOOK"
	SlackVendor   = "SLACK"
)

// WebhookTarget is where a policy delivers (Harbor's WebhookTargetObject).
type WebhookTarget struct {
	Type           string `json:"type"` // http or slack
	Address        string `json:"address"`
	AuthHeader     string `json:"auth_header,omitempty"`
	SkipCertVerify bool   `json:"skip_cert_verify"`
	PayloadFormat  string `json:"payload_format,omitempty"` // Default or CloudEvents (http only)
}

// WebhookPolicy is a project's webhook policy.
type WebhookPolicy struct {
	ID          int64
	ProjectID   int64
	Name        string
	Description string
	Enabled     bool
	EventTypes  []string
	Targets     []WebhookTarget
	Secret      string // HMAC-SHA256 key of the deliveries' signatures
	Creator     string
	CreatedAt   int64
	UpdatedAt   int64
	// ProjectPublic is set by EnabledWebhookPolicies (the payloads'
	// repo_type); other reads leave it false.
	ProjectPublic bool
}

const webhookFields = `wp.id, wp.project_id, wp.name, wp.description, wp.enabled, wp.event_types, wp.targets, wp.secret,
	wp.creator, wp.created_at, wp.updated_at`

func scanWebhookPolicy(s interface{ Scan(...any) error }, extra ...any) (WebhookPolicy, error) {
	var p WebhookPolicy
	var events, targets string
	dest := append([]any{&p.ID, &p.ProjectID, &p.Name, &p.Description, &p.Enabled, &events, &targets, &p.Secret,
		&p.Creator, &p.CreatedAt, &p.UpdatedAt}, extra...)
	if err := s.Scan(dest...); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(events), &p.EventTypes); err != nil {
		return p, err
	}
	if err := json.Unmarshal([]byte(targets), &p.Targets); err != nil {
		return p, err
	}
	return p, nil
}

func webhookJSON(p *WebhookPolicy) (events, targets string) {
	if p.EventTypes == nil {
		p.EventTypes = []string{}
	}
	if p.Targets == nil {
		p.Targets = []WebhookTarget{}
	}
	e, _ := json.Marshal(p.EventTypes)
	t, _ := json.Marshal(p.Targets)
	return string(e), string(t)
}

// CreateWebhookPolicy records p and returns its ID; a name the project
// already uses is errs.Exists.
func (db *DB) CreateWebhookPolicy(ctx context.Context, p WebhookPolicy) (int64, error) {
	const op = "create webhook policy"
	events, targets := webhookJSON(&p)
	t := now()
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		err := db.queryRow(ctx, tx, `INSERT INTO webhook_policies (project_id, name, description, enabled, event_types, targets, secret,
			creator, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			p.ProjectID, p.Name, p.Description, p.Enabled, events, targets, p.Secret, p.Creator, t, t).Scan(&id)
		if isUniqueViolation(err) {
			return errs.E(errs.Exists, op, "webhook policy %s already exists in the project", p.Name)
		}
		if err != nil && strings.Contains(strings.ToLower(err.Error()), "foreign key") {
			return errs.E(errs.NotFound, op, "project %d not found", p.ProjectID)
		}
		return err
	})
	return id, err
}

// WebhookPolicy returns policy id of project projectID; a policy of another
// project is errs.NotFound.
func (db *DB) WebhookPolicy(ctx context.Context, projectID, id int64) (*WebhookPolicy, error) {
	p, err := scanWebhookPolicy(db.queryRow(ctx, nil, `SELECT `+webhookFields+` FROM webhook_policies wp
		WHERE wp.id = ? AND wp.project_id = ?`, id, projectID))
	if err != nil {
		return nil, notFound("get webhook policy", err, "webhook policy %d not found in the project", id)
	}
	return &p, nil
}

var webhookColumns = map[string]query.Column{
	"id":            {SQL: "wp.id", Type: query.Int},
	"name":          {SQL: "wp.name", Type: query.Text},
	"description":   {SQL: "wp.description", Type: query.Text},
	"enabled":       {SQL: "wp.enabled", Type: query.Bool},
	"creator":       {SQL: "wp.creator", Type: query.Text},
	"creation_time": {SQL: "wp.created_at", Type: query.Time},
	"update_time":   {SQL: "wp.updated_at", Type: query.Time},
}

// ListWebhookPolicies returns a page of project projectID's policies that q
// selects (in ID order unless q sorts) and how many match in all.
func (db *DB) ListWebhookPolicies(ctx context.Context, projectID int64, q *query.Query, offset, limit int) ([]WebhookPolicy, int64, error) {
	const op = "list webhook policies"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(webhookColumns, "wp.id")
	if err != nil {
		return nil, 0, err
	}
	from := ` FROM webhook_policies wp WHERE wp.project_id = ?`
	args = append([]any{projectID}, args...)
	if where != "" {
		from += " AND " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	out := []WebhookPolicy{}
	if total == 0 || int64(offset) >= total {
		return out, total, nil
	}
	if !strings.Contains(order, "wp.id") {
		order += ", wp.id"
	}
	rows, err := db.query(ctx, nil, `SELECT `+webhookFields+from+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		p, err := scanWebhookPolicy(rows)
		if err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, p)
	}
	return out, total, rows.Err()
}

// UpdateWebhookPolicy replaces the name, description, enabled flag, event
// types and targets of policy p.ID in project p.ProjectID (not its secret,
// creator or creation time).
func (db *DB) UpdateWebhookPolicy(ctx context.Context, p WebhookPolicy) error {
	const op = "update webhook policy"
	events, targets := webhookJSON(&p)
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE webhook_policies SET name = ?, description = ?, enabled = ?, event_types = ?, targets = ?,
			updated_at = ? WHERE id = ? AND project_id = ?`, p.Name, p.Description, p.Enabled, events, targets, now(), p.ID, p.ProjectID)
		if isUniqueViolation(err) {
			return errs.E(errs.Exists, op, "webhook policy %s already exists in the project", p.Name)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "webhook policy %d not found in the project", p.ID)
		}
		return nil
	})
}

// DeleteWebhookPolicy removes policy id of project projectID with its
// delivery history (executions, tasks, logs) and trigger times.
func (db *DB) DeleteWebhookPolicy(ctx context.Context, projectID, id int64) error {
	const op = "delete webhook policy"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM webhook_policies WHERE id = ? AND project_id = ?`, id, projectID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "webhook policy %d not found in the project", id)
		}
		_, err = db.exec(ctx, tx, `DELETE FROM executions WHERE vendor_type IN (?, ?) AND vendor_id = ?`, WebhookVendor, SlackVendor, id)
		return err
	})
}

// EnabledWebhookPolicies returns the enabled policies of the projects
// projectIDs, by project, each with ProjectPublic set: one indexed query.
func (db *DB) EnabledWebhookPolicies(ctx context.Context, projectIDs []int64) (map[int64][]WebhookPolicy, error) {
	const op = "enabled webhook policies"
	out := map[int64][]WebhookPolicy{}
	if len(projectIDs) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(projectIDs))
	for _, id := range projectIDs {
		args = append(args, id)
	}
	rows, err := db.query(ctx, nil, `SELECT `+webhookFields+`, p.public FROM webhook_policies wp JOIN projects p ON p.id = wp.project_id
		WHERE wp.project_id IN (`+placeholders(len(args))+`) AND wp.enabled ORDER BY wp.project_id, wp.id`, args...)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var public bool
		p, err := scanWebhookPolicy(rows, &public)
		if err != nil {
			return nil, errs.Wrap(op, err)
		}
		p.ProjectPublic = public
		out[p.ProjectID] = append(out[p.ProjectID], p)
	}
	return out, rows.Err()
}

// WebhookTrigger is a time a policy fired for an event type.
type WebhookTrigger struct {
	PolicyID  int64
	EventType string
	At        int64 // Unix milliseconds
}

// RecordWebhookTriggers keeps the latest trigger time of each (policy,
// event type) in triggers. Triggers of policies deleted meanwhile are
// dropped.
func (db *DB) RecordWebhookTriggers(ctx context.Context, triggers []WebhookTrigger) error {
	if len(triggers) == 0 {
		return nil
	}
	return db.tx(ctx, "record webhook triggers", func(tx *sql.Tx) error {
		for _, tr := range triggers {
			_, err := db.exec(ctx, tx, `INSERT INTO webhook_last_triggers (policy_id, event_type, triggered_at)
				SELECT id, ?, ? FROM webhook_policies WHERE id = ?
				ON CONFLICT (policy_id, event_type) DO UPDATE SET triggered_at = excluded.triggered_at
				WHERE excluded.triggered_at > webhook_last_triggers.triggered_at`, tr.EventType, tr.At, tr.PolicyID)
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// WebhookLastTriggers returns, for every policy of project projectID, the
// last trigger time (Unix milliseconds) by event type.
func (db *DB) WebhookLastTriggers(ctx context.Context, projectID int64) (map[int64]map[string]int64, error) {
	const op = "webhook last triggers"
	rows, err := db.query(ctx, nil, `SELECT lt.policy_id, lt.event_type, lt.triggered_at FROM webhook_last_triggers lt
		JOIN webhook_policies wp ON wp.id = lt.policy_id WHERE wp.project_id = ?`, projectID)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := map[int64]map[string]int64{}
	for rows.Next() {
		var id, at int64
		var typ string
		if err := rows.Scan(&id, &typ, &at); err != nil {
			return nil, errs.Wrap(op, err)
		}
		if out[id] == nil {
			out[id] = map[string]int64{}
		}
		out[id][typ] = at
	}
	return out, rows.Err()
}

// Delivery history.

var webhookExecutionColumns = map[string]query.Column{
	"id":          {SQL: "id", Type: query.Int},
	"vendor_type": {SQL: "vendor_type", Type: query.Text},
	"status":      {SQL: "status", Type: query.Text},
	"trigger":     {SQL: "trigger_type", Type: query.Text},
	"start_time":  {SQL: "start_time", Type: query.Time},
	"end_time":    {SQL: "end_time", Type: query.Time},
}

// ListWebhookExecutions returns a page of the deliveries of policy
// policyID (executions of vendor WEBHOOK or SLACK) that q selects, newest
// first unless q sorts, and how many match in all.
func (db *DB) ListWebhookExecutions(ctx context.Context, policyID int64, q *query.Query, offset, limit int) ([]Execution, int64, error) {
	const op = "list webhook executions"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(webhookExecutionColumns, "id DESC")
	if err != nil {
		return nil, 0, err
	}
	from := ` FROM executions WHERE vendor_type IN (?, ?) AND vendor_id = ?`
	args = append([]any{WebhookVendor, SlackVendor, policyID}, args...)
	if where != "" {
		from += " AND " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	out := []Execution{}
	if total == 0 || int64(offset) >= total {
		return out, total, nil
	}
	if !strings.Contains(order, "id") {
		order += ", id DESC"
	}
	rows, err := db.query(ctx, nil, `SELECT `+executionColumns+from+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, *e)
	}
	return out, total, rows.Err()
}

// ExecutionTaskCounts returns, for each execution in ids, how many of its
// tasks are in each status.
func (db *DB) ExecutionTaskCounts(ctx context.Context, ids []int64) (map[int64]map[string]int, error) {
	const op = "count execution tasks"
	out := map[int64]map[string]int{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, 0, len(ids))
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := db.query(ctx, nil, `SELECT execution_id, status, COUNT(*) FROM tasks WHERE execution_id IN (`+
		placeholders(len(args))+`) GROUP BY execution_id, status`, args...)
	if err != nil {
		return nil, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var status string
		var n int
		if err := rows.Scan(&id, &status, &n); err != nil {
			return nil, errs.Wrap(op, err)
		}
		if out[id] == nil {
			out[id] = map[string]int{}
		}
		out[id][status] = n
	}
	return out, rows.Err()
}

var taskQueryColumns = map[string]query.Column{
	"id":            {SQL: "t.id", Type: query.Int},
	"status":        {SQL: "t.status", Type: query.Text},
	"run_count":     {SQL: "t.attempts", Type: query.Int},
	"creation_time": {SQL: "t.creation_time", Type: query.Time},
	"start_time":    {SQL: "t.start_time", Type: query.Time},
	"end_time":      {SQL: "t.end_time", Type: query.Time},
	"update_time":   {SQL: "t.update_time", Type: query.Time},
}

// prefixedTaskColumns is taskColumns of the tasks table aliased t.
var prefixedTaskColumns = func() string {
	parts := strings.Split(taskColumns, ",")
	for i, p := range parts {
		parts[i] = "t." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}()

// QueryTasks returns a page of execution executionID's tasks that q
// selects (in ID order unless q sorts) and how many match in all.
func (db *DB) QueryTasks(ctx context.Context, executionID int64, q *query.Query, offset, limit int) ([]Task, int64, error) {
	return listing[Task]{
		op: "list tasks", cols: taskQueryColumns, order: "t.id", tie: "t.id", fields: prefixedTaskColumns,
		from: ` FROM tasks t WHERE t.execution_id = ?`, fromArgs: []any{executionID},
		scan: func(s interface{ Scan(...any) error }) (Task, error) {
			t, err := scanTask(s)
			if err != nil {
				return Task{}, err
			}
			return *t, nil
		},
	}.page(ctx, db, q, offset, limit)
}

// WebhookJob is one delivery attempt series (a task) with what its
// execution says about it (Harbor's legacy webhook job).
type WebhookJob struct {
	Task
	VendorType     string // WEBHOOK or SLACK
	PolicyID       int64
	ExecutionExtra string // the execution's extra attributes (JSON)
}

// ListWebhookJobs returns a page of the delivery tasks of policy policyID,
// newest first unless q sorts, only in statuses when it is not empty, and
// how many match in all.
func (db *DB) ListWebhookJobs(ctx context.Context, policyID int64, statuses []string, q *query.Query, offset, limit int) ([]WebhookJob, int64, error) {
	const op = "list webhook jobs"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(taskQueryColumns, "t.id DESC")
	if err != nil {
		return nil, 0, err
	}
	from := ` FROM executions e JOIN tasks t ON t.execution_id = e.id WHERE e.vendor_type IN (?, ?) AND e.vendor_id = ?`
	args = append([]any{WebhookVendor, SlackVendor, policyID}, args...)
	if len(statuses) > 0 {
		from += ` AND t.status IN (` + placeholders(len(statuses)) + `)`
		for _, s := range statuses {
			args = append(args, s)
		}
	}
	if where != "" {
		from += " AND " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	out := []WebhookJob{}
	if total == 0 || int64(offset) >= total {
		return out, total, nil
	}
	if !strings.Contains(order, "t.id") {
		order += ", t.id DESC"
	}
	rows, err := db.query(ctx, nil, `SELECT `+prefixedTaskColumns+`, e.vendor_type, e.vendor_id, e.extra_attrs`+from+
		` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var j WebhookJob
		t := &j.Task
		if err := rows.Scan(&t.ID, &t.ExecutionID, &t.Kind, &t.Params, &t.Status, &t.StatusMessage, &t.Attempts, &t.MaxAttempts,
			&t.RunAt, &t.LeaseOwner, &t.LeaseUntil, &t.StopRequested, &t.ExtraAttrs, &t.CreationTime, &t.StartTime, &t.EndTime,
			&t.UpdateTime, &j.VendorType, &j.PolicyID, &j.ExecutionExtra); err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, j)
	}
	return out, total, rows.Err()
}

// SetTaskExtraAttrs replaces a task's extra attributes (a JSON object),
// which the task's handler uses to record what each attempt saw.
func (db *DB) SetTaskExtraAttrs(ctx context.Context, taskID int64, extra string) error {
	const op = "set task extra attributes"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE tasks SET extra_attrs = ?, update_time = ? WHERE id = ?`, extra, now(), taskID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errs.E(errs.NotFound, op, "task %d not found", taskID)
		}
		return nil
	})
}
