package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

// credKind is one way of presenting credentials to the API, and whose
// answers it must get: like >= 0 is a principal of the matrix (its row
// answers apply), like < 0 means 401 on every operation.
type credKind struct {
	name string
	a    func() uAuth
	like mxWho
	// basic marks a stale Basic credential: refused with 401, and with 429
	// once the throttle has seen enough failures of it.
	basic bool
}

func fixed(a uAuth) func() uAuth { return func() uAuth { return a } }

const mxNoOne mxWho = -1

// TestEveryCredentialKind drives every API operation with every kind of
// credential the API might be shown, beyond the matrix's Basic logins:
//   - sessions of the matrix's users and of the administrator, which must
//     get exactly the answers of the same user's Basic login;
//   - registry tokens of each scope (the administrator's for everything,
//     a project admin's push token, an anonymous pull token, a robot's),
//     which the API never accepts (401): they are credentials for /v2;
//   - credentials whose account changed after they were verified and
//     cached: a demoted administrator (Basic and session: the answers of a
//     user without a role), a deleted administrator and one whose password
//     was reset (Basic with the old password and the old session: 401), a
//     disabled robot and one whose secret was refreshed (401).
//
// Any answer the live account would not get fails the test.
func TestEveryCredentialKind(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newMXEnv(t, backend)
			kinds := e.credentialKinds()
			rows := append(append(append(append(mxRows(), retentionMXRows()...), webhookMXRows()...), jobsMXRows()...), gcMXRows()...)
			checked := 0
			refused := make([]int, len(kinds))
			for _, op := range e.srv.App.API.Operations() {
				tmpl := mxTemplate(op.Path)
				for i := range rows {
					row := &rows[i]
					if row.op != op.ID {
						continue
					}
					for ki := range kinds {
						k := &kinds[ki]
						if k.like == mxNobody && row.op == "updateUserPassword" && row.variant == "self" {
							// nobody's own password change would end the
							// session started before the demotion; the
							// matrix checks that row.
							continue
						}
						who := k.like
						if who < 0 {
							who = mxNobody
						}
						q := row.req(e, who)
						if !tmpl.MatchString(q.path) {
							t.Fatalf("%s: request path %s does not match the operation's template", row.name(), q.path)
						}
						r := e.callAs(op.Method, q.path, k.a(), q.body)
						if row.after != nil {
							row.after(e, who, r)
						}
						checked++
						var ok bool
						if k.like < 0 {
							ok = r.status == http.StatusUnauthorized || k.basic && r.status == http.StatusTooManyRequests && refused[ki] >= 10
							if r.status == http.StatusUnauthorized {
								refused[ki]++
							}
						} else {
							want := strings.Fields(row.want)[k.like]
							ok = mxMatches(want, r.status, row, q, k.like)
						}
						if !ok {
							want := "401"
							if k.like >= 0 {
								want = mxWord(strings.Fields(row.want)[k.like]) + " (as " + k.like.String() + ")"
							}
							t.Errorf("%s with %s: %s %s answered %d %.200s; want %s", row.name(), k.name, op.Method, q.path, r.status, r.body, want)
						}
					}
				}
			}
			t.Logf("%s: %d credential kinds, %d requests checked", backend, len(kinds), checked)
		})
	}
}

