package store

import (
	"context"
	"database/sql"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// userColumns are the columns userFields scans, in order.
const userColumns = `id, username, email, realname, comment, password_hash, sysadmin, created_at, updated_at`

func userFields(u *User) []any {
	return []any{&u.ID, &u.Username, &u.Email, &u.Realname, &u.Comment, &u.PasswordHash, &u.SysAdmin, &u.CreatedAt, &u.UpdatedAt}
}

// isEmailConflict reports whether a unique violation is on the e-mail index
// (users_email_unique) rather than the user name.
func isEmailConflict(err error) bool {
	return err != nil && strings.Contains(err.Error(), "users_email_unique")
}

// UserByID returns user id.
func (db *DB) UserByID(ctx context.Context, id int64) (*User, error) {
	var u User
	err := db.queryRow(ctx, nil, `SELECT `+userColumns+` FROM users WHERE id = ?`, id).Scan(userFields(&u)...)
	if err != nil {
		return nil, notFound("get user", err, "user %d not found", id)
	}
	return &u, nil
}

// userListColumns are the keys user listings filter and sort by (Harbor's
// names for them).
var userListColumns = map[string]query.Column{
	"user_id":       {SQL: "id", Type: query.Int},
	"username":      {SQL: "username", Type: query.Text},
	"email":         {SQL: "email", Type: query.Text},
	"realname":      {SQL: "realname", Type: query.Text},
	"sysadmin_flag": {SQL: "sysadmin", Type: query.Bool},
	"creation_time": {SQL: "created_at", Type: query.Time},
	"update_time":   {SQL: "updated_at", Type: query.Time},
}

// ListUsers returns a page of the users matching q (by ID unless q sorts)
// and how many match in all.
func (db *DB) ListUsers(ctx context.Context, q *query.Query, offset, limit int) ([]User, int64, error) {
	const op = "list users"
	if q == nil {
		q = &query.Query{}
	}
	where, args, order, err := q.SQL(userListColumns, "id")
	if err != nil {
		return nil, 0, err
	}
	if where != "" {
		where = " WHERE " + where
	}
	var total int64
	if err := db.queryRow(ctx, nil, `SELECT COUNT(*) FROM users`+where, args...).Scan(&total); err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	out := []User{}
	if total == 0 || offset >= int(total) {
		return out, total, nil
	}
	if !strings.HasPrefix(order, "id ") && order != "id" && !strings.Contains(order, ", id") {
		order += ", id" // a stable order across pages
	}
	rows, err := db.query(ctx, nil, `SELECT `+userColumns+` FROM users`+where+` ORDER BY `+order+` LIMIT ? OFFSET ?`,
		append(args, limit, offset)...)
	if err != nil {
		return nil, 0, errs.Wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		var u User
		if err := rows.Scan(userFields(&u)...); err != nil {
			return nil, 0, errs.Wrap(op, err)
		}
		out = append(out, u)
	}
	return out, total, rows.Err()
}

// UpdateUserProfile sets the e-mail address, real name and comment of user
// id; an address another user has is errs.Exists.
func (db *DB) UpdateUserProfile(ctx context.Context, id int64, email, realname, comment string) error {
	const op = "update user"
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE users SET email = ?, realname = ?, comment = ?, updated_at = ? WHERE id = ?`,
			email, realname, comment, now(), id)
		return oneUserRow(res, err, op, "user %d not found", id)
	})
	if isUniqueViolation(err) {
		return errs.E(errs.Exists, op, "e-mail address %q is already in use", email)
	}
	return err
}

// SetUserSysAdmin grants or revokes the system administrator flag of user id.
func (db *DB) SetUserSysAdmin(ctx context.Context, id int64, admin bool) error {
	const op = "set user sysadmin"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		res, err := db.exec(ctx, tx, `UPDATE users SET sysadmin = ?, updated_at = ? WHERE id = ?`, admin, now(), id)
		return oneUserRow(res, err, op, "user %d not found", id)
	})
}

// SetUserPassword replaces the password hash of user id and ends every
// session the user has, in one transaction.
func (db *DB) SetUserPassword(ctx context.Context, id int64, hash string) error {
	const op = "set user password"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		t := now()
		res, err := db.exec(ctx, tx, `UPDATE users SET password_hash = ?, password_changed_at = ?, updated_at = ? WHERE id = ?`, hash, t, t, id)
		if err := oneUserRow(res, err, op, "user %d not found", id); err != nil {
			return err
		}
		_, err = db.exec(ctx, tx, `DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
}

// DeleteUser removes user id with its project memberships and sessions.
// Projects it owns and robots it created keep their (now dangling) IDs;
// IDs are never reused, so they grant nothing to anyone else.
func (db *DB) DeleteUser(ctx context.Context, id int64) error {
	const op = "delete user"
	return db.tx(ctx, op, func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `DELETE FROM project_members WHERE entity_type = ? AND entity_id = ?`, EntityUser, id); err != nil {
			return err
		}
		if _, err := db.exec(ctx, tx, `DELETE FROM sessions WHERE user_id = ?`, id); err != nil {
			return err
		}
		res, err := db.exec(ctx, tx, `DELETE FROM users WHERE id = ?`, id)
		return oneUserRow(res, err, op, "user %d not found", id)
	})
}

// IsProjectAdminAnywhere reports whether user holds the project admin role
// (role 1) in some project, directly or as its owner.
func (db *DB) IsProjectAdminAnywhere(ctx context.Context, userID int64) (bool, error) {
	var n int
	err := db.queryRow(ctx, nil, `SELECT
		(SELECT COUNT(*) FROM (SELECT 1 FROM project_members WHERE entity_type = ? AND entity_id = ? AND role = 1 LIMIT 1) m) +
		(SELECT COUNT(*) FROM (SELECT 1 FROM projects WHERE owner_id = ? LIMIT 1) p)`, EntityUser, userID, userID).Scan(&n)
	if err != nil {
		return false, errs.Wrap("project admin", err)
	}
	return n > 0, nil
}

// oneUserRow turns a statement that touched no row into errs.NotFound.
func oneUserRow(res sql.Result, err error, op, format string, args ...any) error {
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
