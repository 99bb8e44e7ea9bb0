package registry_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/testserver"
)

// Signature artifacts as cosign and notation push them.
const (
	mtCosignSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	mtCosignArtifactSig   = "application/vnd.dev.cosign.artifact.sig.v1+json"
	mtNotationSig         = "application/vnd.cncf.notary.signature"
	mtJOSE                = "application/jose+json"
)

// Harbor's refusals (src/server/middleware/contenttrust/contentrust.go),
// as its SendError writes them.
const (
	refusedCosign   = `{"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"The image is not signed by cosign."}]}` + "\n"
	refusedNotation = `{"errors":[{"code":"PROJECTPOLICYVIOLATION","message":"The image is not signed by notation."}]}` + "\n"
)

// cosignTagSignature returns a cosign signature manifest as cosign pushes
// it under the tag sha256-<hex>.sig: a simple-signing layer carrying the
// signature annotation.
func (e *env) cosignTagSignature(repo, subject string) []byte {
	e.t.Helper()
	payload := []byte(`{"critical":{"identity":{"docker-reference":"` + repo + `"},"image":{"docker-manifest-digest":"` + subject + `"},"type":"cosign container image signature"},"optional":null}`)
	cfg := []byte(`{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["` + sha256Of(payload) + `"]},"config":{}}`)
	cd, pd := e.pushBlob(repo, cfg), e.pushBlob(repo, payload)
	return mustJSON(manifest{SchemaVersion: 2, MediaType: mtOCIManifest,
		Config: &descriptor{MediaType: mtOCIConfig, Digest: cd, Size: int64(len(cfg))},
		Layers: []descriptor{{MediaType: mtCosignSimpleSigning, Digest: pd, Size: int64(len(payload)),
			Annotations: map[string]string{"dev.cosignproject.cosign/signature": "MEUCIQD-not-verified-by-the-registry"}}}})
}

// referrerSignature returns an OCI 1.1 referrer of subject (a manifest of
// subjectSize bytes) with artifactType and one layer of layerType, as
// notation pushes its signatures (and cosign with OCI 1.1 referrers).
func (e *env) referrerSignature(repo, subject string, subjectSize int, artifactType, layerType string) []byte {
	e.t.Helper()
	empty := []byte("{}")
	envelope := []byte(`{"payload":"` + strings.Repeat("e30", 8) + `","protected":"e30","header":{},"signature":"c2ln"}`)
	ed, sd := e.pushBlob(repo, empty), e.pushBlob(repo, envelope)
	return mustJSON(manifest{SchemaVersion: 2, MediaType: mtOCIManifest, ArtifactType: artifactType,
		Config:  &descriptor{MediaType: mtEmpty, Digest: ed, Size: 2},
		Layers:  []descriptor{{MediaType: layerType, Digest: sd, Size: int64(len(envelope))}},
		Subject: &descriptor{MediaType: mtOCIManifest, Digest: subject, Size: int64(subjectSize)}})
}

