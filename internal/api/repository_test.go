package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestRepositories covers the repository API: fields and counters, the
// description, deletion with everything in the repository, and who may do
// what.
func TestRepositories(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := newArtFixture(t, backend)
			f.image("proj/db", "1", "amd64")
			var list []api.Repository
			r := f.get("/api/v2.0/projects/proj/repositories", f.guest, &list)
			if r.header.Get("X-Total-Count") != "2" || len(list) != 2 || list[0].Name != "proj/db" || list[1].Name != f.repo {
				t.Fatalf("repositories = %+v, want proj/db (newest) then %s", list, f.repo)
			}
			web := list[1]
			if web.ID == 0 || web.ProjectID != f.pid || web.Description != "" || web.ArtifactCount != 3 || web.PullCount != 0 ||
				!strings.HasSuffix(web.CreationTime, "Z") || web.UpdateTime < web.CreationTime {
				t.Errorf("repository = %+v (3 artifacts: image, index, chart)", web)
			}
			var one api.Repository
			f.get(f.base, f.guest, &one)
			if one != web {
				t.Errorf("get = %+v, want %+v", one, web)
			}
			f.get("/api/v2.0/projects/proj/repositories/app%2Fweb", f.guest, &one) // single-encoded
			for _, tc := range []struct {
				params string
				want   []string
			}{
				{"?sort=name", []string{"proj/app/web", "proj/db"}},
				{"?q=" + url.QueryEscape("name=~DB"), []string{"proj/db"}},
				{"?page=2&page_size=1", []string{f.repo}},
			} {
				f.get("/api/v2.0/projects/proj/repositories"+tc.params, f.guest, &list)
				var names []string
				for _, r := range list {
					names = append(names, r.Name)
				}
				if !slices.Equal(names, tc.want) {
					t.Errorf("%s: %v, want %v", tc.params, names, tc.want)
				}
			}
			f.expect("q=bad", f.call("GET", "/api/v2.0/projects/proj/repositories?q=nokey=1", f.guest, nil), 400, "BAD_REQUEST")

			for _, tc := range []struct {
				what, method, path string
				u                  artUser
				body               string
				status             int
			}{
				{"outsider lists", "GET", "/api/v2.0/projects/proj/repositories", f.outsider, "", 404},
				{"anonymous lists", "GET", "/api/v2.0/projects/proj/repositories", artUser{}, "", 401},
				{"anonymous lists a public project", "GET", "/api/v2.0/projects/library/repositories", artUser{}, "", 200},
				{"unknown project", "GET", "/api/v2.0/projects/nope/repositories", artAdmin, "", 404},
				{"unknown repository", "GET", "/api/v2.0/projects/proj/repositories/nope", f.guest, "", 404},
				{"invalid repository name", "GET", "/api/v2.0/projects/proj/repositories/No%20Such", f.guest, "", 404},
				{"guest updates", "PUT", f.base, f.guest, `{"description":"x"}`, 403},
				{"outsider updates", "PUT", f.base, f.outsider, `{"description":"x"}`, 404},
				{"no description", "PUT", f.base, f.dev, `{}`, 400},
				{"wrong type", "PUT", f.base, f.dev, `{"description":5}`, 400},
				{"unknown field", "PUT", f.base, f.dev, `{"description":"x","labels":[]}`, 400},
				{"malformed", "PUT", f.base, f.dev, `{"description"`, 400},
				{"long description", "PUT", f.base, f.dev, `{"description":"` + strings.Repeat("d", 9000) + `"}`, 400},
				{"developer updates", "PUT", f.base, f.dev, `{"description":"The web app","name":"ignored"}`, 200},
				{"developer deletes", "DELETE", f.base, f.dev, "", 403},
				{"guest deletes", "DELETE", f.base, f.guest, "", 403},
			} {
				var body any
				if tc.body != "" {
					body = tc.body
				}
				f.expect(tc.what, f.call(tc.method, tc.path, tc.u, body), tc.status, "")
			}
			f.get(f.base, f.guest, &one)
			if one.Description != "The web app" || one.Name != f.repo {
				t.Errorf("after update: %+v", one)
			}
			f.waitAudit("dev", "update", "repository", f.repo)

			f.expect("maintainer deletes", f.call("DELETE", f.base, f.maint, nil), 200, "")
			f.waitAudit("maint", "delete", "repository", f.repo)
			f.expect("get deleted", f.call("GET", f.base, f.guest, nil), 404, "NOT_FOUND")
			f.expect("delete deleted", f.call("DELETE", f.base, f.maint, nil), 404, "NOT_FOUND")
			for _, path := range []string{"/v2/" + f.repo + "/tags/list", "/v2/" + f.repo + "/manifests/" + f.img.digest} {
				if st := f.registry("GET", path, artAdmin); st != 404 {
					t.Errorf("GET %s after deleting the repository: %d", path, st)
				}
			}
			f.get("/api/v2.0/projects/proj/repositories", f.guest, &list)
			if len(list) != 1 || list[0].Name != "proj/db" {
				t.Errorf("left: %+v", list)
			}
			// The repository comes back with the next push.
			f.image(f.repo, "again", "amd64")
			f.get(f.base, f.guest, &one)
			if one.ArtifactCount != 1 || one.Description != "" {
				t.Errorf("pushed again: %+v", one)
			}
		})
	}
}

