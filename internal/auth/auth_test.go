package auth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
	_ "github.com/berth-dev/berth/internal/store/drivers"
)

func TestPassword(t *testing.T) {
	h, err := auth.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not argon2id with the expected parameters", h)
	}
	if !auth.CheckPassword(h, "correct horse") {
		t.Error("right password rejected")
	}
	for _, wrong := range []string{"", "correct horse ", "Correct horse", "correct hors"} {
		if auth.CheckPassword(h, wrong) {
			t.Errorf("wrong password %q accepted", wrong)
		}
	}
	h2, _ := auth.HashPassword("correct horse")
	if h2 == h {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !auth.CheckPassword(h2, "correct horse") {
		t.Error("second hash rejected")
	}
	parts := strings.Split(h, "$")
	for _, bad := range []string{
		"", "plain", "$argon2i$" + strings.Join(parts[2:], "$"),
		"$argon2id$v=19$m=x,t=2,p=1$" + parts[4] + "$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$!!!$" + parts[5],
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4] + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$" + parts[4],
	} {
		if auth.CheckPassword(bad, "correct horse") {
			t.Errorf("malformed hash %q accepted", bad)
		}
	}
	a, b := auth.RandomSecret(18), auth.RandomSecret(18)
	if len(a) != 24 || a == b {
		t.Errorf("RandomSecret: %q, %q", a, b)
	}
}

