package registry_test

import (
	"net/http"
	"strings"
	"testing"
)

// immMessage checks that an error body names the tag and the rule.
func immMessage(sub ...string) func(t *testing.T, h http.Header, body []byte) {
	return func(t *testing.T, _ http.Header, body []byte) {
		t.Helper()
		for _, s := range sub {
			if !strings.Contains(string(body), s) {
				t.Errorf("body %s does not contain %q", truncate(body), s)
			}
		}
	}
}

// TestImmutableTagsOverV2 checks tag immutability on /v2: a rule (created
// through the API) keeps an existing tag on its digest against re-pushes
// by tag and by ?tag=, and against deletes by tag and by digest; pushing
// the same digest again and creating new tags stay possible; a disabled or
// deleted rule no longer applies.
func TestImmutableTagsOverV2(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		const repo = "library/app"
		m1, m2, m3 := e.image(repo, false), e.image(repo, false), e.image(repo, false)
		d1, d2, d3 := sha256Of(m1), sha256Of(m2), sha256Of(m3)
		e.pushManifest(repo, "v1", mtOCIManifest, m1)
		e.pushManifest(repo, "dev", mtOCIManifest, m2)
		ct := map[string]string{"Content-Type": mtOCIManifest}
		api := map[string]string{"Content-Type": "application/json"}
		rule := `{"action":"immutable","template":"immutable_template","priority":0,"disabled":false,"params":{},
			"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"v*"}],
			"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`
		named := immMessage("tag v1 in library/app is immutable (rule ", ": repositories ** tags v*)")
		e.run(t, []step{
			{name: "create rule", method: "POST", path: "/api/v2.0/projects/library/immutabletagrules", header: api, body: rule,
				status: 201, save: map[string]string{"rule": "Location"}},

			{name: "re-push v1 to another digest", method: "PUT", path: "/v2/" + repo + "/manifests/v1", header: ct, body: string(m3),
				status: 403, code: "DENIED", check: named},
			{name: "re-push v1 to a pushed digest", method: "PUT", path: "/v2/" + repo + "/manifests/v1", header: ct, body: string(m2),
				status: 403, code: "DENIED", check: named},
			{name: "v1 still on the old digest", method: "HEAD", path: "/v2/" + repo + "/manifests/v1",
				status: 200, want: map[string]string{"Docker-Content-Digest": d1}},
			{name: "refused manifest not stored", method: "HEAD", path: "/v2/" + repo + "/manifests/" + d3,
				status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "re-push v1 with its digest", method: "PUT", path: "/v2/" + repo + "/manifests/v1", header: ct, body: string(m1),
				status: 201, want: map[string]string{"Docker-Content-Digest": d1}},
			{name: "?tag= moving v1", method: "PUT", path: "/v2/" + repo + "/manifests/" + d2 + "?tag=v1", header: ct, body: string(m2),
				status: 403, code: "DENIED", check: named},
			{name: "?tag= moving v1 among others", method: "PUT", path: "/v2/" + repo + "/manifests/" + d2 + "?tag=other&tag=v1", header: ct, body: string(m2),
				status: 403, code: "DENIED"},
			{name: "nothing of the refused push stored", method: "HEAD", path: "/v2/" + repo + "/manifests/other",
				status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "new tag a rule covers", method: "PUT", path: "/v2/" + repo + "/manifests/v2", header: ct, body: string(m2),
				status: 201},
			{name: "new ?tag= a rule covers", method: "PUT", path: "/v2/" + repo + "/manifests/" + d2 + "?tag=v3", header: ct, body: string(m2),
				status: 201, want: map[string]string{"OCI-Tag": "v3"}},
			{name: "then it is immutable", method: "PUT", path: "/v2/" + repo + "/manifests/v2", header: ct, body: string(m1),
				status: 403, code: "DENIED", check: immMessage("tag v2 in library/app is immutable")},
			{name: "other tags move", method: "PUT", path: "/v2/" + repo + "/manifests/dev", header: ct, body: string(m1),
				status: 201},
			{name: "v1 of another repository is another tag", method: "PUT", path: "/v2/library/other/manifests/v1", header: ct, body: string(m2),
				status: 201},

			{name: "delete immutable tag", method: "DELETE", path: "/v2/" + repo + "/manifests/v1",
				status: 403, code: "DENIED", check: named},
			{name: "delete missing tag a rule covers", method: "DELETE", path: "/v2/" + repo + "/manifests/v404",
				status: 404, code: "MANIFEST_UNKNOWN"},
			{name: "delete manifest carrying an immutable tag", method: "DELETE", path: "/v2/" + repo + "/manifests/" + d1,
				status: 403, code: "DENIED", check: named},
			{name: "v1 still there", method: "GET", path: "/v2/" + repo + "/manifests/v1", header: map[string]string{"Accept": mtOCIManifest},
				status: 200, want: map[string]string{"Docker-Content-Digest": d1}},
			{name: "anonymous pull unaffected", as: "anon", method: "GET", path: "/v2/" + repo + "/manifests/v1",
				header: map[string]string{"Accept": mtOCIManifest}, status: 200},

			{name: "disable the rule", method: "PUT", path: "{rule}", header: api, body: `{"disabled":true}`, status: 200},
			{name: "disabled: delete v2", method: "DELETE", path: "/v2/" + repo + "/manifests/v2", status: 202},
			{name: "enable the rule", method: "PUT", path: "{rule}", header: api, body: `{"disabled":false}`, status: 200},
			{name: "enabled again", method: "DELETE", path: "/v2/" + repo + "/manifests/v1", status: 403, code: "DENIED"},

			{name: "delete the rule", method: "DELETE", path: "{rule}", status: 200},
			{name: "no rule: move v1", method: "PUT", path: "/v2/" + repo + "/manifests/v1", header: ct, body: string(m2),
				status: 201, want: map[string]string{"Docker-Content-Digest": d2}},
			{name: "no rule: delete v1", method: "DELETE", path: "/v2/" + repo + "/manifests/v1", status: 202},
			{name: "no rule: delete by digest", method: "DELETE", path: "/v2/" + repo + "/manifests/" + d2, status: 202},
		})
	})
}
