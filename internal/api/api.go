// Package api serves Berth's REST API under /api/v2.0, wire-compatible
// with Harbor's for the operations it implements (the reference is Harbor's
// swagger, whose facts the tests read from testdata/harbor-reference.json).
//
// Every operation is a route in one table (method, Harbor path template,
// operation ID, handler, response type and the reference definition it
// follows). The table drives the router, Berth's own OpenAPI document
// (GET /api/v2.0/openapi.json) and the test that checks the document
// against the reference.
//
// Handlers return errors; writeError turns them into Harbor's error body
// in one place. Callers are authenticated by session cookie (with a CSRF
// header on writes) or HTTP Basic (users and robots); every handler asks
// auth for the permission it needs.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/label"
	"github.com/berth-dev/berth/internal/policy"
	"github.com/berth-dev/berth/internal/project"
	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/repository"
	"github.com/berth-dev/berth/internal/robot"
	"github.com/berth-dev/berth/internal/session"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/system"
	"github.com/berth-dev/berth/internal/user"
	"github.com/berth-dev/berth/internal/webhook"
)

// Prefix is where the API is mounted.
const Prefix = "/api/v2.0"

// Store is the metadata the API reads and writes: the union of what each
// group of handlers declares beside its handlers.
type Store interface {
	coreStore
	sessionStore
	projectStore
	userStore
	robotStore
	repositoryStore
	artifactStore
	labelStore
	searchStore
	auditStore
	systemStore
	jobStore
	immutableStore
	retentionStore
	webhookStore
	gcStore
}

// coreStore is what the framework itself needs.
type coreStore interface {
	ProjectByName(ctx context.Context, name string) (*store.Project, error)
	ProjectByID(ctx context.Context, id int64) (*store.Project, error)
	SessionUser(ctx context.Context, idHash string) (*store.Session, *store.User, error)
}

// Auth is the authentication and authorization service.
type Auth interface {
	Authenticate(r *http.Request) (*auth.Principal, error)
	Login(ctx context.Context, user, pass, addr string) (*auth.Principal, error)
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
	ProjectPermissionsWithRoles(p *auth.Principal, project *store.Project, roleIDs []int) rbac.Set
	ProjectView(p *auth.Principal, project *store.Project, roleIDs []int) auth.ProjectView
	MayGrant(p *auth.Principal, perms []rbac.RobotPermission) error
	Can(ctx context.Context, p *auth.Principal, project *store.Project, res rbac.Resource, act rbac.Action) (bool, error)
	CanSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) bool
	SystemPermissions(p *auth.Principal) rbac.Set
	DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error
	ForgetCredentials()
}

// Options configure the API.
type Options struct {
	Logger      *slog.Logger
	ExternalURL string
	Version     string
	// SessionTTL is how long a browser session lasts (default 60 minutes).
	SessionTTL time.Duration
	// Settings holds the system configuration (read-only mode etc.).
	Settings *settings.Source
	// Events receives what the API does (for the audit log and webhooks).
	Events Publisher
	// Jobs is the job system (nil: job endpoints answer 503).
	Jobs Jobs
	// Changed, if set, is called after every write the API makes, so
	// caches elsewhere (the registry's pull-path cache) drop what they hold.
	Changed func()
	// Artifacts is the artifact service artifact and tag writes go
	// through (nil: one over the API's store and blobs, publishing to
	// Events and calling Changed).
	Artifacts *artifact.Service
}

// Publisher takes events.
type Publisher interface{ Publish(event.Event) }

type discard struct{}

func (discard) Publish(event.Event) {}

// Server is the /api/v2.0 handler.
type Server struct {
	st     Store
	arts   *artifact.Service
	auth   Auth
	blobs  *blob.Store
	log    *slog.Logger
	opts   Options
	routes []route
	mux    *http.ServeMux

	// The domain services the handlers call.
	projects *project.Service
	robots   *robot.Service
	users    *user.Service
	webhooks *webhook.Policies
	labels   *label.Service
	auditLog *audit.Log
	quotas   *quota.Service
	system   *system.Service
	sessions *session.Service
	repos    *repository.Service
	// retention and immutableRules are the tag policy services.
	retention      *policy.Retention
	immutableRules *policy.Immutable
}

