package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// bodyOps returns "METHOD path" of every reference operation that takes a
// JSON body parameter.
func bodyOps(t *testing.T) map[string]bool {
	t.Helper()
	b := referenceJSON(t)
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	json.Unmarshal(b, &spec)
	out := map[string]bool{}
	for path, methods := range spec.Paths {
		for m, raw := range methods {
			var op struct {
				Parameters []struct {
					In string `json:"in"`
				} `json:"parameters"`
			}
			json.Unmarshal(raw, &op)
			for _, p := range op.Parameters {
				if p.In == "body" {
					out[strings.ToUpper(m)+" "+path] = true
				}
			}
		}
	}
	return out
}

// fingerprint counts the rows of every table an API write could touch.
func fingerprint(t *testing.T, db *sql.DB) string {
	t.Helper()
	var parts []string
	for _, table := range []string{"projects", "project_metadata", "project_members", "users", "robots", "labels",
		"artifact_labels", "repositories", "artifacts", "tags", "project_blobs", "properties", "sessions", "immutable_rules", "webhook_policies", "retention_policies"} {
		var n int
		if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
			t.Fatalf("count %s: %v", table, err)
		}
		parts = append(parts, fmt.Sprintf("%s=%d", table, n))
	}
	var cfg, desc, meta string
	db.QueryRow("SELECT COALESCE(MAX(value), '') FROM properties WHERE name = 'configurations'").Scan(&cfg)
	db.QueryRow("SELECT COALESCE(MAX(description), '') FROM repositories").Scan(&desc)
	db.QueryRow("SELECT COALESCE(MAX(value), '') FROM project_metadata").Scan(&meta)
	var public, limit int64
	db.QueryRow("SELECT COALESCE(SUM(CASE WHEN public THEN 1 ELSE 0 END), 0), COALESCE(SUM(storage_limit), 0) FROM projects").Scan(&public, &limit)
	return strings.Join(parts, " ") + fmt.Sprintf(" cfg=%q desc=%q meta=%q public=%d limit=%d", cfg, desc, meta, public, limit)
}

