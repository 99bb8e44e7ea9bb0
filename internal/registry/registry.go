// Package registry serves the OCI Distribution v1.1 API under /v2/.
//
// Handlers return errors; one wrapper (serve) writes them as OCI error
// bodies through the table in errors.go. Every request is authorised per
// project before it touches data: the first path component of a repository
// name is its project.
//
// Upload sessions: POST creates a session (a row in the metadata store and a
// file under uploads/ in the blob store) whose ID is part of the Location
// path, so no client-side state is needed. Each PATCH appends durably at the
// acknowledged size and then records the new size with the sha256 state after
// it, so a session survives a restart and a write cut short by a crash is
// discarded and resumed from the acknowledged size. The closing PUT checks the
// digest, moves the bytes to their content-addressed path and records the
// blob in the project, in that order; until the last step nothing is visible.
package registry

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
)

// Store is the metadata the registry reads and writes. Artifact and tag
// writes go through the artifact service (package artifact), built over
// the same store unless Options.Artifacts is given.
type Store interface {
	artifact.Store
	ProjectByName(ctx context.Context, name string) (*store.Project, error)

	CreateUploadAtMost(ctx context.Context, u store.Upload, max int) error
	ProjectUploadRoom(ctx context.Context, projectID int64) (*store.UploadRoom, error)
	GetUpload(ctx context.Context, id string) (*store.Upload, error)
	AdvanceUpload(ctx context.Context, id string, from, size int64, state []byte) error
	DeleteUpload(ctx context.Context, id string) error
	FinishUpload(ctx context.Context, uploadID string, projectID int64, digest string, size int64) error
	ReserveBlob(ctx context.Context, digest string, size int64) error
	CheckQuota(ctx context.Context, projectID int64, digest string, size int64) error

	UnlinkBlob(ctx context.Context, projectID int64, digest string) error
	BlobProjects(ctx context.Context, digest string) ([]int64, error)
	ProjectByID(ctx context.Context, id int64) (*store.Project, error)

	ResolveManifest(ctx context.Context, repository, ref string, byDigest, withBody bool) (*store.ManifestRef, error)
	Catalog(ctx context.Context, last string, n int, visible func(projectID int64) bool) ([]string, error)
	Referrers(ctx context.Context, repository, digest, artifactType string) ([]store.Referrer, error)
	RecordPulls(ctx context.Context, artifacts, tags map[int64]int64) error

	ArtifactSignatures(ctx context.Context, id int64) (*store.Signatures, error)
}

// Gate authenticates callers and authorises their actions.
type Gate interface {
	AuthenticateRegistry(r *http.Request) (*auth.Principal, error)
	Authorize(ctx context.Context, p *auth.Principal, project *store.Project, repo, action string) error
	Actions(ctx context.Context, p *auth.Principal, project *store.Project) []string
	CanListCatalog(p *auth.Principal) error
	ChallengeFor(r *http.Request, scope string) string
}

// Registry is the /v2 handler.
type Registry struct {
	st     Store
	arts   *artifact.Service
	blobs  *blob.Store
	gate   Gate
	log    *slog.Logger
	pulls  *pullRecorder
	cache  *manifestCache
	base   string
	events interface{ Publish(event.Event) }

	projects *readCache[*store.Project]     // project name → project
	refs     *readCache[*store.ManifestRef] // repository + reference → manifest

	uploadLocks    sync.Map // upload ID -> *sync.Mutex
	readOnly       func() bool
	uploadSessions int // open upload sessions allowed per project (0: no bound)

	// noPullGate skips the pull gate (checkPull); only the benchmark that
	// measures the gate's cost sets it.
	noPullGate bool
}

// Options configure a Registry.
type Options struct {
	Logger *slog.Logger
	// PullFlushInterval is how often recorded pull times are written.
	PullFlushInterval time.Duration
	// ExternalURL, if set, makes Location headers absolute URLs under it.
	ExternalURL string
	// Events receives pushes, pulls and deletes (audit log, webhooks).
	Events interface{ Publish(event.Event) }
	// ReadOnly, if set, reports whether the system is in read-only mode
	// (the configuration's read_only): every write is then refused.
	ReadOnly func() bool
	// CacheTTL bounds how long the pull path's read cache keeps an answer
	// (default 2s). This process's own writes drop it at once, and so do
	// another replica's when the store's change signal reports them
	// (Invalidate, wired by the composition root); the TTL is the backstop.
	CacheTTL time.Duration
	// UploadSessions bounds the open upload sessions of one project (the
	// configuration's upload_sessions; 0: no bound). A POST past it is
	// refused with TOOMANYREQUESTS until sessions finish, are cancelled or
	// are purged as stale.
	UploadSessions int
	// Artifacts is the artifact service manifest and tag writes go
	// through (nil: one over the registry's store and blobs, publishing
	// to Events and dropping the registry's read caches).
	Artifacts *artifact.Service
}

