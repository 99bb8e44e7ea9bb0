package repository_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/repository"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

var ctx = context.Background()

// noBlobs is a blob store that holds nothing: an artifact's config cannot
// be read (its extra attributes are left out, with a warning).
type noBlobs struct{}

func (noBlobs) Open(ctx context.Context, d oci.Digest) (io.ReadSeekCloser, error) {
	return nil, errs.E(errs.NotFound, "open blob", "blob %s not found", d)
}

// env is a store with two projects: "priv" (private) and "pub" (public),
// each with an image app:v1 and app:v2, and the callers of the tables.
type env struct {
	t       *testing.T
	db      *store.DB
	svc     *repository.Service
	arts    *artifact.Service
	ev      *testserver.Events
	changed int
	proj    map[string]*store.Project
	who     map[string]*auth.Principal
	n       int
}

func newEnv(t *testing.T, backend string) *env {
	a := testserver.NewAccounts(t, backend)
	db := a.DB
	e := &env{t: t, db: db, ev: a.Events, proj: map[string]*store.Project{}, who: map[string]*auth.Principal{
		"admin": {Admin: true, Name: "admin"}, "anonymous": {},
	}}
	e.arts = artifact.New(db, nil, artifact.Options{})
	e.svc = repository.New(db, a.Auth, e.arts, noBlobs{}, repository.Config{Events: e.ev, Changed: func() { e.changed++ }, Links: "/api/v2.0",
		Logger: slog.New(slog.DiscardHandler)})
	owner := a.User("owner", false)
	e.who["owner"] = owner
	for _, name := range []string{"priv", "pub"} {
		e.proj[name] = a.Project(name, owner, name == "pub")
		e.push(name, "app", "v1")
		e.push(name, "app", "v2")
	}
	for name, role := range map[string]rbac.Role{"developer": rbac.Developer, "guest": rbac.Guest, "maintainer": rbac.Maintainer} {
		e.who[name] = a.User(name, false)
		for _, p := range e.proj {
			a.Member(p.ID, e.who[name], role)
		}
	}
	e.who["outsider"] = a.User("outsider", false)
	e.who["pubdev"] = a.User("pubdev", false)
	a.Member(e.proj["pub"].ID, e.who["pubdev"], rbac.Developer)
	return e
}

// take describes the events published since the last take as
// "type operator resource".
func (e *env) take() []string {
	var out []string
	for _, ev := range e.ev.Take() {
		out = append(out, strings.Join(strings.Fields(fmt.Sprintf("%s %s %s", ev.Type, ev.Operator, ev.Resource)), " "))
	}
	return out
}

// push stores a new image under tag in repository repo of project.
func (e *env) push(project, repo, tag string) {
	e.t.Helper()
	pid := e.proj[project].ID
	e.n++
	layer := string(oci.FromBytes([]byte(fmt.Sprintf("layer %d", e.n))))
	if err := e.db.FinishUpload(ctx, "", pid, layer, 7); err != nil {
		e.t.Fatal(err)
	}
	body := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":7},"layers":[]}`,
		oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, layer)
	t := artifact.Target{ProjectID: pid, Project: project, Repository: project + "/" + repo, Operator: "owner"}
	if _, err := e.arts.Put(ctx, t, artifact.Manifest{MediaType: oci.MediaTypeOCIManifest, Body: []byte(body), Tags: []string{tag}}); err != nil {
		e.t.Fatal(err)
	}
}

func backends(t *testing.T, run func(t *testing.T, e *env)) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) { run(t, newEnv(t, backend)) })
	}
}

// outcome is the kind of err, "ok" for none.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	return errs.KindOf(err).String()
}

