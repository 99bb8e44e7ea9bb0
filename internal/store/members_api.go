package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// memberSelect reads user memberships with the user's name. Memberships of
// users that no longer exist are left out (the join drops them).
const memberSelect = `SELECT m.id, m.project_id, m.entity_type, m.entity_id, u.username, m.role, m.created_at, m.updated_at
	FROM project_members m JOIN users u ON u.id = m.entity_id AND m.entity_type = 'u'`

func scanMember(s interface{ Scan(...any) error }) (Member, error) {
	var m Member
	err := s.Scan(&m.ID, &m.ProjectID, &m.EntityType, &m.EntityID, &m.EntityName, &m.Role, &m.CreatedAt, &m.UpdatedAt)
	return m, err
}

// memberColumns are the q and sort keys of ListMembers.
var memberColumns = map[string]query.Column{
	"id":          {SQL: "m.id", Type: query.Int},
	"entity_name": {SQL: "u.username", Type: query.Text},
	"entity_id":   {SQL: "m.entity_id", Type: query.Int},
	"entity_type": {SQL: "m.entity_type", Type: query.Text},
	"role_id":     {SQL: "m.role", Type: query.Int},
}

// ListMembers returns a page of project's members, ordered by name, whose
// name contains entityName (all if empty) and which match q, with the
// number of all matches.
func (db *DB) ListMembers(ctx context.Context, projectID int64, entityName string, q *query.Query, offset, limit int) ([]Member, int64, error) {
	const op = "list members"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(memberColumns, "u.username, m.id")
	if err != nil {
		return nil, 0, err
	}
	cond := " WHERE m.project_id = ?"
	args = append([]any{projectID}, args...)
	if where != "" {
		cond += " AND " + where
	}
	if entityName != "" {
		cond += ` AND LOWER(u.username) LIKE ? ESCAPE '\'`
		args = append(args, memberLikePattern(entityName))
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM project_members m JOIN users u ON u.id = m.entity_id AND m.entity_type = 'u'`+cond, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	rows, err := db.query(ctx, nil, memberSelect+cond+" ORDER BY "+order+" LIMIT ? OFFSET ?", append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	out := []Member{}
	for rows.Next() {
		m, err := scanMember(rows)
		if err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	return out, total, nil
}

// MemberByID returns membership id of project.
func (db *DB) MemberByID(ctx context.Context, projectID, id int64) (*Member, error) {
	m, err := scanMember(db.queryRow(ctx, nil, memberSelect+` WHERE m.project_id = ? AND m.id = ?`, projectID, id))
	if err != nil {
		return nil, notFound("get member", err, "member %d not found in the project", id)
	}
	return &m, nil
}

// AddUserMember makes a user, named by ID (if not 0) or else by name, a
// member of project with role, and returns the new membership. A user that
// does not exist is errs.Invalid (the request names it); an existing
// membership is errs.Exists.
func (db *DB) AddUserMember(ctx context.Context, projectID, userID int64, username string, role int) (*Member, error) {
	const op = "add member"
	t := now()
	m := Member{ProjectID: projectID, EntityType: EntityUser, Role: role, CreatedAt: t, UpdatedAt: t}
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		var err error
		if userID != 0 {
			err = db.queryRow(ctx, tx, `SELECT id, username FROM users WHERE id = ?`, userID).Scan(&m.EntityID, &m.EntityName)
		} else {
			err = db.queryRow(ctx, tx, `SELECT id, username FROM users WHERE username = ?`, username).Scan(&m.EntityID, &m.EntityName)
		}
		if errors.Is(err, sql.ErrNoRows) {
			if userID != 0 {
				return errs.E(errs.Invalid, op, "user %d not found", userID)
			}
			return errs.E(errs.Invalid, op, "user %q not found", username)
		}
		if err != nil {
			return err
		}
		if userID != 0 && username != "" && username != m.EntityName {
			return errs.E(errs.Invalid, op, "user %d is %q, not %q", userID, m.EntityName, username)
		}
		return db.queryRow(ctx, tx, `INSERT INTO project_members (project_id, entity_type, entity_id, role, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, projectID, EntityUser, m.EntityID, role, t, t).Scan(&m.ID)
	})
	if isUniqueViolation(err) {
		return nil, errs.E(errs.Exists, op, "user %q is already a member of the project", m.EntityName)
	}
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// UpdateMemberRole sets the role of membership id of project.
func (db *DB) UpdateMemberRole(ctx context.Context, projectID, id int64, role int) error {
	const op = "update member"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE project_members SET role = ?, updated_at = ? WHERE project_id = ? AND id = ?`, role, now(), projectID, id)
		return memberOneRow(res, err, op, "member %d not found in the project", id)
	})
}

// DeleteMember removes membership id of project.
func (db *DB) DeleteMember(ctx context.Context, projectID, id int64) error {
	const op = "delete member"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `DELETE FROM project_members WHERE project_id = ? AND id = ?`, projectID, id)
		return memberOneRow(res, err, op, "member %d not found in the project", id)
	})
}

// memberLikePattern is a LIKE pattern matching names that contain s,
// case-insensitively (s is escaped: % and _ match themselves).
func memberLikePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// memberOneRow turns a statement that touched no row into errs.NotFound.
func memberOneRow(res sql.Result, err error, op, format string, args ...any) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return errs.E(errs.NotFound, op, format, args...)
	}
	return nil
}
