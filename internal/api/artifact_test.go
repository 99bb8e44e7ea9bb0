package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/testserver"
)

const artZeroTime = "0001-01-01T00:00:00.000Z"

// TestArtifactViews pushes an image, a multi-arch index, a Helm chart and
// cosign signatures through /v2 and checks every field the artifact API
// shows of them, the listing's filters, sorts and pages, and the additions.
func TestArtifactViews(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := newArtFixture(t, backend)
			var repo api.Repository
			f.get(f.base, f.guest, &repo)

			// A pull through /v2 records pull times (flushed by hand here).
			if st := f.registry("GET", "/v2/"+f.repo+"/manifests/v1", artAdmin); st != http.StatusOK {
				t.Fatalf("pull: %d", st)
			}
			if err := f.srv.App.Reg.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}

			img := f.artifact("v1", "?with_label=true", f.guest)
			sig := f.artifact(f.sig.digest, "", f.guest)
			checkTime := func(what, ts string) {
				t.Helper()
				tm, err := time.Parse(time.RFC3339, ts)
				if err != nil || time.Since(tm) > time.Hour || time.Since(tm) < -time.Minute {
					t.Errorf("%s = %q, want a recent RFC 3339 time", what, ts)
				}
			}
			want := api.Artifact{
				ID: img.ID, Type: "IMAGE", MediaType: artOCIConfig, ManifestMediaType: artOCIManifest, ArtifactType: artOCIConfig,
				ProjectID: f.pid, RepositoryID: repo.ID, RepositoryName: f.repo, Digest: f.img.digest, Size: f.img.size,
				PushTime: img.PushTime, PullTime: img.PullTime,
				Annotations: map[string]string{"org.opencontainers.image.title": "test amd64"},
				AdditionLinks: map[string]api.AdditionLink{"build_history": {
					Href: "/api/v2.0/projects/proj/repositories/app%252Fweb/artifacts/" + f.img.digest + "/additions/build_history"}},
				Labels: []api.Label{},
				Accessories: []api.Accessory{{
					ID: sig.ID, ArtifactID: sig.ID, SubjectArtifactID: img.ID, SubjectArtifactDigest: f.img.digest,
					SubjectArtifactRepo: f.repo, Size: f.sig.size, Digest: f.sig.digest, Type: "signature.cosign",
					CreationTime: sig.PushTime,
				}},
			}
			checkTime("push_time", img.PushTime)
			checkTime("pull_time", img.PullTime)
			if len(img.Tags) != 2 {
				t.Fatalf("tags = %+v, want latest and v1", img.Tags)
			}
			for _, tg := range img.Tags {
				if tg.ID == 0 || tg.RepositoryID != repo.ID || tg.ArtifactID != img.ID || tg.Immutable ||
					!(tg.Name == "v1" || tg.Name == "latest") {
					t.Errorf("tag %+v", tg)
				}
				checkTime("tag push_time", tg.PushTime)
				if tg.Name == "v1" {
					checkTime("tag pull_time", tg.PullTime)
				} else if tg.PullTime != artZeroTime {
					t.Errorf("latest was never pulled: pull_time %q", tg.PullTime)
				}
			}
			extra := attrsOf(t, img)
			img.Tags, img.ExtraAttrs = nil, nil
			if !reflect.DeepEqual(img, want) {
				got, _ := json.MarshalIndent(img, "", " ")
				exp, _ := json.MarshalIndent(want, "", " ")
				t.Errorf("image\n%s\nwant\n%s", got, exp)
			}
			if extra["architecture"] != "amd64" || extra["os"] != "linux" || extra["author"] != "tester@example.com" ||
				extra["created"] != "2024-01-02T03:04:05Z" {
				t.Errorf("extra_attrs = %v", extra)
			}
			if cfg, _ := extra["config"].(map[string]any); cfg == nil || fmt.Sprint(cfg["Env"]) != "[PATH=/usr/bin]" {
				t.Errorf("extra_attrs.config = %v", extra["config"])
			}

			// The index: references in the index's order, with the children's IDs.
			idx := f.artifact("multi", "", f.guest)
			a, b := f.artifact(f.childA.digest, "", f.guest), f.artifact(f.childB.digest, "", f.guest)
			legacy := f.artifact(f.legacy.digest, "", f.guest)
			wantRefs := []api.Reference{
				{ParentID: idx.ID, ChildID: a.ID, ChildDigest: f.childA.digest, Platform: &api.Platform{Architecture: "amd64", OS: "linux"}},
				{ParentID: idx.ID, ChildID: b.ID, ChildDigest: f.childB.digest, Platform: &api.Platform{Architecture: "arm64", OS: "linux"}},
			}
			if idx.Type != "IMAGE" || idx.MediaType != artOCIIndex || idx.ManifestMediaType != artOCIIndex || idx.Size != f.idx.size ||
				!reflect.DeepEqual(idx.References, wantRefs) || idx.AdditionLinks != nil || attrsOf(t, idx) != nil ||
				len(idx.Tags) != 1 || idx.Tags[0].Name != "multi" {
				t.Errorf("index = %+v", idx)
			}
			if len(idx.Accessories) != 1 || idx.Accessories[0].Digest != f.legacy.digest || idx.Accessories[0].Type != "signature.cosign" ||
				idx.Accessories[0].ID != legacy.ID || idx.Accessories[0].Size != f.legacy.size {
				t.Errorf("index accessories = %+v", idx.Accessories)
			}
			if a.Size != f.childA.size || a.Annotations["org.opencontainers.image.title"] != "test amd64" || len(a.Tags) != 0 || a.Tags == nil {
				t.Errorf("child = %+v", a)
			}

			// The chart: its Chart.yaml metadata and its three additions.
			ch := f.artifact("0.1.0", "", f.guest)
			if ch.Type != "CHART" || ch.MediaType != artHelmConfig || ch.ArtifactType != artHelmConfig || ch.Size != f.ch.size ||
				attrsOf(t, ch)["name"] != "mychart" || attrsOf(t, ch)["version"] != "0.1.0" || len(ch.AdditionLinks) != 3 ||
				ch.AdditionLinks["values.yaml"].Href != f.base+"/artifacts/"+f.ch.digest+"/additions/values.yaml" {
				t.Errorf("chart = %+v", ch)
			}

			// Accessories of other kinds, typed as Harbor types them.
			notation := f.referrer(f.repo, f.ch, "application/vnd.cncf.notary.signature")
			sbom := f.referrer(f.repo, f.ch, "application/vnd.goharbor.harbor.sbom.v1")
			other := f.referrer(f.repo, f.ch, "application/vnd.example.report.v1+json")
			types := map[string]string{}
			for _, x := range f.artifact("0.1.0", "", f.guest).Accessories {
				types[x.Digest] = x.Type
			}
			if !reflect.DeepEqual(types, map[string]string{notation.digest: "signature.notation", sbom.digest: "sbom.harbor",
				other.digest: "subject.accessory"}) {
				t.Errorf("chart accessories: %v", types)
			}

			// with_* options.
			bare := f.artifact("v1", "?with_tag=false&with_accessory=false&with_scan_overview=true&with_signature=true", f.guest)
			if bare.Tags != nil || bare.Accessories != nil || bare.Labels != nil {
				t.Errorf("with_tag=false&with_accessory=false: %+v", bare)
			}
			r := f.call("GET", f.base+"/artifacts/v1?with_tag=maybe", f.guest, nil)
			f.expect("with_tag=maybe", r, http.StatusBadRequest, "BAD_REQUEST")

			// Listings: filters, sorts, pages.
			all := []string{f.ch.digest, f.idx.digest, f.img.digest}
			for _, tc := range []struct {
				params string
				want   []string
				total  int
			}{
				{"", all, 3},
				{"?sort=push_time", []string{f.img.digest, f.idx.digest, f.ch.digest}, 3},
				{"?q=" + url.QueryEscape("base=*"), nil, 10},
				{"?q=" + url.QueryEscape("base=*,tags=nil"), nil, 6},
				{"?q=" + url.QueryEscape("tags=nil"), []string{}, 0},
				{"?q=" + url.QueryEscape("tags=*"), all, 3},
				{"?q=" + url.QueryEscape("tags=v1"), []string{f.img.digest}, 1},
				{"?q=" + url.QueryEscape("tags=~MUL"), []string{f.idx.digest}, 1},
				{"?q=" + url.QueryEscape("tags={v1 multi}"), []string{f.idx.digest, f.img.digest}, 2},
				{"?q=" + url.QueryEscape("tags=(v1 latest)"), []string{f.img.digest}, 1},
				{"?q=" + url.QueryEscape("tags=(v1 multi)"), []string{}, 0},
				{"?q=" + url.QueryEscape("type=CHART"), []string{f.ch.digest}, 1},
				{"?q=" + url.QueryEscape("media_type="+artHelmConfig), []string{f.ch.digest}, 1},
				{"?q=" + url.QueryEscape("media_type="+artOCIIndex), []string{f.idx.digest}, 1},
				{"?q=" + url.QueryEscape("digest="+f.img.digest), []string{f.img.digest}, 1},
				{"?q=" + url.QueryEscape("push_time=[2000-01-01T00:00:00Z~2999-01-01T00:00:00Z]"), all, 3},
				{"?q=" + url.QueryEscape("push_time=[~2000-01-01T00:00:00Z]"), []string{}, 0},
				{"?page=2&page_size=1", []string{f.idx.digest}, 3},
				{"?page=4&page_size=1", []string{}, 3},
			} {
				var list []api.Artifact
				r := f.get(f.base+"/artifacts"+tc.params, f.guest, &list)
				if got := r.header.Get("X-Total-Count"); got != fmt.Sprint(tc.total) {
					t.Errorf("%s: X-Total-Count %s, want %d", tc.params, got, tc.total)
				}
				if tc.want != nil && !slices.Equal(artDigests(list), tc.want) {
					t.Errorf("%s: %v, want %v", tc.params, artDigests(list), tc.want)
				}
				if list == nil {
					t.Errorf("%s: null, want a list", tc.params)
				}
			}
			r = f.get(f.base+"/artifacts?page=2&page_size=1", f.guest, nil)
			if l := r.header.Get("Link"); !strings.Contains(l, `rel="prev"`) || !strings.Contains(l, `rel="next"`) {
				t.Errorf("Link %q", l)
			}
			// Single-encoded names work too; an unknown repository has no artifacts.
			f.get("/api/v2.0/projects/proj/repositories/app%2Fweb/artifacts", f.guest, nil)
			var none []api.Artifact
			f.get("/api/v2.0/projects/proj/repositories/nothing/artifacts", f.guest, &none)
			if len(none) != 0 || none == nil {
				t.Errorf("unknown repository: %v", none)
			}
			for _, params := range []string{"?q=nokey=1", "?q=" + url.QueryEscape("base=x"), "?q=" + url.QueryEscape("labels=abc"),
				"?sort=nokey", "?page_size=-1", "?page=x", "?q=" + url.QueryEscape("tags=[a~b]")} {
				r := f.call("GET", f.base+"/artifacts"+params, f.guest, nil)
				f.expect("list "+params, r, http.StatusBadRequest, "BAD_REQUEST")
			}

			// Accessories.
			var accs []api.Accessory
			r = f.get(f.base+"/artifacts/v1/accessories", f.guest, &accs)
			if len(accs) != 1 || accs[0] != want.Accessories[0] || r.header.Get("X-Total-Count") != "1" {
				t.Errorf("accessories = %+v", accs)
			}
			f.get(f.base+"/artifacts/v1/accessories?q="+url.QueryEscape("type=sbom.harbor"), f.guest, &accs)
			if len(accs) != 0 {
				t.Errorf("type=sbom.harbor: %+v", accs)
			}
			f.expect("accessories q=foo", f.call("GET", f.base+"/artifacts/v1/accessories?q=foo=1", f.guest, nil), http.StatusBadRequest, "")

			// Additions.
			for _, tc := range []struct {
				ref, addition string
				status        int
				ctype, body   string
			}{
				{"v1", "build_history", 200, "application/json", `"created_by":"/bin/sh -c #(nop) ADD file:`},
				{"0.1.0", "values.yaml", 200, "text/plain", "replicaCount: 3\nimage: nginx\n"},
				{"0.1.0", "VALUES.YAML", 200, "text/plain", "replicaCount: 3\nimage: nginx\n"},
				{"0.1.0", "readme.md", 200, "text/markdown", "# mychart\n\nA chart for tests.\n"},
				{"0.1.0", "dependencies", 200, "application/json",
					`[{"name":"redis","version":"1.2.3","repository":"https://charts.example.com","condition":"redis.enabled"}]`},
				{"v1", "vulnerabilities", 200, "application/json", "{}"},
				{"0.1.0", "build_history", 400, "", ""},
				{"v1", "values.yaml", 400, "", ""},
				{"multi", "build_history", 400, "", ""},
				{"v1", "license", 400, "", ""},
				{"nope", "build_history", 404, "", ""},
			} {
				r := f.call("GET", f.base+"/artifacts/"+tc.ref+"/additions/"+tc.addition, f.guest, nil)
				f.expect(tc.ref+" "+tc.addition, r, tc.status, "")
				if tc.status == 200 && (!strings.HasPrefix(r.header.Get("Content-Type"), tc.ctype) || !strings.Contains(string(r.body), tc.body)) {
					t.Errorf("%s %s: %s %q", tc.ref, tc.addition, r.header.Get("Content-Type"), r.body)
				}
			}

			// Who may read: members; the project is hidden from others.
			for _, tc := range []struct {
				u      artUser
				status int
			}{{f.outsider, 404}, {artUser{}, 401}, {f.guest, 200}, {artAdmin, 200}} {
				for _, path := range []string{f.base + "/artifacts", f.base + "/artifacts/v1", f.base + "/artifacts/v1/tags",
					f.base + "/artifacts/v1/accessories", f.base + "/artifacts/v1/additions/build_history", f.base} {
					f.expect(tc.u.name+" GET "+path, f.call("GET", path, tc.u, nil), tc.status, "")
				}
			}
			f.expect("unknown reference", f.call("GET", f.base+"/artifacts/sha256:"+strings.Repeat("0", 64), f.guest, nil), 404, "NOT_FOUND")
			f.expect("unknown project", f.call("GET", "/api/v2.0/projects/nope/repositories/x/artifacts/v1", artAdmin, nil), 404, "NOT_FOUND")
		})
	}
}

