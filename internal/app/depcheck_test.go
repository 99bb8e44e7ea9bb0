package app_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/berth-dev/berth"

// deps returns the transitive imports of pkg.
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath", module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	got := map[string]bool{}
	for dec.More() {
		var p struct{ ImportPath string }
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		got[p.ImportPath] = true
	}
	return got
}

// TestImportRules checks the layering of docs/architecture.md: HTTP
// packages never reach SQL or storage drivers; domain packages never import
// HTTP packages; only the composition root knows the concrete backends.
func TestImportRules(t *testing.T) {
	backends := []string{
		"modernc.org/sqlite",
		"github.com/jackc/pgx/v5/stdlib",
		module + "/internal/store/drivers",
		module + "/internal/blob/fs",
	}
	httpPkgs := []string{"internal/registry", "internal/auth", "internal/api", "internal/audit", "internal/event", "internal/ui"}
	for _, pkg := range httpPkgs {
		d := deps(t, pkg)
		for _, b := range backends {
			if d[b] {
				t.Errorf("%s depends on backend %s", pkg, b)
			}
		}
	}
	// The domain services sit between the HTTP surfaces and store: they
	// ask auth what a caller may do, and never reach an HTTP surface or a
	// backend.
	for _, pkg := range []string{"internal/project", "internal/robot", "internal/user", "internal/artifact", "internal/system", "internal/session", "internal/label", "internal/quota", "internal/webhook", "internal/repository", "internal/policy"} {
		d := deps(t, pkg)
		for _, h := range append([]string{module + "/internal/api", module + "/internal/ui", module + "/internal/registry"}, backends...) {
			if d[h] {
				t.Errorf("service %s imports %s", pkg, h)
			}
		}
	}
	domain := []string{"internal/store", "internal/blob", "internal/oci", "internal/errs", "internal/rbac", "internal/query", "internal/event",
		"internal/pullgate", "internal/artifact", "internal/selector", "internal/immutable", "internal/retention", "internal/settings"}
	for _, pkg := range domain {
		d := deps(t, pkg)
		for _, h := range []string{"net/http", module + "/internal/registry", module + "/internal/auth", module + "/internal/app"} {
			if d[h] {
				t.Errorf("domain package %s imports %s", pkg, h)
			}
		}
	}
}
