package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// Job statuses, as Harbor names them.
const (
	JobPending = "Pending"
	JobRunning = "Running"
	JobStopped = "Stopped"
	JobError   = "Error"
	JobSuccess = "Success"
)

// Terminal reports whether status is final.
func Terminal(status string) bool {
	return status == JobStopped || status == JobError || status == JobSuccess
}

// Execution is one run of a vendor's job.
type Execution struct {
	ID            int64
	VendorType    string
	VendorID      int64
	Trigger       string // MANUAL, SCHEDULE, EVENT
	Status        string
	StatusMessage string
	ExtraAttrs    string // JSON object
	StartTime     int64
	EndTime       int64
	UpdateTime    int64
}

// Task is one unit of work of an execution.
type Task struct {
	ID            int64
	ExecutionID   int64
	Kind          string
	Params        string // JSON
	Status        string
	StatusMessage string
	Attempts      int
	MaxAttempts   int
	RunAt         int64
	LeaseOwner    string
	LeaseUntil    int64
	StopRequested bool
	ExtraAttrs    string
	CreationTime  int64
	StartTime     int64
	EndTime       int64
	UpdateTime    int64
}

// TaskSpec describes a task to create.
type TaskSpec struct {
	Kind        string
	Params      string
	MaxAttempts int
	ExtraAttrs  string
	// Owner, when set, creates the task already claimed by Owner until
	// LeaseUntil (ms): running its first attempt, for a submitter that runs
	// it itself (jobs.Service.RunNow), so that no worker takes it.
	Owner      string
	LeaseUntil int64
}

const taskColumns = `id, execution_id, kind, params, status, status_message, attempts, max_attempts, run_at, lease_owner,
	lease_until, stop_requested, extra_attrs, creation_time, start_time, end_time, update_time`

func scanTask(s interface{ Scan(...any) error }) (*Task, error) {
	var t Task
	err := s.Scan(&t.ID, &t.ExecutionID, &t.Kind, &t.Params, &t.Status, &t.StatusMessage, &t.Attempts, &t.MaxAttempts,
		&t.RunAt, &t.LeaseOwner, &t.LeaseUntil, &t.StopRequested, &t.ExtraAttrs, &t.CreationTime, &t.StartTime, &t.EndTime, &t.UpdateTime)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

const executionColumns = `id, vendor_type, vendor_id, trigger_type, status, status_message, extra_attrs, start_time, end_time, update_time`

func scanExecution(s interface{ Scan(...any) error }) (*Execution, error) {
	var e Execution
	if err := s.Scan(&e.ID, &e.VendorType, &e.VendorID, &e.Trigger, &e.Status, &e.StatusMessage, &e.ExtraAttrs,
		&e.StartTime, &e.EndTime, &e.UpdateTime); err != nil {
		return nil, err
	}
	return &e, nil
}

// CreateExecution records an execution and its tasks (pending, runnable
// now, unless claimed through TaskSpec.Owner) in one transaction. An
// execution without tasks is finished at once with success.
func (db *DB) CreateExecution(ctx context.Context, e Execution, tasks []TaskSpec) (int64, error) {
	const op = "create execution"
	t := now()
	if e.ExtraAttrs == "" {
		e.ExtraAttrs = "{}"
	}
	status, end := JobPending, int64(0)
	if len(tasks) == 0 {
		status, end = JobSuccess, t
	}
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		if err := db.queryRow(ctx, tx, `INSERT INTO executions (vendor_type, vendor_id, trigger_type, status, status_message, extra_attrs,
			start_time, end_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			e.VendorType, e.VendorID, e.Trigger, status, e.StatusMessage, e.ExtraAttrs, t, end, t).Scan(&id); err != nil {
			return err
		}
		claimed := false
		for _, ts := range tasks {
			if ts.MaxAttempts < 1 {
				ts.MaxAttempts = 1
			}
			if ts.Params == "" {
				ts.Params = "{}"
			}
			if ts.ExtraAttrs == "" {
				ts.ExtraAttrs = "{}"
			}
			status, attempts, start := JobPending, 0, int64(0)
			if ts.Owner != "" {
				status, attempts, start, claimed = JobRunning, 1, t, true
			} else {
				ts.LeaseUntil = 0
			}
			if _, err := db.exec(ctx, tx, `INSERT INTO tasks (execution_id, kind, params, status, max_attempts, run_at, extra_attrs,
				creation_time, update_time, attempts, lease_owner, lease_until, start_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, ts.Kind, ts.Params, status, ts.MaxAttempts, t, ts.ExtraAttrs, t, t, attempts, ts.Owner, ts.LeaseUntil, start); err != nil {
				return err
			}
		}
		if claimed {
			return db.refreshExecution(ctx, tx, id)
		}
		return nil
	})
	return id, err
}

