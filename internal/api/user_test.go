package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// uCreateBody is a valid UserCreationReq for name, changed by edits.
func uCreateBody(name string, edits ...func(m map[string]any)) string {
	m := map[string]any{"username": name, "email": name + "@example.com", "realname": "Real " + name,
		"password": uPassAlice, "comment": "made by a test"}
	for _, e := range edits {
		e(m)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func uSet(k string, v any) func(map[string]any) { return func(m map[string]any) { m[k] = v } }

func TestUserCreate(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)

			r := uDo(t, srv, "POST", "/api/v2.0/users", uAdmin(), uCreateBody("alice"))
			uExpect(t, "create alice", r, http.StatusCreated, "")
			loc := r.header.Get("Location")
			if !strings.HasPrefix(loc, "/api/v2.0/users/") {
				t.Fatalf("Location %q", loc)
			}
			var got api.UserResp
			uJSON(t, uDo(t, srv, "GET", loc, uAdmin(), ""), &got)
			if got.Username != "alice" || got.Email != "alice@example.com" || got.Realname != "Real alice" ||
				got.Comment != "made by a test" || got.SysadminFlag || got.UserID == 0 || got.CreationTime == "" {
				t.Fatalf("created user: %+v", got)
			}
			uWaitAudit(t, srv, "admin", "create", "user", "alice")
			// The new user can sign in with the password given.
			uExpect(t, "alice signs in", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("alice", uPassAlice), ""), http.StatusOK, "")

			long := strings.Repeat("x", 255)
			uExpect(t, "255-character name", uDo(t, srv, "POST", "/api/v2.0/users", uAdmin(),
				uCreateBody(long, uSet("email", "long@example.com"), uSet("realname", "Long"))), http.StatusCreated, "")

			before := uUserCount(t, srv)
			bad := []struct {
				name, body string
				status     int
			}{
				{"malformed JSON", `{"username":"zed",`, 400},
				{"not an object", `["zed"]`, 400},
				{"empty body", ``, 400},
				{"trailing data", uCreateBody("zed") + `{}`, 400},
				{"unknown field", uCreateBody("zed", uSet("sysadmin_flag", true)), 400},
				{"username wrong type", uCreateBody("zed", uSet("username", 5)), 400},
				{"password wrong type", uCreateBody("zed", uSet("password", 12345678)), 400},
				{"email wrong type", uCreateBody("zed", uSet("email", []string{"a"})), 400},
				{"username missing", uCreateBody("", uSet("email", "zed@example.com")), 400},
				{"username too long", uCreateBody(strings.Repeat("y", 256), uSet("email", "y@example.com")), 400},
				{"username comma", uCreateBody("ze,d"), 400},
				{"username quote", uCreateBody(`ze"d`), 400},
				{"username tilde", uCreateBody("ze~d"), 400},
				{"username hash", uCreateBody("ze#d"), 400},
				{"username dollar", uCreateBody("ze$d"), 400},
				{"username percent", uCreateBody("ze%d"), 400},
				{"username colon", uCreateBody("ze:d"), 400},
				{"username newline", uCreateBody("ze\nd"), 400},
				{"robot name", uCreateBody("robot$zed"), 400},
				{"password too short", uCreateBody("zed", uSet("password", "Abcde12")), 400},
				{"password too long", uCreateBody("zed", uSet("password", "Aa1"+strings.Repeat("x", 126))), 400},
				{"password without upper case", uCreateBody("zed", uSet("password", "abcdefg12")), 400},
				{"password without lower case", uCreateBody("zed", uSet("password", "ABCDEFG12")), 400},
				{"password without digit", uCreateBody("zed", uSet("password", "Abcdefghi")), 400},
				{"password empty", uCreateBody("zed", uSet("password", "")), 400},
				{"email missing", uCreateBody("zed", uSet("email", "")), 400},
				{"email without @", uCreateBody("zed", uSet("email", "zed.example.com")), 400},
				{"email without domain dot", uCreateBody("zed", uSet("email", "zed@example")), 400},
				{"email with space", uCreateBody("zed", uSet("email", "z ed@example.com")), 400},
				{"email too long", uCreateBody("zed", uSet("email", strings.Repeat("z", 250)+"@example.com")), 400},
				{"realname missing", uCreateBody("zed", uSet("realname", "")), 400},
				{"realname illegal character", uCreateBody("zed", uSet("realname", "Zed #1")), 400},
				{"realname too long", uCreateBody("zed", uSet("realname", strings.Repeat("r", 256))), 400},
				{"comment too long", uCreateBody("zed", uSet("comment", strings.Repeat("c", 31))), 400},
				{"duplicate username", uCreateBody("alice", uSet("email", "other@example.com")), 409},
				{"duplicate email, other case", uCreateBody("zed", uSet("email", "ALICE@example.com")), 409},
				{"oversized body", uCreateBody("zed", uSet("comment", strings.Repeat("c", 1<<20))), 413},
			}
			for _, tc := range bad {
				r := uDo(t, srv, "POST", "/api/v2.0/users", uAdmin(), tc.body)
				if r.status != tc.status {
					t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
				}
				if r.code() == "" {
					t.Errorf("%s: no Harbor error body: %s", tc.name, r.body)
				}
			}
			req, _ := http.NewRequest("POST", srv.URL+"/api/v2.0/users", strings.NewReader(uCreateBody("zed")))
			req.Header.Set("Content-Type", "text/plain")
			uAuthorize(req, uAdmin())
			uExpect(t, "wrong content type", uSend(t, req), http.StatusBadRequest, "BAD_REQUEST")
			if n := uUserCount(t, srv); n != before {
				t.Fatalf("rejected requests changed the user count: %d, want %d", n, before)
			}
			if _, err := srv.App.DB.UserByName(context.Background(), "zed"); err == nil {
				t.Fatal("user zed was created by a rejected request")
			}
		})
	}
}