// New returns a registry over st and blobs, guarded by gate.
func New(st Store, blobs *blob.Store, gate Gate, opts Options) *Registry {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.PullFlushInterval <= 0 {
		opts.PullFlushInterval = 5 * time.Second
	}
	if opts.Events == nil {
		opts.Events = noEvents{}
	}
	if opts.CacheTTL <= 0 {
		opts.CacheTTL = 2 * time.Second
	}
	reg := &Registry{
		st: st, arts: opts.Artifacts, blobs: blobs, gate: gate, log: opts.Logger, readOnly: opts.ReadOnly, uploadSessions: opts.UploadSessions,
		pulls:  newPullRecorder(st, opts.PullFlushInterval, opts.Logger),
		cache:  newManifestCache(64 << 20),
		base:   strings.TrimSuffix(opts.ExternalURL, "/"),
		events: opts.Events,

		projects: newReadCache[*store.Project](opts.CacheTTL, 10000),
		refs:     newReadCache[*store.ManifestRef](opts.CacheTTL, 100000),
	}
	if reg.arts == nil {
		reg.arts = artifact.New(st, blobs, artifact.Options{Events: opts.Events, Changed: reg.Invalidate})
	}
	return reg
}

// Run flushes pull times until ctx ends, then flushes once more.
func (reg *Registry) Run(ctx context.Context) { reg.pulls.run(ctx) }

// Flush writes pending pull times now.
func (reg *Registry) Flush(ctx context.Context) error { return reg.pulls.flush(ctx) }

type noEvents struct{}

func (noEvents) Publish(event.Event) {}

// publish sends an event about q's repository.
func (reg *Registry) publish(q *request, typ event.Type, digest, tag, mediaType string, size int64) {
	reg.events.Publish(event.Event{
		Type: typ, Operator: q.p.Name, ProjectID: q.project.ID, Project: q.project.Name,
		Repository: q.name, Digest: digest, Tag: tag, MediaType: mediaType, Size: size,
	})
}

// request is one parsed /v2 request.
type request struct {
	w       http.ResponseWriter
	r       *http.Request
	p       *auth.Principal
	name    string // repository name
	project *store.Project
	base    string // external URL prefix of Location headers ("" = relative)
}

func (reg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	if reg.readOnly != nil && isWrite(r.Method) && reg.readOnly() {
		// Harbor's read-only middleware: DENIED with its message.
		writeError(w, r, reg.log, failf(codeDenied, errs.ReadOnlyMessage))
		return
	}
	if err := checkText(r); err != nil {
		writeError(w, r, reg.log, err)
		return
	}
	if err := reg.route(w, r); err != nil {
		writeError(w, r, reg.log, err)
	}
}