// New builds the API server.
func New(st Store, a Auth, blobs *blob.Store, opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SessionTTL <= 0 {
		opts.SessionTTL = time.Hour
	}
	if opts.Settings == nil {
		opts.Settings = settings.New(st, settings.Defaults())
	}
	if opts.Events == nil {
		opts.Events = discard{}
	}
	s := &Server{st: st, arts: opts.Artifacts, auth: a, blobs: blobs, log: opts.Logger, opts: opts, mux: http.NewServeMux()}
	if s.arts == nil {
		s.arts = artifact.New(st, blobs, artifact.Options{Events: opts.Events, Changed: opts.Changed})
	}
	s.projects = project.New(st, a, opts.Settings, opts.Events, opts.Changed)
	s.robots = robot.New(st, a, opts.Settings, opts.Events, opts.Changed)
	s.users = user.New(st, a, opts.Settings, opts.Events, opts.Changed)
	s.sessions = session.New(st, a, opts.Settings, opts.SessionTTL, opts.Events, opts.Changed)
	s.webhooks = s.newWebhookPolicies()
	s.labels = label.New(st, a, opts.Events, opts.Changed)
	s.auditLog = audit.NewLog(st, a)
	s.quotas = quota.New(st, a, opts.Events, opts.Changed)
	s.system = system.New(st, a, system.Options{Settings: opts.Settings, Jobs: opts.Jobs, Events: opts.Events, Changed: opts.Changed,
		AuditEventTypes: auditEventTypes, ExternalURL: opts.ExternalURL, Version: opts.Version, StorageRoot: storageRoot(blobs)})
	s.repos = repository.New(st, a, s.arts, blobs, repository.Config{Events: opts.Events, Changed: opts.Changed, Logger: opts.Logger, Links: Prefix})
	s.retention = policy.NewRetention(st, opts.Jobs, a, opts.Events, opts.Changed)
	s.immutableRules = policy.NewImmutable(st, a, opts.Events, opts.Changed)
	for _, group := range [][]route{
		s.systemRoutes(),
		s.sessionRoutes(),
		s.projectRoutes(),
		s.userRoutes(),
		s.memberRoutes(),
		s.robotRoutes(),
		s.repositoryRoutes(),
		s.artifactRoutes(),
		s.labelRoutes(),
		s.searchRoutes(),
		s.auditRoutes(),
		s.jobserviceRoutes(),
		s.purgeRoutes(),
		s.immutableRoutes(),
		s.retentionRoutes(),
		s.webhookRoutes(),
		s.gcRoutes(),
	} {
		s.routes = append(s.routes, group...)
	}
	for i := range s.routes {
		rt := &s.routes[i]
		s.mux.HandleFunc(rt.method+" "+Prefix+rt.path, s.wrap(rt))
	}
	s.mux.HandleFunc("GET "+Prefix+"/openapi.json", s.serveOpenAPI)
	s.registerSessionHandlers()
	s.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, errs.E(errs.NotFound, "route", "no such API endpoint: %s %s", r.Method, r.URL.Path))
	})
	return s
}

// handlerFunc is an API handler; it returns an error instead of writing one.
type handlerFunc func(w http.ResponseWriter, r *http.Request, c *Caller) error

// route is one operation of the API.
type route struct {
	method string
	path   string // Harbor path template under Prefix, e.g. /projects/{project_name_or_id}
	op     string // Harbor operationId
	handle handlerFunc
	// resp is a zero value of the response body type (nil for no body);
	// respDef names the reference definition it follows ("Project",
	// "[]Project"), checked by the OpenAPI test.
	resp    any
	respDef string
	// public routes may be called without credentials.
	public bool
}