func TestUserAccess(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			alice := uMakeUser(t, srv, "alice", uPassAlice, false)
			bob := uMakeUser(t, srv, "bob", uPassBob, false)
			other := uMakeUser(t, srv, "admin2", uPassOther, true)
			admin, err := srv.App.DB.UserByName(ctx, "admin")
			if err != nil {
				t.Fatal(err)
			}
			// A system robot allowed to list and read users, and one with no system rights.
			robotAuth := uMakeRobot(t, srv, "robot$users", `[{"kind":"system","namespace":"/","access":[{"resource":"user","action":"list"},{"resource":"user","action":"read"}]}]`)
			plainRobot := uMakeRobot(t, srv, "robot$plain", `[{"kind":"project","namespace":"library","access":[{"resource":"repository","action":"pull"}]}]`)

			asAlice, asBob, asOther := uBasic("alice", uPassAlice), uBasic("bob", uPassBob), uBasic("admin2", uPassOther)
			u := func(id int64, suffix string) string { return fmt.Sprintf("/api/v2.0/users/%d%s", id, suffix) }
			profile := func(name string) string {
				return fmt.Sprintf(`{"email":"%s@example.org","realname":"New %s","comment":"updated"}`, name, name)
			}
			cases := []struct {
				name         string
				method, path string
				as           uAuth
				body         string
				status       int
				code         string
			}{
				{"anonymous lists users", "GET", "/api/v2.0/users", uAnon, "", 401, "UNAUTHORIZED"},
				{"user lists users", "GET", "/api/v2.0/users", asAlice, "", 403, "FORBIDDEN"},
				{"admin lists users", "GET", "/api/v2.0/users", uAdmin(), "", 200, ""},
				{"robot with user:list lists users", "GET", "/api/v2.0/users", robotAuth, "", 200, ""},
				{"robot without it", "GET", "/api/v2.0/users", plainRobot, "", 403, "FORBIDDEN"},
				{"bad credentials", "GET", "/api/v2.0/users", uBasic("alice", "wrong"), "", 401, "UNAUTHORIZED"},

				{"anonymous creates user", "POST", "/api/v2.0/users", uAnon, uCreateBody("zed"), 401, "UNAUTHORIZED"},
				{"user creates user", "POST", "/api/v2.0/users", asAlice, uCreateBody("zed"), 403, "FORBIDDEN"},
				{"robot creates user", "POST", "/api/v2.0/users", robotAuth, uCreateBody("zed"), 403, "FORBIDDEN"},

				{"anonymous current user", "GET", "/api/v2.0/users/current", uAnon, "", 401, "UNAUTHORIZED"},
				{"robot current user", "GET", "/api/v2.0/users/current", robotAuth, "", 412, "PRECONDITION"},

				{"anonymous reads user", "GET", u(bob, ""), uAnon, "", 401, "UNAUTHORIZED"},
				{"user reads other user", "GET", u(bob, ""), asAlice, "", 403, "FORBIDDEN"},
				{"user reads missing user", "GET", u(999999, ""), asAlice, "", 403, "FORBIDDEN"},
				{"user reads self", "GET", u(bob, ""), asBob, "", 200, ""},
				{"admin reads user", "GET", u(bob, ""), uAdmin(), "", 200, ""},
				{"robot with user:read", "GET", u(bob, ""), robotAuth, "", 200, ""},
				{"admin reads missing user", "GET", u(999999, ""), uAdmin(), "", 404, "NOT_FOUND"},
				{"bad user id", "GET", "/api/v2.0/users/abc", uAdmin(), "", 400, "BAD_REQUEST"},
				{"zero user id", "GET", "/api/v2.0/users/0", uAdmin(), "", 400, "BAD_REQUEST"},

				{"anonymous updates profile", "PUT", u(bob, ""), uAnon, profile("bob"), 401, "UNAUTHORIZED"},
				{"user updates other profile", "PUT", u(bob, ""), asAlice, profile("bob"), 403, "FORBIDDEN"},
				{"robot with read only updates", "PUT", u(bob, ""), robotAuth, profile("bob"), 403, "FORBIDDEN"},
				{"user updates own profile", "PUT", u(bob, ""), asBob, profile("bob"), 200, ""},
				{"admin updates profile", "PUT", u(alice, ""), uAdmin(), profile("alice"), 200, ""},
				{"admin updates missing user", "PUT", u(999999, ""), uAdmin(), profile("nobody"), 404, "NOT_FOUND"},
				{"profile malformed", "PUT", u(bob, ""), asBob, `{"email":`, 400, "BAD_REQUEST"},
				{"profile unknown field", "PUT", u(bob, ""), asBob, `{"email":"b@example.org","realname":"B","username":"root"}`, 400, "BAD_REQUEST"},
				{"profile sysadmin field", "PUT", u(bob, ""), asBob, `{"email":"b@example.org","realname":"B","sysadmin_flag":true}`, 400, "BAD_REQUEST"},
				{"profile wrong type", "PUT", u(bob, ""), asBob, `{"email":"b@example.org","realname":7}`, 400, "BAD_REQUEST"},
				{"profile bad email", "PUT", u(bob, ""), asBob, `{"email":"nope","realname":"B"}`, 400, "BAD_REQUEST"},
				{"profile no email", "PUT", u(bob, ""), asBob, `{"realname":"B"}`, 400, "BAD_REQUEST"},
				{"profile bad realname", "PUT", u(bob, ""), asBob, `{"email":"b@example.org","realname":"B%"}`, 400, "BAD_REQUEST"},
				{"profile long comment", "PUT", u(bob, ""), asBob, `{"email":"b@example.org","realname":"B","comment":"` + strings.Repeat("c", 31) + `"}`, 400, "BAD_REQUEST"},
				{"profile taken email", "PUT", u(bob, ""), asBob, `{"email":"ALICE@example.org","realname":"B"}`, 409, "CONFLICT"},

				{"anonymous sets sysadmin", "PUT", u(bob, "/sysadmin"), uAnon, `{"sysadmin_flag":true}`, 401, "UNAUTHORIZED"},
				{"user sets sysadmin", "PUT", u(bob, "/sysadmin"), asBob, `{"sysadmin_flag":true}`, 403, "FORBIDDEN"},
				{"admin sets own sysadmin", "PUT", u(admin.ID, "/sysadmin"), uAdmin(), `{"sysadmin_flag":false}`, 403, "FORBIDDEN"},
				// go-client marshals UserSysAdminFlag with omitempty: false is {} (Harbor: not admin).
				{"sysadmin flag missing", "PUT", u(bob, "/sysadmin"), uAdmin(), `{}`, 200, ""},
				{"sysadmin flag wrong type", "PUT", u(bob, "/sysadmin"), uAdmin(), `{"sysadmin_flag":"yes"}`, 400, "BAD_REQUEST"},
				{"sysadmin unknown field", "PUT", u(bob, "/sysadmin"), uAdmin(), `{"sysadmin_flag":true,"x":1}`, 400, "BAD_REQUEST"},
				{"sysadmin missing user", "PUT", u(999999, "/sysadmin"), uAdmin(), `{"sysadmin_flag":true}`, 404, "NOT_FOUND"},

				{"anonymous deletes user", "DELETE", u(bob, ""), uAnon, "", 401, "UNAUTHORIZED"},
				{"user deletes user", "DELETE", u(bob, ""), asAlice, "", 403, "FORBIDDEN"},
				{"user deletes self", "DELETE", u(bob, ""), asBob, "", 403, "FORBIDDEN"},
				{"admin deletes self", "DELETE", u(other, ""), asOther, "", 403, "FORBIDDEN"},
				{"admin deletes user 1", "DELETE", u(1, ""), asOther, "", 403, "FORBIDDEN"},
				{"admin deletes missing user", "DELETE", u(999999, ""), uAdmin(), "", 404, "NOT_FOUND"},

				{"cli secret (db_auth)", "PUT", u(bob, "/cli_secret"), asBob, `{"secret":"Cli-Secret-123"}`, 412, "PRECONDITION"},
				{"cli secret as admin", "PUT", u(bob, "/cli_secret"), uAdmin(), `{"secret":"Cli-Secret-123"}`, 412, "PRECONDITION"},
				{"cli secret anonymous", "PUT", u(bob, "/cli_secret"), uAnon, `{"secret":"Cli-Secret-123"}`, 401, "UNAUTHORIZED"},
			}
			for _, tc := range cases {
				r := uDo(t, srv, tc.method, tc.path, tc.as, tc.body)
				if r.status != tc.status || (tc.code != "" && r.code() != tc.code) {
					t.Errorf("%s: %s %s: got %d %q, want %d %q: %s", tc.name, tc.method, tc.path, r.status, r.code(), tc.status, tc.code, r.body)
				}
			}
			if _, err := srv.App.DB.UserByName(ctx, "zed"); err == nil {
				t.Fatal("a refused request created user zed")
			}
			if u, _ := srv.App.DB.UserByID(ctx, bob); u == nil || u.SysAdmin || u.Email != "bob@example.org" || u.Realname != "New bob" || u.Comment != "updated" {
				t.Fatalf("bob after the table: %+v", u)
			}
			if u, _ := srv.App.DB.UserByID(ctx, 1); u == nil {
				t.Fatal("user 1 was deleted")
			}
			uWaitAudit(t, srv, "bob", "update", "user", "bob")
			uWaitAudit(t, srv, "admin", "update", "user", "alice")

			// The current user is the caller, with Harbor's fields only.
			r := uDo(t, srv, "GET", "/api/v2.0/users/current", asAlice, "")
			uExpect(t, "current", r, 200, "")
			var cur map[string]any
			uJSON(t, r, &cur)
			if cur["username"] != "alice" || cur["user_id"] != float64(alice) || cur["sysadmin_flag"] != false {
				t.Fatalf("current user: %v", cur)
			}
			for k := range cur {
				switch k {
				case "email", "realname", "comment", "user_id", "username", "sysadmin_flag", "admin_role_in_auth", "creation_time", "update_time":
				default:
					t.Errorf("current user has field %q", k)
				}
			}

			// Granting sysadmin takes effect at once, also for cached Basic logins.
			uExpect(t, "grant", uDo(t, srv, "PUT", u(bob, "/sysadmin"), uAdmin(), `{"sysadmin_flag":true}`), 200, "")
			uExpect(t, "bob lists users", uDo(t, srv, "GET", "/api/v2.0/users", asBob, ""), 200, "")
			var br api.UserResp
			uJSON(t, uDo(t, srv, "GET", u(bob, ""), uAdmin(), ""), &br)
			if !br.SysadminFlag {
				t.Fatal("sysadmin_flag not set")
			}
			uExpect(t, "revoke", uDo(t, srv, "PUT", u(bob, "/sysadmin"), uAdmin(), `{"sysadmin_flag":false}`), 200, "")
			uExpect(t, "bob lists users after revoke", uDo(t, srv, "GET", "/api/v2.0/users", asBob, ""), 403, "FORBIDDEN")

			// go-client revokes with {} (sysadmin_flag false is omitted).
			uExpect(t, "grant again", uDo(t, srv, "PUT", u(bob, "/sysadmin"), uAdmin(), `{"sysadmin_flag":true}`), 200, "")
			uExpect(t, "bob lists users again", uDo(t, srv, "GET", "/api/v2.0/users", asBob, ""), 200, "")
			uExpect(t, "revoke as go-client sends it", uDo(t, srv, "PUT", u(bob, "/sysadmin"), uAdmin(), `{}`), 200, "")
			uExpect(t, "bob lists users after {}", uDo(t, srv, "GET", "/api/v2.0/users", asBob, ""), 403, "FORBIDDEN")
		})
	}
}