// TestPermissions asks every operation as each caller, in a private and a
// public project, and checks the answer auth gives: a caller who holds
// nothing in a private project is told it does not exist, an anonymous one
// must sign in to write, a member is refused what its role lacks.
func TestPermissions(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		ops := []struct {
			name string
			call func(p *auth.Principal, proj *store.Project) error
		}{
			{"list repositories", func(p *auth.Principal, proj *store.Project) error {
				_, _, err := e.svc.List(ctx, p, proj, nil, 0, 10)
				return err
			}},
			{"get repository", func(p *auth.Principal, proj *store.Project) error {
				_, err := e.svc.Get(ctx, p, proj, proj.Name+"/app")
				return err
			}},
			{"list artifacts", func(p *auth.Principal, proj *store.Project) error {
				_, _, err := e.svc.ListArtifacts(ctx, p, proj, proj.Name+"/app", repository.Listing{Limit: 10})
				return err
			}},
			{"list artifacts by name", func(p *auth.Principal, proj *store.Project) error {
				_, _, err := e.svc.ListArtifactsByName(ctx, p, proj.Name, proj.Name+"/app", repository.Listing{Limit: 10})
				return err
			}},
			{"get artifact", func(p *auth.Principal, proj *store.Project) error {
				_, err := e.svc.GetArtifact(ctx, p, proj, proj.Name+"/app", "v1", repository.Options{Tags: true})
				return err
			}},
			{"get artifact by name", func(p *auth.Principal, proj *store.Project) error {
				_, err := e.svc.GetArtifactByName(ctx, p, proj.Name, proj.Name+"/app", "v1", repository.Options{Tags: true})
				return err
			}},
			{"manifest", func(p *auth.Principal, proj *store.Project) error {
				_, err := e.svc.Manifest(ctx, p, proj, proj.Name+"/app", "v1")
				return err
			}},
			{"add tag", func(p *auth.Principal, proj *store.Project) error {
				return e.svc.AddTag(ctx, p, proj, proj.Name+"/app", "v1", "t-"+p.Name)
			}},
			{"describe", func(p *auth.Principal, proj *store.Project) error {
				d := "by " + p.Name
				return e.svc.UpdateDescription(ctx, p, proj, proj.Name+"/app", &d)
			}},
			{"delete repository", func(p *auth.Principal, proj *store.Project) error {
				return e.svc.Delete(ctx, p, proj, proj.Name+"/none")
			}},
			{"delete artifact", func(p *auth.Principal, proj *store.Project) error {
				return e.svc.DeleteArtifact(ctx, p, proj, proj.Name+"/app", "none")
			}},
		}
		// NotFound after the permission check: the repository or artifact
		// the call names does not exist.
		want := map[string]map[string]string{
			"admin":      {"delete repository": "not found", "delete artifact": "not found"},
			"maintainer": {"delete repository": "not found", "delete artifact": "not found"},
			"developer":  {"delete repository": "denied", "delete artifact": "denied"},
			"guest":      {"add tag": "denied", "describe": "denied", "delete repository": "denied", "delete artifact": "denied"},
		}
		for _, who := range []string{"admin", "maintainer", "developer", "guest", "outsider", "anonymous"} {
			for _, project := range []string{"priv", "pub"} {
				for _, op := range ops {
					got := outcome(op.call(e.who[who], e.proj[project]))
					exp, ok := want[who][op.name]
					switch {
					case ok:
					case who == "outsider" || who == "anonymous":
						exp = "ok"
						if !strings.HasPrefix(op.name, "list") && !strings.HasPrefix(op.name, "get") && op.name != "manifest" {
							exp = map[string]string{"outsider": "denied", "anonymous": "unauthenticated"}[who]
						}
						if project == "priv" {
							exp = map[string]string{"outsider": "not found", "anonymous": "unauthenticated"}[who]
						}
					default:
						exp = "ok"
					}
					if got != exp {
						t.Errorf("%s %s in %s: %s, want %s", who, op.name, project, got, exp)
					}
				}
			}
		}
	})
}

// TestHiddenProjectNamed checks that a project the caller may not see is
// answered as missing, under the name the caller used: by name and as the
// source of a copy.
func TestHiddenProjectNamed(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		out := e.who["outsider"]
		for what, err := range map[string]error{
			"list by name": func() error {
				_, _, err := e.svc.ListArtifactsByName(ctx, out, "priv", "priv/app", repository.Listing{Limit: 1})
				return err
			}(),
			"missing project": func() error {
				_, err := e.svc.GetArtifactByName(ctx, out, "nope", "nope/app", "v1", repository.Options{})
				return err
			}(),
			"copy from": func() error {
				// pubdev may create in pub, and holds nothing in priv.
				_, err := e.svc.Copy(ctx, e.who["pubdev"], e.proj["pub"], "pub/copy", "priv/app:v1")
				if errs.Message(err) != "project priv not found" {
					t.Errorf("copy from a hidden project: %q", errs.Message(err))
				}
				return err
			}(),
		} {
			if !errs.Is(err, errs.NotFound) {
				t.Errorf("%s: %v, want not found", what, err)
			}
		}
		_, err := e.svc.Copy(ctx, e.who["maintainer"], e.proj["pub"], "pub/copy", "priv/app:v1")
		if err != nil {
			t.Fatalf("copy by a member of both: %v", err)
		}
		_, err = e.svc.Copy(ctx, e.who["outsider"], e.proj["pub"], "pub/copy", "priv/app:v1")
		if !errs.Is(err, errs.Denied) || errs.Message(err) == "project priv not found" {
			// the outsider may not create in pub: refused before priv is named
			t.Errorf("copy by an outsider: %v", err)
		}
	})
}

