package store

import (
	"context"
	"database/sql"
)

// Session is a browser session. Only a hash of its ID is stored.
type Session struct {
	IDHash    string
	UserID    int64
	CSRF      string
	CreatedAt int64
	ExpiresAt int64 // milliseconds
}

// CreateSession stores s.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	return db.tx(ctx, "create session", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
			s.IDHash, s.UserID, s.CSRF, now(), s.ExpiresAt)
		return err
	})
}

// SessionUser returns the session with idHash and its user, if not expired.
func (db *DB) SessionUser(ctx context.Context, idHash string) (*Session, *User, error) {
	var s Session
	var u User
	err := db.queryRow(ctx, nil, `SELECT s.id_hash, s.user_id, s.csrf, s.created_at, s.expires_at,
		u.id, u.username, u.email, u.realname, u.comment, u.password_hash, u.sysadmin, u.created_at, u.updated_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ? AND s.expires_at > ?`, idHash, now()).
		Scan(&s.IDHash, &s.UserID, &s.CSRF, &s.CreatedAt, &s.ExpiresAt,
			&u.ID, &u.Username, &u.Email, &u.Realname, &u.Comment, &u.PasswordHash, &u.SysAdmin, &u.CreatedAt, &u.UpdatedAt)
	if err != nil {
		return nil, nil, notFound("get session", err, "session expired or unknown")
	}
	return &s, &u, nil
}

// DeleteSession removes a session (logout).
func (db *DB) DeleteSession(ctx context.Context, idHash string) error {
	return db.tx(ctx, "delete session", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
		return err
	})
}

// DeleteUserSessions removes every session of user (password change, deletion).
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64) error {
	return db.tx(ctx, "delete sessions", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `DELETE FROM sessions WHERE user_id = ?`, userID)
		return err
	})
}

// PurgeSessions removes expired sessions.
func (db *DB) PurgeSessions(ctx context.Context) error {
	return db.tx(ctx, "purge sessions", func(tx *sql.Tx) error {
		_, err := db.exec(ctx, tx, `DELETE FROM sessions WHERE expires_at <= ?`, now())
		return err
	})
}
