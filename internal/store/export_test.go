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

// IndexTypes is indexTypes, for plan tests.
const IndexTypes = indexTypes
