// Package ui serves Berth's web console at / from the same binary:
// server-rendered html/template pages, one CSS file and one small script,
// all embedded (no Node.js, no CDN, no external fonts). Every page works
// without JavaScript; the script only adds copy buttons, confirmation
// dialogs and a theme switch that does not reload the page.
//
// # The console calls the domain services
//
// The console holds no permission logic and no SQL, and makes no HTTP
// request of its own: every page reads and changes what it shows by calling
// the domain services (internal/project, repository, robot, user, session,
// label, quota, policy, system, webhook.Policies, audit.Log) with the
// principal of the browser's session (services.go), the same service
// values the API's handlers call. The services own every rule and ask auth
// every permission question, so the console decides exactly as the API. A
// project tab reads the project and the caller's view of it
// (auth.ProjectView, the set enforcement checks, for anonymous visitors
// too) in one call, and shows or hides its controls from that set; hiding
// is cosmetic: a forged POST reaches the service and is refused there. A
// service's refusal (401, 403, 404, 400 with its message) is shown as the
// API words it (api.Answer). The console's direct writes are refused in
// read-only mode, as the API's routes refuse theirs.
//
// The artifact page shows the manifest as stored, which is not in the REST
// API: the repository service reads it once the caller may pull
// (repository.Service.Manifest), without counting a pull.
//
// # Forms and CSRF
//
// Every form posts a hidden "csrf" field. For a signed-in browser it is the
// session's CSRF token (the "__csrf" cookie the API sets at sign-in); before
// sign-in it is a random value kept in the "berth_csrf" cookie. A POST whose
// field does not equal the cookie is refused before any service is
// called, so a form posted from another site (which cannot read the
// cookie) does nothing. http.CrossOriginProtection refuses cross-origin
// POSTs on top. After a successful POST the console redirects (303) with a
// one-time flash message; after a failed one it renders the page again
// with the input kept and the refusal shown as the API words it (never a
// stack trace: a 5xx shows a generic message and is logged).
//
// Destructive actions (delete, refresh secret, disable) post to an URL that
// answers with a confirmation page unless the form carries confirm=yes; the
// script asks in a <dialog> instead and adds confirm=yes itself.
//
// # Page map
//
//	/login, /logout, /register            sign in, sign out, self-registration
//	/account                              profile, change own password
//	/projects                             list (search, paging), create
//	/projects/{p}/repositories            repositories of a project (search, paging, push command)
//	/projects/{p}/repositories/{repo}     repository: description, artifacts (tag filter, paging)
//	/projects/{p}/repositories/{repo}/-/artifacts/{ref}
//	                                      artifact: pull commands, tags, labels, config, layers,
//	                                      history, index children, chart files, manifest, accessories
//	/projects/{p}/members                 members: add, change role, remove
//	/projects/{p}/robots                  robot accounts: create (secret shown once), refresh,
//	                                      disable/enable, delete
//	/projects/{p}/labels                  project labels
//	/projects/{p}/logs                    project audit log
//	/projects/{p}/config                  public, metadata flags, quota, delete project
//	/projects/{p}/policy                  tag retention: rules (add, edit, enable, disable,
//	                                      delete), schedule, dry run, run now, runs; tag
//	                                      immutability rules
//	/projects/{p}/policy/retention/executions/{eid}[/tasks/{tid}]
//	                                      a retention run's repositories, a repository's log
//	/projects/{p}/webhooks[/{id}]          webhook policies (the signing secret shown once),
//	                                      a policy's settings and deliveries
//	/projects/{p}/webhooks/{id}/executions/{eid}[/tasks/{tid}]
//	                                      a delivery's targets, response codes, payload,
//	                                      re-send; a target's log
//	/admin/users                          users: search, create, make or revoke admin,
//	                                      reset password (/admin/users/{id}/password), delete
//	/admin/robots                         system robot accounts (secret shown once)
//	/admin/labels                         system labels
//	/admin/audit                          audit log with filters; purge settings, runs, logs
//	/admin/gc                             garbage collection: dry run, run, schedule, runs, logs
//	/admin/jobs                           job queues: pending, latency, pause, resume, stop
//	/admin/config                         system configuration, read-only mode, banner
//
// The Administration entry of the navigation shows to administrators
// only. Its pages are built from calls the API refuses to anyone else, and
// show that refusal (403); the system labels page, whose listing anyone may
// read, shows a refusal when the label service reports no system label
// permission.
// Read-only mode and the banner message show on every page: every render
// reads /systeminfo once.
//
// Repository names contain slashes, so the repository part of a path ends
// at "/-/" (a path component of a repository name cannot be "-").
package ui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the console.
type Options struct {
	// Services are the domain services the console calls directly.
	Services Services
	// ExternalURL is the public base URL; its host is the one shown in
	// docker commands (else the request's Host).
	ExternalURL string
	Logger      *slog.Logger
	Version     string
}