// TestPullGateContentTrust checks Harbor's content trust on /v2 manifest
// GET and HEAD, by tag and by digest: with no policy every image pulls;
// with enable_content_trust_cosign an unsigned image is refused with 412
// and Harbor's body, and images signed by a cosign signature tag or a
// cosign referrer pull; with enable_content_trust (notation) only the
// notation-signed one pulls; a signature itself always pulls; a signing
// client (cosign User-Agent, push permission) reads the unsigned manifest
// it signs, while a caller without push cannot pass with that User-Agent;
// turning the policy off lets everything through again.
func TestPullGateContentTrust(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addProject("gated", true, 0)
		const repo = "gated/app"
		plain := e.image(repo, false)
		e.vars["plain"] = e.pushManifest(repo, "plain", mtOCIManifest, plain)
		cosigned := e.image(repo, true)
		e.vars["cosigned"] = e.pushManifest(repo, "cosigned", mtDockerManifest, cosigned)
		sigTag := "sha256-" + strings.TrimPrefix(e.vars["cosigned"], "sha256:") + ".sig"
		e.vars["sigtag"] = sigTag
		e.pushManifest(repo, sigTag, mtOCIManifest, e.cosignTagSignature(repo, e.vars["cosigned"]))
		cosignRef := e.image(repo, false)
		e.vars["cosignref"] = e.pushManifest(repo, "cosignref", mtOCIManifest, cosignRef)
		e.pushManifest(repo, "cosignref-sig", mtOCIManifest, e.referrerSignature(repo, e.vars["cosignref"], len(cosignRef), mtCosignArtifactSig, mtCosignArtifactSig))
		notated := e.image(repo, false)
		e.vars["notated"] = e.pushManifest(repo, "notated", mtOCIManifest, notated)
		notation := e.referrerSignature(repo, e.vars["notated"], len(notated), mtNotationSig, mtJOSE)
		e.vars["notation"] = e.pushManifest(repo, sha256Of(notation), mtOCIManifest, notation)
		idx := index(mtOCIIndex, plain)
		e.vars["index"] = e.pushManifest(repo, "index", mtOCIIndex, idx)

		e.addUser("guest")
		policy := func(name, meta string) step {
			return step{name: name, method: "PUT", path: "/api/v2.0/projects/gated", body: `{"metadata":` + meta + `}`, status: 200}
		}
		// pulls returns GET and HEAD, by tag and by digest, of an image
		// under a name, all answered with status (and, for GET, body if
		// refused).
		pulls := func(name, tag, digestVar string, status int, refusal string) []step {
			var out []step
			for _, ref := range []string{tag, "{" + digestVar + "}"} {
				for _, method := range []string{"GET", "HEAD"} {
					s := step{name: name + " " + method + " " + ref, method: method, path: "/v2/" + repo + "/manifests/" + ref, status: status,
						header: map[string]string{"Accept": mtOCIManifest + ", " + mtDockerManifest + ", " + mtOCIIndex}}
					if status == http.StatusOK {
						s.want = map[string]string{"Docker-Content-Digest": "{" + digestVar + "}"}
					} else {
						s.code = "PROJECTPOLICYVIOLATION"
						if method == "GET" {
							s.wantBody = refusal
							s.want = map[string]string{"Content-Type": "application/json; charset=utf-8"}
						}
					}
					out = append(out, s)
				}
			}
			return out
		}
		var steps []step
		add := func(s ...step) { steps = append(steps, s...) }

		// No policy: everything pulls.
		add(pulls("no policy: unsigned", "plain", "plain", 200, "")...)
		add(pulls("no policy: notation-signed", "notated", "notated", 200, "")...)

		// Cosign required.
		add(policy("require cosign", `{"enable_content_trust_cosign":"true"}`))
		add(pulls("cosign: unsigned", "plain", "plain", 412, refusedCosign)...)
		add(pulls("cosign: signed by tag", "cosigned", "cosigned", 200, "")...)
		add(pulls("cosign: signed by referrer", "cosignref", "cosignref", 200, "")...)
		add(pulls("cosign: notation-signed only", "notated", "notated", 412, refusedCosign)...)
		add(pulls("cosign: unsigned index", "index", "index", 412, refusedCosign)...)
		add(
			step{name: "cosign: the signature tag itself", method: "GET", path: "/v2/" + repo + "/manifests/{sigtag}", status: 200},
			step{name: "cosign: the notation signature itself", method: "GET", path: "/v2/" + repo + "/manifests/{notation}", status: 200},
			step{name: "cosign: unknown manifest is still unknown", method: "GET", path: "/v2/" + repo + "/manifests/nope", status: 404, code: "MANIFEST_UNKNOWN"},
			step{name: "cosign: If-None-Match does not pass the gate", method: "GET", path: "/v2/" + repo + "/manifests/plain",
				header: map[string]string{"If-None-Match": `"{plain}"`}, status: 412, code: "PROJECTPOLICYVIOLATION"},
			step{name: "cosign: signing client with push reads its subject", method: "GET", path: "/v2/" + repo + "/manifests/{plain}",
				header: map[string]string{"User-Agent": "cosign/v2.6.5 (linux; amd64) go-containerregistry/v0.20.6"}, status: 200},
			step{name: "cosign: cosign User-Agent without push is refused", as: "anon", method: "GET", path: "/v2/" + repo + "/manifests/{plain}",
				header: map[string]string{"User-Agent": "cosign/v2.6.5 (linux; amd64)"}, status: 412, code: "PROJECTPOLICYVIOLATION", wantBody: refusedCosign},
			step{name: "cosign: member without push is refused", as: "guest", method: "GET", path: "/v2/" + repo + "/manifests/plain",
				header: map[string]string{"User-Agent": "notation-go/v1.3.2"}, status: 412, code: "PROJECTPOLICYVIOLATION", wantBody: refusedCosign},
			step{name: "cosign: anonymous pull of the signed image", as: "anon", method: "GET", path: "/v2/" + repo + "/manifests/cosigned", status: 200},
		)

		// Notation required.
		add(policy("require notation", `{"enable_content_trust_cosign":"false","enable_content_trust":"true"}`))
		add(pulls("notation: unsigned", "plain", "plain", 412, refusedNotation)...)
		add(pulls("notation: cosign-signed", "cosigned", "cosigned", 412, refusedNotation)...)
		add(pulls("notation: notation-signed", "notated", "notated", 200, "")...)

		// Both: cosign is checked first, as in Harbor.
		add(policy("require both", `{"enable_content_trust_cosign":"true","enable_content_trust":"true"}`))
		add(pulls("both: unsigned", "plain", "plain", 412, refusedCosign)...)
		add(pulls("both: cosign only", "cosigned", "cosigned", 412, refusedNotation)...)
		add(pulls("both: notation only", "notated", "notated", 412, refusedCosign)...)

		// Off again.
		add(policy("policies off", `{"enable_content_trust_cosign":"false","enable_content_trust":"false"}`))
		add(pulls("off: unsigned", "plain", "plain", 200, "")...)
		e.run(t, steps)
	})
}

