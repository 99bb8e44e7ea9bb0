// Package retention_test runs tag retention against the real binary and
// interrupts a run in the middle: by SIGKILL, after which the lost task's
// lease runs out and the job system runs it again, and by a shutdown,
// after which the interrupted task goes back to pending and the same
// execution finishes. Either way every repository ends with exactly the
// tags the policy keeps, and they pull back intact.
package retention_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// Each project gets a policy keeping the latestPushedK=keepK newest tags
// of every repository, and an immutable rule on tag immutableTag of
// repository immutableRepo (which so keeps it too).
const (
	keepK         = 2
	immutableRepo = "repo03"
	immutableTag  = "v1"
)

// TestRetentionSurvivesKillAndShutdown interrupts a retention run (one job
// worker, so repositories are done one at a time) once by SIGKILL and once
// by a shutdown, each in its own project.
func TestRetentionSurvivesKillAndShutdown(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			p := testserver.Start(t, backend, "--job-workers", "1")
			killed := newProject(t, p, "killed", 12, 5)
			stopped := newProject(t, p, "stopped", 8, 25) // longer tasks
			t.Logf("pushed %d images in %v", len(killed.images)+len(stopped.images), time.Since(start).Round(time.Millisecond))

			// SIGKILL: the running task is lost; after a restart its
			// lease runs out, it runs again and the execution ends well.
			eid := killed.trigger(t, p)
			running := killed.waitMidRun(t, p, eid)
			p.Kill()
			p.Restart()
			if st := killed.waitExecution(t, p, eid, 90*time.Second); st != "Success" {
				t.Fatalf("killed execution %d ended %s; tasks %+v", eid, st, killed.tasks(t, p, eid))
			}
			// The killed attempt's log may be lost (it is flushed every
			// second); what the second attempt found tells what the first did.
			for _, tk := range killed.tasks(t, p, eid) {
				if tk.ID == running {
					t.Logf("task %d, killed while running, found %d of %d artifacts when it ran again", tk.ID, tk.Total, killed.tags)
				}
			}
			killed.check(t, p, eid)

			// A shutdown: the running task goes back to pending and the
			// same execution finishes after the restart, untriggered.
			eid = stopped.trigger(t, p)
			running = stopped.waitMidRun(t, p, eid)
			p.Stop()
			p.Restart()
			if st := stopped.waitExecution(t, p, eid, 60*time.Second); st != "Success" {
				t.Fatalf("interrupted execution %d ended %s; tasks %+v", eid, st, stopped.tasks(t, p, eid))
			}
			// The task seen running, or the next one if it just ended
			// before the signal, was interrupted and ran again.
			var interrupted []int64
			for _, tk := range stopped.tasks(t, p, eid) {
				log := stopped.taskLog(t, p, eid, tk.ID)
				if !strings.Contains(log, "interrupted by shutdown") {
					continue
				}
				interrupted = append(interrupted, tk.ID)
				if n := strings.Count(log, "retention of "); n != 2 || tk.ID < running || tk.ID > running+1 {
					t.Errorf("task %d (task %d was running at the shutdown) ran %d times; log:\n%s", tk.ID, running, n, log)
				}
			}
			if len(interrupted) != 1 {
				t.Errorf("tasks %v were interrupted by the shutdown, want one", interrupted)
			}
			stopped.check(t, p, eid)

			// The end state is durable: it holds in a fresh process too.
			p.Stop()
			p.Restart()
			killed.checkState(t, p)
			stopped.checkState(t, p)
			t.Logf("%s: %v", backend, time.Since(start).Round(time.Millisecond))
		})
	}
}

// project is a project with repositories of tagged images and a retention
// policy.
type project struct {
	name   string
	repos  []string   // full names
	tags   int        // per repository: v1 (oldest) … v<tags> (newest)
	images []pushed   // all of them
	policy int64      // retention policy ID
	keep   [][]string // per repository, sorted: the tags the policy keeps
}

// pushed is an image pushed over HTTP: its manifest and blobs.
type pushed struct {
	repo, tag, digest string
	manifest          []byte
	blobs             map[string][]byte
}

