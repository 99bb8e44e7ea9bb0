package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/berth-dev/berth/internal/errs"
)

// Project is a namespace of repositories with its own visibility and members.
type Project struct {
	ID        int64
	Name      string
	OwnerID   int64
	Public    bool
	CreatedAt int64
	UpdatedAt int64
	// Metadata is the project's metadata (project_metadata) as stored,
	// without "public"; set by ProjectByName, nil elsewhere.
	Metadata map[string]string
}

// CreateProject creates project p with no storage limit and its owner (if
// any) as project administrator; an existing name is errs.Exists.
func (db *DB) CreateProject(ctx context.Context, p Project) (int64, error) {
	return db.AddProject(ctx, ProjectSpec{Name: p.Name, OwnerID: p.OwnerID, Public: p.Public, StorageLimit: -1})
}

// ProjectByName returns the project called name, with its metadata (in
// the same statement: the registry's pull gate reads the project's
// policies from it).
func (db *DB) ProjectByName(ctx context.Context, name string) (*Project, error) {
	var p Project
	var meta sql.NullString
	err := db.queryRow(ctx, nil, `SELECT p.id, p.name, p.owner_id, p.public, p.created_at, p.updated_at,
		(SELECT `+db.metadataAgg()+` FROM project_metadata m WHERE m.project_id = p.id) FROM projects p WHERE p.name = ?`, name).
		Scan(&p.ID, &p.Name, &p.OwnerID, &p.Public, &p.CreatedAt, &p.UpdatedAt, &meta)
	if err != nil {
		return nil, notFound("get project", err, "project %q not found", name)
	}
	p.Metadata = map[string]string{}
	if meta.Valid && meta.String != "" {
		if err := json.Unmarshal([]byte(meta.String), &p.Metadata); err != nil {
			return nil, fmt.Errorf("metadata of project %d: %w", p.ID, err)
		}
	}
	return &p, nil
}

// metadataAgg aggregates the rows of project_metadata m into one JSON object.
func (db *DB) metadataAgg() string {
	if db.pg {
		return `json_object_agg(m.name, m.value)`
	}
	return `json_group_object(m.name, m.value)`
}

// User is a local account.
type User struct {
	ID           int64
	Username     string
	Email        string
	Realname     string
	Comment      string
	PasswordHash string
	SysAdmin     bool
	CreatedAt    int64
	UpdatedAt    int64
}

// CreateUser inserts u and returns its ID; an existing name or e-mail
// address is errs.Exists.
func (db *DB) CreateUser(ctx context.Context, u User) (int64, error) {
	const op = "create user"
	t := now()
	var id int64
	err := db.tx(ctx, op, func(tx *sql.Tx) error {
		// Usernames are unique case-folded ("Admin" is not a second
		// "admin"). On PostgreSQL user creations queue on a table lock so
		// two of them cannot both miss each other; SQLite's writer is
		// exclusive anyway.
		if db.pg {
			if _, err := tx.ExecContext(ctx, `LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return err
			}
		}
		var n int
		if err := db.queryRow(ctx, tx, `SELECT COUNT(*) FROM users WHERE lower(username) = lower(?)`, u.Username).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errs.E(errs.Exists, op, "user %q already exists", u.Username)
		}
		return db.queryRow(ctx, tx, `INSERT INTO users (username, email, realname, comment, password_hash, sysadmin, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, u.Username, u.Email, u.Realname, u.Comment, u.PasswordHash, u.SysAdmin, t, t).Scan(&id)
	})
	if isUniqueViolation(err) {
		if isEmailConflict(err) {
			return 0, errs.E(errs.Exists, op, "e-mail address %q is already in use", u.Email)
		}
		return 0, errs.E(errs.Exists, op, "user %q already exists", u.Username)
	}
	return id, err
}

// UserByName returns the user called name.
func (db *DB) UserByName(ctx context.Context, name string) (*User, error) {
	var u User
	err := db.queryRow(ctx, nil, `SELECT `+userColumns+` FROM users WHERE username = ?`, name).Scan(userFields(&u)...)
	if err != nil {
		return nil, notFound("get user", err, "user %q not found", name)
	}
	return &u, nil
}

// Property returns the value of setting name, or errs.NotFound.
func (db *DB) Property(ctx context.Context, name string) (string, error) {
	var v string
	err := db.queryRow(ctx, nil, `SELECT value FROM properties WHERE name = ?`, name).Scan(&v)
	if err != nil {
		return "", notFound("get property", err, "property %q not set", name)
	}
	return v, nil
}

// SetPropertyIfAbsent stores value under name unless a value is there, and
// returns the value stored afterwards. Replicas racing to set it agree.
func (db *DB) SetPropertyIfAbsent(ctx context.Context, name, value string) (string, error) {
	err := db.tx(ctx, "set property", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO properties (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, name, value)
		return err
	})
	if err != nil {
		return "", err
	}
	return db.Property(ctx, name)
}

// ProjectByID returns project id.
func (db *DB) ProjectByID(ctx context.Context, id int64) (*Project, error) {
	var p Project
	err := db.queryRow(ctx, nil, `SELECT id, name, owner_id, public, created_at, updated_at FROM projects WHERE id = ?`, id).
		Scan(&p.ID, &p.Name, &p.OwnerID, &p.Public, &p.CreatedAt, &p.UpdatedAt)
	if err != nil {
		return nil, notFound("get project", err, "project %d not found", id)
	}
	return &p, nil
}

// SetProperty stores value under name, replacing any value.
func (db *DB) SetProperty(ctx context.Context, name, value string) error {
	return db.tx(ctx, "set property", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO properties (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
		return err
	})
}
