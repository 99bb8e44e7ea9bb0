package registry_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/store"
)

// TestForeignDescriptorsReadNothing: a manifest pushed into one's own
// project that names another project's blobs by digest, with urls (which
// exempt a non-distributable layer from the check that the repository holds
// it), makes none of them readable: not a private config (its Env through
// extra_attrs and build history), not a layer over /v2, not a chart's
// files through the API's additions.
func TestForeignDescriptorsReadNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		mallory := e.addUser("mallory")
		e.addProject("victim", false, 1)
		e.addProject("mal", false, mallory)

		// The victim's private image and chart.
		secretCfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["DB_PASSWORD=hunter2-secret"]},` +
			`"history":[{"created_by":"RUN echo hunter2-secret"}],"rootfs":{"type":"layers","diff_ids":[]}}`)
		secretLayer := randomBytes(700)
		cfgD, layerD := e.pushBlob("victim/app", secretCfg), e.pushBlob("victim/app", secretLayer)
		e.pushManifest("victim/app", "v1", mtOCIManifest, mustJSON(manifest{SchemaVersion: 2, MediaType: mtOCIManifest,
			Config: &descriptor{MediaType: mtOCIConfig, Digest: cfgD, Size: int64(len(secretCfg))},
			Layers: []descriptor{{MediaType: mtOCILayer, Digest: layerD, Size: int64(len(secretLayer))}}}))
		chartCfg := []byte(`{"name":"secret","version":"1.0.0","apiVersion":"v2"}`)
		chart := chartArchive(t, "secret", map[string]string{"Chart.yaml": "name: secret\nversion: 1.0.0\n",
			"README.md": "hunter2-secret readme", "values.yaml": "password: hunter2-secret\n"})
		chartCfgD, chartD := e.pushBlob("victim/chart", chartCfg), e.pushBlob("victim/chart", chart)
		e.pushManifest("victim/chart", "1.0.0", mtOCIManifest, mustJSON(manifest{SchemaVersion: 2, MediaType: mtOCIManifest,
			Config: &descriptor{MediaType: "application/vnd.cncf.helm.config.v1+json", Digest: chartCfgD, Size: int64(len(chartCfg))},
			Layers: []descriptor{{MediaType: "application/vnd.cncf.helm.chart.content.v1.tar+gzip", Digest: chartD, Size: int64(len(chart))}}}))

		// Mallory's own blobs, for what she does push honestly.
		ownCfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		ownLayer := randomBytes(300)
		ownCfgD, ownLayerD := e.pushBlobAs("mallory", "mal/app", ownCfg), e.pushBlobAs("mallory", "mal/app", ownLayer)
		ownChartCfgD := e.pushBlobAs("mallory", "mal/chart", chartCfg)

		urls := []string{"https://example.invalid/blob"}
		stealCfg := mustJSON(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest,
			"config": map[string]any{"mediaType": mtOCIConfig, "digest": cfgD, "size": len(secretCfg), "urls": urls},
			"layers": []any{map[string]any{"mediaType": mtOCILayer, "digest": ownLayerD, "size": len(ownLayer)}}})
		foreignLayer := mustJSON(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest,
			"config": map[string]any{"mediaType": mtOCIConfig, "digest": ownCfgD, "size": len(ownCfg)},
			"layers": []any{map[string]any{"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
				"digest": layerD, "size": len(secretLayer), "urls": urls}}})
		stealChart := mustJSON(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest,
			"config": map[string]any{"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": ownChartCfgD, "size": len(chartCfg)},
			"layers": []any{map[string]any{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
				"digest": chartD, "size": len(chart), "urls": urls}}})
		noSecret := func(t *testing.T, _ http.Header, body []byte) {
			t.Helper()
			if bytes.Contains(body, []byte("hunter2")) {
				t.Errorf("the victim's secret is readable: %s", truncate(body))
			}
		}
		e.vars["steal"], e.vars["foreign"], e.vars["chart"] = sha256Of(stealCfg), sha256Of(foreignLayer), sha256Of(stealChart)
		e.vars["layer"] = layerD
		e.run(t, []step{
			{name: "config with urls refused", as: "mallory", method: "PUT", path: "/v2/mal/app/manifests/steal",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(stealCfg), status: 400, code: "MANIFEST_INVALID"},
			{name: "no artifact", as: "mallory", method: "GET", path: "/api/v2.0/projects/mal/repositories/app/artifacts/{steal}",
				status: 404, code: "NOT_FOUND", check: noSecret},
			{name: "foreign layer accepted", as: "mallory", method: "PUT", path: "/v2/mal/app/manifests/foreign",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(foreignLayer), status: 201},
			{name: "foreign layer not readable", as: "mallory", method: "GET", path: "/v2/mal/app/blobs/{layer}",
				status: 404, code: "BLOB_UNKNOWN", check: noSecret},
			{name: "foreign layer not stat-able", as: "mallory", method: "HEAD", path: "/v2/mal/app/blobs/{layer}",
				status: 404, code: "BLOB_UNKNOWN"},
			{name: "foreign layer not mountable", as: "mallory", method: "POST", path: "/v2/mal/app/blobs/uploads/?mount={layer}",
				status: 202},
			{name: "mount from the victim not mountable", as: "mallory", method: "POST",
				path: "/v2/mal/app/blobs/uploads/?mount={layer}&from=victim/app", status: 202},
			{name: "still not readable", as: "mallory", method: "GET", path: "/v2/mal/app/blobs/{layer}",
				status: 404, code: "BLOB_UNKNOWN", check: noSecret},
			{name: "chart with a foreign archive", as: "mallory", method: "PUT", path: "/v2/mal/chart/manifests/1.0.0",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(stealChart), status: 201},
			{name: "chart readme not readable", as: "mallory", method: "GET",
				path: "/api/v2.0/projects/mal/repositories/chart/artifacts/{chart}/additions/readme.md", status: 404, code: "NOT_FOUND", check: noSecret},
			{name: "chart values not readable", as: "mallory", method: "GET",
				path: "/api/v2.0/projects/mal/repositories/chart/artifacts/{chart}/additions/values.yaml", status: 404, code: "NOT_FOUND", check: noSecret},
			{name: "chart artifact shows nothing of the victim's", as: "mallory", method: "GET",
				path: "/api/v2.0/projects/mal/repositories/chart/artifacts/{chart}", status: 200, check: noSecret},
			// The owner still reads their own.
			{name: "victim reads own readme", method: "GET",
				path: "/api/v2.0/projects/victim/repositories/chart/artifacts/1.0.0/additions/readme.md", status: 200,
				check: func(t *testing.T, _ http.Header, body []byte) {
					if string(body) != "hunter2-secret readme" {
						t.Errorf("readme %q", body)
					}
				}},
			{name: "victim reads own history", method: "GET",
				path: "/api/v2.0/projects/victim/repositories/app/artifacts/v1/additions/build_history", status: 200,
				check: jsonCheck(`[{"created_by":"RUN echo hunter2-secret"}]`)},
		})
	})
}

// TestForeignConfigStoredBefore: an artifact stored before configs with
// urls were refused (the row written as that push wrote it) shows nothing
// of the other project's config: no build history, no derived extra_attrs.
func TestForeignConfigStoredBefore(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		mallory := e.addUser("mallory")
		e.addProject("victim", false, 1)
		e.addProject("mal", false, mallory)
		secretCfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Env":["DB_PASSWORD=hunter2-secret"]},` +
			`"history":[{"created_by":"RUN echo hunter2-secret"}],"rootfs":{"type":"layers","diff_ids":[]}}`)
		cfgD := e.pushBlob("victim/app", secretCfg)
		ownLayer := randomBytes(300)
		ownLayerD := e.pushBlobAs("mallory", "mal/app", ownLayer)
		// Written straight into the store, as the registry did on b70d8b5:
		// the config with urls was not among the blobs checked.
		body := mustJSON(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest,
			"config": map[string]any{"mediaType": mtOCIConfig, "digest": cfgD, "size": len(secretCfg), "urls": []string{"https://example.invalid/c"}},
			"layers": []any{map[string]any{"mediaType": mtOCILayer, "digest": ownLayerD, "size": len(ownLayer)}}})
		e.storeManifest("mal/app", "old", mtOCIManifest, mtOCIConfig, body, []string{ownLayerD})
		noSecret := func(t *testing.T, _ http.Header, body []byte) {
			t.Helper()
			if bytes.Contains(body, []byte("hunter2")) {
				t.Errorf("the victim's secret is readable: %s", truncate(body))
			}
		}
		e.run(t, []step{
			{name: "artifact", as: "mallory", method: "GET", path: "/api/v2.0/projects/mal/repositories/app/artifacts/old", status: 200, check: noSecret},
			{name: "listing", as: "mallory", method: "GET", path: "/api/v2.0/projects/mal/repositories/app/artifacts", status: 200, check: noSecret},
			{name: "build history", as: "mallory", method: "GET", path: "/api/v2.0/projects/mal/repositories/app/artifacts/old/additions/build_history",
				status: 404, code: "NOT_FOUND", check: noSecret},
		})
	})
}

