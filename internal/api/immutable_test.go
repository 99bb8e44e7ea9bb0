package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

// Tests of the immutable tag rules (Harbor's "immutable" operations) and
// of their enforcement by the API's writers. The /v2 side is tested in
// internal/registry (TestImmutableTagsOverV2). Helpers come from
// artifact_helpers_test.go (artEnv).

// immBody is a rule selecting repositories repoPat and tags tagPat.
func immBody(repoPat, tagPat string) string {
	return `{"action":"immutable","template":"immutable_template","priority":0,"disabled":false,"params":{},` +
		`"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"` + tagPat + `"}],` +
		`"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"` + repoPat + `"}]}}`
}

const immPath = "/api/v2.0/projects/proj/immutabletagrules"

// immRules lists the rules of path and checks X-Total-Count.
func (e *artEnv) immRules(path string, u artUser) []api.ImmutableRule {
	e.t.Helper()
	var out []api.ImmutableRule
	r := e.get(path, u, &out)
	if n, _ := strconv.Atoi(r.header.Get("X-Total-Count")); !strings.Contains(path, "?") && n != len(out) {
		e.t.Fatalf("X-Total-Count %d, %d rules", n, len(out))
	}
	return out
}

// immCreate creates a rule as admin and returns its ID.
func (e *artEnv) immCreate(path, body string) int64 {
	e.t.Helper()
	r := e.call("POST", path, artAdmin, body)
	e.expect("create rule", r, http.StatusCreated, "")
	loc := r.header.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if err != nil || loc != path+"/"+strconv.FormatInt(id, 10) {
		e.t.Fatalf("Location %q", loc)
	}
	return id
}