// newProject creates a private project with repos repositories of tags
// images each (pushed round by round, so within a repository v<n> is newer
// than v<n-1>), the immutable rule and the retention policy.
func newProject(t *testing.T, p *testserver.Process, name string, repos, tags int) *project {
	t.Helper()
	if st, b := api(t, p, "POST", "/projects", map[string]any{"project_name": name, "metadata": map[string]string{"public": "false"}}); st != http.StatusCreated {
		t.Fatalf("create project %s: %d %s", name, st, b)
	}
	pr := &project{name: name, tags: tags}
	for i := 0; i < repos; i++ {
		pr.repos = append(pr.repos, fmt.Sprintf("%s/repo%02d", name, i))
	}
	for n := 1; n <= tags; n++ {
		for _, repo := range pr.repos {
			pr.images = append(pr.images, pushImage(t, p, repo, fmt.Sprintf("v%d", n)))
		}
		time.Sleep(2 * time.Millisecond) // distinct push times per round
	}
	for _, repo := range pr.repos {
		var keep []string
		for n := tags - keepK + 1; n <= tags; n++ {
			keep = append(keep, fmt.Sprintf("v%d", n))
		}
		if repo == name+"/"+immutableRepo {
			keep = append(keep, immutableTag)
		}
		slices.Sort(keep)
		pr.keep = append(pr.keep, keep)
	}
	if st, b := api(t, p, "POST", "/projects/"+name+"/immutabletagrules", map[string]any{
		"tag_selectors":   []any{map[string]string{"kind": "doublestar", "decoration": "matches", "pattern": immutableTag}},
		"scope_selectors": map[string]any{"repository": []any{map[string]string{"kind": "doublestar", "decoration": "repoMatches", "pattern": immutableRepo}}},
	}); st != http.StatusCreated {
		t.Fatalf("immutable rule in %s: %d %s", name, st, b)
	}
	st, b := api(t, p, "GET", "/projects/"+name, nil)
	var proj struct {
		ProjectID int64 `json:"project_id"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &proj) != nil {
		t.Fatalf("get project %s: %d %s", name, st, b)
	}
	rule := map[string]any{
		"disabled": false, "action": "retain", "template": "latestPushedK", "params": map[string]any{"latestPushedK": keepK},
		"tag_selectors":   []any{map[string]any{"kind": "doublestar", "decoration": "matches", "pattern": "**", "extras": `{"untagged":true}`}},
		"scope_selectors": map[string]any{"repository": []any{map[string]any{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}}},
	}
	pr.policy = created(t, p, "/retentions", map[string]any{"algorithm": "or", "rules": []any{rule},
		"trigger": map[string]any{"kind": "Schedule", "settings": map[string]any{"cron": ""}, "references": map[string]any{}},
		"scope":   map[string]any{"level": "project", "ref": proj.ProjectID}})
	return pr
}

// trigger starts a real (not dry) run of the project's policy.
func (pr *project) trigger(t *testing.T, p *testserver.Process) int64 {
	t.Helper()
	return created(t, p, fmt.Sprintf("/retentions/%d/executions", pr.policy), map[string]bool{"dry_run": false})
}

// task is a retention task as the API shows it.
type task struct {
	ID         int64  `json:"id"`
	Repository string `json:"repository"`
	Status     string `json:"status"`
	Total      int    `json:"total"`
	Retained   int    `json:"retained"`
}

func (pr *project) tasks(t testing.TB, p *testserver.Process, eid int64) []task {
	t.Helper()
	st, b := api(t, p, "GET", fmt.Sprintf("/retentions/%d/executions/%d/tasks?page_size=100", pr.policy, eid), nil)
	var out []task
	if st != http.StatusOK || json.Unmarshal(b, &out) != nil || len(out) != len(pr.repos) {
		t.Fatalf("tasks of execution %d: %d %s", eid, st, b)
	}
	return out
}

func (pr *project) taskLog(t testing.TB, p *testserver.Process, eid, tid int64) string {
	t.Helper()
	_, b := api(t, p, "GET", fmt.Sprintf("/retentions/%d/executions/%d/tasks/%d", pr.policy, eid, tid), nil)
	return string(b)
}

// waitMidRun waits until execution eid has finished a task and another one
// is running, and returns the running one.
func (pr *project) waitMidRun(t testing.TB, p *testserver.Process, eid int64) int64 {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		var done, open int
		var running int64
		for _, tk := range pr.tasks(t, p, eid) {
			switch tk.Status {
			case "Success":
				done++
			case "Pending":
				open++
			case "Running":
				open++
				running = tk.ID
			default:
				t.Fatalf("task %+v", tk)
			}
		}
		if done > 0 && running != 0 {
			t.Logf("interrupting execution %d with %d of %d repositories done, task %d running", eid, done, done+open, running)
			return running
		}
		if open == 0 {
			t.Fatal("the run finished before it could be interrupted; give it more repositories")
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("the run made no progress within a minute")
	return 0
}

// waitExecution waits (at most within) until execution eid is no longer
// pending or running and returns its status.
func (pr *project) waitExecution(t testing.TB, p *testserver.Process, eid int64, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, b := api(t, p, "GET", fmt.Sprintf("/retentions/%d/executions?page_size=100", pr.policy), nil)
		var list []struct {
			ID     int64  `json:"id"`
			Status string `json:"status"`
		}
		if st != http.StatusOK || json.Unmarshal(b, &list) != nil {
			t.Fatalf("executions of policy %d: %d %s", pr.policy, st, b)
		}
		for _, x := range list {
			if x.ID == eid && x.Status != "Pending" && x.Status != "Running" {
				return x.Status
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution %d not over after %v: %s; tasks %+v", eid, within, b, pr.tasks(t, p, eid))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// check verifies, after interrupted execution eid ended, that every task
// succeeded, that the state is exactly what the policy keeps, and that a
// second run finds nothing more to delete and leaves no execution open.
func (pr *project) check(t *testing.T, p *testserver.Process, eid int64) {
	t.Helper()
	for _, tk := range pr.tasks(t, p, eid) {
		if tk.Status != "Success" {
			t.Errorf("task %+v of execution %d", tk, eid)
		}
	}
	pr.checkState(t, p)
	again := pr.trigger(t, p)
	if st := pr.waitExecution(t, p, again, time.Minute); st != "Success" {
		t.Fatalf("second execution %d ended %s", again, st)
	}
	for _, tk := range pr.tasks(t, p, again) {
		i := slices.Index(pr.repos, pr.name+"/"+tk.Repository)
		if i < 0 || tk.Status != "Success" || tk.Total != len(pr.keep[i]) || tk.Retained != tk.Total {
			t.Errorf("second run task %+v; want all %d artifacts retained", tk, len(pr.keep[max(i, 0)]))
		}
	}
	pr.checkState(t, p)
	st, b := api(t, p, "GET", fmt.Sprintf("/retentions/%d/executions?page_size=100", pr.policy), nil)
	var list []struct {
		ID     int64  `json:"id"`
		Status string `json:"status"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &list) != nil || len(list) == 0 {
		t.Fatalf("executions of policy %d: %d %s", pr.policy, st, b)
	}
	for _, x := range list {
		if x.Status == "Pending" || x.Status == "Running" {
			t.Errorf("execution %d of policy %d is still %s", x.ID, pr.policy, x.Status)
		}
	}
}