// TestCrossProjectListings covers the listings that span projects (all
// repositories, a project's artifacts, Berth's list of every artifact) and
// the search: each caller sees the projects it may see and no others.
func TestCrossProjectListings(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			f := newArtFixture(t, backend)
			pub := f.image("library/pub", "1", "arm64")
			other := f.image("dst/other", "1", "amd64")
			secretID := f.project("secret", false)
			f.image("secret/app", "1", "amd64")
			hash, _ := auth.HashPassword("Robot-Secret-1")
			if _, err := f.srv.App.DB.CreateRobot(context.Background(), store.Robot{
				Name: "robot$secret+ci", Level: "project", ProjectID: secretID, SecretHash: hash, Duration: -1, ExpiresAt: -1,
				Permissions: `[{"kind":"project","namespace":"secret","access":[{"resource":"repository","action":"pull"}]}]`,
			}); err != nil {
				t.Fatal(err)
			}
			robot := artUser{"robot$secret+ci", "Robot-Secret-1"}

			names := func(path string, u artUser) []string {
				t.Helper()
				var list []api.Repository
				f.get(path, u, &list)
				var out []string
				for _, r := range list {
					out = append(out, r.Name)
				}
				sort.Strings(out)
				return out
			}
			for _, tc := range []struct {
				who  string
				u    artUser
				want []string
			}{
				{"admin", artAdmin, []string{"dst/other", "library/pub", "proj/app/web", "secret/app"}},
				{"member", f.guest, []string{"dst/other", "library/pub", "proj/app/web"}},
				{"outsider", f.outsider, []string{"library/pub"}},
				{"anonymous", artUser{}, []string{"library/pub"}},
				{"robot", robot, []string{"library/pub", "secret/app"}},
			} {
				if got := names("/api/v2.0/repositories?page_size=100", tc.u); !slices.Equal(got, tc.want) {
					t.Errorf("%s sees repositories %v, want %v", tc.who, got, tc.want)
				}
			}
			if got := names("/api/v2.0/repositories?q="+url.QueryEscape(fmt.Sprintf("project_id=%d", f.dstPID)), artAdmin); !slices.Equal(got, []string{"dst/other"}) {
				t.Errorf("q=project_id: %v", got)
			}

			// Every artifact the caller can see (Berth's own listing).
			digests := func(path string, u artUser) []string {
				t.Helper()
				var list []api.Artifact
				f.get(path, u, &list)
				return artDigests(list)
			}
			if got := digests("/api/v2.0/artifacts?page_size=100", f.outsider); !slices.Equal(got, []string{pub.digest}) {
				t.Errorf("outsider sees %v", got)
			}
			if got := digests("/api/v2.0/artifacts?page_size=100", f.guest); !slices.Equal(got, []string{other.digest, pub.digest, f.ch.digest, f.idx.digest, f.img.digest}) {
				t.Errorf("member sees %v", got)
			}
			if got := digests("/api/v2.0/artifacts?page_size=100", artAdmin); len(got) != 6 {
				t.Errorf("admin sees %v", got)
			}
			for params, want := range map[string][]string{
				"q=" + url.QueryEscape(fmt.Sprintf("project_id=%d", f.pid)):                              {f.ch.digest, f.idx.digest, f.img.digest},
				"q=" + url.QueryEscape("repository_name=dst/other"):                                      {other.digest},
				"q=" + url.QueryEscape("repository_name=~APP,type=IMAGE"):                                {f.idx.digest, f.img.digest},
				"q=" + url.QueryEscape("digest="+f.img.digest):                                           {f.img.digest},
				"q=" + url.QueryEscape("tags=1"):                                                         {other.digest, pub.digest},
				"q=" + url.QueryEscape("push_time=[2000-01-01 00:00:00~2999-01-01 00:00:00],type=CHART"): {f.ch.digest},
				"latest_in_repository=true&q=" + url.QueryEscape("type=IMAGE"):                           {other.digest, pub.digest, f.idx.digest},
				"page=2&page_size=2": {f.ch.digest, f.idx.digest},
			} {
				if got := digests("/api/v2.0/artifacts?"+params, f.guest); !slices.Equal(got, want) {
					t.Errorf("%s: %v, want %v", params, got, want)
				}
			}
			f.expect("bad q", f.call("GET", "/api/v2.0/artifacts?q=nokey=1", f.guest, nil), 400, "BAD_REQUEST")
			f.expect("bad latest_in_repository", f.call("GET", "/api/v2.0/artifacts?latest_in_repository=x", f.guest, nil), 400, "BAD_REQUEST")

			// A project's artifacts, by name or ID.
			for _, path := range []string{"/api/v2.0/projects/proj/artifacts", fmt.Sprintf("/api/v2.0/projects/%d/artifacts", f.pid)} {
				r := f.call("GET", path+"?with_label=true", f.guest, nil)
				f.expect(path, r, http.StatusOK, "")
				if r.header.Get("X-Total-Count") != "3" {
					t.Errorf("%s: X-Total-Count %s", path, r.header.Get("X-Total-Count"))
				}
			}
			if got := digests("/api/v2.0/projects/proj/artifacts?latest_in_repository=true", f.guest); !slices.Equal(got, []string{f.ch.digest}) {
				t.Errorf("latest in repository: %v", got)
			}
			f.expect("outsider, project artifacts", f.call("GET", "/api/v2.0/projects/proj/artifacts", f.outsider, nil), 404, "")
			f.expect("anonymous, project artifacts", f.call("GET", "/api/v2.0/projects/proj/artifacts", artUser{}, nil), 401, "")

			// Search.
			var res api.Search
			f.get("/api/v2.0/search?q=app", f.guest, &res)
			var repos []string
			for _, r := range res.Repository {
				repos = append(repos, r.RepositoryName)
				if r.RepositoryName == f.repo && (r.ProjectName != "proj" || r.ProjectID != f.pid || r.ProjectPublic || r.ArtifactCount != 3) {
					t.Errorf("search hit %+v", r)
				}
			}
			if !slices.Equal(repos, []string{f.repo}) || len(res.Project) != 0 {
				t.Errorf("guest searching app: %+v", res)
			}
			f.get("/api/v2.0/search?q=pro", f.guest, &res)
			if len(res.Project) != 1 || res.Project[0].Name != "proj" || res.Project[0].ProjectID != f.pid || res.Project[0].RepoCount != 1 ||
				res.Project[0].CurrentUserRoleID != 3 || !slices.Equal(res.Project[0].CurrentUserRoleIDs, []int{3}) ||
				res.Project[0].Metadata["public"] != "false" || len(res.Repository) != 1 {
				t.Errorf("guest searching pro: %+v", res)
			}
			f.get("/api/v2.0/search?q=app", f.outsider, &res)
			if len(res.Repository) != 0 || len(res.Project) != 0 || res.Repository == nil {
				t.Errorf("outsider searching app: %+v", res)
			}
			f.get("/api/v2.0/search?q=", artUser{}, &res)
			if len(res.Project) != 1 || res.Project[0].Name != "library" || len(res.Repository) != 1 {
				t.Errorf("anonymous searching everything: %+v", res)
			}
			f.get("/api/v2.0/search?q=secret", robot, &res)
			if len(res.Project) != 1 || len(res.Repository) != 1 {
				t.Errorf("robot searching secret: %+v", res)
			}
			f.expect("search without q", f.call("GET", "/api/v2.0/search", f.guest, nil), 400, "BAD_REQUEST")
		})
	}
}
