package registry_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
)

// TestManifestTypes pushes each manifest format and reads it back by tag and
// digest, with and without Accept, checking the stored media type comes back.
func TestManifestTypes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		ociImg := e.image("library/app", false)
		dockerImg := e.image("library/app", true)
		ociImg2 := e.image("library/app", false)
		cases := []struct {
			name, mediaType string
			body            []byte
		}{
			{"oci-manifest", mtOCIManifest, ociImg},
			{"docker-manifest", mtDockerManifest, dockerImg},
			{"oci-index", mtOCIIndex, index(mtOCIIndex, ociImg, ociImg2)},
			{"docker-list", mtDockerList, index(mtDockerList, dockerImg)},
		}
		allTypes := strings.Join([]string{mtOCIManifest, mtOCIIndex, mtDockerManifest, mtDockerList}, ", ")
		var steps []step
		for _, c := range cases {
			d := sha256Of(c.body)
			e.vars[c.name] = d
			ct := map[string]string{"Content-Type": c.mediaType}
			got := map[string]string{"Content-Type": c.mediaType, "Docker-Content-Digest": d, "Content-Length": itoa(len(c.body))}
			steps = append(steps, []step{
				{name: c.name + " PUT by tag", method: "PUT", path: "/v2/library/app/manifests/" + c.name, header: ct, body: string(c.body), status: 201,
					want: map[string]string{"Location": "/v2/library/app/manifests/" + d, "Docker-Content-Digest": d, "OCI-Subject": "-", "OCI-Tag": "-"}},
				{name: c.name + " GET by tag without Accept", method: "GET", path: "/v2/library/app/manifests/" + c.name, status: 200,
					want: got, wantBody: string(c.body)},
				{name: c.name + " GET by tag with Accept", method: "GET", path: "/v2/library/app/manifests/" + c.name,
					header: map[string]string{"Accept": allTypes}, status: 200, want: got, wantBody: string(c.body)},
				{name: c.name + " GET by digest", method: "GET", path: "/v2/library/app/manifests/" + d, status: 200, want: got, wantBody: string(c.body)},
				{name: c.name + " HEAD by tag", method: "HEAD", path: "/v2/library/app/manifests/" + c.name, status: 200, want: got},
				{name: c.name + " HEAD by digest", method: "HEAD", path: "/v2/library/app/manifests/" + d, status: 200, want: got},
				{name: c.name + " PUT by digest", method: "PUT", path: "/v2/library/copy/manifests/" + d, header: ct, body: string(c.body), status: 201,
					want: map[string]string{"Docker-Content-Digest": d, "OCI-Tag": "-"}},
				{name: c.name + " copy GET", method: "GET", path: "/v2/library/copy/manifests/" + d, status: 200, want: got},
			}...)
		}
		// A manifest without mediaType and without Content-Type is told by its shape.
		var bare map[string]any
		json.Unmarshal(e.image("library/app", false), &bare)
		delete(bare, "mediaType")
		bareBody := mustJSON(bare)
		steps = append(steps, []step{
			{name: "no mediaType, no Content-Type", method: "PUT", path: "/v2/library/app/manifests/bare", body: string(bareBody), status: 201},
			{name: "no mediaType read back as OCI", method: "GET", path: "/v2/library/app/manifests/bare", status: 200,
				want: map[string]string{"Content-Type": mtOCIManifest}, wantBody: string(bareBody)},
			{name: "no mediaType, Content-Type says OCI", method: "PUT", path: "/v2/library/app/manifests/bare2",
				header: map[string]string{"Content-Type": mtOCIManifest}, body: string(bareBody), status: 201},
			{name: "If-None-Match", method: "GET", path: "/v2/library/app/manifests/oci-manifest",
				header: map[string]string{"If-None-Match": `"{oci-manifest}"`}, status: 304},
			{name: "tags", method: "GET", path: "/v2/library/app/tags/list", status: 200,
				check: jsonCheck(`{"name":"library/app","tags":["bare","bare2","docker-list","docker-manifest","oci-index","oci-manifest"]}`)},
			{name: "copy has no tags", method: "GET", path: "/v2/library/copy/tags/list", status: 200, check: jsonCheck(`{"name":"library/copy","tags":[]}`)},
		}...)
		e.run(t, steps)
	})
}

