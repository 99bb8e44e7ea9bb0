package store

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestPostgresGenericPlans checks that PostgreSQL connections use generic
// plans for prepared statements (withGenericPlans), and that a DSN choosing
// another mode keeps it.
func TestPostgresGenericPlans(t *testing.T) {
	base := os.Getenv("BERTH_TEST_POSTGRES")
	if base == "" {
		t.Skip("BERTH_TEST_POSTGRES is not set") // .ci/run always sets it
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	for dsn, want := range map[string]string{
		base:                                "force_generic_plan",
		base + sep + "plan_cache_mode=auto": "auto",
	} {
		db, err := openPostgres(dsn)
		if err != nil {
			t.Fatal(err)
		}
		var got string
		err = db.r.QueryRowContext(context.Background(), "SHOW plan_cache_mode").Scan(&got)
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: plan_cache_mode = %s, want %s", dsn, got, want)
		}
	}
}