// uMakeRobot creates a system robot with perms and returns its credentials.
func uMakeRobot(t *testing.T, srv *testserver.InProcess, name, perms string) uAuth {
	t.Helper()
	const secret = "Robot-Secret-9"
	hash, err := auth.HashPassword(secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.App.DB.CreateRobot(context.Background(), store.Robot{
		Name: name, Level: "system", SecretHash: hash, Duration: -1, ExpiresAt: -1, Permissions: perms,
	}); err != nil {
		t.Fatal(err)
	}
	return uBasic(name, secret)
}

func TestUserPassword(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			alice := uMakeUser(t, srv, "alice", uPassAlice, false)
			bob := uMakeUser(t, srv, "bob", uPassBob, false)
			path := fmt.Sprintf("/api/v2.0/users/%d/password", alice)
			asAlice := uBasic("alice", uPassAlice)
			pw := func(old, new string) string { return fmt.Sprintf(`{"old_password":%q,"new_password":%q}`, old, new) }

			// Prime the Basic credential cache: the change must still take effect at once.
			uExpect(t, "alice before", uDo(t, srv, "GET", "/api/v2.0/users/current", asAlice, ""), 200, "")
			cases := []struct {
				name   string
				path   string
				as     uAuth
				body   string
				status int
			}{
				{"anonymous", path, uAnon, pw(uPassAlice, uPassNew), 401},
				{"other user", path, uBasic("bob", uPassBob), pw(uPassAlice, uPassNew), 403},
				{"wrong old password", path, asAlice, pw("Wrong-Pass-1", uPassNew), 403},
				{"no old password", path, asAlice, `{"new_password":"` + uPassNew + `"}`, 403},
				{"weak new password", path, asAlice, pw(uPassAlice, "weakpass"), 400},
				{"short new password", path, asAlice, pw(uPassAlice, "Ab1"), 400},
				{"same as old", path, asAlice, pw(uPassAlice, uPassAlice), 400},
				{"malformed", path, asAlice, `{"old_password":`, 400},
				{"unknown field", path, asAlice, `{"old_password":"a","new_password":"b","x":1}`, 400},
				{"wrong type", path, asAlice, `{"old_password":1,"new_password":2}`, 400},
				{"missing user", "/api/v2.0/users/999999/password", uAdmin(), pw("", uPassNew), 404},
				{"bad id", "/api/v2.0/users/x/password", uAdmin(), pw("", uPassNew), 400},
			}
			for _, tc := range cases {
				r := uDo(t, srv, "PUT", tc.path, tc.as, tc.body)
				if r.status != tc.status {
					t.Errorf("%s: status %d, want %d: %s", tc.name, r.status, tc.status, r.body)
				}
			}
			uExpect(t, "password unchanged", uDo(t, srv, "GET", "/api/v2.0/users/current", asAlice, ""), 200, "")

			uExpect(t, "change", uDo(t, srv, "PUT", path, asAlice, pw(uPassAlice, uPassNew)), 200, "")
			uExpect(t, "old password", uDo(t, srv, "GET", "/api/v2.0/users/current", asAlice, ""), 401, "UNAUTHORIZED")
			uExpect(t, "new password", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("alice", uPassNew), ""), 200, "")
			uWaitAudit(t, srv, "alice", "update", "user", "alice")

			// An administrator resets another user's password without the old one.
			bobPath := fmt.Sprintf("/api/v2.0/users/%d/password", bob)
			uExpect(t, "admin reset", uDo(t, srv, "PUT", bobPath, uAdmin(), `{"new_password":"`+uPassOther+`"}`), 200, "")
			uExpect(t, "bob old", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("bob", uPassBob), ""), 401, "")
			uExpect(t, "bob new", uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("bob", uPassOther), ""), 200, "")
			// ... but must give their own old password for themselves.
			adminPath := "/api/v2.0/users/1/password"
			uExpect(t, "admin own without old", uDo(t, srv, "PUT", adminPath, uAdmin(), `{"new_password":"`+uPassNew+`"}`), 403, "FORBIDDEN")
		})
	}
}

