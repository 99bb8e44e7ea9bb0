package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// Bulk loading, for seeders of benchmark data sets and imports: rows are
// written with multi-row INSERTs inside one write transaction, with IDs the
// caller chooses (NextIDs), so a hundred thousand artifacts and half a
// million tags load in seconds instead of one transaction per push.

// Loader writes many rows inside one transaction (see DB.Load).
type Loader struct {
	db  *DB
	tx  *sql.Tx
	ctx context.Context
}

// identityTables are the tables with a generated ID column; Load moves
// their PostgreSQL sequences past the IDs a loader chose.
var identityTables = []string{"users", "projects", "repositories", "artifacts", "tags",
	"project_members", "robots", "labels", "audit_log"}

// Load runs fn in one write transaction and commits it if fn returns nil.
// On PostgreSQL it then moves the ID sequences past the largest IDs, since
// rows inserted with explicit IDs do not advance them (SQLite's
// AUTOINCREMENT follows explicit IDs by itself).
func (db *DB) Load(ctx context.Context, fn func(*Loader) error) error {
	const op = "bulk load"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		if err := fn(&Loader{db: db, tx: tx, ctx: ctx}); err != nil {
			return err
		}
		if err := db.recountAll(ctx, tx); err != nil {
			return errs.Wrap(op, err)
		}
		if !db.pg {
			return nil
		}
		for _, t := range identityTables {
			if _, err := db.exec(ctx, tx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'),
				GREATEST((SELECT COALESCE(MAX(id), 0) FROM `+t+`), 1), (SELECT COUNT(*) > 0 FROM `+t+`))`); err != nil {
				return errs.Wrap(op, err)
			}
		}
		return nil
	})
}

// maxParams bounds the placeholders of one statement (SQLite allows
// 32766, PostgreSQL 65535).
const maxParams = 30000

// Insert writes rows (each with one value per column of cols) into table,
// as few multi-row INSERT statements as the placeholder limit allows.
func (l *Loader) Insert(table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	per := max(1, min(1000, maxParams/len(cols)))
	one := "(" + placeholders(len(cols)) + ")"
	head := "INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES "
	var full *sql.Stmt
	defer func() {
		if full != nil {
			full.Close()
		}
	}()
	args := make([]any, 0, per*len(cols))
	for start := 0; start < len(rows); start += per {
		end := min(start+per, len(rows))
		args = args[:0]
		for _, r := range rows[start:end] {
			if len(r) != len(cols) {
				return errs.E(errs.Invalid, "bulk insert", "a row of %d values for %d columns of %s", len(r), len(cols), table)
			}
			args = append(args, r...)
		}
		n := end - start
		q := head + strings.TrimSuffix(strings.Repeat(one+",", n), ",")
		var err error
		if n == per {
			if full == nil {
				if full, err = l.tx.PrepareContext(l.ctx, l.db.rebind(q)); err != nil {
					return errs.Wrap("bulk insert "+table, err)
				}
			}
			_, err = full.ExecContext(l.ctx, args...)
		} else {
			_, err = l.db.exec(l.ctx, l.tx, q, args...)
		}
		if err != nil {
			return errs.Wrap("bulk insert "+table, err)
		}
	}
	return nil
}

// Exec runs one statement (with ? placeholders) in the transaction.
func (l *Loader) Exec(q string, args ...any) error {
	_, err := l.db.exec(l.ctx, l.tx, q, args...)
	return errs.Wrap("bulk load", err)
}

// Int runs a query returning one integer (NULL reads as 0).
func (l *Loader) Int(q string, args ...any) (int64, error) {
	var n sql.NullInt64
	if err := l.db.queryRow(l.ctx, l.tx, q, args...).Scan(&n); err != nil {
		return 0, errs.Wrap("bulk load", err)
	}
	return n.Int64, nil
}

// NextID returns the first free ID of table (one past its largest).
func (l *Loader) NextID(table string) (int64, error) {
	n, err := l.Int(`SELECT MAX(id) FROM ` + table)
	return n + 1, err
}

// TableRows returns how many rows table holds (a name of letters and
// underscores; anything else is errs.Invalid).
func (db *DB) TableRows(ctx context.Context, table string) (int64, error) {
	const op = "count rows"
	if table == "" || strings.Trim(table, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return 0, errs.E(errs.Invalid, op, "bad table name %q", table)
	}
	var n int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
		return 0, errs.Wrap(op, err)
	}
	return n, nil
}

// Maintain does on PostgreSQL what autovacuum does to tables after a bulk
// load: VACUUM (which marks pages all-visible, so index-only scans skip the
// heap) and ANALYZE (the planner's statistics). A tool that loads rows in
// bulk (the benchmark seeder, an import) calls it instead of waiting for
// autovacuum. On SQLite it does nothing: Berth keeps no statistics there.
func (db *DB) Maintain(ctx context.Context) error {
	if !db.pg {
		return nil
	}
	_, err := db.w.ExecContext(ctx, "VACUUM (ANALYZE)")
	return errs.Wrap("vacuum", err)
}
