package store

import (
	"context"
	"database/sql"
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

// InsertAuditEntries writes entries in one transaction.
func (db *DB) InsertAuditEntries(ctx context.Context, entries []AuditEntry) error {
	if len(entries) == 0 {
		return nil
	}
	return db.tx(ctx, "insert audit log", func(tx *sql.Tx) error {
		for _, e := range entries {
			if _, err := db.exec(ctx, tx, `INSERT INTO audit_log (project_id, operation, resource_type, resource, username, op_desc, op_result, op_time)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.ProjectID, e.Operation, e.ResourceType, e.Resource, e.Username, e.Description, e.Success, e.OpTime); err != nil {
				return err
			}
		}
		return nil
	})
}