// fixture is a real SQLite store with users and projects.
type fixture struct {
	db                *store.DB
	path              string // the database file
	admin, bob, carol int64
	library, private  *store.Project
	bobs              *store.Project
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, path: path}
	user := func(name string, admin bool) int64 {
		h, err := auth.HashPassword(name + "-pw")
		if err != nil {
			t.Fatal(err)
		}
		id, err := db.CreateUser(ctx, store.User{Username: name, PasswordHash: h, SysAdmin: admin})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	f.admin, f.bob, f.carol = user("admin", true), user("bob", false), user("carol", false)
	project := func(name string, public bool, owner int64) *store.Project {
		if _, err := db.CreateProject(ctx, store.Project{Name: name, Public: public, OwnerID: owner}); err != nil {
			t.Fatal(err)
		}
		p, err := db.ProjectByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	f.library, f.private, f.bobs = project("library", true, f.admin), project("private", false, f.admin), project("bobs", false, f.bob)
	return f
}

func newService(t *testing.T, db *store.DB, opts auth.Options) *auth.Service {
	t.Helper()
	s, err := auth.New(context.Background(), db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func request(authz string) *http.Request {
	r := httptest.NewRequest("GET", "http://registry.example:5000/v2/", nil)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	return r
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	s := newService(t, f.db, auth.Options{})
	for _, c := range []struct {
		name, authz string
		user        string // "" anonymous
		admin       bool
		kind        errs.Kind // Internal: no error
	}{
		{"none", "", "", false, errs.Internal},
		{"admin", basic("admin", "admin-pw"), "admin", true, errs.Internal},
		{"user", basic("bob", "bob-pw"), "bob", false, errs.Internal},
		{"user again (cached)", basic("bob", "bob-pw"), "bob", false, errs.Internal},
		{"wrong password", basic("bob", "carol-pw"), "", false, errs.Unauthenticated},
		{"wrong password after a cached login", basic("bob", "bob-pw "), "", false, errs.Unauthenticated},
		{"unknown user", basic("dave", "dave-pw"), "", false, errs.Unauthenticated},
		{"malformed basic", "Basic !!!", "", false, errs.Unauthenticated},
		{"unsupported scheme", "Digest abc", "", false, errs.Unauthenticated},
		{"garbage bearer", "Bearer abc.def.ghi", "", false, errs.Unauthenticated},
	} {
		p, err := s.Authenticate(request(c.authz))
		if c.kind != errs.Internal {
			if !errs.Is(err, c.kind) {
				t.Errorf("%s: err %v, want kind %v", c.name, err, c.kind)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if p.Name != c.user || p.Admin != c.admin || p.Anonymous() != (c.user == "") {
			t.Errorf("%s: principal %+v", c.name, p)
		}
	}
}

func TestAuthorize(t *testing.T) {
	f := newFixture(t)
	s := newService(t, f.db, auth.Options{})
	ctx := context.Background()
	login := func(u string) *auth.Principal {
		if u == "" {
			p, _ := s.Authenticate(request(""))
			return p
		}
		p, err := s.Login(ctx, u, u+"-pw", "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	anon, admin, bob, carol := login(""), login("admin"), login("bob"), login("carol")
	all := []string{auth.Pull, auth.Push, auth.Delete}
	for _, c := range []struct {
		name    string
		p       *auth.Principal
		project *store.Project
		actions []string
	}{
		{"admin on private", admin, f.private, all},
		{"admin on library", admin, f.library, all},
		{"owner on own private", bob, f.bobs, all},
		{"user on public", bob, f.library, []string{auth.Pull}},
		{"user on private", carol, f.private, nil},
		{"user on another's private", carol, f.bobs, nil},
		{"anonymous on public", anon, f.library, []string{auth.Pull}},
		{"anonymous on private", anon, f.private, nil},
	} {
		got := s.Actions(ctx, c.p, c.project)
		if strings.Join(got, ",") != strings.Join(c.actions, ",") {
			t.Errorf("%s: Actions = %v, want %v", c.name, got, c.actions)
		}
		for _, a := range all {
			err := s.Authorize(ctx, c.p, c.project, c.project.Name+"/app", a)
			allowed := strings.Contains(","+strings.Join(c.actions, ",")+",", ","+a+",")
			switch {
			case allowed && err != nil:
				t.Errorf("%s: %s refused: %v", c.name, a, err)
			case !allowed && c.p.Anonymous() && !errs.Is(err, errs.Unauthenticated):
				t.Errorf("%s: %s: err %v, want unauthenticated", c.name, a, err)
			case !allowed && !c.p.Anonymous() && !errs.Is(err, errs.Denied):
				t.Errorf("%s: %s: err %v, want denied", c.name, a, err)
			}
		}
	}
	if err := s.CanListCatalog(anon); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("anonymous catalog: %v", err)
	}
	if err := s.CanListCatalog(carol); err != nil {
		t.Errorf("user catalog: %v", err)
	}
}

type claims struct {
	Access []struct {
		Type    string   `json:"type"`
		Name    string   `json:"name"`
		Actions []string `json:"actions"`
	} `json:"access"`
	Sub string `json:"sub"`
	Exp int64  `json:"exp"`
	Iat int64  `json:"iat"`
}

func decode(t *testing.T, tok string) claims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c claims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTokens(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newService(t, f.db, auth.Options{TokenTTL: 2 * time.Minute, Service: "berth"})
	bob, err := s.Login(ctx, "bob", "bob-pw", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tok, issued, err := s.Issue(request(""), bob, []string{"repository:bobs/app:pull,push repository:library/app:pull,push", "repository:private/app:pull"})
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(issued) > time.Minute {
		t.Errorf("issued at %v", issued)
	}
	c := decode(t, tok)
	if c.Exp-c.Iat != 120 {
		t.Errorf("token lives %ds, want the configured 120", c.Exp-c.Iat)
	}
	if c.Sub != "bob" || len(c.Access) != 2 ||
		c.Access[0].Name != "bobs/app" || strings.Join(c.Access[0].Actions, ",") != "pull,push" ||
		c.Access[1].Name != "library/app" || strings.Join(c.Access[1].Actions, ",") != "pull" {
		t.Errorf("claims %+v", c)
	}

	// Registry tokens are for /v2 only: the API and the token service
	// refuse them.
	if _, err := s.Authenticate(request("Bearer " + tok)); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("a registry token outside /v2: %v, want unauthenticated", err)
	}
	// Round trip: the token authenticates as bob, limited to its scopes.
	p, err := s.AuthenticateRegistry(request("Bearer " + tok))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "bob" || p.Anonymous() || p.Admin {
		t.Errorf("principal %+v", p)
	}
	if err := s.Authorize(ctx, p, f.bobs, "bobs/app", auth.Push); err != nil {
		t.Errorf("push granted by token refused: %v", err)
	}
	if err := s.Authorize(ctx, p, f.bobs, "bobs/other", auth.Pull); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("repository outside the token: %v, want unauthenticated", err)
	}
	if err := s.Authorize(ctx, p, f.bobs, "bobs/app", auth.Delete); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("action outside the token: %v, want unauthenticated", err)
	}
	if err := s.CanListCatalog(p); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("catalog without the scope: %v", err)
	}

	// Another service on the same store (a replica) shares the key; one on
	// another store does not.
	replica := newService(t, f.db, auth.Options{Service: "berth"})
	if _, err := replica.AuthenticateRegistry(request("Bearer " + tok)); err != nil {
		t.Errorf("replica rejects the token: %v", err)
	}
	other := newService(t, newFixture(t).db, auth.Options{Service: "berth"})
	if _, err := other.AuthenticateRegistry(request("Bearer " + tok)); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("foreign service: %v, want unauthenticated", err)
	}
	wrongAud := newService(t, f.db, auth.Options{Service: "elsewhere"})
	if _, err := wrongAud.AuthenticateRegistry(request("Bearer " + tok)); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("other audience: %v, want unauthenticated", err)
	}
	// A tampered payload breaks the signature.
	parts := strings.Split(tok, ".")
	admin := strings.Replace(string(mustDecode(t, parts[1])), `"sub":"bob"`, `"sub":"admin","berth_admin":true`, 1)
	forged := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(admin)) + "." + parts[2]
	if _, err := s.AuthenticateRegistry(request("Bearer " + forged)); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("tampered token: %v", err)
	}

	// Anonymous and admin grants.
	anon, _ := s.Authenticate(request(""))
	tok, _, _ = s.Issue(request(""), anon, []string{"repository:library/app:pull,push,delete", "repository:private/app:pull", "registry:catalog:*"})
	if c := decode(t, tok); len(c.Access) != 1 || strings.Join(c.Access[0].Actions, ",") != "pull" {
		t.Errorf("anonymous grant %+v", c.Access)
	}
	root, _ := s.Login(ctx, "admin", "admin-pw", "127.0.0.1")
	tok, _, _ = s.Issue(request(""), root, []string{"repository:nosuch/app:push", "registry:catalog:*"})
	if c := decode(t, tok); len(c.Access) != 2 || c.Access[0].Name != "nosuch/app" || c.Access[1].Type != "registry" {
		t.Errorf("admin grant %+v", c.Access)
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTokenTTL(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		ttl  time.Duration
		want int
	}{{0, 1800}, {time.Minute, 60}, {90 * time.Minute, 5400}} {
		s := newService(t, f.db, auth.Options{TokenTTL: c.ttl})
		rec := httptest.NewRecorder()
		s.TokenHandler(rec, request(basic("bob", "bob-pw")))
		if rec.Code != 200 {
			t.Fatalf("ttl %v: status %d: %s", c.ttl, rec.Code, rec.Body)
		}
		var resp struct {
			Token     string `json:"token"`
			ExpiresIn int    `json:"expires_in"`
		}
		json.Unmarshal(rec.Body.Bytes(), &resp)
		if cl := decode(t, resp.Token); resp.ExpiresIn != c.want || cl.Exp-cl.Iat != int64(c.want) {
			t.Errorf("ttl %v: expires_in %d, token lives %ds, want %d", c.ttl, resp.ExpiresIn, cl.Exp-cl.Iat, c.want)
		}
	}
}