// TestManifestLifecycle covers tags moving, deletes and ?tag= on PUT by digest.
func TestManifestLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		one, two := e.image("library/app", false), e.image("library/app", false)
		e.vars["one"], e.vars["two"] = sha256Of(one), sha256Of(two)
		ct := map[string]string{"Content-Type": mtOCIManifest}
		e.run(t, []step{
			{name: "push one as latest", method: "PUT", path: "/v2/library/app/manifests/latest", header: ct, body: string(one), status: 201},
			{name: "latest is one", method: "HEAD", path: "/v2/library/app/manifests/latest", status: 200, want: map[string]string{"Docker-Content-Digest": "{one}"}},
			{name: "push two as latest", method: "PUT", path: "/v2/library/app/manifests/latest", header: ct, body: string(two), status: 201},
			{name: "latest moved to two", method: "GET", path: "/v2/library/app/manifests/latest", status: 200,
				want: map[string]string{"Docker-Content-Digest": "{two}"}, wantBody: string(two)},
			{name: "one still there by digest", method: "GET", path: "/v2/library/app/manifests/{one}", status: 200, wantBody: string(one)},
			{name: "push same again is idempotent", method: "PUT", path: "/v2/library/app/manifests/latest", header: ct, body: string(two), status: 201},

			{name: "PUT by digest with tags", method: "PUT", path: "/v2/library/app/manifests/{one}?tag=v1&tag=stable", header: ct, body: string(one),
				status: 201, want: map[string]string{"OCI-Tag": "v1,stable", "Docker-Content-Digest": "{one}"}},
			{name: "v1 set", method: "HEAD", path: "/v2/library/app/manifests/v1", status: 200, want: map[string]string{"Docker-Content-Digest": "{one}"}},
			{name: "stable set", method: "HEAD", path: "/v2/library/app/manifests/stable", status: 200, want: map[string]string{"Docker-Content-Digest": "{one}"}},
			{name: "PUT by digest with a bad tag", method: "PUT", path: "/v2/library/app/manifests/{one}?tag=-bad", header: ct, body: string(one),
				status: 400, code: "MANIFEST_INVALID"},
			{name: "PUT by an invalid tag", method: "PUT", path: "/v2/library/app/manifests/.hidden", header: ct, body: string(one),
				status: 400, code: "MANIFEST_INVALID"},
			{name: "tags", method: "GET", path: "/v2/library/app/tags/list", status: 200, check: jsonCheck(`{"name":"library/app","tags":["latest","stable","v1"]}`)},

			{name: "DELETE tag", method: "DELETE", path: "/v2/library/app/manifests/stable", status: 202},
			{name: "deleted tag gone", method: "GET", path: "/v2/library/app/manifests/stable", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "artifact stays after tag delete", method: "HEAD", path: "/v2/library/app/manifests/v1", status: 200},
			{name: "DELETE tag again", method: "DELETE", path: "/v2/library/app/manifests/stable", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "DELETE by digest", method: "DELETE", path: "/v2/library/app/manifests/{one}", status: 202},
			{name: "GET deleted digest", method: "GET", path: "/v2/library/app/manifests/{one}", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "HEAD deleted digest", method: "HEAD", path: "/v2/library/app/manifests/{one}", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "its tags went with it", method: "GET", path: "/v2/library/app/manifests/v1", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "other artifact intact", method: "GET", path: "/v2/library/app/manifests/latest", status: 200, wantBody: string(two)},
			{name: "DELETE by digest again", method: "DELETE", path: "/v2/library/app/manifests/{one}", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "DELETE bad digest", method: "DELETE", path: "/v2/library/app/manifests/sha256:xyz", status: 400, code: "DIGEST_INVALID"},
			{name: "tags after deletes", method: "GET", path: "/v2/library/app/tags/list", status: 200, check: jsonCheck(`{"name":"library/app","tags":["latest"]}`)},
			{name: "re-push deleted", method: "PUT", path: "/v2/library/app/manifests/v1", header: ct, body: string(one), status: 201},
			{name: "re-pushed readable", method: "GET", path: "/v2/library/app/manifests/v1", status: 200, wantBody: string(one)},

			{name: "unknown tag", method: "GET", path: "/v2/library/app/manifests/nope", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "unknown tag HEAD", method: "HEAD", path: "/v2/library/app/manifests/nope", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "unknown repository", method: "GET", path: "/v2/library/nothing/manifests/latest", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "unknown digest", method: "GET", path: "/v2/library/app/manifests/" + sha256Of([]byte("nothing")), status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "bad digest", method: "GET", path: "/v2/library/app/manifests/sha256:short", status: 400, code: "DIGEST_INVALID"},
			{name: "other repository does not see it", method: "GET", path: "/v2/library/other/manifests/{two}", status: 404, code: "MANIFEST_UNKNOWN"},
		})
	})
}