// ClaimTask takes the oldest runnable pending task whose kind is not in
// paused for owner until leaseUntil (ms). It returns errs.NotFound when
// there is none. On PostgreSQL concurrent claimers skip each other's rows.
func (db *DB) ClaimTask(ctx context.Context, owner string, leaseUntil int64, paused []string) (*Task, error) {
	ctx = routineWrite(ctx)
	const op = "claim task"
	t := now()
	cond := ""
	args := []any{JobPending, t}
	if len(paused) > 0 {
		cond = " AND kind NOT IN (" + placeholders(len(paused)) + ")"
		for _, k := range paused {
			args = append(args, k)
		}
	}
	lock := ""
	if db.pg {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	var task *Task
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		var id, execID int64
		err := db.queryRow(ctx, tx, `SELECT id, execution_id FROM tasks WHERE status = ? AND run_at <= ?`+cond+
			` ORDER BY run_at, id LIMIT 1`+lock, args...).Scan(&id, &execID)
		if err != nil {
			return notFound(op, err, "no task to run")
		}
		task, err = scanTask(db.queryRow(ctx, tx, `UPDATE tasks SET status = ?, lease_owner = ?, lease_until = ?, attempts = attempts + 1,
			start_time = CASE WHEN start_time = 0 THEN ? ELSE start_time END, update_time = ? WHERE id = ? RETURNING `+taskColumns,
			JobRunning, owner, leaseUntil, t, t, id))
		if err != nil {
			return err
		}
		return db.refreshExecution(ctx, tx, execID)
	})
	if err != nil {
		return nil, err
	}
	return task, nil
}

// RenewLease extends owner's lease on task and reports whether a stop was
// requested. A lease that is no longer owner's is errs.Conflict.
func (db *DB) RenewLease(ctx context.Context, taskID int64, owner string, leaseUntil int64) (bool, error) {
	ctx = routineWrite(ctx)
	const op = "renew lease"
	var stop bool
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		err := db.queryRow(ctx, tx, `UPDATE tasks SET lease_until = ?, update_time = ? WHERE id = ? AND lease_owner = ? AND status = ?
			RETURNING stop_requested`, leaseUntil, now(), taskID, owner, JobRunning).Scan(&stop)
		if err == sql.ErrNoRows {
			return errs.E(errs.Conflict, op, "task %d is no longer leased by this worker", taskID)
		}
		return err
	})
	return stop, err
}

// FinishTask records the end of owner's run of task: status is Success,
// Stopped or Error; with retryAt > 0 an error instead puts the task back
// to pending until retryAt. A task whose lease owner changed is left alone.
func (db *DB) FinishTask(ctx context.Context, taskID int64, owner, status, message string, retryAt int64) error {
	ctx = routineWrite(ctx)
	const op = "finish task"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		t := now()
		var execID int64
		var err error
		if retryAt > 0 {
			err = db.queryRow(ctx, tx, `UPDATE tasks SET status = ?, status_message = ?, run_at = ?, lease_owner = '', lease_until = 0,
				update_time = ? WHERE id = ? AND lease_owner = ? AND status = ? RETURNING execution_id`,
				JobPending, message, retryAt, t, taskID, owner, JobRunning).Scan(&execID)
		} else {
			err = db.queryRow(ctx, tx, `UPDATE tasks SET status = ?, status_message = ?, lease_owner = '', lease_until = 0, end_time = ?,
				update_time = ? WHERE id = ? AND lease_owner = ? AND status = ? RETURNING execution_id`,
				status, message, t, t, taskID, owner, JobRunning).Scan(&execID)
		}
		if err == sql.ErrNoRows {
			return errs.E(errs.Conflict, op, "task %d is no longer leased by this worker", taskID)
		}
		if err != nil {
			return err
		}
		return db.refreshExecution(ctx, tx, execID)
	})
}