func TestChallenge(t *testing.T) {
	f := newFixture(t)
	derived := newService(t, f.db, auth.Options{})
	r := request("")
	if got, want := derived.ChallengeFor(r, "repository:library/app:pull"),
		`Bearer realm="http://registry.example:5000/service/token",service="berth",scope="repository:library/app:pull"`; got != want {
		t.Errorf("challenge %s, want %s", got, want)
	}
	if got := derived.ChallengeFor(r, ""); strings.Contains(got, "scope") {
		t.Errorf("challenge without scope: %s", got)
	}
	configured := newService(t, f.db, auth.Options{Realm: "https://berth.example/service/token", Service: "berth.example"})
	if got, want := configured.ChallengeFor(r, ""), `Bearer realm="https://berth.example/service/token",service="berth.example"`; got != want {
		t.Errorf("challenge %s, want %s", got, want)
	}
}

// TestTokenScopesBounded: a token request names at most auth.MaxScopes
// scopes (each costs a project look-up); more is 400, not thousands of
// reads for one anonymous request.
func TestTokenScopesBounded(t *testing.T) {
	f := newFixture(t)
	s := newService(t, f.db, auth.Options{})
	ask := func(n int) int {
		q := make([]string, n)
		for i := range q {
			q[i] = "scope=repository:library/app" + strconv.Itoa(i) + ":pull"
		}
		r := httptest.NewRequest("GET", "http://registry.example:5000/service/token?service=berth&"+strings.Join(q, "&"), nil)
		w := httptest.NewRecorder()
		s.TokenHandler(w, r)
		return w.Code
	}
	if got := ask(auth.MaxScopes); got != http.StatusOK {
		t.Errorf("%d scopes: %d, want 200", auth.MaxScopes, got)
	}
	if got := ask(5000); got != http.StatusBadRequest {
		t.Errorf("5000 scopes: %d, want 400", got)
	}
}
