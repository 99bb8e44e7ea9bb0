package registry_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-dev/berth/internal/testserver"
)

type access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

type tokenClaims struct {
	Access []access `json:"access"`
	Sub    string   `json:"sub"`
	Iss    string   `json:"iss"`
	Aud    any      `json:"aud"`
	Exp    int64    `json:"exp"`
	Iat    int64    `json:"iat"`
}

// decodeToken reads the claims of a JWT without verifying it.
func decodeToken(t *testing.T, tok string) tokenClaims {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	var c tokenClaims
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("token claims: %v", err)
	}
	return c
}

// tokenCheck checks a token response grants exactly want, and saves the
// token as variable name.
func (e *env) tokenCheck(name string, want ...access) func(t *testing.T, h http.Header, body []byte) {
	return func(t *testing.T, h http.Header, body []byte) {
		t.Helper()
		var resp struct {
			Token       string `json:"token"`
			AccessToken string `json:"access_token"`
			ExpiresIn   int    `json:"expires_in"`
			IssuedAt    string `json:"issued_at"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatalf("token response: %v: %s", err, body)
		}
		if resp.Token == "" || resp.AccessToken != resp.Token {
			t.Errorf("token %q, access_token %q: want both, equal", resp.Token, resp.AccessToken)
		}
		if resp.ExpiresIn != 1800 {
			t.Errorf("expires_in %d, want 1800 (the default --token-ttl)", resp.ExpiresIn)
		}
		issued, err := time.Parse(time.RFC3339, resp.IssuedAt)
		if err != nil || time.Since(issued) > time.Minute {
			t.Errorf("issued_at %q", resp.IssuedAt)
		}
		c := decodeToken(t, resp.Token)
		if c.Exp-c.Iat != 1800 {
			t.Errorf("token lives %ds, want 1800", c.Exp-c.Iat)
		}
		if want == nil {
			want = []access{}
		}
		if c.Access == nil {
			c.Access = []access{}
		}
		if !reflect.DeepEqual(c.Access, want) {
			t.Errorf("granted %+v, want %+v", c.Access, want)
		}
		e.vars[name] = resp.Token
	}
}

// forgeToken signs claims with key (the server's key if nil).
func (e *env) forgeToken(t *testing.T, key *ecdsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	if key == nil {
		stored, err := e.srv.App.DB.Property(context.Background(), "token_signing_key")
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode([]byte(stored))
		if blk == nil {
			t.Fatal("stored token key is not PEM")
		}
		if key, err = x509.ParseECPrivateKey(blk.Bytes); err != nil {
			t.Fatal(err)
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenService(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addUser("bob")
		e.addProject("private", false, 1)
		img := e.image("library/app", false)
		e.pushManifest("library/app", "v1", mtOCIManifest, img)
		e.pushManifest("private/app", "v1", mtOCIManifest, e.image("private/app", false))

		now := time.Now()
		adminClaims := func(exp time.Time, mod func(jwt.MapClaims)) jwt.MapClaims {
			c := jwt.MapClaims{"iss": "berth-token-service", "aud": "berth", "sub": "admin", "berth_admin": true, "berth_uid": 1,
				"iat": now.Add(-time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix(), "exp": exp.Unix(),
				"access": []access{{Type: "repository", Name: "library/app", Actions: []string{"pull", "push"}}}}
			if mod != nil {
				mod(c)
			}
			return c
		}
		otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		e.vars["expired"] = e.forgeToken(t, nil, adminClaims(now.Add(-time.Minute), nil))
		e.vars["forged-valid"] = e.forgeToken(t, nil, adminClaims(now.Add(time.Hour), nil))
		e.vars["other-key"] = e.forgeToken(t, otherKey, adminClaims(now.Add(time.Hour), nil))
		e.vars["wrong-aud"] = e.forgeToken(t, nil, adminClaims(now.Add(time.Hour), func(c jwt.MapClaims) { c["aud"] = "elsewhere" }))
		e.vars["wrong-iss"] = e.forgeToken(t, nil, adminClaims(now.Add(time.Hour), func(c jwt.MapClaims) { c["iss"] = "someone" }))
		e.vars["no-exp"] = e.forgeToken(t, nil, adminClaims(now, func(c jwt.MapClaims) { delete(c, "exp") }))
		e.vars["alg-none"] = func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, adminClaims(now.Add(time.Hour), nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}()

		pushChallenge := `~scope="repository:library/app:pull,push"`
		realm := `~Bearer realm="` + e.srv.URL + `/service/token",service="berth"`
		appPullPush := access{Type: "repository", Name: "library/app", Actions: []string{"pull", "push"}}
		appPull := access{Type: "repository", Name: "library/app", Actions: []string{"pull"}}
		form := func(v url.Values) string { return v.Encode() }
		formCT := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
		e.run(t, []step{
			{name: "admin pull,push", method: "GET", path: "/service/token?service=berth&scope=repository:library/app:pull,push", status: 200,
				want: map[string]string{"Content-Type": "application/json", "Cache-Control": "no-store"}, check: e.tokenCheck("admin", appPullPush)},
			{name: "admin several scopes", method: "GET",
				path:   "/service/token?service=berth&scope=repository:library/app:pull&scope=repository:private/app:push,delete+registry:catalog:*",
				status: 200, check: e.tokenCheck("admin-multi", appPull,
					access{Type: "repository", Name: "private/app", Actions: []string{"push", "delete"}},
					access{Type: "registry", Name: "catalog", Actions: []string{"*"}})},
			{name: "admin wildcard", method: "GET", path: "/service/token?scope=repository:library/app:*", status: 200,
				check: e.tokenCheck("admin-star", access{Type: "repository", Name: "library/app", Actions: []string{"pull", "push", "delete"}})},
			{name: "admin without scope", method: "GET", path: "/service/token?service=berth", status: 200, check: e.tokenCheck("admin-none")},
			{name: "invalid scopes are dropped", method: "GET", path: "/service/token?scope=repository:Bad/Name:pull&scope=nonsense&scope=blob:x:pull", status: 200,
				check: e.tokenCheck("dropped")},
			{name: "anonymous public gets pull only", as: "anon", method: "GET", path: "/service/token?service=berth&scope=repository:library/app:pull,push",
				status: 200, check: e.tokenCheck("anon", appPull)},
			{name: "anonymous private gets nothing", as: "anon", method: "GET", path: "/service/token?scope=repository:private/app:pull", status: 200,
				check: e.tokenCheck("anon-private")},
			{name: "anonymous catalog gets nothing", as: "anon", method: "GET", path: "/service/token?scope=registry:catalog:*", status: 200,
				check: e.tokenCheck("anon-catalog")},
			{name: "user on public library gets pull", as: "bob", method: "GET", path: "/service/token?scope=repository:library/app:pull,push,delete",
				status: 200, check: e.tokenCheck("bob", appPull)},
			{name: "user on private gets nothing", as: "bob", method: "GET", path: "/service/token?scope=repository:private/app:pull", status: 200,
				check: e.tokenCheck("bob-private")},
			{name: "wrong password", as: "badpw", method: "GET", path: "/service/token?scope=repository:library/app:pull", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": "~Basic"}},
			{name: "unknown user", as: "nobody", method: "GET", path: "/service/token", status: 401, code: "UNAUTHORIZED"},
			{name: "DELETE", method: "DELETE", path: "/service/token", status: 405, code: "UNSUPPORTED"},

			{name: "POST password grant", as: "anon", method: "POST", path: "/service/token", header: formCT,
				body: form(url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {testserver.AdminPassword},
					"service": {"berth"}, "scope": {"repository:library/app:pull,push"}, "client_id": {"test"}}),
				status: 200, check: e.tokenCheck("posted", appPullPush)},
			{name: "POST password grant, wrong password", as: "anon", method: "POST", path: "/service/token", header: formCT,
				body:   form(url.Values{"grant_type": {"password"}, "username": {"admin"}, "password": {"wrong"}, "scope": {"repository:library/app:pull"}}),
				status: 401, code: "UNAUTHORIZED"},
			{name: "POST with Basic", method: "POST", path: "/service/token", header: formCT,
				body: form(url.Values{"scope": {"repository:library/app:pull"}}), status: 200, check: e.tokenCheck("posted-basic", appPull)},

			// Using tokens.
			{name: "Bearer pull", as: "token:anon", method: "GET", path: "/v2/library/app/manifests/v1", status: 200, wantBody: string(img)},
			{name: "Bearer push", as: "token:admin", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202},
			{name: "posted token works", as: "token:posted", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202},
			{name: "pull token on push", as: "token:anon", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": realm}},
			{name: "pull token on push names the scope", as: "token:anon", method: "PUT", path: "/v2/library/app/manifests/v2",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(img), status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": pushChallenge}},
			{name: "admin pull-only token on push", as: "token:admin-multi", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 401,
				code: "UNAUTHORIZED", want: map[string]string{"WWW-Authenticate": pushChallenge}},
			{name: "token for another repository", as: "token:admin", method: "GET", path: "/v2/library/other/tags/list", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": `~scope="repository:library/other:pull"`}},
			{name: "token without delete", as: "token:admin", method: "DELETE", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": `~scope="repository:library/app:delete"`}},
			{name: "wildcard token deletes", as: "token:admin-star", method: "DELETE", path: "/v2/library/app/manifests/v9", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "user token on push is denied", as: "token:bob", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 403, code: "DENIED"},
			{name: "user token on private", as: "token:bob-private", method: "GET", path: "/v2/private/app/manifests/v1", status: 403, code: "DENIED"},
			{name: "anonymous token on private", as: "token:anon-private", method: "GET", path: "/v2/private/app/manifests/v1", status: 401,
				code: "UNAUTHORIZED", want: map[string]string{"WWW-Authenticate": `~scope="repository:private/app:pull"`}},
			{name: "catalog with catalog scope", as: "token:admin-multi", method: "GET", path: "/v2/_catalog", status: 200},
			{name: "catalog without catalog scope", as: "token:admin", method: "GET", path: "/v2/_catalog", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": `~scope="registry:catalog:*"`}},
			{name: "ping with admin token", as: "token:admin-none", method: "GET", path: "/v2/", status: 200},
			{name: "ping with user token", as: "token:bob", method: "GET", path: "/v2/", status: 200},
			{name: "ping with anonymous token", as: "token:anon", method: "GET", path: "/v2/", status: 200},

			// Tokens that must not work.
			{name: "garbage", as: "anon", method: "GET", path: "/v2/library/app/manifests/v1",
				header: map[string]string{"Authorization": "Bearer not.a.jwt"}, status: 401, code: "UNAUTHORIZED", want: map[string]string{"WWW-Authenticate": realm}},
			{name: "garbage on ping", as: "anon", method: "GET", path: "/v2/", header: map[string]string{"Authorization": "Bearer garbage"}, status: 401, code: "UNAUTHORIZED"},
			{name: "empty bearer", as: "anon", method: "GET", path: "/v2/library/app/manifests/v1", header: map[string]string{"Authorization": "Bearer "},
				status: 401, code: "UNAUTHORIZED"},
			{name: "a valid forged token works (sanity)", as: "token:forged-valid", method: "GET", path: "/v2/library/app/manifests/v1", status: 200},
			{name: "expired", as: "token:expired", method: "GET", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": realm}},
			{name: "expired on ping", as: "token:expired", method: "GET", path: "/v2/", status: 401, code: "UNAUTHORIZED"},
			{name: "signed by another key", as: "token:other-key", method: "GET", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED"},
			{name: "wrong audience", as: "token:wrong-aud", method: "GET", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED"},
			{name: "wrong issuer", as: "token:wrong-iss", method: "GET", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED"},
			{name: "no expiry", as: "token:no-exp", method: "GET", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED"},
			{name: "alg none", as: "token:alg-none", method: "GET", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED"},
			{name: "token as a token-service credential", as: "token:expired", method: "GET", path: "/service/token?scope=repository:library/app:pull",
				status: 401, code: "UNAUTHORIZED"},
		})
	})
}