func TestUserListing(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			for _, n := range []string{"alice", "malik", "alina", "bob"} {
				uMakeUser(t, srv, n, uPassAlice, false)
			}
			var users []api.UserResp
			r := uDo(t, srv, "GET", "/api/v2.0/users?q=username%3D~ali&page_size=2", uAdmin(), "")
			uExpect(t, "page 1", r, 200, "")
			uJSON(t, r, &users)
			if r.header.Get("X-Total-Count") != "3" || len(users) != 2 || users[0].Username != "alice" || users[1].Username != "malik" {
				t.Fatalf("page 1: total %s, %+v", r.header.Get("X-Total-Count"), users)
			}
			if l := r.header.Get("Link"); !strings.Contains(l, `rel="next"`) || strings.Contains(l, `rel="prev"`) || !strings.Contains(l, "page=2") {
				t.Fatalf("page 1 Link: %q", l)
			}
			r = uDo(t, srv, "GET", "/api/v2.0/users?q=username%3D~ali&page_size=2&page=2", uAdmin(), "")
			uJSON(t, r, &users)
			if len(users) != 1 || users[0].Username != "alina" || !strings.Contains(r.header.Get("Link"), `rel="prev"`) {
				t.Fatalf("page 2: %+v, Link %q", users, r.header.Get("Link"))
			}
			r = uDo(t, srv, "GET", "/api/v2.0/users?q=username%3D~ali&page=3&page_size=2", uAdmin(), "")
			if uExpect(t, "past the end", r, 200, ""); strings.TrimSpace(string(r.body)) != "[]" {
				t.Fatalf("past the end: %s", r.body)
			}
			r = uDo(t, srv, "GET", "/api/v2.0/users?sort=-username&page_size=100", uAdmin(), "")
			uJSON(t, r, &users)
			names := []string{}
			for _, u := range users {
				names = append(names, u.Username)
			}
			if strings.Join(names, ",") != "malik,bob,alina,alice,admin" || r.header.Get("X-Total-Count") != "5" {
				t.Fatalf("sorted by -username: %v", names)
			}
			r = uDo(t, srv, "GET", "/api/v2.0/users?q=username%3Dbob", uAdmin(), "")
			if uJSON(t, r, &users); len(users) != 1 || users[0].Username != "bob" || users[0].Email != "bob@example.com" {
				t.Fatalf("exact match: %+v", users)
			}
			r = uDo(t, srv, "GET", "/api/v2.0/users?username=lin", uAdmin(), "") // Harbor's legacy filter
			if uJSON(t, r, &users); len(users) != 1 || users[0].Username != "alina" {
				t.Fatalf("username= filter: %+v", users)
			}
			for _, bad := range []string{"?q=password%3Dx", "?sort=password_hash", "?page_size=-1", "?page_size=101", "?page=-1", "?q=user_id%3Dabc"} {
				uExpect(t, "bad listing "+bad, uDo(t, srv, "GET", "/api/v2.0/users"+bad, uAdmin(), ""), 400, "BAD_REQUEST")
			}

			// Search: any signed-in user, names and IDs only.
			asBob := uBasic("bob", uPassAlice)
			r = uDo(t, srv, "GET", "/api/v2.0/users/search?username=ali&page_size=2", asBob, "")
			uExpect(t, "search", r, 200, "")
			var hits []map[string]any
			uJSON(t, r, &hits)
			if len(hits) != 2 || r.header.Get("X-Total-Count") != "3" || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
				t.Fatalf("search: %v, total %s", hits, r.header.Get("X-Total-Count"))
			}
			for _, h := range hits {
				if len(h) != 2 || h["username"] == nil || h["user_id"] == nil {
					t.Fatalf("search hit has other fields than user_id and username: %v", h)
				}
			}
			r = uDo(t, srv, "GET", "/api/v2.0/users/search?username=nobody", asBob, "")
			if uExpect(t, "search none", r, 200, ""); strings.TrimSpace(string(r.body)) != "[]" || r.header.Get("X-Total-Count") != "0" {
				t.Fatalf("empty search: %s", r.body)
			}
			r = uDo(t, srv, "GET", "/api/v2.0/users/search?username=%25", asBob, "") // % is a literal, not a wildcard
			if strings.TrimSpace(string(r.body)) != "[]" {
				t.Fatalf("search for %%: %s", r.body)
			}
			uExpect(t, "search anonymous", uDo(t, srv, "GET", "/api/v2.0/users/search?username=ali", uAnon, ""), 401, "UNAUTHORIZED")
			uExpect(t, "search without username", uDo(t, srv, "GET", "/api/v2.0/users/search", asBob, ""), 400, "BAD_REQUEST")
			uExpect(t, "search bad page", uDo(t, srv, "GET", "/api/v2.0/users/search?username=a&page=x", asBob, ""), 400, "BAD_REQUEST")
		})
	}
}