// credentialKinds prepares the credentials TestEveryCredentialKind uses.
func (e *mxEnv) credentialKinds() []credKind {
	t := e.t
	t.Helper()
	srv := e.srv
	var kinds []credKind
	// Sessions of the matrix's users: a fresh one for each request (the
	// rows change users' own passwords, which ends their sessions).
	for _, who := range []mxWho{mxAlice, mxMike, mxDave, mxGina, mxLena, mxNobody, mxAdmin} {
		kinds = append(kinds, credKind{name: "session of " + who.String(), like: who, a: func() uAuth {
			if who == mxAdmin {
				return uSession(t, srv, "admin", testserver.AdminPassword)
			}
			return uSession(t, srv, who.String(), e.password[who])
		}})
	}

	all := "repository:" + mxProject + "/app:pull,push,delete registry:catalog:*"
	kinds = append(kinds,
		credKind{name: "admin's registry token", a: fixed(uAuth{bearer: e.registryToken(uAdmin(), all)}), like: mxNoOne},
		credKind{name: "project admin's push token", a: fixed(uAuth{bearer: e.registryToken(uBasic("alice", e.password[mxAlice]), "repository:"+mxProject+"/app:pull,push")}), like: mxNoOne},
		credKind{name: "anonymous pull token", a: fixed(uAuth{bearer: e.registryToken(uAnon, "repository:library/app:pull")}), like: mxNoOne},
	)
	robotName, robotSecret := e.robot("system", "*", mxPerms("repository:pull,repository:push,artifact:read,project:read"))
	kinds = append(kinds, credKind{name: "robot's registry token", a: fixed(uAuth{bearer: e.registryToken(uBasic(robotName, robotSecret), all)}), like: mxNoOne})

	// "nobody" is an administrator for a moment: signed in (Basic,
	// remembered, and a session) and given a token, then demoted. Its
	// credentials must then get exactly nobody's answers.
	nobody := e.userID[mxNobody]
	e.must("PUT", fmt.Sprintf("/users/%d/sysadmin", nobody), map[string]bool{"sysadmin_flag": true})
	if r := e.callAs("GET", "/projects/"+mxProject, uBasic("nobody", e.password[mxNobody]), nil); r.status != 200 {
		t.Fatalf("nobody as an administrator reads the project: %d", r.status)
	}
	adminSession := uSession(t, srv, "nobody", e.password[mxNobody])
	tok := e.registryToken(uBasic("nobody", e.password[mxNobody]), all)
	e.must("PUT", fmt.Sprintf("/users/%d/sysadmin", nobody), map[string]bool{"sysadmin_flag": false})
	kinds = append(kinds,
		credKind{name: "Basic of a demoted admin", a: func() uAuth { return uBasic("nobody", e.password[mxNobody]) }, like: mxNobody},
		credKind{name: "session started before a demotion", a: fixed(adminSession), like: mxNobody},
		credKind{name: "registry token of a demoted admin", a: fixed(uAuth{bearer: tok}), like: mxNoOne},
	)

	// Administrators deleted, or whose password was reset, after their
	// credentials were verified and their sessions started.
	staleAdmin := func(prefix, password string) (int64, uAuth, uAuth) {
		id, name := e.newUser(prefix, password)
		e.must("PUT", fmt.Sprintf("/users/%d/sysadmin", id), map[string]bool{"sysadmin_flag": true})
		basic := uBasic(name, password)
		if r := e.callAs("GET", "/users/current", basic, nil); r.status != 200 {
			t.Fatalf("%s signs in: %d", name, r.status)
		}
		return id, basic, uSession(t, srv, name, password)
	}
	id, basic, sess := staleAdmin("mxdeleted", "Mx-Deleted-Pass1")
	tok = e.registryToken(basic, all)
	e.must("DELETE", fmt.Sprintf("/users/%d", id), nil)
	kinds = append(kinds,
		credKind{name: "Basic of a deleted admin", a: fixed(uFrom(basic, "127.0.0.11")), like: mxNoOne, basic: true},
		credKind{name: "session of a deleted admin", a: fixed(sess), like: mxNoOne},
		credKind{name: "registry token of a deleted admin", a: fixed(uAuth{bearer: tok}), like: mxNoOne},
	)
	id, basic, sess = staleAdmin("mxreset", "Mx-Reset-Pass1")
	e.must("PUT", fmt.Sprintf("/users/%d/password", id), map[string]string{"new_password": "Mx-Reset-Pass2"})
	kinds = append(kinds,
		credKind{name: "Basic with the password before a reset", a: fixed(uFrom(basic, "127.0.0.12")), like: mxNoOne, basic: true},
		credKind{name: "session started before a password reset", a: fixed(sess), like: mxNoOne},
	)

	// Robots holding every project permission the rows use, changed
	// behind the API's back (as another replica would): no cache may keep
	// them working.
	ctx := context.Background()
	disabledID, disabledName := e.newRobot("system", "*", mxPerms("repository:pull,artifact:read,project:read"))
	refreshedID, refreshedName := e.newRobot("system", "*", mxPerms("repository:pull,artifact:read,project:read"))
	for _, n := range []string{disabledName, refreshedName} {
		if r := e.callAs("GET", "/projects/"+mxProject, uBasic(n, mxRobotSecret), nil); r.status != 200 {
			t.Fatalf("robot %s reads the project: %d %s", n, r.status, r.body)
		}
	}
	rb, err := srv.App.DB.RobotByID(ctx, disabledID)
	if err != nil {
		t.Fatal(err)
	}
	rb.Disabled = true
	if err := srv.App.DB.UpdateRobot(ctx, *rb); err != nil {
		t.Fatal(err)
	}
	if r := e.must("PATCH", fmt.Sprintf("/robots/%d", refreshedID), map[string]string{"secret": "Mx-Robot-Secret-2"}); r.status != 200 {
		t.Fatalf("refresh: %d", r.status)
	}
	kinds = append(kinds,
		credKind{name: "a disabled robot's secret", a: fixed(uFrom(uBasic(disabledName, mxRobotSecret), "127.0.0.13")), like: mxNoOne, basic: true},
		credKind{name: "a robot's secret before a refresh", a: fixed(uFrom(uBasic(refreshedName, mxRobotSecret), "127.0.0.14")), like: mxNoOne, basic: true},
	)
	return kinds
}

// registryToken fetches a token from the token service as a (anonymous
// when empty) for scope.
func (e *mxEnv) registryToken(a uAuth, scope string) string {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+"/service/token?service=berth&scope="+url.QueryEscape(scope), nil)
	uAuthorize(req, a)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Token == "" {
		e.t.Fatalf("token for %q: %d %v", scope, resp.StatusCode, err)
	}
	return out.Token
}
