package artifact_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

// take returns the events since the last take, as "TYPE repo tag digest".
func (e *env) take() []string {
	var out []string
	for _, ev := range e.ev.Take() {
		out = append(out, strings.Join(strings.Fields(fmt.Sprintf("%s %s %s %s %s", ev.Type, ev.Operator, ev.Repository, ev.Tag, ev.Digest)), " "))
	}
	return out
}

type env struct {
	t       *testing.T
	db      *store.DB
	svc     *artifact.Service
	ev      *testserver.Events
	changed int
	pid     int64
	target  artifact.Target
	layer   string
	n       int
}

func backends(t *testing.T, run func(t *testing.T, e *env)) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			db := testserver.OpenStore(t, backend)
			e := &env{t: t, db: db, ev: &testserver.Events{}}
			e.svc = artifact.New(db, nil, artifact.Options{Events: e.ev, Changed: func() { e.changed++ }})
			e.pid = e.project("p", -1)
			e.target = artifact.Target{ProjectID: e.pid, Project: "p", Repository: "p/app", Operator: "alice"}
			e.layer = e.blob(e.pid, "layer")
			run(t, e)
		})
	}
}

func (e *env) project(name string, limit int64) int64 {
	e.t.Helper()
	id, err := e.db.AddProject(ctx, store.ProjectSpec{Name: name, StorageLimit: limit})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) blob(pid int64, content string) string {
	e.t.Helper()
	d := string(oci.FromBytes([]byte(content)))
	if err := e.db.FinishUpload(ctx, "", pid, d, int64(len(content))); err != nil {
		e.t.Fatal(err)
	}
	return d
}

// manifest is a new image manifest over layer (with subject, if set).
func (e *env) manifest(subject string) artifact.Manifest {
	e.n++
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":5},"layers":[],"annotations":{"n":"%d"}`,
		oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, e.layer, e.n)
	if subject != "" {
		body += fmt.Sprintf(`,"subject":{"mediaType":%q,"digest":%q,"size":1}`, oci.MediaTypeOCIManifest, subject)
	}
	return artifact.Manifest{MediaType: oci.MediaTypeOCIManifest, Body: []byte(body + "}")}
}

func (e *env) put(m artifact.Manifest, tags ...string) *artifact.Stored {
	e.t.Helper()
	m.Tags = tags
	st, err := e.svc.Put(ctx, e.target, m)
	if err != nil {
		e.t.Fatalf("put %v: %v", tags, err)
	}
	return st
}

func (e *env) get(ref string, byDigest bool) *store.Artifact {
	e.t.Helper()
	a, err := e.db.ArtifactByRef(ctx, e.target.Repository, ref, byDigest)
	if err != nil {
		e.t.Fatalf("get %s: %v", ref, err)
	}
	return a
}

