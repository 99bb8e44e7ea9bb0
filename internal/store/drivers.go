package store

// The SQL drivers are linked here, inside the store package, so that only the
// store (and whoever builds it) depends on them; HTTP packages use the store
// through their own small interfaces.
import (
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite"
)