// TestManifestErrors covers every way a manifest PUT is refused, and checks
// that a refused PUT stores nothing.
func TestManifestErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		img := e.image("library/app", false)
		e.pushManifest("library/app", "v1", mtOCIManifest, img)
		e.vars["img"] = sha256Of(img)
		var m manifest
		json.Unmarshal(img, &m)

		missing := m
		missing.Layers = []descriptor{{MediaType: mtOCILayer, Digest: sha256Of([]byte("never pushed")), Size: 12}}
		missingBody := mustJSON(missing)
		e.vars["missingdigest"] = sha256Of(missingBody)

		huge := m
		huge.Annotations = map[string]string{"pad": strings.Repeat("x", oci.MaxManifestSize)}
		hugeBody := string(mustJSON(huge))
		e.vars["hugedigest"] = sha256Of([]byte(hugeBody))

		schema1 := `{"schemaVersion":1,"name":"library/app","tag":"old","architecture":"amd64","fsLayers":[],"history":[],"signatures":[]}`
		badLayer := m
		badLayer.Layers = []descriptor{{MediaType: mtOCILayer, Digest: "sha256:nothex", Size: 1}}
		noConfig := m
		noConfig.Config = nil
		v1 := m
		v1.SchemaVersion = 1
		ct := map[string]string{"Content-Type": mtOCIManifest}
		e.run(t, []step{
			{name: "digest mismatch", method: "PUT", path: "/v2/library/app/manifests/" + sha256Of([]byte("other")), header: ct, body: string(img),
				status: 400, code: "DIGEST_INVALID"},
			{name: "malformed digest", method: "PUT", path: "/v2/library/app/manifests/sha256:0", header: ct, body: string(img),
				status: 400, code: "DIGEST_INVALID"},
			{name: "malformed JSON", method: "PUT", path: "/v2/library/app/manifests/bad", header: ct, body: `{"schemaVersion":2,`,
				status: 400, code: "MANIFEST_INVALID"},
			{name: "empty body", method: "PUT", path: "/v2/library/app/manifests/bad", header: ct, status: 400, code: "MANIFEST_INVALID"},
			{name: "not an object", method: "PUT", path: "/v2/library/app/manifests/bad", header: ct, body: `[1,2]`, status: 400, code: "MANIFEST_INVALID"},
			{name: "schemaVersion 1 with v2 type", method: "PUT", path: "/v2/library/app/manifests/bad", header: ct, body: string(mustJSON(v1)),
				status: 400, code: "MANIFEST_INVALID"},
			{name: "no config", method: "PUT", path: "/v2/library/app/manifests/bad", header: ct, body: string(mustJSON(noConfig)),
				status: 400, code: "MANIFEST_INVALID"},
			{name: "layer with bad digest", method: "PUT", path: "/v2/library/app/manifests/bad", header: ct, body: string(mustJSON(badLayer)),
				status: 400, code: "MANIFEST_INVALID"},
			{name: "Content-Type disagrees with mediaType", method: "PUT", path: "/v2/library/app/manifests/bad",
				header: map[string]string{"Content-Type": mtDockerManifest}, body: string(img), status: 400, code: "MANIFEST_INVALID"},
			{name: "unknown media type", method: "PUT", path: "/v2/library/app/manifests/bad",
				header: map[string]string{"Content-Type": "application/vnd.example+json"}, body: `{"schemaVersion":2}`, status: 400, code: "MANIFEST_INVALID"},
			{name: "schema1", method: "PUT", path: "/v2/library/app/manifests/old",
				header: map[string]string{"Content-Type": oci.MediaTypeDockerSchema1}, body: schema1, status: 405, code: "UNSUPPORTED"},
			{name: "signed schema1", method: "PUT", path: "/v2/library/app/manifests/old",
				header: map[string]string{"Content-Type": oci.MediaTypeSchema1Signed}, body: schema1, status: 405, code: "UNSUPPORTED"},

			{name: "missing blob", method: "PUT", path: "/v2/library/app/manifests/broken", header: ct, body: string(missingBody),
				status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
			{name: "missing blob: tag not created", method: "GET", path: "/v2/library/app/manifests/broken", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "missing blob: digest not stored", method: "HEAD", path: "/v2/library/app/manifests/{missingdigest}", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "missing blob in a new repository", method: "PUT", path: "/v2/library/fresh/manifests/v1", header: ct, body: string(missingBody),
				status: 400, code: "MANIFEST_BLOB_UNKNOWN"},
			{name: "new repository not created", method: "GET", path: "/v2/library/fresh/tags/list", status: 404, code: "NAME_UNKNOWN"},

			{name: "too large", method: "PUT", path: "/v2/library/app/manifests/huge", header: ct, body: hugeBody,
				status: 413, code: "MANIFEST_TOO_LARGE"},
			{name: "too large, streamed", method: "PUT", path: "/v2/library/app/manifests/huge", header: ct, body: hugeBody, chunked: true,
				status: 413, code: "MANIFEST_TOO_LARGE"},
			{name: "too large by digest", method: "PUT", path: "/v2/library/app/manifests/{hugedigest}", header: ct, body: hugeBody,
				status: 413, code: "MANIFEST_TOO_LARGE"},
			{name: "too large: tag not created", method: "HEAD", path: "/v2/library/app/manifests/huge", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "too large: digest not stored", method: "HEAD", path: "/v2/library/app/manifests/{hugedigest}", status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "too large in a new repository", method: "PUT", path: "/v2/library/fresh/manifests/v1", header: ct, body: hugeBody,
				status: 413, code: "MANIFEST_TOO_LARGE"},
			{name: "nothing new in the catalog", method: "GET", path: "/v2/_catalog", status: 200, check: jsonCheck(`{"repositories":["library/app"]}`)},
			{name: "nothing new in tags", method: "GET", path: "/v2/library/app/tags/list", status: 200, check: jsonCheck(`{"name":"library/app","tags":["v1"]}`)},
			{name: "original intact", method: "GET", path: "/v2/library/app/manifests/v1", status: 200, wantBody: string(img)},
		})
	})
}

