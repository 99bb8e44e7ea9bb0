package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// robotListColumns are the q and sort keys of ListRobots. A robot's name
// is matched as Harbor stores it, without the "robot$" prefix every name
// here carries (q=name=sysbot, q=name=team+ci, q=name=~ci); Harbor adds
// the prefix only when it answers.
var robotListColumns = map[string]query.Column{
	"id":            {SQL: "id", Type: query.Int},
	"name":          {SQL: "SUBSTR(name, 7)", Type: query.Text}, // after "robot$"
	"description":   {SQL: "description", Type: query.Text},
	"disable":       {SQL: "disabled", Type: query.Bool},
	"duration":      {SQL: "duration", Type: query.Int},
	"expires_at":    {SQL: "expires_at", Type: query.Int},
	"creation_time": {SQL: "created_at", Type: query.Time},
	"update_time":   {SQL: "updated_at", Type: query.Time},
}

// ListRobots returns a page of the robots of project projectID (0: the
// system robots) matching q, ordered by name unless q says otherwise, with
// the number of all matches.
func (db *DB) ListRobots(ctx context.Context, q *query.Query, projectID int64, offset, limit int) ([]Robot, int64, error) {
	const op = "list robots"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(robotListColumns, "name, id")
	if err != nil {
		return nil, 0, err
	}
	level := "system"
	if projectID != 0 {
		level = "project"
	}
	cond := " WHERE project_id = ? AND level = ?"
	args = append([]any{projectID, level}, args...)
	if where != "" {
		cond += " AND " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM robots`+cond, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	rows, err := db.query(ctx, nil, `SELECT `+robotColumns+` FROM robots`+cond+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []Robot{}
	for rows.Next() {
		r, err := scanRobot(rows)
		if err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, *r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	return out, total, nil
}

// UpdateRobot stores the editable fields of r (description, duration,
// expiry, disabled, permissions); name, level, project and secret stay.
func (db *DB) UpdateRobot(ctx context.Context, r Robot) error {
	const op = "update robot"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE robots SET description = ?, duration = ?, expires_at = ?, disabled = ?, permissions = ?,
			updated_at = ? WHERE id = ?`, r.Description, r.Duration, r.ExpiresAt, r.Disabled, r.Permissions, now(), r.ID)
		return robotOneRow(res, err, op, r.ID)
	})
}

// SetRobotSecret replaces the secret hash of robot id.
func (db *DB) SetRobotSecret(ctx context.Context, id int64, secretHash string) error {
	const op = "refresh robot secret"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE robots SET secret_hash = ?, updated_at = ? WHERE id = ?`, secretHash, now(), id)
		return robotOneRow(res, err, op, id)
	})
}

// DeleteRobot removes robot id.
func (db *DB) DeleteRobot(ctx context.Context, id int64) error {
	const op = "delete robot"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM robots WHERE id = ?`, id)
		return robotOneRow(res, err, op, id)
	})
}

func robotOneRow(res sql.Result, err error, op string, id int64) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errs.E(errs.NotFound, op, "robot %d not found", id)
	}
	return nil
}
