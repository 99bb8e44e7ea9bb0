package registry_test

import (
	"testing"
)

// TestDescriptorsWithoutMediaType: a manifest whose layer (or config)
// descriptors leave out mediaType is accepted, as distribution (Harbor's
// registry) accepts it and goharbor/perf pushes it; every blob it names
// must still exist and be readable by the repository, urls or not.
func TestDescriptorsWithoutMediaType(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addProject("other", false, 1)
		cfg := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
		layer, otherLayer := randomBytes(400), randomBytes(500)
		cfgD, layerD := e.pushBlob("library/perf", cfg), e.pushBlob("library/perf", layer)
		otherD := e.pushBlob("other/app", otherLayer)
		ct := map[string]string{"Content-Type": mtOCIManifest}
		m := func(config map[string]any, layers ...map[string]any) string {
			return string(mustJSON(map[string]any{"schemaVersion": 2, "mediaType": mtOCIManifest, "config": config, "layers": layers}))
		}
		config := map[string]any{"mediaType": mtOCIConfig, "digest": cfgD, "size": len(cfg)}
		bare := func(d string, n int) map[string]any { return map[string]any{"digest": d, "size": n} }
		urls := []string{"https://example.invalid/blob"}
		e.run(t, []step{
			{name: "layer without mediaType", method: "PUT", path: "/v2/library/perf/manifests/v1", header: ct,
				body: m(config, bare(layerD, len(layer))), status: 201},
			{name: "read back", method: "GET", path: "/v2/library/perf/manifests/v1", header: map[string]string{"Accept": mtOCIManifest},
				status: 200, want: map[string]string{"Content-Type": mtOCIManifest}},
			{name: "config without mediaType", method: "PUT", path: "/v2/library/perf/manifests/v2", header: ct,
				body: m(bare(cfgD, len(cfg)), bare(layerD, len(layer))), status: 201},
			{name: "artifact listed", method: "GET", path: "/api/v2.0/projects/library/repositories/perf/artifacts/v2", status: 200},
			{name: "missing layer still refused", method: "PUT", path: "/v2/library/perf/manifests/v3", header: ct,
				body: m(config, bare(sha256Of([]byte("nowhere")), 7)), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
			{name: "another project's layer refused", method: "PUT", path: "/v2/library/perf/manifests/v4", header: ct,
				body: m(config, bare(otherD, len(otherLayer))), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
			{name: "urls without mediaType do not exempt the layer", method: "PUT", path: "/v2/library/perf/manifests/v5", header: ct,
				body: m(config, map[string]any{"digest": otherD, "size": len(otherLayer), "urls": urls}), status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
			{name: "config with urls still refused", method: "PUT", path: "/v2/library/perf/manifests/v6", header: ct,
				body: m(map[string]any{"digest": cfgD, "size": len(cfg), "urls": urls}, bare(layerD, len(layer))), status: 400, code: "MANIFEST_INVALID"},
			{name: "bad digest still refused", method: "PUT", path: "/v2/library/perf/manifests/v7", header: ct,
				body: m(config, bare("sha256:xyz", 1)), status: 400, code: "MANIFEST_INVALID"},
		})
	})
}
