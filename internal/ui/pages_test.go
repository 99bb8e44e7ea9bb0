package ui_test

import (
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestPages walks every page of the console as an administrator on each
// backend: status, key content and the accessibility basics.
func TestPages(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.NewInProcess(t, backend)
			b := newBrowser(t, srv)

			b.get("/login").expect("sign-in page", 200, "Sign in to Berth").accessible("sign-in page")
			b.login("admin", testserver.AdminPassword)
			b.post("/projects", url.Values{"name": {"demo"}, "quota": {"1"}, "quota_unit": {"GiB"}}).expect("create project", 303)

			push := pusher{t, srv}
			imgDigest, img := push.image("demo/tools/app:v1", "amd64")
			idxDigest := push.index("demo/tools/app:multi")
			chartDigest := push.chart("demo/charts/demo:0.1.0")
			sbomDigest := push.sbom("demo/tools/app", img)
			b.post("/projects/demo/labels", url.Values{"name": {"release"}, "color": {"#112233"}}).expect("create label", 303)

			art := "/projects/demo/repositories/tools/app/-/artifacts/"
			for _, tc := range []struct {
				what, path string
				wants      []string
			}{
				{"projects", "/projects", []string{"demo", "library", "private", "public", "of 1.0 GiB", "New project"}},
				{"projects search", "/projects?q=dem", []string{"demo"}},
				{"repositories", "/projects/demo/repositories", []string{"demo/tools/app", "demo/charts/demo", "Repositories", "Members"}},
				{"repositories search", "/projects/demo/repositories?q=chart", []string{"demo/charts/demo"}},
				{"repository", "/projects/demo/repositories/tools/app", []string{"demo/tools/app", "v1", "multi", "image", "index",
					"linux/amd64, linux/arm64", "docker push " + srv.Host + "/demo/tools/app:<tag>", imgDigest[:19], "Save description"}},
				{"repository tag filter", "/projects/demo/repositories/tools/app?tag=mul", []string{"multi"}},
				{"image artifact", art + imgDigest, []string{
					"docker pull " + srv.Host + "/demo/tools/app:v1", "docker pull " + srv.Host + "/demo/tools/app@" + imgDigest,
					"Layers", "config", "Build history", "COPY app /usr/bin/app", "Image configuration", "/usr/bin/app", "linux/amd64",
					"Manifest", "schemaVersion", "Accessories and referrers (1)", "sbom.harbor", "release", "Add tag", "Delete artifact"}},
				{"index artifact", art + idxDigest, []string{"Platforms", "linux/amd64", "linux/arm64", "index", "application/vnd.oci.image.index.v1+json"}},
				{"chart artifact", "/projects/demo/repositories/charts/demo/-/artifacts/" + chartDigest, []string{
					"chart", "README", "# demo chart", "values.yaml", "replicaCount: 3", "helm pull oci://" + srv.Host + "/demo/charts/demo --version 0.1.0"}},
				{"accessory artifact", art + sbomDigest, []string{"application/vnd.goharbor.harbor.sbom.v1"}},
				{"members", "/projects/demo/members", []string{"admin", "Project admin", "Add a member"}},
				{"robots", "/projects/demo/robots", []string{"No robot accounts yet", "Pull artifacts", "Push artifacts", "More permissions"}},
				{"labels", "/projects/demo/labels", []string{"release", "New label"}},
				{"labels search", "/projects/demo/labels?q=rel", []string{"release"}},
				{"labels search, no match", "/projects/demo/labels?q=zzz", []string{"No label matches"}},
				{"members search", "/projects/demo/members?q=adm", []string{"admin"}},
				{"logs search", "/projects/demo/logs?q=adm", []string{"admin", "create"}},
				{"logs", "/projects/demo/logs", []string{"admin", "create", "project"}},
				{"configuration", "/projects/demo/config", []string{"Public", "Scan images on push", "Storage quota", "Delete project"}},
				{"account", "/account", []string{"admin", "System administrator", "Change password"}},
				{"empty project", "/projects/library/repositories", []string{"no repositories yet", "docker push " + srv.Host + "/library/<image>:<tag>"}},
			} {
				p := b.get(tc.path).expect(tc.what, 200, tc.wants...)
				p.accessible(tc.what)
			}

			// The README is text, not markup.
			chart := b.get("/projects/demo/repositories/charts/demo/-/artifacts/" + chartDigest)
			chart.lacks("chart README", "<script>alert(1)</script>")

			// Errors are pages with the API's message, not stack traces.
			b.get("/projects/nope/repositories").expect("unknown project", 404, "not found")
			b.get(art+"sha256:"+strings.Repeat("0", 64)).expect("unknown artifact", 404, "not found")
			b.get("/no/such/page").expect("unknown page", 404, "There is no page").accessible("error page")
			b.get("/projects/demo/repositories/tools/app/-/nothing").expect("unknown repository page", 404)
		})
	}
}

// TestViewIsNotPull checks that showing an artifact (which reads its
// manifest from /v2) records no pull.
func TestViewIsNotPull(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	b := newBrowser(t, srv)
	b.login("admin", testserver.AdminPassword)
	d, _ := pusher{t, srv}.image("library/app:v1", "amd64")
	b.get("/projects/library/repositories/app/-/artifacts/"+d).expect("artifact", 200, "schemaVersion")
	if err := srv.App.Reg.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var a api.Artifact
	if st := apiGet(t, srv, "/projects/library/repositories/app/artifacts/"+d, &a); st != 200 {
		t.Fatalf("get artifact: %d", st)
	}
	if a.PullTime != api.Timestamp(0) {
		t.Errorf("viewing the artifact recorded a pull at %s", a.PullTime)
	}
}

// TestRouting checks that the console at / leaves the other handlers alone.
func TestRouting(t *testing.T) {
	srv := testserver.NewInProcess(t, "sqlite")
	for _, tc := range []struct {
		path   string
		status int
		ctype  string
	}{
		{"/", http.StatusFound, "text/html"},
		{"/v2/", http.StatusUnauthorized, "application/json"},
		{"/api/v2.0/ping", http.StatusOK, "text/plain"},
		{"/api/v2.0/nope", http.StatusNotFound, "application/json"},
		{"/healthz", http.StatusOK, "application/json"},
		{"/service/token", http.StatusOK, "application/json"},
		{"/static/berth.css", http.StatusOK, "text/css"},
		{"/static/berth.js", http.StatusOK, "text/javascript"},
		{"/static/nope.css", http.StatusNotFound, "text/plain"},
		{"/projects", http.StatusOK, "text/html"},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) {
			t.Errorf("GET %s: %d %s, want %d %s", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.status, tc.ctype)
		}
	}
}

// TestNoSQL checks the console's own imports: it reaches data only
// through the API (and /v2), never a database or the store.
func TestNoSQL(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		switch {
		case imp == "database/sql", strings.HasSuffix(imp, "/internal/store"), strings.Contains(imp, "/internal/store/"),
			strings.HasSuffix(imp, "/internal/rbac"), strings.HasSuffix(imp, "/internal/blob"):
			t.Errorf("package ui imports %s", imp)
		}
	}
}
