package store

import (
	"context"
	"database/sql"

	"github.com/berth-dev/berth/internal/errs"
)

// Member entity types.
const (
	EntityUser  = "u"
	EntityGroup = "g"
)

// Member is a user (or group) holding a role in a project.
type Member struct {
	ID         int64
	ProjectID  int64
	EntityType string // EntityUser or EntityGroup
	EntityID   int64
	EntityName string // user name or group name (filled by listings)
	Role       int
	CreatedAt  int64
	UpdatedAt  int64
}

// MemberRoles returns the roles user holds in project directly.
func (db *DB) MemberRoles(ctx context.Context, projectID, userID int64) ([]int, error) {
	rows, err := db.query(ctx, nil, `SELECT role FROM project_members WHERE project_id = ? AND entity_type = 'u' AND entity_id = ?`, projectID, userID)
	if err != nil {
		return nil, errs.Wrap("member roles", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var r int
		if err := rows.Scan(&r); err != nil {
			return nil, errs.Wrap("member roles", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AddMember makes entity a member of project with role; an existing
// membership is errs.Exists.
func (db *DB) AddMember(ctx context.Context, m Member) (int64, error) {
	const op = "add member"
	t := now()
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		return db.queryRow(ctx, tx, `INSERT INTO project_members (project_id, entity_type, entity_id, role, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, m.ProjectID, m.EntityType, m.EntityID, m.Role, t, t).Scan(&id)
	})
	if isUniqueViolation(err) {
		return 0, errs.E(errs.Exists, op, "already a member of the project")
	}
	return id, err
}
