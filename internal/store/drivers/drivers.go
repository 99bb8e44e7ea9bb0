// Package drivers links the SQL drivers the store opens: SQLite (modernc,
// pure Go, registered as "sqlite") and PostgreSQL (pgx, registered as
// "pgx"). Only the composition root and tests import it, so no HTTP or
// domain package depends on a database driver.
package drivers

import (
	_ "github.com/jackc/pgx/v5/stdlib" // PostgreSQL driver "pgx"
	_ "modernc.org/sqlite"             // SQLite driver "sqlite"
)
