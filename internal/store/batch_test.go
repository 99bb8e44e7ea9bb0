package store_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestReadBatchSnapshot: on PostgreSQL a batch that reads a page's details
// through the page's ID subquery runs in one REPEATABLE READ snapshot, so
// the details are those of the page it returns; other batches stay READ
// COMMITTED. A batch that fails after its BEGIN leaves its connection
// outside any transaction: it is rolled back, not dropped (pgx would drop
// a connection left in a transaction), and the next read on it works.
func TestReadBatchSnapshot(t *testing.T) {
	db := open(t, testserver.DatabaseDSN(t, "postgres"))
	ctx := context.Background()
	db.LimitReadPool(1) // every batch below on the same connection
	const level = `SELECT current_setting('transaction_isolation')`
	for _, c := range []struct {
		samePage []bool
		want     string
	}{
		{[]bool{false, true}, "repeatable read"},
		{[]bool{false, false}, "read committed"},
	} {
		got, err := db.ReadBatch(ctx, []string{level, level}, c.samePage)
		if err != nil {
			t.Fatal(err)
		}
		for i, rows := range got {
			if len(rows) != 1 || rows[0] != c.want {
				t.Errorf("samePage %v: read %d ran at %v, want %s", c.samePage, i, rows, c.want)
			}
		}
	}
	const pid = `SELECT pg_backend_pid()::text`
	for _, failing := range []string{`SELECT (1/0)::text`, `SELECT no_such_column FROM projects`} {
		before, err := db.ReadBatch(ctx, []string{pid, level}, []bool{false, false})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ReadBatch(ctx, []string{`SELECT 'a'`, failing}, []bool{true, false}); err == nil {
			t.Fatalf("%s: no error", failing)
		}
		got, err := db.ReadBatch(ctx, []string{pid, level}, []bool{false, false})
		if err != nil {
			t.Fatalf("after a failed batch (%s): %v", failing, err)
		}
		if got[1][0] != "read committed" || got[0][0] != before[0][0] {
			t.Errorf("after a failed batch (%s): backend %s at %s, want backend %s at read committed", failing, got[0][0], got[1][0], before[0][0])
		}
	}
}