// TestManifestSizeLimit checks the 4 MiB limit is inclusive.
func TestManifestSizeLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var m manifest
		json.Unmarshal(e.image("library/app", false), &m)
		m.Annotations = map[string]string{"pad": ""}
		pad := oci.MaxManifestSize - len(mustJSON(m))
		m.Annotations["pad"] = strings.Repeat("y", pad)
		body := mustJSON(m)
		if len(body) != oci.MaxManifestSize {
			t.Fatalf("built %d bytes, want %d", len(body), oci.MaxManifestSize)
		}
		e.vars["d"] = sha256Of(body)
		e.run(t, []step{
			{name: "exactly 4 MiB", method: "PUT", path: "/v2/library/app/manifests/max", header: map[string]string{"Content-Type": mtOCIManifest},
				body: string(body), status: 201},
			{name: "read back", method: "GET", path: "/v2/library/app/manifests/max", status: 200,
				want: map[string]string{"Content-Length": itoa(oci.MaxManifestSize), "Docker-Content-Digest": "{d}"}},
		})
	})
}

// TestSHA512Manifest pushes a manifest by a sha512 digest.
func TestSHA512Manifest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		img := e.image("library/app", false)
		e.vars["d"] = sha512Of(img)
		e.run(t, []step{
			{name: "PUT by sha512", method: "PUT", path: "/v2/library/app/manifests/{d}?tag=v512", header: map[string]string{"Content-Type": mtOCIManifest},
				body: string(img), status: 201, want: map[string]string{"Docker-Content-Digest": "{d}", "Location": "/v2/library/app/manifests/{d}"}},
			{name: "GET by sha512", method: "GET", path: "/v2/library/app/manifests/{d}", status: 200, wantBody: string(img),
				want: map[string]string{"Docker-Content-Digest": "{d}"}},
			{name: "GET by tag", method: "GET", path: "/v2/library/app/manifests/v512", status: 200, want: map[string]string{"Docker-Content-Digest": "{d}"}},
			{name: "sha512 mismatch", method: "PUT", path: "/v2/library/app/manifests/" + sha512Of([]byte("x")), header: map[string]string{"Content-Type": mtOCIManifest},
				body: string(img), status: 400, code: "DIGEST_INVALID"},
		})
	})
}