// TestValidation checks the rules on what callers send.
func TestValidation(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		admin, pub := e.who["admin"], e.proj["pub"]
		long := strings.Repeat("x", repository.MaxDescription+1)
		zero, other := int64(0), int64(0)
		id, err := e.db.CreateLabel(ctx, store.Label{Name: "elsewhere", Scope: store.LabelProject, ProjectID: e.proj["priv"].ID})
		if err != nil {
			t.Fatal(err)
		}
		other = id
		for _, c := range []struct {
			what string
			err  error
			want errs.Kind
		}{
			{"no description", e.svc.UpdateDescription(ctx, admin, pub, "pub/app", nil), errs.Invalid},
			{"long description", e.svc.UpdateDescription(ctx, admin, pub, "pub/app", &long), errs.Invalid},
			{"bad repository name", func() error { _, err := e.svc.Get(ctx, admin, pub, "pub/A B"); return err }(), errs.NotFound},
			{"empty tag", e.svc.AddTag(ctx, admin, pub, "pub/app", "v1", ""), errs.Invalid},
			{"bad tag", e.svc.AddTag(ctx, admin, pub, "pub/app", "v1", "-x"), errs.Invalid},
			{"no label", e.svc.AddLabel(ctx, admin, pub, "pub/app", "v1", nil), errs.Invalid},
			{"label zero", e.svc.AddLabel(ctx, admin, pub, "pub/app", "v1", &zero), errs.Invalid},
			{"label of another project", e.svc.AddLabel(ctx, admin, pub, "pub/app", "v1", &other), errs.NotFound},
			{"copy without from", func() error { _, err := e.svc.Copy(ctx, admin, pub, "pub/c", ""); return err }(), errs.Invalid},
			{"copy from nonsense", func() error { _, err := e.svc.Copy(ctx, admin, pub, "pub/c", "nonsense"); return err }(), errs.Invalid},
			{"unsupported addition", func() error {
				_, _, err := e.svc.Addition(ctx, admin, pub, "pub/app", "v1", "values.yaml")
				return err
			}(), errs.Invalid},
		} {
			if !errs.Is(c.err, c.want) {
				t.Errorf("%s: %v, want %s", c.what, c.err, c.want)
			}
		}
	})
}

// TestEventsAndRefusals checks the operations recorded, the immutability
// guard on deletes, a refused copy's marker and the immutable status of
// tags.
func TestEventsAndRefusals(t *testing.T) {
	backends(t, func(t *testing.T, e *env) {
		admin, pub := e.who["admin"], e.proj["pub"]
		d := "hello"
		if err := e.svc.UpdateDescription(ctx, admin, pub, "pub/app", &d); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.AddTag(ctx, admin, pub, "pub/app", "v1", "extra"); err != nil {
			t.Fatal(err)
		}
		got := e.take()
		want := []string{"OPERATION admin pub/app", "OPERATION admin pub/app:extra"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("events %q, want %q", got, want)
		}
		if e.changed != 2 {
			t.Errorf("changed %d times, want 2", e.changed)
		}
		r, err := e.svc.Get(ctx, admin, pub, "pub/app")
		if err != nil || r.Description != "hello" {
			t.Fatalf("get: %+v %v", r, err)
		}
		tags, total, err := e.svc.ListTags(ctx, admin, pub, "pub/app", "v1", nil, 0, 10, true)
		if err != nil || total != 2 || len(tags) != 2 {
			t.Fatalf("tags: %+v %d %v", tags, total, err)
		}
		rule := immutable.Rule{ProjectID: pub.ID, Action: immutable.Action, Template: immutable.Template,
			TagSelectors:   []immutable.Selector{{Kind: "doublestar", Decoration: "matches", Pattern: "v1"}},
			ScopeSelectors: map[string][]immutable.Selector{"repository": {{Kind: "doublestar", Decoration: "repoMatches", Pattern: "**"}}}}
		if _, err := e.db.CreateImmutableRule(ctx, rule); err != nil {
			t.Fatal(err)
		}
		err = e.svc.DeleteArtifact(ctx, admin, pub, "pub/app", "v1")
		if !errs.Is(err, errs.Denied) {
			t.Fatalf("delete of an immutable tag's artifact: %v", err)
		}
		if got := e.take(); len(got) != 1 || !strings.Contains(got[0], "pub/app@") {
			t.Errorf("refused delete recorded as %q", got)
		}
		// The copy would move pub/app:v1, which is immutable.
		_, err = e.svc.Copy(ctx, admin, pub, "pub/app", "priv/app:v1")
		var refused *repository.Refused
		if !errors.As(err, &refused) || !errs.Is(err, errs.Denied) {
			t.Fatalf("copy moving an immutable tag: %v, want a Refused denial", err)
		}
		tags, _, err = e.svc.ListTags(ctx, admin, pub, "pub/app", "v1", nil, 0, 10, true)
		imm := map[string]bool{}
		for _, tag := range tags {
			imm[tag.Name] = tag.Immutable
		}
		if err != nil || !imm["v1"] || imm["extra"] {
			t.Fatalf("immutable status: %+v %v", tags, err)
		}
	})
}