// TestArtifactWrites covers tags, labels on artifacts, deletion and copy,
// with the permissions each needs and the audit records they leave.
func TestArtifactWrites(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := newArtFixture(t, backend)
			tags := f.base + "/artifacts/" + f.img.digest + "/tags"

			// Tags.
			for _, tc := range []struct {
				what   string
				u      artUser
				body   any
				status int
				code   string
			}{
				{"developer creates", f.dev, `{"name":"v2"}`, 201, ""},
				{"exists", f.dev, `{"name":"v2"}`, 409, "CONFLICT"},
				{"exists in the repository", f.dev, `{"name":"multi"}`, 409, "CONFLICT"},
				{"guest", f.guest, `{"name":"g"}`, 403, "FORBIDDEN"},
				{"outsider", f.outsider, `{"name":"o"}`, 404, "NOT_FOUND"},
				{"anonymous", artUser{}, `{"name":"a"}`, 401, "UNAUTHORIZED"},
				{"invalid name", f.dev, `{"name":"bad tag"}`, 400, "BAD_REQUEST"},
				{"path characters", f.dev, `{"name":"a/b"}`, 400, "BAD_REQUEST"},
				{"empty name", f.dev, `{"name":""}`, 400, "BAD_REQUEST"},
				{"no name", f.dev, `{}`, 400, "BAD_REQUEST"},
				{"wrong type", f.dev, `{"name":1}`, 400, "BAD_REQUEST"},
				{"unknown field", f.dev, `{"name":"u","colour":1}`, 400, "BAD_REQUEST"}, // id is Tag's: accepted (TestDocumentedFieldsAccepted)
				{"malformed", f.dev, `{"name":`, 400, "BAD_REQUEST"},
				{"oversized", f.dev, `{"name":"` + strings.Repeat("x", 2<<20) + `"}`, 413, ""},
			} {
				f.expect("create tag: "+tc.what, f.call("POST", tags, tc.u, tc.body), tc.status, tc.code)
			}
			var list []api.Tag
			r := f.get(tags, f.guest, &list)
			if r.header.Get("X-Total-Count") != "3" || len(list) != 3 || list[0].Name != "v2" {
				t.Errorf("tags = %+v (total %s), want v2 first of 3", list, r.header.Get("X-Total-Count"))
			}
			f.get(tags+"?q=name%3Dv1", f.guest, &list)
			if len(list) != 1 || list[0].Name != "v1" {
				t.Errorf("q=name=v1: %+v", list)
			}
			if r := f.get(tags+"?page_size=1&sort=name", f.guest, &list); len(list) != 1 || list[0].Name != "latest" ||
				!strings.Contains(r.header.Get("Link"), `rel="next"`) {
				t.Errorf("sort=name page 1: %+v %q", list, r.header.Get("Link"))
			}
			if st := f.registry("GET", "/v2/"+f.repo+"/manifests/v2", artAdmin); st != http.StatusOK {
				t.Errorf("pull of the new tag: %d", st)
			}
			f.waitAudit("dev", "create", "tag", f.repo+":v2")
			f.expect("guest deletes tag", f.call("DELETE", tags+"/v2", f.guest, nil), 403, "FORBIDDEN")
			f.expect("developer deletes tag", f.call("DELETE", tags+"/v2", f.dev, nil), 403, "FORBIDDEN")
			f.expect("delete tag", f.call("DELETE", tags+"/v2", f.maint, nil), 200, "")
			f.expect("delete tag again", f.call("DELETE", tags+"/v2", f.maint, nil), 404, "NOT_FOUND")
			f.expect("delete another artifact's tag", f.call("DELETE", tags+"/multi", f.maint, nil), 404, "NOT_FOUND")
			f.waitAudit("maint", "delete", "tag", f.repo+":v2")

			// Labels on artifacts.
			newLabel := func(body string) int64 {
				t.Helper()
				r := f.call("POST", "/api/v2.0/labels", artAdmin, body)
				f.expect("create label "+body, r, 201, "")
				var id int64
				fmt.Sscanf(r.header.Get("Location"), "/api/v2.0/labels/%d", &id)
				return id
			}
			prod := newLabel(fmt.Sprintf(`{"name":"prod","color":"#FF0000","scope":"p","project_id":%d}`, f.pid))
			global := newLabel(`{"name":"global-1","scope":"g"}`)
			foreign := newLabel(fmt.Sprintf(`{"name":"theirs","scope":"p","project_id":%d}`, f.dstPID))
			labels := f.base + "/artifacts/v1/labels"
			for _, tc := range []struct {
				what   string
				u      artUser
				body   string
				status int
			}{
				{"developer adds", f.dev, fmt.Sprintf(`{"id":%d}`, prod), 200},
				{"again", f.dev, fmt.Sprintf(`{"id":%d}`, prod), 409},
				{"global label", f.dev, fmt.Sprintf(`{"id":%d}`, global), 200},
				{"another project's label", f.dev, fmt.Sprintf(`{"id":%d}`, foreign), 404},
				{"no such label", f.dev, `{"id":999999}`, 404},
				{"no id", f.dev, `{"name":"prod"}`, 400},
				{"unknown field", f.dev, fmt.Sprintf(`{"id":%d,"x":1}`, prod), 400},
				{"guest", f.guest, fmt.Sprintf(`{"id":%d}`, global), 403},
				{"outsider", f.outsider, fmt.Sprintf(`{"id":%d}`, global), 404},
			} {
				f.expect("add label: "+tc.what, f.call("POST", labels, tc.u, tc.body), tc.status, "")
			}
			img := f.artifact("v1", "?with_label=true", f.guest)
			if len(img.Labels) != 2 || img.Labels[0].ID != prod || img.Labels[0].Name != "prod" || img.Labels[0].Color != "#FF0000" ||
				img.Labels[0].Scope != "p" || img.Labels[0].ProjectID != f.pid || img.Labels[1].ID != global {
				t.Errorf("labels = %+v", img.Labels)
			}
			for params, want := range map[string]int{
				fmt.Sprintf("labels=(%d)", prod): 1, fmt.Sprintf("labels=(%d %d)", prod, global): 1,
				fmt.Sprintf("labels={%d %d}", prod, foreign): 1, fmt.Sprintf("labels=%d", foreign): 0,
			} {
				var list []api.Artifact
				f.get(f.base+"/artifacts?q="+url.QueryEscape(params), f.guest, &list)
				if len(list) != want || want == 1 && list[0].Digest != f.img.digest {
					t.Errorf("q=%s: %v", params, artDigests(list))
				}
			}
			f.expect("guest removes label", f.call("DELETE", fmt.Sprintf("%s/%d", labels, prod), f.guest, nil), 403, "")
			f.expect("remove label", f.call("DELETE", fmt.Sprintf("%s/%d", labels, prod), f.dev, nil), 200, "")
			f.expect("remove label again", f.call("DELETE", fmt.Sprintf("%s/%d", labels, prod), f.dev, nil), 404, "")
			f.expect("remove label x", f.call("DELETE", labels+"/x", f.dev, nil), 400, "")
			f.expect("delete global label", f.call("DELETE", fmt.Sprintf("/api/v2.0/labels/%d", global), artAdmin, nil), 200, "")
			if img := f.artifact("v1", "?with_label=true", f.guest); len(img.Labels) != 0 {
				t.Errorf("labels after deleting the global label: %+v", img.Labels)
			}

			// Copy into project dst: tags, accessories, index children, blobs.
			copyURL := func(repo, from string) string {
				return "/api/v2.0/projects/dst/repositories/" + repo + "/artifacts?from=" + url.QueryEscape(from)
			}
			f.expect("guest copies", f.call("POST", copyURL("copied", "proj/app/web:v1"), f.guest, nil), 403, "FORBIDDEN")
			f.expect("outsider copies", f.call("POST", copyURL("copied", "proj/app/web:v1"), f.outsider, nil), 404, "")
			f.project("secret", false) // dev is no member
			for _, tc := range []struct {
				what, repo, from string
				status           int
				code             string
			}{
				{"no from", "copied", "", 400, "BAD_REQUEST"},
				{"from without a reference", "copied", "proj/app/web", 400, "BAD_REQUEST"},
				{"from with a bad digest", "copied", "proj/app/web@sha256:zz", 400, "BAD_REQUEST"},
				{"from with a bad name", "copied", "Proj/App:v1", 400, "BAD_REQUEST"},
				{"bad target name", "Bad%20Name", "proj/app/web:v1", 400, "BAD_REQUEST"},
				{"unknown tag", "copied", "proj/app/web:nope", 404, "NOT_FOUND"},
				{"unknown project", "copied", "nope/app:v1", 404, "NOT_FOUND"},
				{"project the caller cannot see", "copied", "secret/app:v1", 404, "NOT_FOUND"},
				{"an accessory", "copied", "proj/app/web@" + f.sig.digest, 403, "DENIED"},
			} {
				f.expect("copy: "+tc.what, f.call("POST", copyURL(tc.repo, tc.from), f.dev, nil), tc.status, tc.code)
			}
			r = f.call("POST", copyURL("copied", "proj/app/web:v1"), f.dev, nil)
			f.expect("copy image", r, 201, "")
			if loc := r.header.Get("Location"); loc != "/api/v2.0/projects/dst/repositories/copied/artifacts/v1" {
				t.Errorf("Location %q", loc)
			}
			f.waitAudit("dev", "create", "artifact", "dst/copied@"+f.img.digest)
			var cp api.Artifact
			f.get("/api/v2.0/projects/dst/repositories/copied/artifacts/v1", f.guest, &cp)
			if cp.Digest != f.img.digest || cp.ProjectID != f.dstPID || cp.RepositoryName != "dst/copied" || cp.Size != f.img.size ||
				len(cp.Tags) != 2 || len(cp.Accessories) != 1 || cp.Accessories[0].Digest != f.sig.digest || attrsOf(t, cp)["architecture"] != "amd64" {
				t.Errorf("copied image = %+v", cp)
			}
			var m struct {
				Config struct{ Digest string }
				Layers []struct{ Digest string }
			}
			json.Unmarshal(f.img.body, &m)
			for path, want := range map[string]int{
				"/v2/dst/copied/manifests/latest":                   200,
				"/v2/dst/copied/blobs/" + m.Config.Digest:           200,
				"/v2/dst/copied/blobs/" + m.Layers[0].Digest:        200,
				"/v2/dst/copied/manifests/" + f.sig.digest:          200,
				"/v2/dst/copied/referrers/" + f.img.digest:          200,
				"/v2/dst/copied/manifests/" + f.childA.digest:       404,
				"/v2/dst/elsewhere/blobs/" + m.Layers[0].Digest:     200, // visible in the project
				"/v2/library/elsewhere/blobs/" + m.Layers[0].Digest: 404,
			} {
				if st := f.registry("HEAD", path, artAdmin); st != want {
					t.Errorf("HEAD %s: %d, want %d", path, st, want)
				}
			}
			r = f.call("POST", copyURL("copied", "proj/app/web@"+f.idx.digest), f.dev, nil)
			f.expect("copy index", r, 201, "")
			var cidx api.Artifact
			f.get("/api/v2.0/projects/dst/repositories/copied/artifacts/multi", f.guest, &cidx)
			if len(cidx.References) != 2 || cidx.References[0].ChildID == 0 || cidx.References[1].ChildID == 0 ||
				cidx.Size != f.idx.size || len(cidx.Accessories) != 1 || cidx.Accessories[0].Digest != f.legacy.digest {
				t.Errorf("copied index = %+v", cidx)
			}
			var dl []api.Artifact
			f.get("/api/v2.0/projects/dst/repositories/copied/artifacts?q="+url.QueryEscape("base=*"), f.guest, &dl)
			if len(dl) != 6 {
				t.Errorf("copied repository holds %v, want image, index, 2 children, 2 signatures", artDigests(dl))
			}

			// The target project's quota applies; a refused copy writes nothing.
			tiny := f.project("tiny", false)
			f.member(tiny, f.devID, rbac.Developer)
			if err := f.srv.App.DB.SetStorageLimit(context.Background(), tiny, 10); err != nil {
				t.Fatal(err)
			}
			r = f.call("POST", "/api/v2.0/projects/tiny/repositories/c/artifacts?from="+url.QueryEscape("proj/app/web:v1"), f.dev, nil)
			f.expect("copy over quota", r, 403, "DENIED")
			if !strings.Contains(string(r.body), "quota") {
				t.Errorf("over quota: %s", r.body)
			}
			if used, _ := f.srv.App.DB.ProjectUsage(context.Background(), tiny); used != 0 {
				t.Errorf("a refused copy used %d bytes", used)
			}
			f.expect("repository of a refused copy", f.call("GET", "/api/v2.0/projects/tiny/repositories/c", artAdmin, nil), 404, "")

			// Delete: a child of an index cannot go alone; the index takes its
			// children and signature with it; developers may not delete.
			child := f.base + "/artifacts/" + f.childA.digest
			f.expect("delete an index child", f.call("DELETE", child, artAdmin, nil), 412, "VIOLATE_FOREIGN_KEY_CONSTRAINT")
			for _, tc := range []struct {
				u      artUser
				status int
			}{{f.dev, 403}, {f.guest, 403}, {f.outsider, 404}, {artUser{}, 401}} {
				f.expect(tc.u.name+" deletes", f.call("DELETE", f.base+"/artifacts/multi", tc.u, nil), tc.status, "")
			}
			f.expect("maintainer deletes the index", f.call("DELETE", f.base+"/artifacts/multi", f.maint, nil), 200, "")
			f.waitAudit("maint", "delete", "artifact", f.repo+"@"+f.idx.digest)
			for _, d := range []string{f.idx.digest, f.childA.digest, f.childB.digest, f.legacy.digest} {
				f.expect("after delete: "+d, f.call("GET", f.base+"/artifacts/"+d, artAdmin, nil), 404, "")
				if st := f.registry("HEAD", "/v2/"+f.repo+"/manifests/"+d, artAdmin); st != 404 {
					t.Errorf("/v2 HEAD %s after delete: %d", d, st)
				}
			}
			f.expect("delete again", f.call("DELETE", f.base+"/artifacts/multi", artAdmin, nil), 404, "")
			f.expect("delete image", f.call("DELETE", f.base+"/artifacts/v1", artAdmin, nil), 200, "")
			var left []api.Artifact
			f.get(f.base+"/artifacts?q="+url.QueryEscape("base=*"), artAdmin, &left)
			if !slices.Equal(artDigests(left), []string{f.ch.digest}) {
				t.Errorf("left after deletes: %v, want the chart only (the image's signature goes with it)", artDigests(left))
			}
			// The copies are untouched.
			f.get("/api/v2.0/projects/dst/repositories/copied/artifacts/multi", f.guest, nil)
		})
	}
}