// Console is the web console handler.
type Console struct {
	svc      Services
	log      *slog.Logger
	opts     Options
	pages    map[string]*template.Template
	assetVer string // hash of the static files, for cache busting
	handler  http.Handler
}

// New builds the console.
func New(opts Options) *Console {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	c := &Console{svc: opts.Services, log: opts.Logger, opts: opts}
	c.pages = parsePages()
	c.assetVer = assetVersion()
	mux := http.NewServeMux()
	c.routes(mux)
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.errorPage(w, r, &pageError{Status: http.StatusForbidden, Message: "cross-origin request refused"})
	}))
	c.handler = cop.Handler(mux)
	return c
}

func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	c.handler.ServeHTTP(w, r)
}

// handler is a page handler with the request's API client.
type handler func(w http.ResponseWriter, r *http.Request, v *view) error

func (c *Console) routes(mux *http.ServeMux) {
	h := func(pattern string, fn handler) { mux.Handle(pattern, c.wrap(fn)) }
	mux.HandleFunc("GET /static/{file}", c.static)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/projects", http.StatusFound)
	})
	h("GET /login", c.loginPage)
	h("POST /login", c.login)
	h("POST /logout", c.logout)
	h("GET /register", c.registerPage)
	h("POST /register", c.register)
	h("GET /account", c.accountPage)
	h("POST /account/password", c.changePassword)
	h("POST /theme", c.setTheme)

	h("GET /projects", c.projectsPage)
	h("POST /projects", c.createProject)
	mux.HandleFunc("GET /projects/{project}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/projects/"+url.PathEscape(r.PathValue("project"))+"/repositories", http.StatusFound)
	})
	h("GET /projects/{project}/repositories", c.repositoriesPage)
	h("GET /projects/{project}/repositories/{rest...}", c.repositoryGet)
	h("POST /projects/{project}/repositories/{rest...}", c.repositoryPost)
	h("GET /projects/{project}/members", c.membersPage)
	h("POST /projects/{project}/members", c.addMember)
	h("POST /projects/{project}/members/{mid}/role", c.changeRole)
	h("POST /projects/{project}/members/{mid}/delete", c.removeMember)
	h("GET /projects/{project}/robots", c.robotsPage)
	h("POST /projects/{project}/robots", c.createRobot)
	h("POST /projects/{project}/robots/{id}/{action}", c.robotAction)
	h("GET /projects/{project}/labels", c.labelsPage)
	h("POST /projects/{project}/labels", c.createLabel)
	h("POST /projects/{project}/labels/{id}/delete", c.deleteLabel)
	h("GET /projects/{project}/logs", c.logsPage)
	h("GET /projects/{project}/config", c.configPage)
	h("POST /projects/{project}/config", c.updateConfig)
	h("POST /projects/{project}/quota", c.updateQuota)
	h("POST /projects/{project}/delete", c.deleteProject)

	h("GET /projects/{project}/policy", c.policyPage)
	h("POST /projects/{project}/policy/retention/rules", c.addRetentionRule)
	h("GET /projects/{project}/policy/retention/rules/{n}", c.editRulePage)
	h("POST /projects/{project}/policy/retention/rules/{n}", c.saveRule)
	h("POST /projects/{project}/policy/retention/rules/{n}/{action}", c.ruleAction)
	h("POST /projects/{project}/policy/retention/schedule", c.retentionSchedule)
	h("POST /projects/{project}/policy/retention/run", c.runRetention)
	h("GET /projects/{project}/policy/retention/executions/{eid}", c.retentionExecPage)
	h("POST /projects/{project}/policy/retention/executions/{eid}/stop", c.stopRetention)
	h("GET /projects/{project}/policy/retention/executions/{eid}/tasks/{tid}", c.retentionLog)
	h("POST /projects/{project}/policy/immutable", c.createImmutable)
	h("POST /projects/{project}/policy/immutable/{id}/{action}", c.immutableAction)

	h("GET /projects/{project}/webhooks", c.webhooksPage)
	h("POST /projects/{project}/webhooks", c.createWebhook)
	h("GET /projects/{project}/webhooks/{id}", c.webhookPage)
	h("POST /projects/{project}/webhooks/{id}", c.saveWebhook)
	h("POST /projects/{project}/webhooks/{id}/{action}", c.webhookAction)
	h("GET /projects/{project}/webhooks/{id}/executions/{eid}", c.webhookExecPage)
	h("POST /projects/{project}/webhooks/{id}/executions/{eid}/retry", c.retryWebhook)
	h("GET /projects/{project}/webhooks/{id}/executions/{eid}/tasks/{tid}", c.webhookLog)

	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/admin/users", http.StatusFound)
	})
	h("GET /admin/users", c.usersPage)
	h("POST /admin/users", c.createUser)
	h("GET /admin/users/{id}/password", c.passwordPage)
	h("POST /admin/users/{id}/password", c.resetPassword)
	h("POST /admin/users/{id}/{action}", c.userAction)
	h("GET /admin/robots", c.sysRobotsPage)
	h("POST /admin/robots", c.createSysRobot)
	h("POST /admin/robots/{id}/{action}", c.sysRobotAction)
	h("GET /admin/labels", c.sysLabelsPage)
	h("POST /admin/labels", c.createSysLabel)
	h("POST /admin/labels/{id}/delete", c.deleteSysLabel)
	h("GET /admin/audit", c.auditPage)
	h("POST /admin/audit/purge", c.purgePost)
	h("GET /admin/audit/purge/{id}/log", c.purgeLog)
	h("GET /admin/gc", c.gcPage)
	h("POST /admin/gc", c.gcPost)
	h("POST /admin/gc/{id}/stop", c.stopGC)
	h("GET /admin/gc/{id}/log", c.gcLog)
	h("GET /admin/jobs", c.jobsPage)
	h("POST /admin/jobs/{type}/{action}", c.queueAction)
	h("GET /admin/config", c.configAdminPage)
	h("POST /admin/config", c.saveConfig)
	h("/", func(w http.ResponseWriter, r *http.Request, v *view) error {
		return &pageError{Status: http.StatusNotFound, Message: "There is no page at " + r.URL.Path + "."}
	})
}