func TestUserSelfRegistration(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			uMakeUser(t, srv, "alice", uPassAlice, false)
			asAlice := uBasic("alice", uPassAlice)
			uExpect(t, "off: anonymous", uDo(t, srv, "POST", "/api/v2.0/users", uAnon, uCreateBody("newbie")), 401, "UNAUTHORIZED")
			uExpect(t, "off: user", uDo(t, srv, "POST", "/api/v2.0/users", asAlice, uCreateBody("newbie")), 403, "FORBIDDEN")

			uExpect(t, "user cannot turn it on", uDo(t, srv, "PUT", "/api/v2.0/configurations", asAlice, `{"self_registration":true}`), 403, "")
			uExpect(t, "turn on", uDo(t, srv, "PUT", "/api/v2.0/configurations", uAdmin(), `{"self_registration":true}`), 200, "")
			r := uDo(t, srv, "POST", "/api/v2.0/users", uAnon, uCreateBody("newbie"))
			uExpect(t, "on: anonymous registers", r, 201, "")
			uExpect(t, "on: user registers another", uDo(t, srv, "POST", "/api/v2.0/users", asAlice, uCreateBody("newbie2")), 201, "")
			uExpect(t, "on: still validated", uDo(t, srv, "POST", "/api/v2.0/users", uAnon, uCreateBody("weak", uSet("password", "weak"))), 400, "")
			uExpect(t, "on: unknown field", uDo(t, srv, "POST", "/api/v2.0/users", uAnon, uCreateBody("boss", uSet("sysadmin_flag", true))), 400, "")
			var me api.UserResp
			uJSON(t, uDo(t, srv, "GET", "/api/v2.0/users/current", uBasic("newbie", uPassAlice), ""), &me)
			if me.Username != "newbie" || me.SysadminFlag {
				t.Fatalf("self-registered user: %+v", me)
			}
			uWaitAudit(t, srv, "anonymous", "create", "user", "newbie")

			uExpect(t, "turn off", uDo(t, srv, "PUT", "/api/v2.0/configurations", uAdmin(), `{"self_registration":false}`), 200, "")
			uExpect(t, "off again", uDo(t, srv, "POST", "/api/v2.0/users", uAnon, uCreateBody("late")), 401, "")
			uExpect(t, "admin still can", uDo(t, srv, "POST", "/api/v2.0/users", uAdmin(), uCreateBody("late")), 201, "")
		})
	}
}

