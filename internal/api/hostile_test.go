package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestUsernameLookAlikes: a new username that differs from an existing one
// only in case, or that uses characters outside Berth's safe set (Cyrillic
// and full-width look-alikes, invisible characters), is refused, by
// self-registration and by an administrator alike; nothing is stored.
func TestUsernameLookAlikes(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			uExpect(t, "self-registration on", uDo(t, srv, "PUT", "/api/v2.0/configurations", uAdmin(), `{"self_registration":true}`), http.StatusOK, "")
			uExpect(t, "create bob", uDo(t, srv, "POST", "/api/v2.0/users", uAdmin(), uCreateBody("bob")), http.StatusCreated, "")
			before := uUserCount(t, srv)
			for _, c := range []struct {
				name   string
				status int
			}{
				{"Admin", http.StatusConflict},
				{"ADMIN", http.StatusConflict},
				{"aDmIn", http.StatusConflict},
				{"BOB", http.StatusConflict},
				{"\u0430dmin", http.StatusBadRequest},  // Cyrillic а
				{"adm\u0456n", http.StatusBadRequest},  // Cyrillic і
				{"\uff41dmin", http.StatusBadRequest},  // full-width ａ
				{"ad\u200bmin", http.StatusBadRequest}, // zero-width space
				{"admin\u00a0", http.StatusBadRequest}, // no-break space
				{"b\u03bfb", http.StatusBadRequest},    // Greek ο
				{"ad min", http.StatusBadRequest},
			} {
				for _, who := range []struct {
					name string
					a    uAuth
				}{{"administrator", uAdmin()}, {"self-registration", uAnon}} {
					body := uCreateBody(c.name, uSet("email", "lookalike@example.com"))
					r := uDo(t, srv, "POST", "/api/v2.0/users", who.a, body)
					if r.status != c.status {
						t.Errorf("%s creates %q: %d %s, want %d", who.name, c.name, r.status, r.body, c.status)
					}
				}
			}
			if after := uUserCount(t, srv); after != before {
				t.Fatalf("users: %d before, %d after", before, after)
			}
			for i, name := range []string{"carol.smith", "dave_x-1", "erin@example.com", "Frank+ci"} {
				uExpect(t, "create "+name, uDo(t, srv, "POST", "/api/v2.0/users", uAnon,
					uCreateBody(name, uSet("email", fmt.Sprintf("ok%d@example.com", i)))), http.StatusCreated, "")
			}
			uExpect(t, "frank+ci again in lower case", uDo(t, srv, "POST", "/api/v2.0/users", uAdmin(),
				uCreateBody("frank+CI", uSet("email", "other@example.com"))), http.StatusConflict, "")
		})
	}
}

// hostileGet sends a GET as the administrator and returns the status and body.
func hostileGet(t *testing.T, srv *testserver.InProcess, path string) (int, string) {
	t.Helper()
	r := uDo(t, srv, http.MethodGet, path, uAdmin(), "")
	return r.status, string(r.body)
}

// TestHugePageNumbers asks every listing of the API for a page whose
// offset would overflow: each answers 400 in Harbor's format (never 500),
// and the last page that still fits (offset 2^31-1 at most) answers as an
// empty page.
func TestHugePageNumbers(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			f := newFixture(t, srv)
			listings := 0
			for _, op := range srv.App.API.Operations() {
				if op.Method != http.MethodGet || !strings.HasPrefix(op.RespDef, "[]") {
					continue
				}
				path, ok := f.fill(op.Path)
				if !ok {
					t.Logf("%s: skipped, no fixture for its path parameters", op.Path)
					continue
				}
				// Parameters some listings require.
				path = "/api/v2.0" + path + "?" + map[string]string{
					"/users/search": "username=fix&",
					"/labels":       "scope=g&",
					"/projects/{project_name_or_id}/webhook/jobs": "policy_id=" + f.values["webhook_policy_id"] + "&",
				}[op.Path]
				st, body := hostileGet(t, srv, path+"page=1&page_size=1")
				if st != http.StatusOK {
					t.Logf("GET %s page 1: skipped, %d %.200s", path, st, body)
					continue
				}
				if st, _ := hostileGet(t, srv, path+"page=x"); st != http.StatusBadRequest {
					continue // not a paged listing
				}
				listings++
				for _, q := range []string{"page=9223372036854775807&page_size=100", "page=9223372036854775807", "page=92233720368547758&page_size=100", "page=21474838&page_size=100"} {
					st, body := hostileGet(t, srv, path+q)
					if st != http.StatusBadRequest || !strings.Contains(body, `"code":"BAD_REQUEST"`) {
						t.Errorf("GET %s%s: %d %.200s, want 400 BAD_REQUEST", path, q, st, body)
					}
				}
				if st, body := hostileGet(t, srv, path+"page=21474837&page_size=100"); st != http.StatusOK || strings.TrimSpace(body) != "[]" {
					t.Errorf("GET %spage=21474837&page_size=100: %d %.200s, want 200 []", path, st, body)
				}
			}
			if listings < 15 {
				t.Errorf("only %d listings checked", listings)
			}
			t.Logf("%d listings checked", listings)
		})
	}
}