// ReapExpiredLeases finds running tasks whose lease ran out (their worker
// died or hung): each goes back to pending at retryAt if attempts remain,
// else ends in Error. It returns how many were reaped.
func (db *DB) ReapExpiredLeases(ctx context.Context, retryAt int64) (int, error) {
	const op = "reap leases"
	n := 0
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		t := now()
		rows, err := db.query(ctx, tx, `SELECT id, execution_id, attempts, max_attempts, stop_requested FROM tasks
			WHERE status = ? AND lease_until < ?`, JobRunning, t)
		if err != nil {
			return err
		}
		type expired struct {
			id, exec      int64
			attempts, max int
			stop          bool
		}
		var list []expired
		for rows.Next() {
			var e expired
			if err := rows.Scan(&e.id, &e.exec, &e.attempts, &e.max, &e.stop); err != nil {
				rows.Close()
				return err
			}
			list = append(list, e)
		}
		rows.Close()
		execs := map[int64]bool{}
		for _, e := range list {
			switch {
			case e.stop:
				_, err = db.exec(ctx, tx, `UPDATE tasks SET status = ?, status_message = ?, lease_owner = '', end_time = ?, update_time = ? WHERE id = ?`,
					JobStopped, "stopped", t, t, e.id)
			case e.attempts < e.max:
				_, err = db.exec(ctx, tx, `UPDATE tasks SET status = ?, status_message = ?, run_at = ?, lease_owner = '', update_time = ? WHERE id = ?`,
					JobPending, "worker lost; retrying", retryAt, t, e.id)
			default:
				_, err = db.exec(ctx, tx, `UPDATE tasks SET status = ?, status_message = ?, lease_owner = '', end_time = ?, update_time = ? WHERE id = ?`,
					JobError, "worker lost and no attempts left", t, t, e.id)
			}
			if err != nil {
				return err
			}
			execs[e.exec] = true
			n++
		}
		for id := range execs {
			if err := db.refreshExecution(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// StopExecution stops an execution: pending tasks end as Stopped at once;
// running tasks are asked to stop (their workers see it at the next lease
// renewal). A finished execution is left as it is.
func (db *DB) StopExecution(ctx context.Context, id int64) error {
	const op = "stop execution"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		t := now()
		var status string
		if err := db.queryRow(ctx, tx, `SELECT status FROM executions WHERE id = ?`, id).Scan(&status); err != nil {
			return notFound(op, err, "execution %d not found", id)
		}
		if _, err := db.exec(ctx, tx, `UPDATE tasks SET status = ?, status_message = ?, end_time = ?, update_time = ?
			WHERE execution_id = ? AND status = ?`, JobStopped, "stopped before it ran", t, t, id, JobPending); err != nil {
			return err
		}
		if _, err := db.exec(ctx, tx, `UPDATE tasks SET stop_requested = TRUE, update_time = ? WHERE execution_id = ? AND status = ?`,
			t, id, JobRunning); err != nil {
			return err
		}
		return db.refreshExecution(ctx, tx, id)
	})
}

// refreshExecution derives an execution's status from its tasks. On
// PostgreSQL it first locks the execution's row: without the lock, two
// tasks finishing together each count the other as still running, and the
// execution stays "Running" forever once both commit.
func (db *DB) refreshExecution(ctx context.Context, tx *sql.Tx, id int64) error {
	if db.pg {
		var locked int64
		err := db.queryRow(ctx, tx, `SELECT id FROM executions WHERE id = ? FOR NO KEY UPDATE`, id).Scan(&locked)
		if err == sql.ErrNoRows {
			return nil
		}
		if err != nil {
			return err
		}
	}
	rows, err := db.query(ctx, tx, `SELECT status, COUNT(*) FROM tasks WHERE execution_id = ? GROUP BY status`, id)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for rows.Next() {
		var s string
		var n int
		if err := rows.Scan(&s, &n); err != nil {
			rows.Close()
			return err
		}
		counts[s] = n
	}
	rows.Close()
	status := JobSuccess
	switch {
	case counts[JobRunning] > 0:
		status = JobRunning
	case counts[JobPending] > 0:
		status = JobPending
		if counts[JobSuccess]+counts[JobError]+counts[JobStopped] > 0 {
			status = JobRunning
		}
	case counts[JobError] > 0:
		status = JobError
	case counts[JobStopped] > 0:
		status = JobStopped
	}
	t := now()
	end := int64(0)
	if Terminal(status) {
		end = t
	}
	_, err = db.exec(ctx, tx, `UPDATE executions SET status = ?, end_time = CASE WHEN CAST(? AS BIGINT) > 0 AND end_time = 0
		THEN CAST(? AS BIGINT) ELSE end_time END, update_time = ? WHERE id = ?`, status, end, end, t, id)
	return err
}

// AppendTaskLog adds lines to a task's log.
func (db *DB) AppendTaskLog(ctx context.Context, taskID int64, text string) error {
	if text == "" {
		return nil
	}
	return db.tx(ctx, "append task log", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO task_logs (task_id, seq, text)
			VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM task_logs WHERE task_id = ?), ?)`, taskID, taskID, text)
		return err
	})
}

// TaskLog returns a task's log so far.
func (db *DB) TaskLog(ctx context.Context, taskID int64) (string, error) {
	rows, err := db.query(ctx, nil, `SELECT text FROM task_logs WHERE task_id = ? ORDER BY seq`, taskID)
	if err != nil {
		return "", errs.Wrap("task log", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return "", errs.Wrap("task log", err)
		}
		b.WriteString(s)
	}
	return b.String(), rows.Err()
}

// GetExecution returns execution id.
func (db *DB) GetExecution(ctx context.Context, id int64) (*Execution, error) {
	e, err := scanExecution(db.queryRow(ctx, nil, `SELECT `+executionColumns+` FROM executions WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("get execution", err, "execution %d not found", id)
	}
	return e, nil
}