// checkText refuses (400 NAME_INVALID) a request whose path or query
// parameters are not valid UTF-8 or hold NUL: neither database could
// store or compare them alike (PostgreSQL refuses them with an error).
func checkText(r *http.Request) error {
	valid := func(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }
	if !valid(r.URL.Path) {
		return failf(codeNameInvalid, "the path must be valid UTF-8 without NUL characters")
	}
	if user, _, ok := r.BasicAuth(); ok && !valid(user) {
		return failf(codeNameInvalid, "the user name of the credentials must be valid UTF-8 without NUL characters")
	}
	// As r.URL.Query: pairs that do not parse are skipped, not refused.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	for k, vs := range q {
		if !valid(k) {
			return failf(codeNameInvalid, "query parameter names must be valid UTF-8 without NUL characters")
		}
		for _, v := range vs {
			if !valid(v) {
				return failf(codeNameInvalid, "query parameter "+k+" must be valid UTF-8 without NUL characters")
			}
		}
	}
	return nil
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// route dispatches on the path. Names contain slashes, so the route is found
// from the right: the last /manifests/, /blobs/, /tags/list, /referrers/.
func (reg *Registry) route(w http.ResponseWriter, r *http.Request) error {
	path := strings.TrimPrefix(r.URL.Path, "/v2")
	if path == "" || path == "/" {
		return reg.ping(w, r)
	}
	path = strings.TrimPrefix(path, "/")
	if path == "_catalog" {
		return reg.catalog(w, r)
	}
	type routeFn func(*request, string) error
	var name, arg string
	var fn routeFn
	var action string
	method := r.Method
	switch {
	case strings.HasSuffix(path, "/tags/list"):
		name = strings.TrimSuffix(path, "/tags/list")
		fn, action = reg.listTags, auth.Pull
		if method != http.MethodGet && method != http.MethodHead {
			return failf(codeUnsupported, "method not allowed")
		}
	case cut(path, "/blobs/uploads", &name, &arg) && (arg == "" || arg == "/" || !strings.Contains(arg[1:], "/")):
		arg = strings.TrimPrefix(arg, "/")
		action = auth.Push
		switch {
		case method == http.MethodPost && arg == "":
			fn = reg.startUpload
		case arg == "":
			return failf(codeUnsupported, "method not allowed")
		case method == http.MethodPatch:
			fn = reg.patchUpload
		case method == http.MethodPut:
			fn = reg.putUpload
		case method == http.MethodGet || method == http.MethodHead:
			fn = reg.uploadStatus
		case method == http.MethodDelete:
			fn = reg.cancelUpload
		default:
			return failf(codeUnsupported, "method not allowed")
		}
	case cut(path, "/blobs/", &name, &arg) && !strings.Contains(arg, "/"):
		switch method {
		case http.MethodGet, http.MethodHead:
			fn, action = reg.getBlob, auth.Pull
		case http.MethodDelete:
			fn, action = reg.deleteBlob, auth.Delete
		default:
			return failf(codeUnsupported, "method not allowed")
		}
	case cut(path, "/manifests/", &name, &arg) && !strings.Contains(arg, "/"):
		switch method {
		case http.MethodGet, http.MethodHead:
			fn, action = reg.getManifest, auth.Pull
		case http.MethodPut:
			fn, action = reg.putManifest, auth.Push
		case http.MethodDelete:
			fn, action = reg.deleteManifest, auth.Delete
		default:
			return failf(codeUnsupported, "method not allowed")
		}
	case cut(path, "/referrers/", &name, &arg) && !strings.Contains(arg, "/"):
		if method != http.MethodGet && method != http.MethodHead {
			return failf(codeUnsupported, "method not allowed")
		}
		fn, action = reg.referrers, auth.Pull
	default:
		return failf(codeNameUnknown, "no such route")
	}
	req, err := reg.open(w, r, name, action)
	if err != nil {
		return err
	}
	err = fn(req, arg)
	if err != nil {
		reg.quotaExceeded(req, err)
	}
	return err
}

// cut splits path at the last sep into name and the rest (sep excluded).
func cut(path, sep string, name, rest *string) bool {
	i := strings.LastIndex(path, sep)
	if i <= 0 {
		return false
	}
	*name, *rest = path[:i], path[i+len(sep):]
	return true
}

// open validates the name, authenticates the caller, loads the project and
// checks that the caller may do action there.
func (reg *Registry) open(w http.ResponseWriter, r *http.Request, name, action string) (*request, error) {
	if err := oci.ValidateRepository(name); err != nil {
		return nil, fail(codeNameInvalid, err)
	}
	scope := "repository:" + name + ":" + action
	if action == auth.Push {
		scope = "repository:" + name + ":pull,push"
	}
	p, err := reg.gate.AuthenticateRegistry(r)
	if err != nil {
		if errs.Is(err, errs.RateLimited) {
			return nil, fail(codeTooManyRequests, err)
		}
		return nil, reg.unauthorized(r, scope, err)
	}
	projectName, _ := oci.SplitRepository(name)
	project, err := reg.project(r.Context(), projectName)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, reg.hidden(r, p, scope, projectName, name)
		}
		return nil, err
	}
	if err := reg.gate.Authorize(r.Context(), p, project, name, action); err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			return nil, reg.unauthorized(r, scope, err)
		}
		if len(reg.gate.Actions(r.Context(), p, project)) == 0 {
			// The caller holds nothing in this private project: the
			// answer for a missing one, so its existence is not revealed.
			return nil, reg.hidden(r, p, scope, projectName, name)
		}
		return nil, fail(codeDenied, err)
	}
	return &request{w: w, r: r, p: p, name: name, project: project, base: reg.base}, nil
}

// project returns the named project, from the read cache when fresh.
func (reg *Registry) project(ctx context.Context, name string) (*store.Project, error) {
	if p, ok := reg.projects.get(name); ok {
		return p, nil
	}
	gen := reg.projects.generation()
	p, err := reg.st.ProjectByName(ctx, name)
	if err == nil {
		reg.projects.put(name, p, gen)
	}
	return p, err
}

