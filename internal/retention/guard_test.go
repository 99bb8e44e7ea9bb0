package retention_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/retention"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestRunsAgreeWithGuard: a dry run and a real run keep exactly what the
// artifact service's immutability guard refuses to delete (an artifact
// with an immutable tag, and one whose accessory carries one), and
// delete the same others.
func TestRunsAgreeWithGuard(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { testRunsAgreeWithGuard(t, backend) })
	}
}

func testRunsAgreeWithGuard(t *testing.T, backend string) {
	ctx := context.Background()
	db := testserver.OpenStore(t, backend)
	pid, err := db.AddProject(ctx, store.ProjectSpec{Name: "p", StorageLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	layer := string(oci.FromBytes([]byte("layer")))
	if err := db.FinishUpload(ctx, "", pid, layer, 5); err != nil {
		t.Fatal(err)
	}
	arts := artifact.New(db, nil, artifact.Options{})
	target := artifact.Target{ProjectID: pid, Project: "p", Repository: "p/app", Operator: "alice"}
	n := 0
	put := func(subject, tag string) *artifact.Stored {
		t.Helper()
		n++
		body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":5},"layers":[],"annotations":{"n":"%d"}`,
			oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, layer, n)
		if subject != "" {
			body += fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":%q,"size":1}`, oci.MediaTypeOCIManifest, subject)
		}
		st, err := arts.Put(ctx, target, artifact.Manifest{MediaType: oci.MediaTypeOCIManifest, Body: []byte(body + "}"), Tags: []string{tag}})
		if err != nil {
			t.Fatalf("put %s: %v", tag, err)
		}
		time.Sleep(2 * time.Millisecond) // distinct push times
		return st
	}
	old := put("", "v0")                 // deleted by both runs
	signed := put("", "v1")              // kept: its signature's tag is immutable
	put(string(signed.Digest), "v1-sig") // the signature, an accessory of v1
	locked := put("", "v2")              // kept: v2 is immutable
	newest := put("", "v3")              // retained by the rule
	for _, pattern := range []string{"v2", "*-sig"} {
		rule := immutable.Rule{ProjectID: pid, TagSelectors: []immutable.Selector{{Decoration: immutable.DecoMatches, Pattern: pattern}},
			ScopeSelectors: map[string][]immutable.Selector{immutable.ScopeRepository: {{Decoration: immutable.DecoRepoMatches, Pattern: "**"}}}}
		if err := rule.Normalize(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateImmutableRule(ctx, rule); err != nil {
			t.Fatal(err)
		}
	}

	// What the guard decides.
	rules, err := arts.Rules(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what   string
		id     int64
		denied bool
	}{{"v0", old.ID, false}, {"v1", signed.ID, true}, {"v2", locked.ID, true}, {"v3", newest.ID, false}} {
		if err := arts.GuardDelete(ctx, target, rules, c.id); errs.Is(err, errs.Denied) != c.denied || (err != nil && !c.denied) {
			t.Fatalf("guard of %s: %v, want denied %v", c.what, err, c.denied)
		}
	}

	var pol retention.Policy
	if err := json.Unmarshal([]byte(fmt.Sprintf(`{"rules": [{"template": "latestPushedK", "params": {"latestPushedK": 1},
		"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
		"scope_selectors": {"repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]}}],
		"scope": {"level": "project", "ref": %d}}`, pid)), &pol); err != nil {
		t.Fatal(err)
	}
	if err := pol.Normalize(); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(pol)
	if pol.ID, err = db.CreateRetentionPolicy(ctx, pid, string(b)); err != nil {
		t.Fatal(err)
	}
	js := jobs.New(db, jobs.Options{Workers: 1, Poll: 20 * time.Millisecond})
	retention.Register(js, db, retention.Options{Artifacts: arts})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { js.Run(runCtx); close(done) }()
	defer func() { stop(); <-done }()

	// run launches a run, waits for it and returns its log.
	run := func(dry bool) string {
		t.Helper()
		eid, _, err := retention.Launch(ctx, db, js, nil, &pol, jobs.Manual, dry, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			ex, err := db.GetExecution(ctx, eid)
			if err != nil {
				t.Fatal(err)
			}
			if ex.Status != store.JobPending && ex.Status != store.JobRunning {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: %s", eid, ex.Status)
			}
		}
		tasks, _, err := db.ListTasks(ctx, eid, 0, 10)
		if err != nil || len(tasks) != 1 {
			t.Fatalf("tasks %+v, %v", tasks, err)
		}
		text, err := db.TaskLog(ctx, tasks[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		return text
	}
	want := []string{
		"DELETE v0@" + string(old.Digest),
		"IMMUTABLE v1@" + string(signed.Digest) + ": kept (tag v1-sig in p/app is immutable",
		"IMMUTABLE v2@" + string(locked.Digest) + ": kept (tag v2 in p/app is immutable",
		"RETAIN v3@" + string(newest.Digest),
	}
	for _, dry := range []bool{true, false} {
		text := run(dry)
		for _, line := range want {
			if !strings.Contains(text, line) {
				t.Errorf("dry run %v: the log lacks %q:\n%s", dry, line, text)
			}
		}
		if strings.Contains(text, "KEPT") {
			t.Errorf("dry run %v: the guard refused a delete the run meant:\n%s", dry, text)
		}
	}
	for _, c := range []struct {
		digest oci.Digest
		kept   bool
	}{{old.Digest, false}, {signed.Digest, true}, {locked.Digest, true}, {newest.Digest, true}} {
		_, err := db.ArtifactByRef(ctx, "p/app", string(c.digest), true)
		if err != nil && !errs.Is(err, errs.NotFound) {
			t.Fatal(err)
		}
		if (err == nil) != c.kept {
			t.Errorf("artifact %s: kept %v after the real run, want %v", c.digest, err == nil, c.kept)
		}
	}
}