// Caller is the authenticated principal of a request.
type Caller struct {
	*auth.Principal
}

// Services are the domain services the API's handlers call, for the web
// console, which calls them directly with the session's principal: both
// surfaces ask the same services, so they make the same decisions.
type Services struct {
	Projects *project.Service
	Robots   *robot.Service
	Users    *user.Service
	Webhooks *webhook.Policies
	Labels   *label.Service
	AuditLog *audit.Log
	Quotas   *quota.Service
	System   *system.Service
	// Sessions signs browsers in and out and reads their sessions.
	Sessions *session.Service
	Repos    *repository.Service
	// Retention and ImmutableRules are a project's tag policies.
	Retention      *policy.Retention
	ImmutableRules *policy.Immutable
}

// Services returns the domain services s calls.
func (s *Server) Services() Services {
	return Services{Projects: s.projects, Robots: s.robots, Users: s.users, Webhooks: s.webhooks,
		Labels: s.labels, AuditLog: s.auditLog, Quotas: s.quotas, System: s.system,
		Sessions: s.sessions, Repos: s.repos,
		Retention: s.retention, ImmutableRules: s.immutableRules}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := checkRequestText(r); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// wrap authenticates the request, enforces CSRF on cookie-authenticated
// writes and read-only mode, runs the handler and writes its error.
func (s *Server) wrap(rt *route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r = r.WithContext(withOperation(r.Context(), rt.op))
		c, err := s.caller(r)
		if err == nil && !rt.public && c.Anonymous() && rt.method != http.MethodGet && rt.method != http.MethodHead {
			err = errs.E(errs.Unauthenticated, rt.op, "authentication required")
		}
		if err == nil && isWrite(r.Method) && s.opts.Settings.ReadOnly() && !rt.allowedReadOnly() {
			err = errs.E(errs.Denied, rt.op, errs.ReadOnlyMessage)
		}
		if err == nil {
			err = rt.handle(w, r, c)
		}
		err = hideProject(rt, r, err)
		if err != nil {
			writeError(w, r, s.log, err)
		}
	}
}

func isWrite(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

// allowedReadOnly lists writes that stay possible in read-only mode: logging
// in and out, and what the system service lets through (changing the
// configuration, to leave read-only mode).
func (rt *route) allowedReadOnly() bool {
	switch rt.op {
	case "login", "logout":
		return true
	}
	return system.AllowedReadOnly(rt.op)
}

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "sid"

// CSRFHeader carries the session's CSRF token on cookie-authenticated writes.
const CSRFHeader = "X-Harbor-Csrf-Token"

// caller authenticates r: a session cookie, else the Authorization header.
func (s *Server) caller(r *http.Request) (*Caller, error) {
	if r.Header.Get("Authorization") == "" {
		if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" {
			p, _, err := auth.SessionPrincipalOf(s.st.SessionUser(r.Context(), hashSessionID(ck.Value)))
			if err != nil {
				return nil, err
			}
			if isWrite(r.Method) && !constantTimeEqual(r.Header.Get(CSRFHeader), p.Session.CSRF) {
				return nil, errs.E(errs.Denied, "csrf", "missing or wrong CSRF token")
			}
			return &Caller{p}, nil
		}
	}
	p, err := s.auth.Authenticate(r)
	if err != nil {
		return nil, err
	}
	return &Caller{p}, nil
}

// projectNotFound is the one answer for a project the caller named ref
// (an ID or a name, as sent) that does not exist or that the caller may
// not see: the two cannot be told apart, and the stored name is never
// shown for an ID.
func projectNotFound(ref string) error {
	return errs.E(errs.NotFound, "get project", "project %s not found", ref)
}

// hiddenProject is auth.Decide's answer for a project the caller holds
// nothing in: a NotFound naming its ID, which hideProject rewords to name
// the project as the request's path did, and hideName as a name the
// request sent elsewhere. Its stored name is never shown.
type hiddenProject = auth.HiddenProject