// chartArchive is a gzipped tar of files under dir/.
func chartArchive(t *testing.T, dir string, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: dir + "/" + name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.Copy(tw, strings.NewReader(content))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// pushBlobAs uploads content to repo in one POST as user and returns its digest.
func (e *env) pushBlobAs(user, repo string, content []byte) string {
	e.t.Helper()
	d := sha256Of(content)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v2/"+repo+"/blobs/uploads/?digest="+d, bytes.NewReader(content))
	req.SetBasicAuth(user, userPassword)
	req.Header.Set("Content-Type", "application/octet-stream")
	e.mustStatus(req, http.StatusCreated)
	return d
}

// storeManifest records body in repo under tag straight in the metadata
// store, bypassing the registry's checks (a row an older version wrote).
func (e *env) storeManifest(repo, tag, mediaType, configType string, body []byte, blobs []string) {
	e.t.Helper()
	ctx := context.Background()
	projectName, _, _ := strings.Cut(repo, "/")
	p, err := e.srv.App.DB.ProjectByName(ctx, projectName)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.srv.App.DB.PutManifest(ctx, store.ManifestPut{ProjectID: p.ID, Repository: repo, Digest: sha256Of(body),
		Kind: "IMAGE", MediaType: mediaType, ConfigMediaType: configType, ArtifactType: configType, Size: int64(len(body)),
		Body: body, Blobs: blobs, Tags: []string{tag}}); err != nil {
		e.t.Fatal(err)
	}
}
