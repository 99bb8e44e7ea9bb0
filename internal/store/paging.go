package store

import (
	"context"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// listing describes a filtered, counted and paged listing of one table.
type listing[T any] struct {
	op       string
	cols     map[string]query.Column // keys q may filter and sort by
	order    string                  // default ORDER BY
	tie      string                  // unique column appended to every order, for stable pages
	fields   string                  // SELECT list
	from     string                  // " FROM ... WHERE <fixed condition>"
	fromArgs []any
	scan     func(interface{ Scan(...any) error }) (T, error)
}

// page runs l: the total matching q, then the page at offset (no second
// query when the page is empty).
func (l listing[T]) page(ctx context.Context, db *DB, q *query.Query, offset, limit int) ([]T, int64, error) {
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(l.cols, l.order)
	if err != nil {
		return nil, 0, err
	}
	from := l.from
	args = append(append([]any{}, l.fromArgs...), args...)
	if where != "" {
		from += " AND " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*)`+from, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(l.op, err)
	}
	out := []T{}
	if total == 0 || int64(offset) >= total {
		return out, total, nil
	}
	if !strings.Contains(order, l.tie) {
		order += ", " + l.tie
	}
	rows, err := db.query(ctx, nil, `SELECT `+l.fields+from+` ORDER BY `+order+` LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(l.op, err)
	}
	defer rows.Close()
	for rows.Next() {
		v, err := l.scan(rows)
		if err != nil {
			return nil, 0, errs.Wrap(l.op, err)
		}
		out = append(out, v)
	}
	return out, total, rows.Err()
}
