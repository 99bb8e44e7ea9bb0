package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestSessionEndsAtOnce checks that a session cookie is checked against
// the live session on every request: once the session ends (another tab
// signing out), the very next read and write with its cookie are refused.
func TestSessionEndsAtOnce(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	form := url.Values{"principal": {"admin"}, "password": {testserver.AdminPassword}}
	resp, err := http.PostForm(srv.URL+"/c/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sid, csrf string
	for _, c := range resp.Cookies() {
		switch c.Name {
		case api.SessionCookie:
			sid = c.Value
		case api.CSRFCookie:
			csrf = c.Value
		}
	}
	if resp.StatusCode != 200 || sid == "" || csrf == "" {
		t.Fatalf("login: %s, sid %q, csrf %q", resp.Status, sid, csrf)
	}
	call := func(ctx context.Context, method, path, body string) int {
		req := httptest.NewRequestWithContext(ctx, method, api.Prefix+path, strings.NewReader(body))
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: sid})
		if method != http.MethodGet {
			req.Header.Set(api.CSRFHeader, csrf)
			req.Header.Set("Content-Type", "application/json")
		}
		rec := httptest.NewRecorder()
		srv.App.API.ServeHTTP(rec, req)
		return rec.Code
	}
	if st := call(context.Background(), http.MethodGet, "/users/current", ""); st != 200 {
		t.Fatalf("first read: %d", st)
	}
	// End the session (as another tab signing out would).
	req := httptest.NewRequest(http.MethodGet, "/c/log_out", nil)
	req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: sid})
	srv.App.API.ServeHTTP(httptest.NewRecorder(), req)

	if st := call(context.Background(), http.MethodGet, "/users/current", ""); st != 401 {
		t.Errorf("read after sign-out: %d, want 401", st)
	}
	if st := call(context.Background(), http.MethodPost, "/projects", `{"project_name":"after"}`); st != 401 {
		t.Errorf("write after sign-out: %d, want 401", st)
	}
}

// TestQuotasOfSeveralProjects checks Berth's extension of listQuotas:
// reference_id may name several projects, comma-separated.
func TestQuotasOfSeveralProjects(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	get := func(query string, out any) int {
		return scGet(t, srv, "/quotas?"+query, out)
	}
	for _, name := range []string{"qa", "qb", "qc"} {
		if st := scPost(t, srv, "/projects", `{"project_name":"`+name+`","storage_limit":1048576}`); st != 201 {
			t.Fatalf("create %s: %d", name, st)
		}
	}
	var all []api.Quota
	get("reference=project&page_size=100", &all)
	ids := map[string]string{}
	for _, q := range all {
		ids[q.Ref.Name] = strconv.FormatInt(q.Ref.ID, 10)
	}
	for _, tc := range []struct {
		query  string
		status int
		names  []string
	}{
		{"reference_id=" + ids["qb"], 200, []string{"qb"}},
		{"reference_id=" + ids["qc"] + "," + ids["qa"], 200, []string{"qa", "qc"}},
		{"reference=project&reference_id=" + ids["qa"] + ",%20" + ids["qb"] + "," + ids["qc"] + "&page_size=2", 200, []string{"qa", "qb"}},
		{"reference_id=" + ids["qa"] + ",x", 200, nil},
		{"reference_id=" + strings.Repeat("1,", 100) + "1", 400, nil},
	} {
		var list []api.Quota
		if st := get(tc.query, &list); st != tc.status {
			t.Errorf("%s: status %d, want %d", tc.query, st, tc.status)
			continue
		}
		var names []string
		for _, q := range list {
			names = append(names, q.Ref.Name)
		}
		if tc.status == 200 && strings.Join(names, ",") != strings.Join(tc.names, ",") {
			t.Errorf("%s: %v, want %v", tc.query, names, tc.names)
		}
	}
}

func scGet(t *testing.T, srv *testserver.InProcess, path string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+api.Prefix+path, nil)
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode
}

func scPost(t *testing.T, srv *testserver.InProcess, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, srv.URL+api.Prefix+path, strings.NewReader(body))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