// checkState verifies that each repository holds exactly the artifacts of
// the tags the policy keeps, that these pull back intact, and that the
// other images are gone.
func (pr *project) checkState(t *testing.T, p *testserver.Process) {
	t.Helper()
	st, b := api(t, p, "GET", "/projects/"+pr.name+"/repositories?page_size=100", nil)
	var repos []struct {
		Name          string `json:"name"`
		ArtifactCount int    `json:"artifact_count"`
	}
	if st != http.StatusOK || json.Unmarshal(b, &repos) != nil || len(repos) != len(pr.repos) {
		t.Fatalf("repositories of %s: %d %s", pr.name, st, b)
	}
	count := map[string]int{}
	for _, r := range repos {
		count[r.Name] = r.ArtifactCount
	}
	for i, repo := range pr.repos {
		st, b := registry(t, p, "GET", "/v2/"+repo+"/tags/list", "", nil)
		var list struct {
			Tags []string `json:"tags"`
		}
		if st != http.StatusOK || json.Unmarshal(b, &list) != nil {
			t.Fatalf("tags of %s: %d %s", repo, st, b)
		}
		slices.Sort(list.Tags)
		if !slices.Equal(list.Tags, pr.keep[i]) || count[repo] != len(pr.keep[i]) {
			t.Errorf("%s has tags %v and %d artifacts; want exactly %v", repo, list.Tags, count[repo], pr.keep[i])
		}
	}
	for _, img := range pr.images {
		i := slices.Index(pr.repos, img.repo)
		if slices.Contains(pr.keep[i], img.tag) {
			checkPull(t, p, img)
		} else if st, _ := registry(t, p, "HEAD", "/v2/"+img.repo+"/manifests/"+img.digest, "", nil); st != http.StatusNotFound {
			t.Errorf("%s:%s (%s), which the policy deletes: %d", img.repo, img.tag, img.digest, st)
		}
	}
}

