package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// AuditEntry is one audit log record (Harbor's audit_log_ext).
type AuditEntry struct {
	ID           int64
	ProjectID    int64
	Operation    string
	ResourceType string
	Resource     string
	Username     string
	Description  string
	Success      bool
	OpTime       int64 // milliseconds
}

// InsertAuditEntries writes entries in one transaction, many rows per
// statement (pull-heavy loads produce thousands a second).
func (db *DB) InsertAuditEntries(ctx context.Context, entries []AuditEntry) error {
	ctx = routineWrite(ctx)
	if len(entries) == 0 {
		return nil
	}
	const perStatement = 200 // 8 parameters each, well under every driver's limit
	return db.tx(ctx, "insert audit log", func(tx *sql.Tx) error {
		for start := 0; start < len(entries); start += perStatement {
			chunk := entries[start:min(start+perStatement, len(entries))]
			var b strings.Builder
			b.WriteString(`INSERT INTO audit_log (project_id, operation, resource_type, resource, username, op_desc, op_result, op_time) VALUES `)
			args := make([]any, 0, 8*len(chunk))
			for i, e := range chunk {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?)")
				args = append(args, e.ProjectID, e.Operation, e.ResourceType, e.Resource, e.Username, e.Description, e.Success, e.OpTime)
			}
			if _, err := db.exec(ctx, tx, b.String(), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// auditColumns are the keys audit log listings filter and sort by.
var auditColumns = map[string]query.Column{
	"id":            {SQL: "id", Type: query.Int},
	"username":      {SQL: "username", Type: query.Text},
	"operation":     {SQL: "operation", Type: query.Text},
	"resource":      {SQL: "resource", Type: query.Text},
	"resource_type": {SQL: "resource_type", Type: query.Text},
	"op_time":       {SQL: "op_time", Type: query.Time},
	"project_id":    {SQL: "project_id", Type: query.Int},
}

// ListAuditEntries returns a page of the audit log matching q, newest
// first by default, limited to projectIDs unless all is true, and the total.
func (db *DB) ListAuditEntries(ctx context.Context, q *query.Query, all bool, projectIDs []int64, offset, limit int) ([]AuditEntry, int64, error) {
	const op = "list audit log"
	where, args, order, err := q.SQL(auditColumns, "op_time DESC, id DESC")
	if err != nil {
		return nil, 0, err
	}
	if !all {
		if len(projectIDs) == 0 {
			return []AuditEntry{}, 0, nil
		}
		cond := "project_id IN (" + placeholders(len(projectIDs)) + ")"
		for _, id := range projectIDs {
			args = append(args, id)
		}
		if where == "" {
			where = cond
		} else {
			where += " AND " + cond
		}
	}
	if where != "" {
		where = " WHERE " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM audit_log`+where, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	rows, err := db.query(ctx, nil, `SELECT id, project_id, operation, resource_type, resource, username, op_desc, op_result, op_time
		FROM audit_log`+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.ProjectID, &e.Operation, &e.ResourceType, &e.Resource, &e.Username, &e.Description, &e.Success, &e.OpTime); err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, e)
	}
	return out, total, rows.Err()
}

// ProjectsWithRole lists the projects in which user holds one of roles directly.
func (db *DB) ProjectsWithRole(ctx context.Context, userID int64, roles ...int) ([]int64, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	args := []any{userID}
	for _, r := range roles {
		args = append(args, r)
	}
	rows, err := db.query(ctx, nil, `SELECT project_id FROM project_members WHERE entity_type = 'u' AND entity_id = ? AND role IN (`+placeholders(len(roles))+`)`, args...)
	if err != nil {
		return nil, errs.Wrap("projects with role", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, errs.Wrap("projects with role", err)
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
