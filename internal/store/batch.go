package store

import (
	"context"
	"errors"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/jackc/pgx/v5"
)

// A read batch runs several independent reads in one round trip on
// PostgreSQL (the extended protocol pipelines them) and one after the other
// on SQLite, where a statement costs no round trip. The artifact listing
// reads the page's tags, labels and accessories this way: on two shared
// cores each round trip to a PostgreSQL backend costs more than the work
// of these small reads.

// rowScanner is what a batch read's scan function gets for each row.
type rowScanner interface {
	Scan(dest ...any) error
}

// batchRead is one read of a batch: its SQL (with ? placeholders), its
// arguments and what to do with each row.
type batchRead struct {
	sql  string
	args []any
	row  func(rowScanner) error
}

// pgxConn is what the pgx database/sql driver's connections offer.
type pgxConn interface {
	Conn() *pgx.Conn
}

// readBatch runs reads (nil entries are skipped) on the read pool.
func (db *DB) readBatch(ctx context.Context, op string, reads ...*batchRead) error {
	var live []*batchRead
	for _, r := range reads {
		if r != nil {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return nil
	}
	if !db.pg || len(live) == 1 {
		for _, r := range live {
			if err := db.readOne(ctx, r); err != nil {
				return errs.Wrap(op, err)
			}
		}
		return nil
	}
	sqls := make([]string, len(live))
	for i, r := range live {
		sqls[i] = r.sql
	}
	counted(ctx, "batch: "+strings.Join(sqls, "; "))
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return errs.Wrap(op, err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc, ok := dc.(pgxConn)
		if !ok {
			return errors.New("PostgreSQL connection is not a pgx connection")
		}
		b := &pgx.Batch{}
		for _, r := range live {
			b.Queue(db.rebind(r.sql), r.args...)
		}
		res := pc.Conn().SendBatch(ctx, b)
		for _, r := range live {
			rows, err := res.Query()
			if err != nil {
				res.Close()
				return err
			}
			for rows.Next() {
				if err := r.row(rows); err != nil {
					rows.Close()
					res.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				res.Close()
				return err
			}
		}
		return res.Close()
	})
	if err != nil {
		return errs.Wrap(op, err)
	}
	return nil
}

func (db *DB) readOne(ctx context.Context, r *batchRead) error {
	rows, err := db.query(ctx, nil, r.sql, r.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := r.row(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// countedPage reads a page (pageSQL with args, then LIMIT and OFFSET
// bound) and the total countSQL counts. On PostgreSQL both go in one round
// trip. On SQLite the page is read first, and when it is the last one
// (shorter than limit, not past the end) the total follows from it without
// the COUNT. The reads in also go in the same round trip (PostgreSQL) or
// first (SQLite).
func (db *DB) countedPage(ctx context.Context, op, countSQL, pageSQL string, args []any, offset, limit int, row func(rowScanner) error, also ...*batchRead) (int64, error) {
	n := 0
	page := &batchRead{sql: pageSQL, args: append(args[:len(args):len(args)], limit, offset),
		row: func(r rowScanner) error { n++; return row(r) }}
	var total int64
	count := &batchRead{sql: countSQL, args: args, row: func(r rowScanner) error { return r.Scan(&total) }}
	if db.pg {
		err := db.readBatch(ctx, op, append(also, count, page)...)
		return total, err
	}
	if err := db.readBatch(ctx, op, append(also, page)...); err != nil {
		return 0, err
	}
	if n < limit && (n > 0 || offset == 0) {
		return int64(offset + n), nil
	}
	err := db.readBatch(ctx, op, count)
	return total, err
}