func TestUserDelete(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			carol := uMakeUser(t, srv, "carol", uPassAlice, false)
			lib, err := srv.App.DB.ProjectByName(ctx, "library")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.App.DB.AddMember(ctx, store.Member{ProjectID: lib.ID, EntityType: store.EntityUser, EntityID: carol, Role: int(rbac.Developer)}); err != nil {
				t.Fatal(err)
			}
			sess := uSession(t, srv, "carol", uPassAlice)
			asCarol := uBasic("carol", uPassAlice)
			uExpect(t, "carol's session", uDo(t, srv, "GET", "/api/v2.0/users/current", sess, ""), 200, "")
			uExpect(t, "carol's basic", uDo(t, srv, "GET", "/api/v2.0/users/current", asCarol, ""), 200, "")

			path := fmt.Sprintf("/api/v2.0/users/%d", carol)
			uExpect(t, "delete", uDo(t, srv, "DELETE", path, uAdmin(), ""), 200, "")
			uExpect(t, "gone", uDo(t, srv, "GET", path, uAdmin(), ""), 404, "NOT_FOUND")
			uExpect(t, "again", uDo(t, srv, "DELETE", path, uAdmin(), ""), 404, "NOT_FOUND")
			uExpect(t, "session ended", uDo(t, srv, "GET", "/api/v2.0/users/current", sess, ""), 401, "UNAUTHORIZED")
			uExpect(t, "basic refused", uDo(t, srv, "GET", "/api/v2.0/users/current", asCarol, ""), 401, "UNAUTHORIZED")
			if roles, err := srv.App.DB.MemberRoles(ctx, lib.ID, carol); err != nil || len(roles) != 0 {
				t.Fatalf("memberships after delete: %v %v", roles, err)
			}
			uWaitAudit(t, srv, "admin", "delete", "user", "carol")

			// The name is free again, and the new account inherits nothing.
			again := uMakeUser(t, srv, "carol", uPassAlice, false)
			if again == carol {
				t.Fatal("user ID reused")
			}
			if roles, _ := srv.App.DB.MemberRoles(ctx, lib.ID, again); len(roles) != 0 {
				t.Fatalf("new carol inherited roles %v", roles)
			}
		})
	}
}

