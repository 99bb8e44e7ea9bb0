package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
)

// Robot is a robot account. Permissions is the JSON list Harbor's API
// shows ([{kind, namespace, access:[{resource, action}]}]).
type Robot struct {
	ID          int64
	Name        string // full name, e.g. robot$library+ci
	Description string
	Level       string // "system" or "project"
	ProjectID   int64  // 0 for system robots
	SecretHash  string
	Duration    int64 // days; -1 never expires
	ExpiresAt   int64 // Unix seconds; -1 never
	Disabled    bool
	Permissions string
	CreatorType string
	CreatorRef  int64
	CreatedAt   int64
	UpdatedAt   int64
}

const robotColumns = `id, name, description, level, project_id, secret_hash, duration, expires_at, disabled, permissions,
	creator_type, creator_ref, created_at, updated_at`

// liveRobot holds for robots whose project (if any) still exists, and
// orphanRobot for project robots left behind by a deleted project. Orphans
// are invisible: they cannot log in, and a new project of the same name
// does not inherit them.
const (
	liveRobot   = `(level <> 'project' OR EXISTS (SELECT 1 FROM projects p WHERE p.id = robots.project_id))`
	orphanRobot = `level = 'project' AND NOT EXISTS (SELECT 1 FROM projects p WHERE p.id = robots.project_id)`
)

func scanRobot(s interface{ Scan(...any) error }) (*Robot, error) {
	var r Robot
	err := s.Scan(&r.ID, &r.Name, &r.Description, &r.Level, &r.ProjectID, &r.SecretHash, &r.Duration, &r.ExpiresAt,
		&r.Disabled, &r.Permissions, &r.CreatorType, &r.CreatorRef, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// CreateRobot inserts r; an existing name is errs.Exists.
func (db *DB) CreateRobot(ctx context.Context, r Robot) (int64, error) {
	const op = "create robot"
	t := now()
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		// A robot left behind by a deleted project no longer counts: its
		// name may be taken again.
		if _, err := db.exec(ctx, tx, `DELETE FROM robots WHERE name = ? AND `+orphanRobot, r.Name); err != nil {
			return err
		}
		return db.queryRow(ctx, tx, `INSERT INTO robots (name, description, level, project_id, secret_hash, duration, expires_at,
			disabled, permissions, creator_type, creator_ref, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Name, r.Description, r.Level, r.ProjectID, r.SecretHash, r.Duration, r.ExpiresAt, r.Disabled, r.Permissions,
			r.CreatorType, r.CreatorRef, t, t).Scan(&id)
	})
	if isUniqueViolation(err) {
		return 0, errs.E(errs.Exists, op, "robot %q already exists", r.Name)
	}
	return id, err
}

// RobotByName returns the robot with full name name.
func (db *DB) RobotByName(ctx context.Context, name string) (*Robot, error) {
	r, err := scanRobot(db.queryRow(ctx, nil, `SELECT `+robotColumns+` FROM robots WHERE name = ? AND `+liveRobot, name))
	if err != nil {
		return nil, notFound("get robot", err, "robot %q not found", name)
	}
	return r, nil
}

// RobotByID returns robot id.
func (db *DB) RobotByID(ctx context.Context, id int64) (*Robot, error) {
	r, err := scanRobot(db.queryRow(ctx, nil, `SELECT `+robotColumns+` FROM robots WHERE id = ? AND `+liveRobot, id))
	if err != nil {
		return nil, notFound("get robot", err, "robot %d not found", id)
	}
	return r, nil
}
