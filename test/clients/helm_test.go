package clients_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testserver"
)

const helmConfigType = "application/vnd.cncf.helm.config.v1+json"

// makeChart writes a tiny chart named name at version into a new directory
// and returns the directory.
func makeChart(t *testing.T, name, version string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	writeFile(t, dir, "Chart.yaml", []byte("apiVersion: v2\nname: "+name+"\ndescription: A chart made by Berth's client tests\ntype: application\nversion: "+version+"\nappVersion: \"1.0\"\n"))
	writeFile(t, dir, "values.yaml", []byte("greeting: hello\nreplicas: 1\n"))
	writeFile(t, dir, "templates/configmap.yaml", []byte(
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  greeting: {{ .Values.greeting | quote }}\n"))
	return dir
}

// manifestOf fetches the manifest of repo:ref from srv with admin's Basic
// credentials.
func manifestOf(t *testing.T, srv *testserver.Process, repo, ref string) (map[string]any, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(adminUser, testserver.AdminPassword)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s:%s: %s\n%s", repo, ref, resp.Status, body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("manifest is not JSON: %v", err)
	}
	return m, resp.Header.Get("Content-Type")
}

// TestHelm packages a generated chart with the helm CLI, pushes two versions
// to oci://HOST/library (one with build metadata, stored under a tag with
// "_" for "+"), pulls them back (by version, by latest, anonymously) and
// checks the stored manifest carries Helm's config media type.
func TestHelm(t *testing.T) {
	helm := tool(t, "helm")
	eachBackend(t, func(t *testing.T, srv *testserver.Process) {
		c := newCLI(t)
		c.run([]byte(testserver.AdminPassword+"\n"), helm, "registry", "login", srv.Addr,
			"--username", adminUser, "--password-stdin", "--plain-http")

		const chart = "berth-demo"
		pkgDir := t.TempDir()
		versions := []string{"0.1.0", "0.2.0+build.7"}
		packages := map[string][]byte{}
		for _, v := range versions {
			c.run(nil, helm, "package", makeChart(t, chart, v), "--destination", pkgDir)
			tgz := filepath.Join(pkgDir, chart+"-"+v+".tgz")
			packages[v] = readFile(t, tgz)
			c.run(nil, helm, "push", tgz, "oci://"+srv.Addr+"/library", "--plain-http")
		}

		for _, v := range versions {
			out := t.TempDir()
			c.run(nil, helm, "pull", "oci://"+srv.Addr+"/library/"+chart, "--version", v, "--plain-http", "--destination", out)
			if got := readFile(t, filepath.Join(out, chart+"-"+v+".tgz")); !bytes.Equal(got, packages[v]) {
				t.Fatalf("pulled %s: %d bytes differ from the %d pushed", v, len(got), len(packages[v]))
			}

			tag := strings.ReplaceAll(v, "+", "_")
			m, ct := manifestOf(t, srv, "library/"+chart, tag)
			if ct != "application/vnd.oci.image.manifest.v1+json" {
				t.Fatalf("manifest Content-Type %q", ct)
			}
			cfg, _ := m["config"].(map[string]any)
			if cfg["mediaType"] != helmConfigType {
				t.Fatalf("config media type %v, want %s", cfg["mediaType"], helmConfigType)
			}
			layers, _ := m["layers"].([]any)
			if len(layers) != 1 || layers[0].(map[string]any)["mediaType"] != "application/vnd.cncf.helm.chart.content.v1.tar+gzip" {
				t.Fatalf("chart layers %v", layers)
			}
		}

		// Anonymous, without a version: helm lists the tags and takes the
		// highest semantic version.
		anon := newCLI(t)
		out := t.TempDir()
		anon.run(nil, helm, "pull", "oci://"+srv.Addr+"/library/"+chart, "--plain-http", "--destination", out)
		if got := readFile(t, filepath.Join(out, chart+"-0.2.0+build.7.tgz")); !bytes.Equal(got, packages["0.2.0+build.7"]) {
			t.Fatal("anonymous pull of the latest version differs from the pushed package")
		}
		show := anon.run(nil, helm, "show", "chart", "oci://"+srv.Addr+"/library/"+chart, "--version", "0.1.0", "--plain-http")
		if !strings.Contains(show, "name: "+chart) || !strings.Contains(show, "version: 0.1.0") {
			t.Fatalf("helm show chart:\n%s", show)
		}
		// Anonymous push is refused.
		anon.fails("401", helm, "push", filepath.Join(pkgDir, chart+"-0.1.0.tgz"), "oci://"+srv.Addr+"/library", "--plain-http")
	})
}
