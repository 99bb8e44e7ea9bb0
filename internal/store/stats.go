package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
)

// Statistics are the counts Harbor's /statistics shows.
type Statistics struct {
	PublicProjects, PrivateProjects int64
	PublicRepos, PrivateRepos       int64
	StorageBytes                    int64
}

// Statistics counts projects, repositories and stored bytes.
func (db *DB) Statistics(ctx context.Context) (Statistics, error) {
	const op = "statistics"
	var s Statistics
	err := db.queryRow(ctx, nil, `SELECT
		(SELECT COUNT(*) FROM projects WHERE public),
		(SELECT COUNT(*) FROM projects WHERE NOT public),
		(SELECT COUNT(*) FROM repositories r JOIN projects p ON p.id = r.project_id WHERE p.public),
		(SELECT COUNT(*) FROM repositories r JOIN projects p ON p.id = r.project_id WHERE NOT p.public),
		(SELECT COALESCE(SUM(size), 0) FROM blobs)`).
		Scan(&s.PublicProjects, &s.PrivateProjects, &s.PublicRepos, &s.PrivateRepos, &s.StorageBytes)
	if err != nil {
		return s, errs.Wrap(op, err)
	}
	return s, nil
}

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.queryRow(ctx, nil, `SELECT 1`).Scan(&one); err != nil && err != sql.ErrNoRows {
		return errs.Wrap("ping database", err)
	}
	return nil
}