func wantKind(t *testing.T, err error, k errs.Kind, what string) {
	t.Helper()
	if !errs.Is(err, k) {
		t.Fatalf("%s: %v, want %s", what, err, k)
	}
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// TestPut: the rules of a push, each refusal with its kind, and the
// stored record and events of a push that passes.
func TestPut(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		m := e.manifest("")
		st := e.put(m, "v1", "latest")
		a := e.get("v1", false)
		if a.ID != st.ID || a.Digest != string(oci.FromBytes(m.Body)) || a.Kind != "IMAGE" || a.ConfigMediaType != oci.MediaTypeOCIConfig ||
			a.Annotations != `{"n":"1"}` || a.TotalSize != int64(len(m.Body))+5 {
			t.Fatalf("stored %+v", a)
		}
		equal(t, "push events", e.take(), []string{
			"PUSH_ARTIFACT alice p/app v1 " + a.Digest, "PUSH_ARTIFACT alice p/app latest " + a.Digest})
		if e.changed != 1 {
			t.Fatalf("Changed called %d times, want 1", e.changed)
		}
		untagged := e.put(e.manifest(""))
		equal(t, "untagged push event", e.take(), []string{"PUSH_ARTIFACT alice p/app " + string(untagged.Digest)})

		bad := e.manifest("")
		bad.Digest = oci.FromBytes([]byte("other"))
		_, err := e.svc.Put(ctx, e.target, bad)
		var x *errs.Error
		if !errs.Is(err, errs.Invalid) || !errorsAs(err, &x) || x.Op != artifact.OpDigest {
			t.Fatalf("wrong digest: %v", err)
		}
		bad = e.manifest("")
		bad.Tags = []string{"-bad"}
		_, err = e.svc.Put(ctx, e.target, bad)
		wantKind(t, err, errs.Invalid, "bad tag")
		_, err = e.svc.Put(ctx, e.target, artifact.Manifest{MediaType: oci.MediaTypeOCIManifest, Body: []byte("{not json")})
		wantKind(t, err, errs.Invalid, "not a manifest")
		_, err = e.svc.Put(ctx, e.target, artifact.Manifest{MediaType: oci.MediaTypeOCIManifest, Body: make([]byte, oci.MaxManifestSize+1)})
		wantKind(t, err, errs.TooLarge, "too large")
		other := e.project("other", -1)
		elsewhere := e.blob(other, "elsewhere")
		body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":9},"layers":[]}`,
			oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, elsewhere)
		_, err = e.svc.Put(ctx, e.target, artifact.Manifest{MediaType: oci.MediaTypeOCIManifest, Body: []byte(body)})
		wantKind(t, err, errs.NotFound, "a blob of another project")
		if got := e.take(); len(got) != 0 {
			t.Fatalf("refused pushes published %q", got)
		}
	})
}

// TestQuotaExceeded: a push into a project over its quota is errs.Denied
// and published as QUOTA_EXCEED naming the tag.
func TestQuotaExceeded(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		small := e.project("small", -1)
		e.target = artifact.Target{ProjectID: small, Project: "small", Repository: "small/app", Operator: "bob"}
		e.layer = e.blob(small, "layer")
		if err := e.db.SetStorageLimit(ctx, small, 1); err != nil {
			t.Fatal(err)
		}
		m := e.manifest("")
		m.Tags = []string{"v1"}
		_, err := e.svc.Put(ctx, e.target, m)
		wantKind(t, err, errs.Denied, "over quota")
		equal(t, "events", e.take(), []string{"QUOTA_EXCEED bob small/app v1"})
	})
}