// ListExecutions returns a page of vendorType's executions (of vendorID
// when >= 0), newest first, and the total.
func (db *DB) ListExecutions(ctx context.Context, vendorType string, vendorID int64, offset, limit int) ([]Execution, int64, error) {
	const op = "list executions"
	where := `vendor_type = ?`
	args := []any{vendorType}
	if vendorID >= 0 {
		where += ` AND vendor_id = ?`
		args = append(args, vendorID)
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM executions WHERE `+where, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	rows, err := db.query(ctx, nil, `SELECT `+executionColumns+` FROM executions WHERE `+where+` ORDER BY id DESC LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, *e)
	}
	return out, total, rows.Err()
}

// GetTask returns task id.
func (db *DB) GetTask(ctx context.Context, id int64) (*Task, error) {
	t, err := scanTask(db.queryRow(ctx, nil, `SELECT `+taskColumns+` FROM tasks WHERE id = ?`, id))
	if err != nil {
		return nil, notFound("get task", err, "task %d not found", id)
	}
	return t, nil
}

// ListTasks returns a page of an execution's tasks and the total.
func (db *DB) ListTasks(ctx context.Context, executionID int64, offset, limit int) ([]Task, int64, error) {
	const op = "list tasks"
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM tasks WHERE execution_id = ?`, executionID).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	rows, err := db.query(ctx, nil, `SELECT `+taskColumns+` FROM tasks WHERE execution_id = ? ORDER BY id LIMIT ? OFFSET ?`, executionID, limit, offset)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, *t)
	}
	return out, total, rows.Err()
}

// PurgeExecutions deletes all but the newest keep finished executions of
// each vendor of vendorType (each retention or webhook policy keeps its
// own, as Harbor's sweeper does per vendor ID), with their tasks and logs,
// and returns how many went.
func (db *DB) PurgeExecutions(ctx context.Context, vendorType string, keep int) (int64, error) {
	var n int64
	if keep < 1 {
		keep = 1
	}
	err := db.tx(ctx, "purge executions", func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM executions WHERE vendor_type = ? AND status IN (?, ?, ?) AND id < COALESCE(
			(SELECT e.id FROM executions e WHERE e.vendor_type = executions.vendor_type AND e.vendor_id = executions.vendor_id
				ORDER BY e.id DESC LIMIT 1 OFFSET ?), 0)`,
			vendorType, JobSuccess, JobError, JobStopped, keep-1)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}