func TestUserPermissions(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			ctx := context.Background()
			alice := uMakeUser(t, srv, "alice", uPassAlice, false)
			uMakeUser(t, srv, "bob", uPassBob, false)
			lib, _ := srv.App.DB.ProjectByName(ctx, "library")
			secret, err := srv.App.DB.CreateProject(ctx, store.Project{Name: "secret"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.App.DB.AddMember(ctx, store.Member{ProjectID: secret, EntityType: store.EntityUser, EntityID: alice, Role: int(rbac.ProjectAdmin)}); err != nil {
				t.Fatal(err)
			}
			asAlice, asBob := uBasic("alice", uPassAlice), uBasic("bob", uPassBob)

			// GET /permissions: what robots can be given.
			var perms struct {
				System  []api.Permission `json:"system"`
				Project []api.Permission `json:"project"`
			}
			r := uDo(t, srv, "GET", "/api/v2.0/permissions", uAdmin(), "")
			uExpect(t, "admin permissions", r, 200, "")
			uJSON(t, r, &perms)
			uSameSet(t, "system", perms.System, rbac.RobotSystemAssignable)
			uSameSet(t, "project", perms.Project, rbac.RobotProjectAssignable)
			r = uDo(t, srv, "GET", "/api/v2.0/permissions", asAlice, "")
			uExpect(t, "project admin permissions", r, 200, "")
			if strings.Contains(string(r.body), `"system"`) {
				t.Fatalf("a project admin sees system permissions: %s", r.body)
			}
			perms.Project = nil
			uJSON(t, r, &perms)
			uSameSet(t, "project (project admin)", perms.Project, rbac.RobotProjectAssignable)
			uExpect(t, "plain user", uDo(t, srv, "GET", "/api/v2.0/permissions", asBob, ""), 403, "FORBIDDEN")
			uExpect(t, "anonymous", uDo(t, srv, "GET", "/api/v2.0/permissions", uAnon, ""), 401, "UNAUTHORIZED")

			// GET /users/current/permissions in Harbor's scope format.
			has := func(list []api.Permission, res, act string) bool {
				for _, p := range list {
					if p.Resource == res && p.Action == act {
						return true
					}
				}
				return false
			}
			get := func(as uAuth, q string) []api.Permission {
				t.Helper()
				r := uDo(t, srv, "GET", "/api/v2.0/users/current/permissions"+q, as, "")
				uExpect(t, "permissions "+q, r, 200, "")
				var out []api.Permission
				uJSON(t, r, &out)
				return out
			}
			libScope := fmt.Sprintf("?scope=/project/%d", lib.ID)
			if p := get(uAdmin(), libScope+"&relative=true"); !has(p, "repository", "push") || !has(p, "member", "create") {
				t.Fatalf("admin in library (relative): %v", p)
			}
			if p := get(uAdmin(), libScope); !has(p, fmt.Sprintf("/project/%d/repository", lib.ID), "push") {
				t.Fatalf("admin in library (absolute): %v", p)
			}
			if p := get(asBob, libScope+"&relative=true"); !has(p, "repository", "pull") || has(p, "repository", "push") || has(p, "member", "create") {
				t.Fatalf("bob in public library: %v", p)
			}
			secretScope := fmt.Sprintf("?scope=/project/%d&relative=true", secret)
			if p := get(asAlice, secretScope); !has(p, "repository", "push") || !has(p, "member", "create") {
				t.Fatalf("alice (project admin) in secret: %v", p)
			}
			if p := get(asBob, secretScope); len(p) != 0 {
				t.Fatalf("bob in a private project he is not in: %v", p)
			}
			if p := get(asBob, "?scope=/project/999999&relative=true"); len(p) != 0 {
				t.Fatalf("missing project: %v", p)
			}
			if p := get(uAdmin(), "?scope=/system&relative=true"); !has(p, "user", "create") || !has(p, "configuration", "update") {
				t.Fatalf("admin in /system: %v", p)
			}
			if p := get(asAlice, "?scope=/system"); len(p) != 0 {
				t.Fatalf("alice in /system: %v", p)
			}
			if p := get(asAlice, "?scope=/nonsense"); len(p) != 0 {
				t.Fatalf("unknown scope: %v", p)
			}
			if p := get(asAlice, ""); len(p) != 0 {
				t.Fatalf("no scope: %v", p)
			}
			uExpect(t, "bad relative", uDo(t, srv, "GET", "/api/v2.0/users/current/permissions"+libScope+"&relative=maybe", asAlice, ""), 400, "BAD_REQUEST")
			uExpect(t, "anonymous", uDo(t, srv, "GET", "/api/v2.0/users/current/permissions"+libScope, uAnon, ""), 401, "UNAUTHORIZED")
		})
	}
}

// uSameSet checks that list holds exactly the permissions of want.
func uSameSet(t *testing.T, what string, list []api.Permission, want rbac.Set) {
	t.Helper()
	got := rbac.Set{}
	for _, p := range list {
		got[rbac.Permission{Resource: rbac.Resource(p.Resource), Action: rbac.Action(p.Action)}] = true
	}
	if len(got) != len(list) || len(got) != len(want) {
		t.Fatalf("%s: %d permissions (%d distinct), want %d", what, len(list), len(got), len(want))
	}
	for p := range want {
		if !got[p] {
			t.Fatalf("%s: missing %v", what, p)
		}
	}
}
