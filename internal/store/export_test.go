package store

import (
	"context"
	"database/sql"
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

// CountsDrift returns the repositories whose stored artifact_count or
// plain flag differs from a fresh one, by name: {stored, fresh} counts.
// Test-only.
func (db *DB) CountsDrift(ctx context.Context) (map[string][2]int64, error) {
	rows, err := db.query(ctx, nil, `SELECT r.name, r.artifact_count, `+shownCount("r.id")+`,
		CASE WHEN r.plain = `+plainRepository("r.id")+` THEN 0 ELSE 1 END FROM repositories r`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][2]int64{}
	for rows.Next() {
		var name string
		var stored, fresh, plainDrift int64
		if err := rows.Scan(&name, &stored, &fresh, &plainDrift); err != nil {
			return nil, err
		}
		if stored != fresh || plainDrift != 0 {
			out[name] = [2]int64{stored, fresh} // equal counts: the plain flag is wrong
		}
	}
	return out, rows.Err()
}

// FillTotalSizes runs migration 0017's fill in a transaction. Test-only.
func (db *DB) FillTotalSizes(ctx context.Context) error {
	return db.tx(ctx, "fill total sizes", func(tx *sql.Tx) error { return db.fillTotalSizes(ctx, tx) })
}

// ClearForeignConfigAttrs runs migration 0019's hook again. Test-only.
func (db *DB) ClearForeignConfigAttrs(ctx context.Context) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := db.clearForeignConfigAttrs(ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// ArtifactRowsLeft counts, by table, the rows that name one of the
// artifact IDs ids: the artifacts themselves and what hangs off them
// (tags, labels, index references, blob links). Test-only.
func (db *DB) ArtifactRowsLeft(ctx context.Context, ids []int64) (map[string]int, error) {
	out := map[string]int{}
	in := placeholders(len(ids))
	for table, col := range map[string]string{"artifacts": "id", "tags": "artifact_id", "artifact_labels": "artifact_id",
		"artifact_references": "parent_id", "artifact_blobs": "artifact_id"} {
		var n int
		if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM `+table+` WHERE `+col+` IN (`+in+`)`, idArgs(ids)...).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			out[table] = n
		}
	}
	return out, nil
}