// TestPullGatePreventVul checks prevent_vul as Harbor applies it to a
// project without a scanner: the vulnerable middleware finds the artifact
// not scannable and lets it through, whatever the severity threshold,
// alone or with content trust (which still refuses what it refuses).
func TestPullGatePreventVul(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.addProject("vul", false, 0)
		const repo = "vul/app"
		e.vars["plain"] = e.pushManifest(repo, "plain", mtOCIManifest, e.image(repo, false))
		e.run(t, []step{
			{name: "prevent_vul at low", method: "PUT", path: "/api/v2.0/projects/vul", body: `{"metadata":{"prevent_vul":"true","severity":"low"}}`, status: 200},
			{name: "unscanned pulls by tag (no scanner)", method: "GET", path: "/v2/" + repo + "/manifests/plain", status: 200},
			{name: "unscanned pulls by digest (no scanner)", method: "HEAD", path: "/v2/" + repo + "/manifests/{plain}", status: 200},
			{name: "prevent_vul at none", method: "PUT", path: "/api/v2.0/projects/vul", body: `{"metadata":{"severity":"none"}}`, status: 200},
			{name: "still pulls", method: "GET", path: "/v2/" + repo + "/manifests/plain", status: 200},
			{name: "with cosign required", method: "PUT", path: "/api/v2.0/projects/vul", body: `{"metadata":{"enable_content_trust_cosign":"true"}}`, status: 200},
			{name: "content trust still refuses", method: "GET", path: "/v2/" + repo + "/manifests/plain", status: 412, code: "PROJECTPOLICYVIOLATION", wantBody: refusedCosign},
		})
	})
}

// BenchmarkManifestGetPullGate measures a manifest GET by tag served by the
// registry handler (no network) in a project with no policy on, with the
// gate and with the gate switched off: the difference is the gate's cost
// on the path every pull takes. "cosign-required" is a signed image in a
// project requiring cosign, which reads the artifact's signatures. SQLite.
func BenchmarkManifestGetPullGate(b *testing.B) {
	srv := testserver.NewInProcess(b, "sqlite")
	e := &env{srv: srv, c: http.DefaultClient, vars: map[string]string{}}
	tb := &testing.T{}
	e.t = tb
	e.addProject("bench", false, 0)
	e.addProject("signed", false, 0)
	img := e.image("bench/app", false)
	e.pushManifest("bench/app", "v1", mtOCIManifest, img)
	simg := e.image("signed/app", false)
	sd := e.pushManifest("signed/app", "v1", mtOCIManifest, simg)
	e.pushManifest("signed/app", "sha256-"+strings.TrimPrefix(sd, "sha256:")+".sig", mtOCIManifest, e.cosignTagSignature("signed/app", sd))
	req, _ := http.NewRequest("PUT", srv.URL+"/api/v2.0/projects/signed", strings.NewReader(`{"metadata":{"enable_content_trust_cosign":"true"}}`))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	req.Header.Set("Content-Type", "application/json")
	e.mustStatus(req, 200)
	if tb.Failed() {
		b.Fatal("setup failed")
	}
	run := func(b *testing.B, repo string, gate bool) {
		registry.SetPullGate(srv.App.Reg, gate)
		defer registry.SetPullGate(srv.App.Reg, true)
		r := httptest.NewRequest("GET", "/v2/"+repo+"/manifests/v1", nil)
		r.SetBasicAuth("admin", testserver.AdminPassword)
		for b.Loop() {
			w := httptest.NewRecorder()
			srv.App.Reg.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	}
	b.Run("no-policy/gate", func(b *testing.B) { run(b, "bench/app", true) })
	b.Run("no-policy/no-gate", func(b *testing.B) { run(b, "bench/app", false) })
	b.Run("cosign-required/gate", func(b *testing.B) { run(b, "signed/app", true) })
}