// hidden is the one answer for a project that does not exist and for a
// private project the caller may not see, built only from what the caller
// sent, as Harbor answers both: 401 with the challenge for an anonymous
// caller (the message Authorize gives it in a private project), 403 DENIED
// for a signed-in one. A system administrator sees every project, so it
// learns that the project is missing (404 NAME_UNKNOWN).
func (reg *Registry) hidden(r *http.Request, p *auth.Principal, scope, projectName, name string) error {
	switch {
	case p.Anonymous():
		return reg.unauthorized(r, scope, errs.E(errs.Unauthenticated, "authorize", "authentication required"))
	case p.Admin:
		return failf(codeNameUnknown, "project "+projectName+" does not exist: create it before pushing to "+name)
	}
	return failf(codeDenied, "requested access to the resource is denied: project "+projectName+" does not exist or grants you nothing for "+name)
}

func (reg *Registry) unauthorized(r *http.Request, scope string, cause error) error {
	e := fail(codeUnauthorized, cause)
	e.header = http.Header{"Www-Authenticate": {reg.gate.ChallengeFor(r, scope)}}
	return e
}

func (reg *Registry) ping(w http.ResponseWriter, r *http.Request) error {
	// A valid bearer token passes even when it was issued anonymously: the
	// client has done the token dance, as with distribution's token auth.
	p, err := reg.gate.AuthenticateRegistry(r)
	if errs.Is(err, errs.RateLimited) {
		return fail(codeTooManyRequests, err)
	}
	bearer := strings.HasPrefix(strings.ToLower(r.Header.Get("Authorization")), "bearer ")
	if err != nil || (p.Anonymous() && !bearer) {
		return reg.unauthorized(r, "", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("{}"))
	}
	return nil
}

// pageParams reads n and last; n < 0 means no limit given.
func pageParams(r *http.Request) (int, string, error) {
	q := r.URL.Query()
	n := -1
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, "", failf(codePaginationInvalid, "n must be a non-negative integer")
		}
		n = v
	}
	return n, q.Get("last"), nil
}

func (reg *Registry) listTags(q *request, _ string) error {
	n, last, err := pageParams(q.r)
	if err != nil {
		return err
	}
	var tags []string
	if n == 0 {
		tags = []string{}
		if _, err := reg.st.ListTags(q.r.Context(), q.name, "", 1); err != nil {
			return fail(codeNameUnknown, err)
		}
	} else {
		tags, err = reg.st.ListTags(q.r.Context(), q.name, last, limitPlusOne(n))
		if err != nil {
			return fail(codeNameUnknown, err)
		}
	}
	if n > 0 && len(tags) > n {
		tags = tags[:n]
		setNextLink(q.w, "/v2/"+q.name+"/tags/list", n, tags[n-1])
	}
	return writeJSON(q.w, q.r, http.StatusOK, "application/json", map[string]any{"name": q.name, "tags": tags})
}

func limitPlusOne(n int) int {
	if n < 0 {
		return 0
	}
	return n + 1
}

func setNextLink(w http.ResponseWriter, path string, n int, last string) {
	w.Header().Set("Link", `<`+path+`?n=`+strconv.Itoa(n)+`&last=`+urlQueryEscape(last)+`>; rel="next"`)
}

func (reg *Registry) catalog(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return failf(codeUnsupported, "method not allowed")
	}
	p, err := reg.gate.AuthenticateRegistry(r)
	if errs.Is(err, errs.RateLimited) {
		return fail(codeTooManyRequests, err)
	}
	if err != nil {
		return reg.unauthorized(r, "registry:catalog:*", err)
	}
	if err := reg.gate.CanListCatalog(p); err != nil {
		return reg.unauthorized(r, "registry:catalog:*", err)
	}
	n, last, err := pageParams(r)
	if err != nil {
		return err
	}
	visible := reg.visibleProjects(r.Context(), p)
	repos := []string{}
	if n != 0 {
		repos, err = reg.st.Catalog(r.Context(), last, limitPlusOne(n), visible)
		if err != nil {
			return err
		}
	}
	if n > 0 && len(repos) > n {
		repos = repos[:n]
		setNextLink(w, "/v2/_catalog", n, repos[n-1])
	}
	return writeJSON(w, r, http.StatusOK, "application/json", map[string]any{"repositories": repos})
}

// visibleProjects returns a filter of the projects p may pull from (nil: all).
func (reg *Registry) visibleProjects(ctx context.Context, p *auth.Principal) func(int64) bool {
	if p.Admin {
		return nil
	}
	seen := map[int64]bool{}
	return func(id int64) bool {
		if v, ok := seen[id]; ok {
			return v
		}
		pr, err := reg.st.ProjectByID(ctx, id)
		v := err == nil && contains(reg.gate.Actions(ctx, p, pr), auth.Pull)
		seen[id] = v
		return v
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errs.Wrap("encode response", err)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
	return nil
}
