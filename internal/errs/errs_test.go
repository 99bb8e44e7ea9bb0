package errs_test

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/berth-dev/berth/internal/errs"
)

// sqliteErr has the shape of the SQLite driver's error (a Code method).
type sqliteErr int

func (e sqliteErr) Error() string { return fmt.Sprintf("sqlite error %d", int(e)) }
func (e sqliteErr) Code() int     { return int(e) }

// TestStorageFullKind: a full disk from any source is errs.StorageFull,
// however it was wrapped; a kind given on the way wins.
func TestStorageFullKind(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want errs.Kind
	}{
		{"ENOSPC from a write", errs.Wrap("append", &fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}), errs.StorageFull},
		{"EDQUOT", fmt.Errorf("sync: %w", syscall.EDQUOT), errs.StorageFull},
		{"twice wrapped", errs.Wrap("put", errs.Wrap("append", syscall.ENOSPC)), errs.StorageFull},
		{"SQLITE_FULL", errs.Wrap("create project", sqliteErr(13)), errs.StorageFull},
		{"SQLite extended code of FULL", sqliteErr(13 | 2<<8), errs.StorageFull},
		{"SQLite busy", errs.Wrap("tx", sqliteErr(5)), errs.Internal},
		{"PostgreSQL disk_full", errs.Wrap("put manifest", &pgconn.PgError{Code: "53100"}), errs.StorageFull},
		{"PostgreSQL other", &pgconn.PgError{Code: "23505"}, errs.Internal},
		{"other", errors.New("boom"), errs.Internal},
		{"kind given wins", &errs.Error{Kind: errs.Denied, Op: "x", Err: syscall.ENOSPC}, errs.Denied},
	} {
		if got := errs.KindOf(c.err); got != c.want {
			t.Errorf("%s: KindOf(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if errs.StorageFull.String() != "storage full" {
		t.Errorf("StorageFull.String() = %q", errs.StorageFull.String())
	}
}