// TestBadInputOnEveryWrite sends malformed JSON, a wrong type, an unknown
// field and an oversized body to every implemented operation that takes a
// JSON body, as an administrator, and checks each gets a clear 400 (413
// for size) in Harbor's error format and that nothing was written.
func TestBadInputOnEveryWrite(t *testing.T) {
	takesBody := bodyOps(t)
	srv := testserver.NewInProcess(t, "sqlite")
	f := newFixture(t, srv)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(srv.App.Config().DataDir, "berth.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	before := fingerprint(t, db)
	bodies := []struct {
		name   string
		body   []byte
		status int
	}{
		{"malformed", []byte(`{"name": "x",`), 400},
		{"not an object", []byte(`"just a string"`), 400},
		{"unknown field", []byte(`{"zz_no_such_field": 1}`), 400},
		{"oversized", append(append([]byte(`{"description":"`), bytes.Repeat([]byte("a"), 2<<20)...), '"', '}'), 413},
		{"trailing data", []byte(`{} {}`), 400},
	}
	checked := 0
	for _, op := range srv.App.API.Operations() {
		if !takesBody[op.Method+" "+op.Path] {
			continue
		}
		path, ok := f.fill(op.Path)
		if !ok {
			t.Errorf("%s %s: no fixture for its path parameters", op.Method, op.Path)
			continue
		}
		checked++
		for _, b := range bodies {
			req, _ := http.NewRequest(op.Method, srv.URL+"/api/v2.0"+path, bytes.NewReader(b.body))
			req.Header.Set("Content-Type", "application/json")
			req.SetBasicAuth("admin", testserver.AdminPassword)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var e struct {
				Errors []struct{ Code, Message string } `json:"errors"`
			}
			json.Unmarshal(raw, &e)
			if resp.StatusCode != b.status || len(e.Errors) != 1 || e.Errors[0].Message == "" {
				t.Errorf("%s %s (%s): %d %.200s, want %d with Harbor's error body", op.Method, path, b.name, resp.StatusCode, raw, b.status)
			}
		}
		if after := fingerprint(t, db); after != before {
			t.Fatalf("%s %s: bad input changed stored state:\nbefore %s\nafter  %s", op.Method, path, before, after)
		}
	}
	if checked < 15 {
		t.Errorf("only %d operations with bodies checked", checked)
	}
	t.Logf("%d operations with JSON bodies refused 5 kinds of bad input each, nothing written", checked)
}

// fixture holds one of every resource, for filling path parameters.
type fixture struct {
	values map[string]string
}

func (f *fixture) fill(path string) (string, bool) {
	for {
		i := strings.Index(path, "{")
		if i < 0 {
			return path, true
		}
		j := strings.Index(path[i:], "}")
		v, ok := f.values[path[i+1:i+j]]
		if !ok {
			return path, false
		}
		path = path[:i] + v + path[i+j+1:]
	}
}

func newFixture(t *testing.T, srv *testserver.InProcess) *fixture {
	t.Helper()
	ctx := context.Background()
	_ = ctx
	admin := func(method, path string, body any, out any) {
		t.Helper()
		b, _ := json.Marshal(body)
		resp := auditCall(t, srv, method, "/api/v2.0"+path, "admin", testserver.AdminPassword, b, "application/json", out)
		if resp.StatusCode >= 300 {
			t.Fatalf("fixture %s %s: %d", method, path, resp.StatusCode)
		}
	}
	admin("POST", "/projects", map[string]any{"project_name": "fixture", "public": false}, nil)
	var p struct {
		ID int64 `json:"project_id"`
	}
	admin("GET", "/projects/fixture", nil, &p)
	pushTiny(t, srv, "fixture/app", "v1")
	admin("POST", "/users", map[string]any{"username": "fixuser", "email": "fix@example.com", "realname": "Fix", "password": "Fixture-Pass-1"}, nil)
	var users []struct {
		ID int64 `json:"user_id"`
	}
	admin("GET", "/users?q=username=fixuser", nil, &users)
	admin("POST", "/projects/fixture/members", map[string]any{"role_id": 2, "member_user": map[string]any{"username": "fixuser"}}, nil)
	var members []struct {
		ID int64 `json:"id"`
	}
	admin("GET", "/projects/fixture/members?entityname=fixuser", nil, &members)
	var robot struct {
		ID int64 `json:"id"`
	}
	admin("POST", "/robots", map[string]any{"name": "fix", "level": "project", "duration": -1, "permissions": []map[string]any{
		{"kind": "project", "namespace": "fixture", "access": []map[string]string{{"resource": "repository", "action": "pull"}}}}}, &robot)
	var label struct {
		ID int64 `json:"id"`
	}
	admin("POST", "/labels", map[string]any{"name": "fixlabel", "color": "#112233", "scope": "g"}, nil)
	var labels []struct {
		ID int64 `json:"id"`
	}
	admin("GET", "/labels?scope=g&name=fixlabel", nil, &labels)
	sel := func(deco, pattern string) []map[string]string {
		return []map[string]string{{"kind": "doublestar", "decoration": deco, "pattern": pattern}}
	}
	admin("POST", "/projects/fixture/immutabletagrules", map[string]any{"tag_selectors": sel("matches", "fixture-*"),
		"scope_selectors": map[string]any{"repository": sel("repoMatches", "**")}}, nil)
	var rules []struct {
		ID int64 `json:"id"`
	}
	admin("GET", "/projects/fixture/immutabletagrules", nil, &rules)
	if len(users) != 1 || len(members) != 1 || robot.ID == 0 || len(labels) != 1 || len(rules) != 1 {
		t.Fatalf("fixture: users %v members %v robot %v labels %v immutable rules %v", users, members, robot, labels, rules)
	}
	_ = label
	id := func(n int64) string { return fmt.Sprint(n) }
	return &fixture{values: map[string]string{
		"project_name_or_id": "fixture", "project_name": "fixture", "repository_name": "app", "reference": "v1",
		"tag_name": "v1", "user_id": id(users[0].ID), "mid": id(members[0].ID), "robot_id": id(robot.ID),
		"label_id": id(labels[0].ID), "id": id(p.ID), "meta_name": "auto_scan", "addition": "build_history",
		"job_type": "all", "immutable_rule_id": id(rules[0].ID), "webhook_policy_id": id(fixtureWebhook(t, srv)), "eid": "1",
	}}
}
