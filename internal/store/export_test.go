package store

import (
	"context"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// ExplainSQLite returns SQLite's query plan for query, one step per line, so
// that tests can prove listings read through an index. Test-only.
func (db *DB) ExplainSQLite(ctx context.Context, query string, args ...any) (string, error) {
	if db.pg {
		return "", errs.E(errs.Unsupported, "explain", "EXPLAIN QUERY PLAN is SQLite's")
	}
	rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		return "", errs.Wrap("explain", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return "", errs.Wrap("explain", err)
		}
		b.WriteString(detail)
		b.WriteByte('\n')
	}
	return b.String(), rows.Err()
}

// ExplainSearch returns the plan of the repository search's name lookup
// for keyword: SQLite's EXPLAIN QUERY PLAN, or PostgreSQL's EXPLAIN with
// sequential scans disabled (a test table is too small for the planner to
// prefer an index on its own; this shows the index exists and serves LIKE).
func (db *DB) ExplainSearch(ctx context.Context, keyword string) (string, error) {
	if !db.pg {
		return db.ExplainSQLite(ctx, `SELECT r.id FROM repositories r WHERE r.id IN (SELECT rowid FROM repository_names WHERE name LIKE ?)`, "%"+keyword+"%")
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
		return "", err
	}
	defer conn.ExecContext(ctx, "RESET enable_seqscan")
	rows, err := conn.QueryContext(ctx, "EXPLAIN SELECT r.id FROM repositories r WHERE r.name LIKE $1", "%"+keyword+"%")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return "", err
		}
		b.WriteString(line + "\n")
	}
	return b.String(), rows.Err()
}
