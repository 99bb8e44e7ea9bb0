package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// CountAuditEntriesBefore counts the audit records of one event type
// (operation and resource type) older than before (ms).
func (db *DB) CountAuditEntriesBefore(ctx context.Context, operation, resourceType string, before int64) (int64, error) {
	var n int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM audit_log WHERE operation = ? AND resource_type = ? AND op_time < ?`,
		operation, resourceType, before).Scan(&n); err != nil {
		return 0, errs.Wrap("count audit log", err)
	}
	return n, nil
}

// DeleteAuditEntriesBefore deletes at most limit audit records of one
// event type older than before (ms), in one short transaction, and returns
// how many went. Callers loop until it returns less than limit, so a purge
// of millions of rows never holds one giant transaction.
func (db *DB) DeleteAuditEntriesBefore(ctx context.Context, operation, resourceType string, before int64, limit int) (int64, error) {
	var n int64
	err := db.tx(ctx, "purge audit log", func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log
			WHERE operation = ? AND resource_type = ? AND op_time < ? LIMIT ?)`, operation, resourceType, before, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// executionQueryColumns are the keys execution histories filter and sort
// by (Harbor's execution fields, and the ExecHistory names for them).
var executionQueryColumns = map[string]query.Column{
	"id":            {SQL: "id", Type: query.Int},
	"status":        {SQL: "status", Type: query.Text},
	"job_status":    {SQL: "status", Type: query.Text},
	"trigger":       {SQL: "trigger_type", Type: query.Text},
	"job_kind":      {SQL: "trigger_type", Type: query.Text},
	"start_time":    {SQL: "start_time", Type: query.Time},
	"creation_time": {SQL: "start_time", Type: query.Time},
	"end_time":      {SQL: "end_time", Type: query.Time},
	"update_time":   {SQL: "update_time", Type: query.Time},
}

// ListExecutionsMatching returns a page of the executions of (vendorType,
// vendorID) matching q (newest first by default) and the total.
func (db *DB) ListExecutionsMatching(ctx context.Context, vendorType string, vendorID int64, q *query.Query, offset, limit int) ([]Execution, int64, error) {
	const op = "list executions"
	if q == nil {
		q = &query.Query{}
	}
	cond, args, order, err := q.SQL(executionQueryColumns, "id DESC")
	if err != nil {
		return nil, 0, err
	}
	where := ` WHERE vendor_type = ? AND vendor_id = ?`
	args = append([]any{vendorType, vendorID}, args...)
	if cond != "" {
		where += " AND " + cond
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM executions`+where, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	rows, err := db.query(ctx, nil, `SELECT `+executionColumns+` FROM executions`+where+` ORDER BY `+order+`, id DESC LIMIT ? OFFSET ?`,
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