func immutableRule(t *testing.T, db *store.DB, pid int64, tagPattern string) {
	t.Helper()
	r := immutable.Rule{ProjectID: pid,
		TagSelectors:   []immutable.Selector{{Decoration: immutable.DecoMatches, Pattern: tagPattern}},
		ScopeSelectors: map[string][]immutable.Selector{immutable.ScopeRepository: {{Decoration: immutable.DecoRepoMatches, Pattern: "**"}}}}
	if err := r.Normalize(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateImmutableRule(ctx, r); err != nil {
		t.Fatal(err)
	}
}

// TestImmutability: the one guard, on every write that could change an
// immutable tag, and what it lets through.
func TestImmutability(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		v1 := e.put(e.manifest(""), "v1", "dev")
		immutableRule(t, e.db, e.pid, "v*")
		e.take()

		// Moving v1 is refused; pushing its own digest again, or a new
		// tag the rule covers, is not.
		_, err := e.svc.Put(ctx, e.target, artifact.Manifest{MediaType: oci.MediaTypeOCIManifest, Body: e.manifest("").Body, Tags: []string{"v1"}})
		wantKind(t, err, errs.Denied, "moving v1")
		if !strings.Contains(errs.Message(err), "tag v1 in p/app is immutable") {
			t.Fatalf("refusal message: %q", errs.Message(err))
		}
		again := e.get("v1", false)
		if _, err := e.svc.Put(ctx, e.target, artifact.Manifest{MediaType: again.MediaType, Body: again.Manifest, Tags: []string{"v1"}}); err != nil {
			t.Fatalf("pushing v1's digest again: %v", err)
		}
		e.put(e.manifest(""), "v2")
		a1 := e.get("v1", false)
		if _, err := e.svc.Tag(ctx, e.target, a1, "v3"); err != nil {
			t.Fatalf("creating a covered tag: %v", err)
		}

		// Deletes of an immutable tag, or of an artifact that carries one.
		wantKind(t, e.svc.DeleteTag(ctx, e.target, "v1", 0), errs.Denied, "delete v1")
		wantKind(t, e.svc.DeleteTag(ctx, e.target, "v1", a1.ID), errs.Denied, "delete v1 of its artifact")
		_, err = e.svc.DeleteArtifact(ctx, e.target, a1.ID)
		wantKind(t, err, errs.Denied, "delete the artifact of v1")
		wantKind(t, e.svc.DeleteManifest(ctx, e.target, string(v1.Digest)), errs.Denied, "delete the manifest of v1")
		wantKind(t, e.svc.GuardRepository(ctx, e.target, "delete repository"), errs.Denied, "delete the repository")
		// A tag the rule does not cover goes; a tag of another artifact
		// is not found.
		if err := e.svc.DeleteTag(ctx, e.target, "dev", a1.ID); err != nil {
			t.Fatalf("delete dev: %v", err)
		}
		wantKind(t, e.svc.DeleteTag(ctx, e.target, "v2", a1.ID), errs.NotFound, "v2 through v1's artifact")

		// An accessory carrying an immutable tag keeps its subject from
		// an API delete (it would go along), not from /v2's (alone).
		subject := e.put(e.manifest(""))
		e.put(e.manifest(string(subject.Digest)), "v-sig")
		_, err = e.svc.DeleteArtifact(ctx, e.target, subject.ID)
		wantKind(t, err, errs.Denied, "delete a subject with an immutable accessory")
		if err := e.svc.DeleteManifest(ctx, e.target, string(subject.Digest)); err != nil {
			t.Fatalf("/v2 delete of the subject alone: %v", err)
		}

		// v1 of another project is another tag: its rules guard nothing.
		otherPID := e.project("q", -1)
		other := artifact.Target{ProjectID: otherPID, Project: "q", Repository: "q/app", Operator: "alice"}
		if rules, err := e.svc.Rules(ctx, other); err != nil || len(rules) != 0 {
			t.Fatalf("rules of q/app = %v, %v", rules, err)
		}
		e.target = other
		e.layer = e.blob(otherPID, "q-layer")
		e.put(e.manifest(""), "v1")
		e.put(e.manifest(""), "v1")
	})
}

