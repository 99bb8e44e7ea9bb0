package store

import (
	"context"
	"strings"

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

// page runs l: the page at offset and the total matching q (countedPage).
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
	if !strings.Contains(order, l.tie) {
		order += ", " + l.tie
	}
	out := []T{}
	total, err := db.countedPage(ctx, l.op, `SELECT COUNT(*)`+from, `SELECT `+l.fields+from+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		args, offset, limit, func(r rowScanner) error {
			v, err := l.scan(r)
			if err != nil {
				return err
			}
			out = append(out, v)
			return nil
		})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}
