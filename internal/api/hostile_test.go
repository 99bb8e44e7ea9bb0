package api_test

import (
	"fmt"
	"net/http"
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
