package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
)

// Schedule runs a vendor's job on a cron schedule.
type Schedule struct {
	ID           int64
	VendorType   string
	VendorID     int64
	Cron         string
	Params       string // JSON handed to the vendor's callback
	NextRun      int64  // ms
	CreationTime int64
	UpdateTime   int64
}

const scheduleColumns = `id, vendor_type, vendor_id, cron, params, next_run, creation_time, update_time`

func scanSchedule(s interface{ Scan(...any) error }) (*Schedule, error) {
	var sc Schedule
	if err := s.Scan(&sc.ID, &sc.VendorType, &sc.VendorID, &sc.Cron, &sc.Params, &sc.NextRun, &sc.CreationTime, &sc.UpdateTime); err != nil {
		return nil, err
	}
	return &sc, nil
}

// PutSchedule creates or replaces the schedule of (vendorType, vendorID).
func (db *DB) PutSchedule(ctx context.Context, s Schedule) error {
	t := now()
	if s.Params == "" {
		s.Params = "{}"
	}
	return db.tx(ctx, "put schedule", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO schedules (vendor_type, vendor_id, cron, params, next_run, creation_time, update_time)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (vendor_type, vendor_id) DO UPDATE SET cron = excluded.cron,
			params = excluded.params, next_run = excluded.next_run, update_time = excluded.update_time`,
			s.VendorType, s.VendorID, s.Cron, s.Params, s.NextRun, t, t)
		return err
	})
}

// GetSchedule returns the schedule of (vendorType, vendorID).
func (db *DB) GetSchedule(ctx context.Context, vendorType string, vendorID int64) (*Schedule, error) {
	s, err := scanSchedule(db.queryRow(ctx, nil, `SELECT `+scheduleColumns+` FROM schedules WHERE vendor_type = ? AND vendor_id = ?`, vendorType, vendorID))
	if err != nil {
		return nil, notFound("get schedule", err, "no schedule for %s %d", vendorType, vendorID)
	}
	return s, nil
}

// DeleteSchedule removes the schedule of (vendorType, vendorID), if any.
func (db *DB) DeleteSchedule(ctx context.Context, vendorType string, vendorID int64) error {
	return db.tx(ctx, "delete schedule", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `DELETE FROM schedules WHERE vendor_type = ? AND vendor_id = ?`, vendorType, vendorID)
		return err
	})
}

// DueSchedules lists schedules whose next run is at or before at (ms).
func (db *DB) DueSchedules(ctx context.Context, at int64) ([]Schedule, error) {
	return db.listSchedules(ctx, `WHERE next_run <= ? ORDER BY next_run`, at)
}

// ListSchedules lists every schedule.
func (db *DB) ListSchedules(ctx context.Context) ([]Schedule, error) {
	return db.listSchedules(ctx, `ORDER BY vendor_type, vendor_id`)
}

func (db *DB) listSchedules(ctx context.Context, tail string, args ...any) ([]Schedule, error) {
	rows, err := db.query(ctx, nil, `SELECT `+scheduleColumns+` FROM schedules `+tail, args...)
	if err != nil {
		return nil, errs.Wrap("list schedules", err)
	}
	defer rows.Close()
	out := []Schedule{}
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, errs.Wrap("list schedules", err)
		}
		out = append(out, *s)
	}
	return out, rows.Err()
}

// AdvanceSchedule moves schedule id from next run from to next run to. It
// reports false when another replica advanced it first: exactly one
// replica fires each run.
func (db *DB) AdvanceSchedule(ctx context.Context, id, from, to int64) (bool, error) {
	var n int64
	err := db.tx(ctx, "advance schedule", func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE schedules SET next_run = ?, update_time = ? WHERE id = ? AND next_run = ?`, to, now(), id, from)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n == 1, err
}

// SetQueuePaused pauses or resumes the queue of a task kind.
func (db *DB) SetQueuePaused(ctx context.Context, kind string, paused bool) error {
	return db.tx(ctx, "pause queue", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO job_queues (kind, paused) VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET paused = excluded.paused`, kind, paused)
		return err
	})
}

// PausedQueues lists the task kinds whose queues are paused.
func (db *DB) PausedQueues(ctx context.Context) ([]string, error) {
	return db.strings(ctx, "paused queues", `SELECT kind FROM job_queues WHERE paused ORDER BY kind`)
}

// QueueStat is the backlog of one task kind.
type QueueStat struct {
	Kind    string
	Pending int64
	Oldest  int64 // run_at of the oldest pending task (ms), 0 if none
}

// QueueStats counts pending tasks per kind.
func (db *DB) QueueStats(ctx context.Context) ([]QueueStat, error) {
	rows, err := db.query(ctx, nil, `SELECT kind, COUNT(*), MIN(run_at) FROM tasks WHERE status = ? GROUP BY kind ORDER BY kind`, JobPending)
	if err != nil {
		return nil, errs.Wrap("queue stats", err)
	}
	defer rows.Close()
	var out []QueueStat
	for rows.Next() {
		var q QueueStat
		if err := rows.Scan(&q.Kind, &q.Pending, &q.Oldest); err != nil {
			return nil, errs.Wrap("queue stats", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}

// StopPendingOfKind ends every pending task of kind as Stopped.
func (db *DB) StopPendingOfKind(ctx context.Context, kind string) error {
	return db.tx(ctx, "stop queue", func(tx *sql.Tx) error {
		t := now()
		rows, err := db.query(ctx, tx, `SELECT DISTINCT execution_id FROM tasks WHERE kind = ? AND status = ?`, kind, JobPending)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var id int64
			rows.Scan(&id)
			ids = append(ids, id)
		}
		rows.Close()
		if _, err := db.exec(ctx, tx, `UPDATE tasks SET status = ?, status_message = ?, end_time = ?, update_time = ? WHERE kind = ? AND status = ?`,
			JobStopped, "queue stopped", t, t, kind, JobPending); err != nil {
			return err
		}
		for _, id := range ids {
			if err := db.refreshExecution(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
