package store

import (
	"context"
	"database/sql"
)

// Failed logins are shared by the processes of one installation, so that
// guesses spread over several replicas count together (auth's throttle
// decides the limits; this file only stores). A key names what is counted,
// e.g. an address and an account name. Times are Unix milliseconds.

// AddLoginFailure records a failed login of key at at, forgets the key's
// failures at or before since, and returns how many remain (this one
// included).
func (db *DB) AddLoginFailure(ctx context.Context, key string, at, since int64) (int, error) {
	ctx = routineWrite(ctx)
	var n int
	err := db.tx(ctx, "record failed login", func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `DELETE FROM login_failures WHERE lkey = ? AND at <= ?`, key, since); err != nil {
			return err
		}
		if _, err := db.exec(ctx, tx, `INSERT INTO login_failures (lkey, at) VALUES (?, ?)`, key, at); err != nil {
			return err
		}
		return db.queryRow(ctx, tx, `SELECT COUNT(*) FROM login_failures WHERE lkey = ? AND at > ?`, key, since).Scan(&n)
	})
	return n, err
}

// ClearLoginFailures forgets key's failures.
func (db *DB) ClearLoginFailures(ctx context.Context, key string) error {
	ctx = routineWrite(ctx)
	_, err := db.exec(ctx, nil, `DELETE FROM login_failures WHERE lkey = ?`, key)
	return err
}

// LockLogin records that key is locked until until and forgets its
// failures. Locks that have run out by now are dropped. It is not a
// routine write: the change signal tells the other processes to read the
// locks again (LoginLocks).
func (db *DB) LockLogin(ctx context.Context, key string, until, now int64) error {
	return db.tx(ctx, "lock login", func(tx *sql.Tx) error {
		if _, err := db.exec(ctx, tx, `DELETE FROM login_locks WHERE until <= ?`, now); err != nil {
			return err
		}
		if _, err := db.exec(ctx, tx, `INSERT INTO login_locks (lkey, until) VALUES (?, ?)
			ON CONFLICT (lkey) DO UPDATE SET until = excluded.until`, key, until); err != nil {
			return err
		}
		_, err := db.exec(ctx, tx, `DELETE FROM login_failures WHERE lkey = ?`, key)
		return err
	})
}

// LoginLocks returns the locks in force at now: key → until.
func (db *DB) LoginLocks(ctx context.Context, now int64) (map[string]int64, error) {
	rows, err := db.query(ctx, nil, `SELECT lkey, until FROM login_locks WHERE until > ?`, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var k string
		var u int64
		if err := rows.Scan(&k, &u); err != nil {
			return nil, err
		}
		out[k] = u
	}
	return out, rows.Err()
}