func TestImmuRulesCRUD(t *testing.T) {
	for _, b := range testserver.Backends(t) {
		t.Run(b, func(t *testing.T) {
			e := newArtEnv(t, b)
			pid := e.project("proj", false)
			other := e.project("other", false)

			id := e.immCreate(immPath, immBody("**", "v*"))
			list := e.immRules(immPath, artAdmin)
			want := api.ImmutableRule{ID: id, Action: "immutable", Template: "immutable_template", Params: map[string]any{},
				TagSelectors: []api.ImmutableSelector{{Kind: "doublestar", Decoration: "matches", Pattern: "v*"}},
				ScopeSelectors: map[string][]api.ImmutableSelector{
					"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}}}
			if len(list) != 1 || fmt.Sprint(list[0]) != fmt.Sprint(want) {
				t.Fatalf("rules %+v, want %+v", list, want)
			}
			// By project ID too, and the wire form is Harbor's.
			r := e.get(fmt.Sprintf("/api/v2.0/projects/%d/immutabletagrules", pid), artAdmin, nil)
			var raw []map[string]any
			json.Unmarshal(r.body, &raw)
			if len(raw) != 1 || raw[0]["id"] != float64(id) || raw[0]["disabled"] != false || raw[0]["priority"] != float64(0) {
				t.Fatalf("by project ID: %s", r.body)
			}
			e.waitAudit("admin", "create", "immutable_rule", "proj rule "+strconv.FormatInt(id, 10)+": repositories ** tags v*")

			// Defaults, duplicates.
			minimal := `{"tag_selectors":[{"kind":"doublestar","decoration":"excludes","pattern":"dev-*"}],` +
				`"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoExcludes","pattern":"tmp/**"}]}}`
			id2 := e.immCreate(immPath, minimal)
			list = e.immRules(immPath, artAdmin)
			if len(list) != 2 || list[1].ID != id2 || list[1].Action != "immutable" || list[1].Template != "immutable_template" || list[1].Params == nil {
				t.Fatalf("defaults: %+v", list)
			}
			dup := strings.Replace(immBody("**", "v*"), `"priority":0,"disabled":false`, `"priority":5,"disabled":true`, 1)
			e.expect("duplicate", e.call("POST", immPath, artAdmin, dup), http.StatusConflict, "CONFLICT")

			// Validation: 400 (413 for size), nothing written.
			sel := func(s string) string {
				return `{"tag_selectors":[` + s + `],"scope_selectors":{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}]}}`
			}
			scope := func(s string) string {
				return `{"tag_selectors":[{"kind":"doublestar","decoration":"matches","pattern":"x"}],"scope_selectors":` + s + `}`
			}
			for _, c := range []struct{ name, body, msg string }{
				{"empty", "", "empty"},
				{"malformed", `{"action":`, "malformed"},
				{"trailing data", immBody("**", "x") + `{}`, "after the JSON"},
				{"unknown field", `{"foo":1}`, "unknown field"},
				{"unknown selector field", sel(`{"kind":"doublestar","decoration":"matches","pattern":"x","regex":true}`), "unknown field"},
				{"priority type", `{"priority":"high"}`, "priority"},
				{"disabled type", `{"disabled":"yes"}`, "disabled"},
				{"selectors type", `{"tag_selectors":{}}`, "tag_selectors"},
				{"params type", `{"params":[1]}`, "params"},
				{"pattern type", sel(`{"kind":"doublestar","decoration":"matches","pattern":7}`), "pattern"},
				{"no selectors", `{}`, "tag_selectors"},
				{"kind", sel(`{"kind":"regex","decoration":"matches","pattern":"x"}`), "kind"},
				{"tag decoration", sel(`{"kind":"doublestar","decoration":"repoMatches","pattern":"x"}`), "decoration"},
				{"bad pattern", sel(`{"kind":"doublestar","decoration":"matches","pattern":"v[1"}`), "doublestar"},
				{"empty pattern", sel(`{"kind":"doublestar","decoration":"matches","pattern":""}`), "pattern is required"},
				{"pattern with a space", sel(`{"kind":"doublestar","decoration":"matches","pattern":"a b"}`), "spaces"},
				{"extras", sel(`{"kind":"doublestar","decoration":"matches","pattern":"x","extras":"{"}`), "extras"},
				{"two tag selectors", sel(`{"kind":"doublestar","decoration":"matches","pattern":"x"},{"kind":"doublestar","decoration":"matches","pattern":"y"}`), "exactly one"},
				{"no repository selector", scope(`{}`), "repository"},
				{"other scope", scope(`{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"**"}],"namespace":[]}`), "namespace"},
				{"repo decoration", scope(`{"repository":[{"kind":"doublestar","decoration":"matches","pattern":"**"}]}`), "decoration"},
				{"repo pattern", scope(`{"repository":[{"kind":"doublestar","decoration":"repoMatches","pattern":"{a"}]}`), "doublestar"},
				{"action", strings.Replace(immBody("**", "z"), `"action":"immutable"`, `"action":"retain"`, 1), "action"},
				{"template", strings.Replace(immBody("**", "z"), `"immutable_template"`, `"latestPushedK"`, 1), "template"},
			} {
				r := e.call("POST", immPath, artAdmin, c.body)
				e.expect(c.name, r, http.StatusBadRequest, "BAD_REQUEST")
				if !strings.Contains(string(r.body), c.msg) {
					t.Errorf("%s: message %s does not mention %q", c.name, r.body, c.msg)
				}
			}
			big := `{"params":{"x":"` + strings.Repeat("a", 1<<20) + `"}}`
			e.expect("oversized", e.call("POST", immPath, artAdmin, big), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
			if n := len(e.immRules(immPath, artAdmin)); n != 2 {
				t.Fatalf("%d rules after refused creates, want 2", n)
			}

			// Update: toggle, whole rule, errors.
			one := fmt.Sprintf("%s/%d", immPath, id)
			e.expect("disable", e.call("PUT", one, artAdmin, `{"disabled":true}`), http.StatusOK, "")
			list = e.immRules(immPath, artAdmin)
			if !list[0].Disabled || list[0].TagSelectors[0].Pattern != "v*" {
				t.Fatalf("after disable: %+v", list[0])
			}
			if got := e.immRules(immPath+"?q=disabled%3Dtrue", artAdmin); len(got) != 1 || got[0].ID != id {
				t.Fatalf("q=disabled=true: %+v", got)
			}
			whole := strings.Replace(immBody("app/**", "release-*"), `{"action"`, fmt.Sprintf(`{"id":%d,"action"`, id), 1)
			e.expect("update whole rule", e.call("PUT", one, artAdmin, whole), http.StatusOK, "")
			list = e.immRules(immPath, artAdmin)
			if list[0].Disabled || list[0].TagSelectors[0].Pattern != "release-*" || list[0].ScopeSelectors["repository"][0].Pattern != "app/**" {
				t.Fatalf("after update: %+v", list[0])
			}
			for _, c := range []struct {
				name, path, body string
				status           int
				code             string
			}{
				{"id mismatch", one, `{"id":999,"disabled":true}`, 400, "BAD_REQUEST"},
				{"invalid pattern", one, sel(`{"kind":"doublestar","decoration":"matches","pattern":"["}`), 400, "BAD_REQUEST"},
				{"unknown field", one, `{"disable":true}`, 400, "BAD_REQUEST"},
				{"duplicate of another", one, minimal, 409, "CONFLICT"},
				{"missing rule", immPath + "/99999", `{"disabled":true}`, 404, "NOT_FOUND"},
				{"bad id", immPath + "/abc", `{"disabled":true}`, 400, "BAD_REQUEST"},
				{"rule of another project", fmt.Sprintf("/api/v2.0/projects/%d/immutabletagrules/%d", other, id), `{"disabled":true}`, 404, "NOT_FOUND"},
				{"missing project", "/api/v2.0/projects/nope/immutabletagrules/1", `{"disabled":true}`, 404, "NOT_FOUND"},
			} {
				e.expect(c.name, e.call("PUT", c.path, artAdmin, c.body), c.status, c.code)
			}
			if got := e.immRules(immPath, artAdmin)[0]; got.Disabled || got.TagSelectors[0].Pattern != "release-*" {
				t.Fatalf("refused updates changed the rule: %+v", got)
			}

			// Paging, q, sort.
			id3 := e.immCreate(immPath, immBody("**", "third"))
			r = e.call("GET", immPath+"?page=1&page_size=2", artAdmin, nil)
			e.expect("page 1", r, 200, "")
			var page []api.ImmutableRule
			json.Unmarshal(r.body, &page)
			if len(page) != 2 || r.header.Get("X-Total-Count") != "3" || !strings.Contains(r.header.Get("Link"), `rel="next"`) {
				t.Fatalf("page 1: %d rules, headers %v", len(page), r.header)
			}
			if got := e.immRules(immPath+"?page=2&page_size=2", artAdmin); len(got) != 1 || got[0].ID != id3 {
				t.Fatalf("page 2: %+v", got)
			}
			if got := e.immRules(immPath+"?sort=-id", artAdmin); len(got) != 3 || got[0].ID != id3 || got[2].ID != id {
				t.Fatalf("sort=-id: %+v", got)
			}
			e.expect("bad q", e.call("GET", immPath+"?q=pattern%3Dx", artAdmin, nil), 400, "BAD_REQUEST")

			// Delete.
			e.expect("delete", e.call("DELETE", one, artAdmin, nil), 200, "")
			e.expect("delete again", e.call("DELETE", one, artAdmin, nil), 404, "NOT_FOUND")
			if got := e.immRules(immPath, artAdmin); len(got) != 2 {
				t.Fatalf("after delete: %+v", got)
			}

			// At most 15 rules per project; others unaffected.
			for i := len(e.immRules(immPath, artAdmin)); i < 15; i++ {
				e.immCreate(immPath, immBody("**", fmt.Sprintf("t%d", i)))
			}
			r = e.call("POST", immPath, artAdmin, immBody("**", "one-too-many"))
			e.expect("16th rule", r, 400, "BAD_REQUEST")
			if !strings.Contains(string(r.body), "at most 15") {
				t.Errorf("16th rule: %s", r.body)
			}
			if got := e.immRules(immPath+"?page_size=100", artAdmin); len(got) != 15 {
				t.Fatalf("%d rules, want 15", len(got))
			}
			e.immCreate("/api/v2.0/projects/other/immutabletagrules", immBody("**", "one-too-many"))

			// Rules go with their project.
			e.expect("delete project", e.call("DELETE", "/api/v2.0/projects/other", artAdmin, nil), 200, "")
			if rules, err := e.srv.App.DB.ImmutableRules(context.Background(), other); err != nil || len(rules) != 0 {
				t.Fatalf("rules of a deleted project: %v %v", rules, err)
			}
		})
	}
}

func TestImmuRulesRBAC(t *testing.T) {
	for _, b := range testserver.Backends(t) {
		t.Run(b, func(t *testing.T) {
			e := newArtEnv(t, b)
			pid := e.project("proj", false)
			users := map[string]artUser{"admin": artAdmin, "anonymous": {}}
			for _, role := range []rbac.Role{rbac.ProjectAdmin, rbac.Maintainer, rbac.Developer, rbac.Guest, rbac.LimitedGuest} {
				name := strings.ToLower(role.Name())
				u, uid := e.user(name)
				e.member(pid, uid, role)
				users[name] = u
			}
			users["outsider"], _ = e.user("outsider")
			id := e.immCreate(immPath, immBody("**", "base"))
			one := fmt.Sprintf("%s/%d", immPath, id)
			for _, c := range []struct {
				who          string
				method, path string
				body         string
				status       int
				code         string
			}{
				{"anonymous", "GET", immPath, "", 401, "UNAUTHORIZED"},
				{"anonymous", "POST", immPath, immBody("**", "a"), 401, "UNAUTHORIZED"},
				{"outsider", "GET", immPath, "", 404, "NOT_FOUND"},
				{"outsider", "POST", immPath, immBody("**", "a"), 404, "NOT_FOUND"},
				{"limitedguest", "GET", immPath, "", 403, "FORBIDDEN"},
				{"guest", "GET", immPath, "", 403, "FORBIDDEN"},
				{"guest", "POST", immPath, immBody("**", "a"), 403, "FORBIDDEN"},
				{"developer", "GET", immPath, "", 403, "FORBIDDEN"},
				{"developer", "POST", immPath, immBody("**", "a"), 403, "FORBIDDEN"},
				{"developer", "PUT", one, `{"disabled":true}`, 403, "FORBIDDEN"},
				{"developer", "DELETE", one, "", 403, "FORBIDDEN"},
				{"maintainer", "GET", immPath, "", 200, ""},
				{"maintainer", "POST", immPath, immBody("**", "m"), 201, ""},
				{"maintainer", "PUT", one, `{"disabled":true}`, 200, ""},
				{"projectadmin", "GET", immPath, "", 200, ""},
				{"projectadmin", "POST", immPath, immBody("**", "p"), 201, ""},
				{"projectadmin", "PUT", one, `{"disabled":false}`, 200, ""},
				{"projectadmin", "DELETE", one, "", 200, ""},
			} {
				var body any
				if c.body != "" {
					body = c.body
				}
				e.expect(c.who+" "+c.method+" "+c.path, e.call(c.method, c.path, users[c.who], body), c.status, c.code)
			}
			// Only the two creates that were allowed wrote anything.
			if got := e.immRules(immPath, artAdmin); len(got) != 2 {
				t.Fatalf("%d rules, want 2: %+v", len(got), got)
			}
			// A signed-in non-member of a public project sees it but may not list its rules.
			e.expect("outsider on public project", e.call("GET", "/api/v2.0/projects/library/immutabletagrules", users["outsider"], nil), 403, "FORBIDDEN")
		})
	}
}

// immTags returns repository:tag → immutable of an artifact listing.
func immTags(list []api.Artifact) map[string]bool {
	out := map[string]bool{}
	for _, a := range list {
		for _, t := range a.Tags {
			out[a.RepositoryName+":"+t.Name] = t.Immutable
		}
	}
	return out
}

// TestImmuEnforcementAPI checks the API's writers against an immutable
// tag: deleting it, its artifact or its repository, and copying onto it,
// are refused with 403 naming the rule; listings show it immutable; a
// disabled or deleted rule no longer applies.
func TestImmuEnforcementAPI(t *testing.T) {
	for _, b := range testserver.Backends(t) {
		t.Run(b, func(t *testing.T) {
			e := newArtEnv(t, b)
			e.project("proj", false)
			const repo, base = "proj/app", "/api/v2.0/projects/proj/repositories/app"
			img := e.image(repo, "v1", "amd64")
			e.tag(repo, "dev", img)
			e.image(repo, "next", "arm64")
			e.image("proj/src", "v1", "amd64") // another v1, elsewhere
			e.image("proj/src", "v5", "amd64")
			rule := e.immCreate(immPath, immBody("app", "v*"))
			named := fmt.Sprintf("tag v1 in proj/app is immutable (rule %d: repositories app tags v*)", rule)

			// Listings.
			var list []api.Artifact
			e.get(base+"/artifacts?with_tag=true&with_immutable_status=true", artAdmin, &list)
			if got := immTags(list); !got["proj/app:v1"] || got["proj/app:dev"] || got["proj/app:next"] || len(got) != 3 {
				t.Fatalf("listing immutable: %v", got)
			}
			// As in Harbor, the status is filled only when asked for.
			e.get(base+"/artifacts?with_tag=true", artAdmin, &list)
			if got := immTags(list); got["proj/app:v1"] || len(got) != 3 {
				t.Fatalf("listing without with_immutable_status: %v", got)
			}
			e.get("/api/v2.0/projects/proj/artifacts?with_immutable_status=true", artAdmin, &list)
			if got := immTags(list); !got["proj/app:v1"] || got["proj/src:v1"] || len(got) != 5 {
				t.Fatalf("project listing immutable: %v (src's v1 is not covered: repositories app)", got)
			}
			var tags []api.Tag
			e.get(base+"/artifacts/v1/tags?with_immutable_status=true", artAdmin, &tags)
			if len(tags) != 2 {
				t.Fatalf("tags %+v", tags)
			}
			for _, tg := range tags {
				if tg.Immutable != (tg.Name == "v1") {
					t.Fatalf("tags %+v", tags)
				}
			}

			refused := func(what string, r artResp) {
				t.Helper()
				e.expect(what, r, http.StatusForbidden, "")
				if !strings.Contains(string(r.body), named) {
					t.Fatalf("%s: %s does not name the tag and the rule (%q)", what, r.body, named)
				}
			}
			refused("delete immutable tag", e.call("DELETE", base+"/artifacts/v1/tags/v1", artAdmin, nil))
			refused("delete artifact", e.call("DELETE", base+"/artifacts/"+img.digest, artAdmin, nil))
			refused("delete repository", e.call("DELETE", base, artAdmin, nil))
			refused("copy onto the tag", e.call("POST", base+"/artifacts?from=proj/src:v1", artAdmin, nil))
			e.expect("create the tag elsewhere", e.call("POST", base+"/artifacts/next/tags", artAdmin, map[string]string{"name": "v1"}), 409, "CONFLICT")
			var a api.Artifact
			if e.get(base+"/artifacts/v1", artAdmin, &a); a.Digest != img.digest {
				t.Fatalf("v1 moved to %s", a.Digest)
			}
			e.expect("status of refused deletes", e.call("GET", base+"/artifacts/"+img.digest, artAdmin, nil), 200, "")

			// Allowed: other tags, new tags, the same digest.
			e.expect("delete mutable tag", e.call("DELETE", base+"/artifacts/v1/tags/dev", artAdmin, nil), 200, "")
			e.expect("delete missing tag", e.call("DELETE", base+"/artifacts/v1/tags/v9", artAdmin, nil), 404, "NOT_FOUND")
			e.expect("create a covered tag", e.call("POST", base+"/artifacts/next/tags", artAdmin, map[string]string{"name": "v2"}), 201, "")
			e.expect("then it is immutable", e.call("DELETE", base+"/artifacts/next/tags/v2", artAdmin, nil), 403, "")
			e.expect("copy the same digest onto it", e.call("POST", base+"/artifacts?from=proj/app:v1", artAdmin, nil), 201, "")
			e.expect("copy to a new covered tag", e.call("POST", base+"/artifacts?from=proj/src:v5", artAdmin, nil), 201, "")
			e.expect("copied tag is immutable", e.call("DELETE", base+"/artifacts/v5/tags/v5", artAdmin, nil), 403, "")

			// Disabled, then deleted: everything goes.
			one := fmt.Sprintf("%s/%d", immPath, rule)
			e.expect("disable", e.call("PUT", one, artAdmin, `{"disabled":true}`), 200, "")
			e.get(base+"/artifacts?with_immutable_status=true", artAdmin, &list)
			if got := immTags(list); got["proj/app:v1"] || got["proj/app:v2"] || len(got) != 4 {
				t.Fatalf("disabled rule still applies: %v", got)
			}
			e.expect("delete v2 (disabled rule)", e.call("DELETE", base+"/artifacts/next/tags/v2", artAdmin, nil), 200, "")
			e.expect("enable", e.call("PUT", one, artAdmin, `{"disabled":false}`), 200, "")
			refused("enabled again", e.call("DELETE", base+"/artifacts/v1/tags/v1", artAdmin, nil))
			e.expect("delete rule", e.call("DELETE", one, artAdmin, nil), 200, "")
			e.expect("copy onto v1", e.call("POST", base+"/artifacts?from=proj/src:v1", artAdmin, nil), 201, "")
			e.expect("delete v1", e.call("DELETE", base+"/artifacts/v1/tags/v1", artAdmin, nil), 200, "")
			e.expect("delete artifact", e.call("DELETE", base+"/artifacts/"+img.digest, artAdmin, nil), 200, "")
			e.expect("delete repository", e.call("DELETE", base, artAdmin, nil), 200, "")
		})
	}
}

// TestImmuRepositoryAndSignature checks the less direct removals: a
// repository whose only immutable tag is deep in its list, and an
// artifact whose cosign signature tag (deleted with it) is immutable.
func TestImmuRepositoryAndSignature(t *testing.T) {
	for _, b := range testserver.Backends(t) {
		t.Run(b, func(t *testing.T) {
			e := newArtEnv(t, b)
			e.project("proj", false)
			const base = "/api/v2.0/projects/proj/repositories/"
			img := e.image("proj/signed", "latest", "amd64")
			sig := e.signature("proj/signed", img, true)
			for i := 0; i < 5; i++ {
				e.image("proj/many", fmt.Sprintf("t%d", i), "amd64")
			}
			e.image("proj/many", "zz-release", "amd64")
			e.immCreate(immPath, immBody("**", "{sha256-*.sig,zz-*}"))

			e.expect("delete signed artifact", e.call("DELETE", base+"signed/artifacts/latest", artAdmin, nil), 403, "")
			e.expect("delete the signature", e.call("DELETE", base+"signed/artifacts/"+sig.digest, artAdmin, nil), 403, "")
			e.expect("delete repository with an immutable tag", e.call("DELETE", base+"many", artAdmin, nil), 403, "")
			e.expect("delete a mutable tag there", e.call("DELETE", base+"many/artifacts/t0/tags/t0", artAdmin, nil), 200, "")
			e.expect("delete the immutable one", e.call("DELETE", base+"many/artifacts/zz-release/tags/zz-release", artAdmin, nil), 403, "")
		})
	}
}
