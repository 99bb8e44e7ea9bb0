package registry_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		challenge := `Bearer realm="` + e.srv.URL + `/service/token",service="berth"`
		e.run(t, []step{
			{name: "anonymous", as: "anon", method: "GET", path: "/v2/", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": challenge}},
			{name: "anonymous without slash", as: "anon", method: "GET", path: "/v2", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": challenge}},
			{name: "anonymous HEAD", as: "anon", method: "HEAD", path: "/v2/", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": challenge}},
			{name: "admin basic", method: "GET", path: "/v2/", status: 200, wantBody: "{}",
				want: map[string]string{"Content-Type": "application/json", "WWW-Authenticate": "-"}},
			{name: "admin basic HEAD", method: "HEAD", path: "/v2/", status: 200},
			{name: "bad password", as: "badpw", method: "GET", path: "/v2/", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": challenge}},
			{name: "unknown user", as: "nobody", method: "GET", path: "/v2/", status: 401, code: "UNAUTHORIZED"},
			{name: "unsupported scheme", as: "anon", method: "GET", path: "/v2/", header: map[string]string{"Authorization": "Digest x"},
				status: 401, code: "UNAUTHORIZED"},
			{name: "no such route", method: "GET", path: "/v2/library/app/nothing-here", status: 404, code: "NAME_UNKNOWN"},
		})
	})
}

// TestNames covers repository name rules and project-level access.
func TestNames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		bob := e.addUser("bob")
		e.addProject("private", false, 1)
		e.addProject("bobs", false, bob)
		img := e.image("library/app", false)
		e.pushManifest("library/app", "v1", mtOCIManifest, img)
		e.vars["img"] = sha256Of(img)
		privImg := e.image("private/app", false)
		e.pushManifest("private/app", "v1", mtOCIManifest, privImg)
		long := "library/" + strings.Repeat("a", 255-len("library/")+1)
		okLong := "library/" + strings.Repeat("a", 255-len("library/"))
		pushScope := `~scope="repository:library/new:pull,push"`

		var steps []step
		for _, c := range []struct{ name, repo string }{
			{"uppercase", "library/App"},
			{"dot-dot segment", "library/../app"},
			{"dot segment", "library/./app"},
			{"trailing slash", "library/app/"},
			{"double slash", "library//app"},
			{"leading separator", "library/-app"},
			{"over 255 chars", long},
			{"no project part", "app"},
		} {
			for _, r := range []struct{ method, suffix string }{
				{"GET", "/manifests/latest"},
				{"PUT", "/manifests/latest"},
				{"HEAD", "/blobs/" + sha256Of([]byte("x"))},
				{"POST", "/blobs/uploads/"},
				{"GET", "/tags/list"},
				{"GET", "/referrers/" + sha256Of([]byte("x"))},
			} {
				steps = append(steps, step{name: c.name + " " + r.method + r.suffix, method: r.method, path: "/v2/" + c.repo + r.suffix,
					body: map[bool]string{true: "{}"}[r.method == "PUT"], status: 400, code: "NAME_INVALID"})
			}
		}
		steps = append(steps, []step{
			{name: "255 chars is fine", method: "GET", path: "/v2/" + okLong + "/tags/list", status: 404, code: "NAME_UNKNOWN"},
			{name: "nested name is fine", method: "GET", path: "/v2/library/a/b/c/tags/list", status: 404, code: "NAME_UNKNOWN"},
			{name: "unknown project as admin", method: "PUT", path: "/v2/nosuch/app/manifests/v1",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(img), status: 404, code: "NAME_UNKNOWN",
				check: func(t *testing.T, _ http.Header, body []byte) {
					if !strings.Contains(string(body), `nosuch`) {
						t.Errorf("message does not name the project: %s", body)
					}
				}},
			{name: "unknown project upload as admin", method: "POST", path: "/v2/nosuch/app/blobs/uploads/", status: 404, code: "NAME_UNKNOWN",
				check: func(t *testing.T, _ http.Header, body []byte) {
					if !strings.Contains(string(body), `project nosuch`) {
						t.Errorf("message does not name the project: %s", body)
					}
				}},
			{name: "unknown project anonymously", as: "anon", method: "GET", path: "/v2/nosuch/app/manifests/v1", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": `~scope="repository:nosuch/app:pull"`}},

			// Public library: anonymous pulls, never pushes.
			{name: "anonymous pull public", as: "anon", method: "GET", path: "/v2/library/app/manifests/v1", status: 200,
				want: map[string]string{"Docker-Content-Digest": "{img}"}},
			{name: "anonymous tags public", as: "anon", method: "GET", path: "/v2/library/app/tags/list", status: 200,
				check: jsonCheck(`{"name":"library/app","tags":["v1"]}`)},
			{name: "anonymous push start", as: "anon", method: "POST", path: "/v2/library/new/blobs/uploads/", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": pushScope}},
			{name: "anonymous manifest push", as: "anon", method: "PUT", path: "/v2/library/new/manifests/v1",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(img), status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": pushScope}},
			{name: "anonymous delete", as: "anon", method: "DELETE", path: "/v2/library/app/manifests/{img}", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": `~scope="repository:library/app:delete"`}},

			// Private project: anonymous is asked to log in; a non-member is denied.
			{name: "anonymous pull private", as: "anon", method: "GET", path: "/v2/private/app/manifests/v1", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": `~scope="repository:private/app:pull"`}},
			{name: "anonymous HEAD private", as: "anon", method: "HEAD", path: "/v2/private/app/manifests/v1", status: 401, code: "UNAUTHORIZED"},
			{name: "anonymous tags private", as: "anon", method: "GET", path: "/v2/private/app/tags/list", status: 401, code: "UNAUTHORIZED"},
			{name: "user pull private", as: "bob", method: "GET", path: "/v2/private/app/manifests/v1", status: 403, code: "DENIED"},
			{name: "user push private", as: "bob", method: "POST", path: "/v2/private/app/blobs/uploads/", status: 403, code: "DENIED"},
			{name: "user manifest push private", as: "bob", method: "PUT", path: "/v2/private/app/manifests/v2",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(privImg), status: 403, code: "DENIED"},
			{name: "user push public library", as: "bob", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 403, code: "DENIED"},
			{name: "user delete public library", as: "bob", method: "DELETE", path: "/v2/library/app/manifests/v1", status: 403, code: "DENIED"},
			{name: "user pull public library", as: "bob", method: "GET", path: "/v2/library/app/manifests/v1", status: 200},
			{name: "user wrong password", as: "badpw", method: "GET", path: "/v2/library/app/manifests/v1", status: 401, code: "UNAUTHORIZED"},
			{name: "owner pushes own project", as: "bob", method: "POST", path: "/v2/bobs/app/blobs/uploads/", status: 202,
				want: map[string]string{"Location": "~/v2/bobs/app/blobs/uploads/"}},
			{name: "admin pull private", method: "GET", path: "/v2/private/app/manifests/v1", status: 200},

			// Methods a route does not have.
			{name: "POST manifest", method: "POST", path: "/v2/library/app/manifests/v1", status: 405, code: "UNSUPPORTED"},
			{name: "PUT blob", method: "PUT", path: "/v2/library/app/blobs/{img}", status: 405, code: "UNSUPPORTED"},
			{name: "DELETE tags", method: "DELETE", path: "/v2/library/app/tags/list", status: 405, code: "UNSUPPORTED"},
			{name: "POST catalog", method: "POST", path: "/v2/_catalog", status: 405, code: "UNSUPPORTED"},
		}...)
		e.run(t, steps)
	})
}

// TestTagsAndCatalog covers listing with pagination.
func TestTagsAndCatalog(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		bob := e.addUser("bob")
		e.addProject("private", false, 1)
		e.addProject("bobs", false, bob)
		img := e.image("library/app", false)
		for _, tag := range []string{"b", "a", "d", "c", "1.0", "V2"} {
			e.pushManifest("library/app", tag, mtOCIManifest, img)
		}
		for _, repo := range []string{"library/zeta", "library/alpha", "private/hidden", "bobs/mine"} {
			e.pushManifest(repo, "v1", mtOCIManifest, e.image(repo, false))
		}
		// Tags: byte order (upper case before lower case, digits first).
		e.run(t, []step{
			{name: "all tags", method: "GET", path: "/v2/library/app/tags/list", status: 200,
				want:  map[string]string{"Content-Type": "application/json", "Link": "-"},
				check: jsonCheck(`{"name":"library/app","tags":["1.0","V2","a","b","c","d"]}`)},
			{name: "first page", method: "GET", path: "/v2/library/app/tags/list?n=2", status: 200,
				want:  map[string]string{"Link": `</v2/library/app/tags/list?n=2&last=V2>; rel="next"`},
				check: jsonCheck(`{"name":"library/app","tags":["1.0","V2"]}`)},
			{name: "next page", method: "GET", path: "/v2/library/app/tags/list?n=2&last=V2", status: 200,
				want:  map[string]string{"Link": `</v2/library/app/tags/list?n=2&last=b>; rel="next"`},
				check: jsonCheck(`{"name":"library/app","tags":["a","b"]}`)},
			{name: "last full page has no link", method: "GET", path: "/v2/library/app/tags/list?n=2&last=b", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"name":"library/app","tags":["c","d"]}`)},
			{name: "past the end", method: "GET", path: "/v2/library/app/tags/list?n=2&last=d", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"name":"library/app","tags":[]}`)},
			{name: "last without n", method: "GET", path: "/v2/library/app/tags/list?last=b", status: 200,
				check: jsonCheck(`{"name":"library/app","tags":["c","d"]}`)},
			{name: "n larger than list", method: "GET", path: "/v2/library/app/tags/list?n=100", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"name":"library/app","tags":["1.0","V2","a","b","c","d"]}`)},
			{name: "n=0", method: "GET", path: "/v2/library/app/tags/list?n=0", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"name":"library/app","tags":[]}`)},
			{name: "HEAD", method: "HEAD", path: "/v2/library/app/tags/list", status: 200, want: map[string]string{"Content-Length": "*"}},
			{name: "negative n", method: "GET", path: "/v2/library/app/tags/list?n=-1", status: 400, code: "PAGINATION_NUMBER_INVALID"},
			{name: "non-numeric n", method: "GET", path: "/v2/library/app/tags/list?n=ten", status: 400, code: "PAGINATION_NUMBER_INVALID"},
			{name: "unknown repository", method: "GET", path: "/v2/library/nothing/tags/list", status: 404, code: "NAME_UNKNOWN"},
			{name: "unknown repository n=0", method: "GET", path: "/v2/library/nothing/tags/list?n=0", status: 404, code: "NAME_UNKNOWN"},
			{name: "unknown project", method: "GET", path: "/v2/nosuch/app/tags/list", status: 404, code: "NAME_UNKNOWN"},
		})
		all := `["bobs/mine","library/alpha","library/app","library/zeta","private/hidden"]`
		e.run(t, []step{
			{name: "catalog admin", method: "GET", path: "/v2/_catalog", status: 200, want: map[string]string{"Link": "-"},
				check: jsonCheck(`{"repositories":` + all + `}`)},
			{name: "catalog page 1", method: "GET", path: "/v2/_catalog?n=2", status: 200,
				want:  map[string]string{"Link": `</v2/_catalog?n=2&last=library%2Falpha>; rel="next"`},
				check: jsonCheck(`{"repositories":["bobs/mine","library/alpha"]}`)},
			{name: "catalog page 2", method: "GET", path: "/v2/_catalog?n=2&last=library%2Falpha", status: 200,
				want:  map[string]string{"Link": `</v2/_catalog?n=2&last=library%2Fzeta>; rel="next"`},
				check: jsonCheck(`{"repositories":["library/app","library/zeta"]}`)},
			{name: "catalog page 3", method: "GET", path: "/v2/_catalog?n=2&last=library%2Fzeta", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"repositories":["private/hidden"]}`)},
			{name: "catalog past the end", method: "GET", path: "/v2/_catalog?last=private%2Fhidden", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"repositories":[]}`)},
			{name: "catalog paged past the end", method: "GET", path: "/v2/_catalog?n=2&last=zzz", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"repositories":[]}`)},
			{name: "catalog user past the end", as: "bob", method: "GET", path: "/v2/_catalog?n=3&last=library%2Fzeta", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"repositories":[]}`)},
			{name: "catalog n=0", method: "GET", path: "/v2/_catalog?n=0", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"repositories":[]}`)},
			{name: "catalog bad n", method: "GET", path: "/v2/_catalog?n=x", status: 400, code: "PAGINATION_NUMBER_INVALID"},
			{name: "catalog negative n", method: "GET", path: "/v2/_catalog?n=-5", status: 400, code: "PAGINATION_NUMBER_INVALID"},
			{name: "catalog anonymous", as: "anon", method: "GET", path: "/v2/_catalog", status: 401, code: "UNAUTHORIZED",
				want: map[string]string{"WWW-Authenticate": `~scope="registry:catalog:*"`}},
			{name: "catalog user sees public and own", as: "bob", method: "GET", path: "/v2/_catalog", status: 200,
				check: jsonCheck(`{"repositories":["bobs/mine","library/alpha","library/app","library/zeta"]}`)},
			{name: "catalog user paged", as: "bob", method: "GET", path: "/v2/_catalog?n=3&last=bobs%2Fmine", status: 200,
				want: map[string]string{"Link": "-"}, check: jsonCheck(`{"repositories":["library/alpha","library/app","library/zeta"]}`)},
		})
	})
}

// TestPullTime checks that a pull is recorded in memory and written by Flush,
// not by the pull itself.
func TestPullTime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		// Flush whatever the background recorder may hold, so the check below
		// sees only this pull.
		if err := e.srv.App.Reg.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		img := e.image("library/app", false)
		d := e.pushManifest("library/app", "v1", mtOCIManifest, img)
		ref, err := e.srv.App.DB.ResolveManifest(ctx, "library/app", d, true, false)
		if err != nil {
			t.Fatal(err)
		}
		before, err := e.srv.App.DB.ArtifactPullTime(ctx, ref.ArtifactID)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		e.run(t, []step{
			{name: "HEAD is not a pull", as: "anon", method: "HEAD", path: "/v2/library/app/manifests/v1", status: 200},
		})
		if err := e.srv.App.Reg.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.srv.App.DB.ArtifactPullTime(ctx, ref.ArtifactID); got != before {
			t.Errorf("HEAD recorded a pull: %d, was %d", got, before)
		}
		e.run(t, []step{
			{name: "GET pulls", as: "anon", method: "GET", path: "/v2/library/app/manifests/v1", status: 200},
		})
		// The pull is only recorded in memory; the test server's background
		// flush is set an hour apart, so nothing has been written yet.
		if got, _ := e.srv.App.DB.ArtifactPullTime(ctx, ref.ArtifactID); got != before {
			t.Errorf("pull time written on the request path: %d, was %d", got, before)
		}
		if err := e.srv.App.Reg.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := e.srv.App.DB.ArtifactPullTime(ctx, ref.ArtifactID)
		if err != nil {
			t.Fatal(err)
		}
		if got < start.UnixMilli() || got > time.Now().UnixMilli() {
			t.Errorf("pull time %d not within the test (%d..%d)", got, start.UnixMilli(), time.Now().UnixMilli())
		}
	})
}