// TestDeleteEvents: deletes publish DELETE_ARTIFACT for the artifact
// named and DELETE_TAG; CREATE_TAG for a tag.
func TestDeleteEvents(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		img := e.put(e.manifest(""), "v1")
		e.put(e.manifest(string(img.Digest)))
		if removed, err := e.svc.DeleteArtifact(ctx, e.target, img.ID); err != nil || len(removed) != 2 {
			t.Fatalf("delete = %v, %v", removed, err)
		}
		e.take()
		img2 := e.put(e.manifest(""), "v2")
		a2 := e.get("v2", false)
		e.take()
		if _, err := e.svc.Tag(ctx, e.target, a2, "x"); err != nil {
			t.Fatal(err)
		}
		wantKind(t, func() error { _, err := e.svc.Tag(ctx, e.target, a2, "x"); return err }(), errs.Exists, "tag twice")
		wantKind(t, func() error { _, err := e.svc.Tag(ctx, e.target, a2, ".x"); return err }(), errs.Invalid, "a bad tag")
		if err := e.svc.DeleteTag(ctx, e.target, "x", a2.ID); err != nil {
			t.Fatal(err)
		}
		wantKind(t, e.svc.DeleteTag(ctx, e.target, "x", 0), errs.NotFound, "delete a missing tag")
		if err := e.svc.DeleteManifest(ctx, e.target, string(img2.Digest)); err != nil {
			t.Fatal(err)
		}
		equal(t, "events", e.take(), []string{
			"CREATE_TAG alice p/app x " + string(img2.Digest),
			"DELETE_TAG alice p/app x",
			"DELETE_ARTIFACT alice p/app " + string(img2.Digest),
		})
		img3 := e.put(e.manifest(""), "v3")
		ref3 := e.put(e.manifest(string(img3.Digest)))
		e.take()
		if _, err := e.svc.DeleteArtifact(ctx, e.target, img3.ID); err != nil {
			t.Fatal(err)
		}
		// The artifact named, not its referrer that went with it (Harbor).
		equal(t, "cascade events", e.take(), []string{"DELETE_ARTIFACT alice p/app " + string(img3.Digest)})
		if _, err := e.db.ArtifactByRef(ctx, e.target.Repository, string(ref3.Digest), true); !errs.Is(err, errs.NotFound) {
			t.Fatalf("the referrer stayed: %v", err)
		}
	})
}

// TestCopy: a copy stores each manifest under the push rules in the
// target (blobs linked there, tags, the referrer with it), publishes no
// push, and an immutable tag of the target refuses it before any blob is
// linked.
func TestCopy(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		img := e.put(e.manifest(""), "v1")
		e.put(e.manifest(string(img.Digest)))
		src := e.get("v1", false)
		dstPID := e.project("dst", -1)
		dst := artifact.Target{ProjectID: dstPID, Project: "dst", Repository: "dst/copy", Operator: "carol"}
		e.take()
		if err := e.svc.Copy(ctx, dst, "p/app", src, []string{"v1"}); err != nil {
			t.Fatal(err)
		}
		c, err := e.db.ArtifactByRef(ctx, "dst/copy", "v1", false)
		if err != nil || c.Digest != src.Digest || c.ExtraAttrs != src.ExtraAttrs {
			t.Fatalf("copied = %+v, %v", c, err)
		}
		if _, err := e.db.ProjectBlob(ctx, dstPID, e.layer); err != nil {
			t.Fatalf("layer not linked into the target: %v", err)
		}
		accs, err := e.db.ArtifactAccessories(ctx, []int64{c.ID})
		if err != nil || len(accs[c.ID]) != 1 {
			t.Fatalf("copied accessories = %v, %v", accs, err)
		}
		if got := e.take(); len(got) != 0 {
			t.Fatalf("a copy published %q", got)
		}

		// The target's immutable v2 refuses a copy that would move it,
		// before the copy links any blob into the target.
		guarded := e.project("guarded", -1)
		immutableRule(t, e.db, guarded, "v*")
		gt := artifact.Target{ProjectID: guarded, Project: "guarded", Repository: "guarded/app", Operator: "carol"}
		if err := e.svc.Copy(ctx, gt, "p/app", src, []string{"v2"}); err != nil {
			t.Fatal(err)
		}
		e.layer = e.blob(e.pid, "later") // a blob only the source project has
		e.put(e.manifest(""), "v9")
		later := e.get("v9", false)
		err = e.svc.Copy(ctx, gt, "p/app", later, []string{"v2"})
		wantKind(t, err, errs.Denied, "moving the target's immutable v2")
		if _, err := e.db.ProjectBlob(ctx, guarded, e.layer); !errs.Is(err, errs.NotFound) {
			t.Fatalf("a refused copy linked its blob: %v", err)
		}
	})
}

func errorsAs(err error, x **errs.Error) bool {
	for e := err; e != nil; {
		if v, ok := e.(*errs.Error); ok {
			*x = v
			return true
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		e = u.Unwrap()
	}
	return false
}