// wrap gives a handler its view (the signed-in user, system info, CSRF
// token, theme, flash), checks the CSRF field of every POST, and renders
// the error it returns.
func (c *Console) wrap(fn handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := c.newView(w, r)
		if err == nil && (!api.ValidText(r.URL.Path) || !api.ValidValues(r.URL.Query())) {
			err = errBadText
		}
		if err == nil && r.Method == http.MethodPost {
			err = c.checkCSRF(r, v)
		}
		if err == nil {
			err = fn(w, r, v)
		}
		if err != nil {
			var ae *pageError
			if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && v != nil && v.User == nil && r.Method == http.MethodGet {
				// Anonymous callers asked for something that needs a
				// session: sign in and come back.
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			c.errorPage(w, r, err)
		}
	})
}

// errorPage renders err: the API's status and message, or a generic
// message (logged) for anything else.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, err error) {
	var ae *pageError
	if !errors.As(err, &ae) {
		c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = &pageError{Status: http.StatusInternalServerError, Message: "Something went wrong on the server; it has been logged."}
	}
	v, verr := c.newView(w, r)
	if verr != nil {
		v = &view{c: c, r: r, Theme: themeOf(r)}
	}
	v.Title = http.StatusText(ae.Status)
	v.Status, v.RetryAfter = ae.Status, ae.RetryAfter
	v.Data = ae
	c.render(w, v, "error")
}

// render executes page's template with v into a buffer, then writes it.
func (c *Console) render(w http.ResponseWriter, v *view, page string) {
	t, ok := c.pages[page]
	if !ok {
		panic("ui: no template " + page)
	}
	v.AssetVersion = c.assetVer
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "base", v); err != nil {
		c.log.Error("rendering page", "page", page, "err", err)
		http.Error(w, "internal error rendering the page", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if v.RetryAfter != "" {
		h.Set("Retry-After", v.RetryAfter)
	}
	status := v.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// static serves the embedded assets; a ?v= matching the current asset
// hash may be cached for a year.
func (c *Console) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	case strings.HasSuffix(name, ".svg"):
		w.Header().Set("Content-Type", "image/svg+xml")
	}
	if r.URL.Query().Get("v") == c.assetVer {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

func assetVersion() string {
	h := sha256.New()
	fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(staticFS, p)
			h.Write([]byte(p))
			h.Write(b)
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// parsePages parses each page template with the base layout and partials.
func parsePages() map[string]*template.Template {
	entries, err := fs.ReadDir(templateFS, "templates")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "base" || name == "partials" {
			continue
		}
		t := template.Must(template.New(name).Funcs(funcs).ParseFS(templateFS,
			"templates/base.html", "templates/partials.html", "templates/"+e.Name()))
		pages[name] = t
	}
	return pages
}

// registryHost is the host:port shown in docker commands.
func (c *Console) registryHost(r *http.Request) string {
	if c.opts.ExternalURL != "" {
		if u, err := url.Parse(c.opts.ExternalURL); err == nil && u.Host != "" {
			return u.Host
		}
	}
	return r.Host
}