// hideProject words a hiddenProject error of route rt like a missing
// project named by the request's path (by ID or by name, as sent).
func hideProject(rt *route, r *http.Request, err error) error {
	var h *hiddenProject
	if err == nil || !errors.As(err, &h) {
		return err
	}
	for _, param := range []string{"project_name_or_id", "project_name"} {
		if v := r.PathValue(param); strings.Contains(rt.path, "{"+param+"}") && (v == h.Name || v == strconv.FormatInt(h.ID, 10)) {
			return projectNotFound(v)
		}
	}
	return err
}

// projectByName loads a project named by a request's body or query (not
// its path) for an operation that then requires a permission there: a
// missing project and one the caller may not see (require's answer,
// through hideName) are both projectNotFound(name).
func (s *Server) projectByName(ctx context.Context, name string) (*store.Project, error) {
	p, err := s.st.ProjectByName(ctx, name)
	if errs.Is(err, errs.NotFound) {
		return nil, projectNotFound(name)
	}
	return p, err
}

// hideName words a hiddenProject error for a project the request named.
func hideName(err error, name string) error {
	var h *hiddenProject
	if errors.As(err, &h) {
		return projectNotFound(name)
	}
	return err
}

// project loads the project named by the path value name ("project_name",
// "project_name_or_id"), honouring X-Is-Resource-Name.
func (s *Server) project(r *http.Request, param string) (*store.Project, error) {
	v := r.PathValue(param)
	if v == "" {
		return nil, errs.E(errs.Invalid, "project", "missing project")
	}
	byID := false
	if param == "project_name_or_id" && r.Header.Get("X-Is-Resource-Name") != "true" {
		if id, ok := parseID(v); ok {
			byID, v = true, strconv.FormatInt(id, 10)
		}
	}
	p, err := s.loadProject(r.Context(), byID, v)
	if errs.Is(err, errs.NotFound) {
		return nil, projectNotFound(r.PathValue(param))
	}
	return p, err
}

// require checks that c may do act on res in project. Callers who may not
// even see the project get NotFound, so private projects stay hidden.
func (s *Server) require(ctx context.Context, c *Caller, project *store.Project, res rbac.Resource, act rbac.Action) error {
	set, err := s.projectPermissions(ctx, c, project)
	if err != nil {
		return err
	}
	return s.allowed(c, project, set, res, act)
}

// allowed is require's answer for the permissions set c holds in project.
func (s *Server) allowed(c *Caller, project *store.Project, set rbac.Set, res rbac.Resource, act rbac.Action) error {
	return auth.Decide(c.Principal, project, set, res, act)
}

// requireSystem checks a system-level permission.
func (s *Server) requireSystem(c *Caller, res rbac.Resource, act rbac.Action) error {
	return s.auth.DecideSystem(c.Principal, res, act)
}

// requireUser checks the caller is a signed-in user (not anonymous, not a robot).
func requireUser(c *Caller) error {
	if c.Anonymous() {
		return errs.E(errs.Unauthenticated, "authorize", "authentication required")
	}
	if c.IsRobot() {
		return errs.E(errs.Denied, "authorize", "robot accounts cannot do this")
	}
	return nil
}

// audit records a management operation by c for the audit log, and tells
// caches that something changed. Every write handler calls it once done.
func (s *Server) audit(c *Caller, projectID int64, operation, resourceType, resource string, err error) {
	event.Record(s.opts.Events, s.opts.Changed, c.Name, projectID, operation, resourceType, resource, err)
}

// repoName joins a project and a path value repository name, which Harbor
// clients send URL-encoded (a/b as a%2Fb, or double-encoded as a%252Fb).
func repoName(project, repo string) string {
	if strings.Contains(repo, "%") {
		if u, err := urlUnescape(repo); err == nil {
			repo = u
		}
	}
	return project + "/" + repo
}