// TestArtifactListingScale lists 100 artifacts, each tagged, labelled and
// signed: one page is a fixed handful of queries, so it stays fast.
func TestArtifactListingScale(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			e := newArtEnv(t, backend)
			e.project("many", false)
			repo := "many/app"
			cfg := e.blob(repo, artOCIConfig, artImageConfig("amd64"))
			layer := e.blob(repo, artOCILayer, artRandom(100))
			r := e.call("POST", "/api/v2.0/labels", artAdmin, `{"name":"bulk","scope":"g"}`)
			e.expect("label", r, 201, "")
			var label int64
			fmt.Sscanf(r.header.Get("Location"), "/api/v2.0/labels/%d", &label)
			const n = 100
			for i := range n {
				p := e.push(repo, fmt.Sprintf("t%03d", i), artManifest{SchemaVersion: 2, MediaType: artOCIManifest, Config: &cfg,
					Layers: []artDesc{layer}, Annotations: map[string]string{"n": fmt.Sprint(i)}})
				if i%10 == 0 {
					e.signature(repo, p, false)
					e.expect("add label", e.call("POST", "/api/v2.0/projects/many/repositories/app/artifacts/"+p.digest+"/labels",
						artAdmin, fmt.Sprintf(`{"id":%d}`, label)), 200, "")
				}
			}
			start := time.Now()
			var list []api.Artifact
			r = e.get("/api/v2.0/projects/many/repositories/app/artifacts?page_size=100&with_label=true", artAdmin, &list)
			took := time.Since(start)
			if len(list) != n || r.header.Get("X-Total-Count") != fmt.Sprint(n) {
				t.Fatalf("listed %d of %s, want %d", len(list), r.header.Get("X-Total-Count"), n)
			}
			signed, labelled := 0, 0
			for _, a := range list {
				if len(a.Tags) != 1 || attrsOf(t, a)["architecture"] != "amd64" {
					t.Fatalf("artifact %+v", a)
				}
				signed += len(a.Accessories)
				labelled += len(a.Labels)
			}
			if signed != n/10 || labelled != n/10 {
				t.Errorf("%d signed, %d labelled, want %d each", signed, labelled, n/10)
			}
			t.Logf("listed %d artifacts in %v", n, took)
			if took > 3*time.Second {
				t.Errorf("listing %d artifacts took %v", n, took)
			}
		})
	}
}