// TestReferrers covers the OCI 1.1 referrers API.
func TestReferrers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		img := e.image("library/app", false)
		subject := e.pushManifest("library/app", "v1", mtOCIManifest, img)
		e.vars["subject"] = subject
		empty := e.pushBlob("library/app", []byte("{}"))
		payload := e.pushBlob("library/app", []byte("sbom payload"))
		artifact := func(artifactType string, annotations map[string]string) []byte {
			return mustJSON(manifest{SchemaVersion: 2, MediaType: mtOCIManifest, ArtifactType: artifactType,
				Config:      &descriptor{MediaType: mtEmpty, Digest: empty, Size: 2},
				Layers:      []descriptor{{MediaType: "application/octet-stream", Digest: payload, Size: 12}},
				Subject:     &descriptor{MediaType: mtOCIManifest, Digest: subject, Size: int64(len(img))},
				Annotations: annotations})
		}
		sbom := artifact("application/vnd.example.sbom", map[string]string{"org.example.kind": "sbom"})
		sig := artifact("application/vnd.example.sig", nil)
		// An artifact typed by its config media type (no artifactType field).
		cfgTyped := mustJSON(manifest{SchemaVersion: 2, MediaType: mtOCIManifest,
			Config:  &descriptor{MediaType: "application/vnd.example.config.v1+json", Digest: payload, Size: 12},
			Layers:  []descriptor{},
			Subject: &descriptor{MediaType: mtOCIManifest, Digest: subject, Size: int64(len(img))}})
		e.vars["sbom"], e.vars["sig"], e.vars["cfg"] = sha256Of(sbom), sha256Of(sig), sha256Of(cfgTyped)
		ct := map[string]string{"Content-Type": mtOCIManifest}
		desc := func(body []byte, at, extra string) string {
			return `{"mediaType":"` + mtOCIManifest + `","digest":"` + sha256Of(body) + `","size":` + itoa(len(body)) + `,"artifactType":"` + at + `"` + extra + `}`
		}
		sbomDesc := desc(sbom, "application/vnd.example.sbom", `,"annotations":{"org.example.kind":"sbom"}`)
		sigDesc := desc(sig, "application/vnd.example.sig", "")
		cfgDesc := desc(cfgTyped, "application/vnd.example.config.v1+json", "")
		index := func(descs ...string) string {
			return `{"schemaVersion":2,"mediaType":"` + mtOCIIndex + `","manifests":[` + strings.Join(descs, ",") + `]}`
		}
		e.run(t, []step{
			{name: "none yet", method: "GET", path: "/v2/library/app/referrers/{subject}", status: 200,
				want: map[string]string{"Content-Type": mtOCIIndex, "OCI-Filters-Applied": "-"}, check: jsonCheck(index())},
			{name: "push sbom by digest", method: "PUT", path: "/v2/library/app/manifests/{sbom}", header: ct, body: string(sbom), status: 201,
				want: map[string]string{"OCI-Subject": "{subject}"}},
			{name: "push sig by tag", method: "PUT", path: "/v2/library/app/manifests/sig", header: ct, body: string(sig), status: 201,
				want: map[string]string{"OCI-Subject": "{subject}"}},
			{name: "push config-typed", method: "PUT", path: "/v2/library/app/manifests/{cfg}", header: ct, body: string(cfgTyped), status: 201,
				want: map[string]string{"OCI-Subject": "{subject}"}},
			{name: "all referrers", method: "GET", path: "/v2/library/app/referrers/{subject}", status: 200,
				want: map[string]string{"Content-Type": mtOCIIndex, "OCI-Filters-Applied": "-"}, check: jsonCheck(index(sbomDesc, sigDesc, cfgDesc))},
			{name: "filtered", method: "GET", path: "/v2/library/app/referrers/{subject}?artifactType=application/vnd.example.sbom", status: 200,
				want: map[string]string{"Content-Type": mtOCIIndex, "OCI-Filters-Applied": "artifactType"}, check: jsonCheck(index(sbomDesc))},
			{name: "filtered by config type", method: "GET", path: "/v2/library/app/referrers/{subject}?artifactType=application/vnd.example.config.v1%2Bjson",
				status: 200, want: map[string]string{"OCI-Filters-Applied": "artifactType"}, check: jsonCheck(index(cfgDesc))},
			{name: "filter matching nothing", method: "GET", path: "/v2/library/app/referrers/{subject}?artifactType=application/none", status: 200,
				want: map[string]string{"OCI-Filters-Applied": "artifactType"}, check: jsonCheck(index())},
			{name: "anonymous on public", as: "anon", method: "GET", path: "/v2/library/app/referrers/{subject}", status: 200, check: jsonCheck(index(sbomDesc, sigDesc, cfgDesc))},
			{name: "unknown subject", method: "GET", path: "/v2/library/app/referrers/" + sha256Of([]byte("unknown")), status: 200,
				want: map[string]string{"Content-Type": mtOCIIndex}, check: jsonCheck(index())},
			{name: "unknown repository", method: "GET", path: "/v2/library/nothing/referrers/{subject}", status: 200, check: jsonCheck(index())},
			{name: "other repository does not see them", method: "GET", path: "/v2/library/other/referrers/{subject}", status: 200, check: jsonCheck(index())},
			{name: "bad digest", method: "GET", path: "/v2/library/app/referrers/sha256:nope", status: 400, code: "DIGEST_INVALID"},
			{name: "a tag is not a digest", method: "GET", path: "/v2/library/app/referrers/v1", status: 400, code: "DIGEST_INVALID"},
			{name: "referrer without its subject pushed", method: "PUT", path: "/v2/library/lonely/manifests/x", header: ct,
				body: string(artifact("application/vnd.example.sbom", nil)), status: 201, want: map[string]string{"OCI-Subject": "{subject}"}},
			{name: "DELETE sbom", method: "DELETE", path: "/v2/library/app/manifests/{sbom}", status: 202},
			{name: "deleted referrer gone", method: "GET", path: "/v2/library/app/referrers/{subject}", status: 200, check: jsonCheck(index(sigDesc, cfgDesc))},
		})
	})
}