// checkPull pulls img by tag and each of its blobs, comparing bytes.
func checkPull(t testing.TB, p *testserver.Process, img pushed) {
	t.Helper()
	if st, b := registry(t, p, "GET", "/v2/"+img.repo+"/manifests/"+img.tag, "", nil); st != http.StatusOK || !bytes.Equal(b, img.manifest) {
		t.Errorf("%s:%s: %d, manifest intact %t", img.repo, img.tag, st, bytes.Equal(b, img.manifest))
	}
	for d, want := range img.blobs {
		if st, b := registry(t, p, "GET", "/v2/"+img.repo+"/blobs/"+d, "", nil); st != http.StatusOK || !bytes.Equal(b, want) {
			t.Errorf("%s blob %s: %d, intact %t", img.repo, d, st, bytes.Equal(b, want))
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// registry sends a /v2 request as admin and returns the status and body.
func registry(t testing.TB, p *testserver.Process, method, path, ctype string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, p.URL+path, bytes.NewReader(body))
	req.SetBasicAuth("admin", testserver.AdminPassword)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// api sends a JSON request to /api/v2.0 as admin and returns the status
// and body; created also returns the ID its Location ends with.
func api(t testing.TB, p *testserver.Process, method, path string, body any) (int, []byte) {
	t.Helper()
	st, _, b := apiCall(t, p, method, path, body)
	return st, b
}

func created(t testing.TB, p *testserver.Process, path string, body any) int64 {
	t.Helper()
	st, h, b := apiCall(t, p, "POST", path, body)
	loc := h.Get("Location")
	id, err := strconv.ParseInt(loc[strings.LastIndex(loc, "/")+1:], 10, 64)
	if st != http.StatusCreated || err != nil {
		t.Fatalf("POST %s: %d %q %s", path, st, loc, b)
	}
	return id
}

func apiCall(t testing.TB, p *testserver.Process, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.URL+"/api/v2.0"+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// pushImage pushes a one-layer image with a random layer as repo:tag.
func pushImage(t testing.TB, p *testserver.Process, repo, tag string) pushed {
	t.Helper()
	img := pushed{repo: repo, tag: tag, blobs: map[string][]byte{}}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"ref":"%s:%s"}},"rootfs":{"type":"layers","diff_ids":[]}}`, repo, tag))
	layer := make([]byte, 512)
	rand.Read(layer)
	for _, b := range [][]byte{cfg, layer} {
		d := sha(b)
		if st, body := registry(t, p, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, "application/octet-stream", b); st != http.StatusCreated {
			t.Fatalf("upload to %s: %d %s", repo, st, body)
		}
		img.blobs[d] = b
	}
	img.manifest = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, sha(cfg), len(cfg), sha(layer), len(layer)))
	if st, body := registry(t, p, "PUT", "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", img.manifest); st != http.StatusCreated {
		t.Fatalf("push %s:%s: %d %s", repo, tag, st, body)
	}
	img.digest = sha(img.manifest)
	return img
}
