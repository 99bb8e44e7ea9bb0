// Package project is the domain service of projects and their members:
// the rules on names and metadata, who may do what (asked of auth, never
// worked out here), the view a caller gets of a project (its roles and
// whether it may change the project, from the same auth answer that
// enforcement checks), and the event of every change (the audit log and
// webhooks read them). The REST API decodes a request, calls a Service and
// encodes the answer; it holds none of these rules.
package project

import (
	"context"
	"regexp"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/settings"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what the service reads and writes.
type Store interface {
	AddProject(ctx context.Context, p store.ProjectSpec) (int64, error)
	FirstAdminID(ctx context.Context) (int64, error)
	ListProjects(ctx context.Context, f store.ProjectFilter, q *query.Query, offset, limit int, user int64) (*store.ProjectPage, error)
	ProjectInfo(ctx context.Context, id int64) (*store.ProjectInfo, error)
	ProjectInfoAndRoles(ctx context.Context, id, user int64) (*store.ProjectInfo, []int, error)
	ProjectInfoAndRolesByName(ctx context.Context, name string, user int64) (*store.ProjectInfo, []int, error)
	ProjectSummaryOf(ctx context.Context, id int64, quota, members bool) (*store.ProjectSummary, error)
	ProjectSummariesOf(ctx context.Context, wants []store.SummaryWanted) ([]*store.ProjectSummary, error)
	ProjectRepoCount(ctx context.Context, projectID int64) (int64, error)
	UpdateProject(ctx context.Context, id int64, public *bool, set map[string]string, del []string) error
	DeleteProject(ctx context.Context, id int64) error

	AddProjectMetadata(ctx context.Context, id int64, m map[string]string) error
	SetProjectMetadata(ctx context.Context, id int64, m map[string]string) error
	DeleteProjectMetadata(ctx context.Context, id int64, key string) error

	ListMembers(ctx context.Context, projectID int64, entityName string, q *query.Query, offset, limit int) ([]store.Member, int64, error)
	MemberByID(ctx context.Context, projectID, id int64) (*store.Member, error)
	AddUserMember(ctx context.Context, projectID, userID int64, username string, role int) (*store.Member, error)
	UpdateMemberRole(ctx context.Context, projectID, id int64, role int) error
	DeleteMember(ctx context.Context, projectID, id int64) error
}

// Auth answers what a caller may do. ProjectPermissions is the set that
// enforcement checks (auth.Decide) and every view is read from.
type Auth interface {
	ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error)
	ProjectView(p *auth.Principal, project *store.Project, roleIDs []int) auth.ProjectView
	CanSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) bool
}

// Settings is the live system configuration (settings.Source): its
// project_creation_restriction and storage_per_project apply to new
// projects.
type Settings interface{ Get() settings.Config }

// Publisher takes the events of the service's changes.
type Publisher interface{ Publish(event.Event) }

// Service is the project service.
type Service struct {
	st      Store
	auth    Auth
	cfg     Settings
	events  Publisher
	changed func()
}

// New returns a service over st that asks a what callers may do, reads
// the settings it obeys from cfg when it acts, publishes its changes on
// events and calls changed (if set) after every write, so that caches
// elsewhere drop what they hold.
func New(st Store, a Auth, cfg Settings, events Publisher, changed func()) *Service {
	return &Service{st: st, auth: a, cfg: cfg, events: events, changed: changed}
}

// Require checks that p may do act on res in project (auth.Decide).
func (s *Service) Require(ctx context.Context, p *auth.Principal, project *store.Project, res rbac.Resource, act rbac.Action) error {
	return auth.Require(ctx, s.auth, p, project, res, act)
}

// record publishes the event of a change by p and tells caches.
func (s *Service) record(p *auth.Principal, projectID int64, operation, resourceType, resource string, err error) {
	event.Record(s.events, s.changed, p.Name, projectID, operation, resourceType, resource, err)
}

// nameRe is Harbor's project name rule.
var nameRe = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

// ValidateName applies Harbor's rule to a new project's name.
func ValidateName(name string) error {
	const op = "validate project"
	if name == "" {
		return errs.E(errs.Invalid, op, "project_name is required")
	}
	if len(name) > 255 {
		return errs.E(errs.Invalid, op, "project_name must be at most 255 characters")
	}
	if !nameRe.MatchString(name) {
		return errs.E(errs.Invalid, op, "project name %q is invalid: use lowercase letters, digits and single . _ - between them", name)
	}
	return nil
}

// View is a project as a caller sees it: the stored project and the
// caller's view of it (auth.ProjectView).
type View struct {
	Info   *store.ProjectInfo
	Access auth.ProjectView
}

// Get returns p's view of project, which p must be able to read.
func (s *Service) Get(ctx context.Context, p *auth.Principal, project *store.Project) (View, error) {
	if err := s.Require(ctx, p, project, rbac.ResProject, rbac.Read); err != nil {
		return View{}, err
	}
	info, roles, err := s.st.ProjectInfoAndRoles(ctx, project.ID, p.UserID)
	if err != nil {
		return View{}, err
	}
	return View{Info: info, Access: s.auth.ProjectView(p, &info.Project, roles)}, nil
}

// GetByName is Get for the project named name, which the caller has not
// looked up: the project, the caller's roles and the view are read
// together (one round trip on PostgreSQL), and the view is dropped unless
// p may read. A missing project is errs.NotFound.
func (s *Service) GetByName(ctx context.Context, p *auth.Principal, name string) (View, error) {
	info, roles, err := s.st.ProjectInfoAndRolesByName(ctx, name, p.UserID)
	if err != nil {
		return View{}, err
	}
	v := s.auth.ProjectView(p, &info.Project, roles)
	if err := auth.Decide(p, &info.Project, v.Set, rbac.ResProject, rbac.Read); err != nil {
		return View{}, err
	}
	return View{Info: info, Access: v}, nil
}

// Filter selects projects in a listing.
type Filter struct {
	Name, Owner string
	Public      *bool
}

// List returns a page of the projects p may see that f and q select, each
// with p's view of it, and how many match in all: every project for
// administrators (and system robots with project:list), the projects a
// robot's permissions name, a user's projects, and (unless f asks for
// private ones only) public projects.
func (s *Service) List(ctx context.Context, p *auth.Principal, f Filter, q *query.Query, offset, limit int) ([]View, int64, error) {
	sf := store.ProjectFilter{Name: f.Name, Owner: f.Owner, Public: f.Public}
	withPublic := f.Public == nil || *f.Public
	switch {
	case p.Admin || s.auth.CanSystem(p, rbac.ResProject, rbac.List):
		sf.All = true
	case p.IsRobot():
		sf.WithPublic = withPublic
		sf.Names, sf.All = p.RobotProjects()
	case p.Anonymous():
		sf.WithPublic = withPublic
	default:
		sf.WithPublic = withPublic
		sf.MemberID = p.UserID
	}
	pg, err := s.st.ListProjects(ctx, sf, q, offset, limit, p.UserID)
	if err != nil {
		return nil, 0, err
	}
	out := make([]View, len(pg.Projects))
	for i := range pg.Projects {
		info := &pg.Projects[i]
		out[i] = View{Info: info, Access: s.auth.ProjectView(p, &info.Project, pg.Roles[info.ID])}
	}
	return out, pg.Total, nil
}

// Spec is a request to create or update a project. Metadata holds Harbor's
// metadata as sent (every value a string; "" for a field set empty).
type Spec struct {
	Name         string
	Public       *bool // the deprecated top-level public
	Metadata     map[string]string
	StorageLimit *int64
	RegistryID   *int64
}

// Create adds a project for p (anonymous callers are refused) and returns
// its ID. Its owner, who becomes its first member as project
// administrator, is p (the first administrator for a system robot, as
// Harbor does). Under the live
// settings, project_creation_restriction adminonly leaves creation to
// callers with the system project:create permission, and a project gets
// storage_per_project unless such a caller chose its limit.
func (s *Service) Create(ctx context.Context, p *auth.Principal, spec Spec) (int64, error) {
	const op = "create project"
	cfg := s.cfg.Get()
	sysCreate := s.auth.CanSystem(p, rbac.ResProject, rbac.Create)
	switch {
	case p.Anonymous():
		return 0, errs.E(errs.Unauthenticated, op, "authentication required")
	case p.IsRobot() && (p.Robot.Level != "system" || !sysCreate):
		return 0, errs.E(errs.Denied, op, "only system robot accounts with the project create permission can create projects")
	case cfg.ProjectCreationRestriction == "adminonly" && !sysCreate:
		return 0, errs.E(errs.Denied, op, "Only system admin can create project")
	}
	if err := ValidateName(spec.Name); err != nil {
		return 0, err
	}
	if spec.RegistryID != nil {
		return 0, errs.E(errs.Invalid, op, "proxy cache projects (registry_id) are not supported")
	}
	limit := cfg.StoragePerProject
	if spec.StorageLimit != nil {
		switch v := *spec.StorageLimit; {
		case v < -1:
			return 0, errs.E(errs.Invalid, op, "storage_limit must be -1 (unlimited) or a number of bytes, not %d", v)
		case v != 0 && sysCreate:
			limit = v // only administrators choose; others get the default, as in Harbor
		}
	}
	meta, err := metadataOf(spec)
	if err != nil {
		return 0, err
	}
	if meta["retention_id"] != "" {
		return 0, errs.E(errs.Invalid, op, "retention_id must be omitted when creating a project")
	}
	public := meta["public"] == "true"
	for k, v := range meta {
		if v == "" || k == "public" {
			delete(meta, k)
		}
	}
	owner := p.UserID
	if p.IsRobot() {
		if owner, err = s.st.FirstAdminID(ctx); err != nil {
			return 0, err
		}
	}
	id, err := s.st.AddProject(ctx, store.ProjectSpec{
		Name: spec.Name, OwnerID: owner, Public: public, StorageLimit: limit, Metadata: meta,
	})
	s.record(p, id, "create", "project", spec.Name, err)
	return id, err
}

// Update changes project's visibility and metadata for p, who needs
// project:update. A project cannot be renamed; storage_limit is accepted
// and ignored, as by Harbor (quotas change through the quota API).
func (s *Service) Update(ctx context.Context, p *auth.Principal, project *store.Project, spec Spec) error {
	const op = "update project"
	if err := s.Require(ctx, p, project, rbac.ResProject, rbac.Update); err != nil {
		return err
	}
	if spec.Name != "" && spec.Name != project.Name {
		return errs.E(errs.Invalid, op, "a project cannot be renamed (%s to %s)", project.Name, spec.Name)
	}
	if spec.RegistryID != nil {
		return errs.E(errs.Invalid, op, "registry_id cannot be set: %s is not a proxy cache project", project.Name)
	}
	if spec.StorageLimit != nil && *spec.StorageLimit < -1 {
		return errs.E(errs.Invalid, op, "storage_limit must be -1 (unlimited) or a number of bytes")
	}
	meta, err := metadataOf(spec)
	if err != nil {
		return err
	}
	if rid, ok := meta["retention_id"]; ok {
		info, err := s.st.ProjectInfo(ctx, project.ID)
		if err != nil {
			return err
		}
		if rid != info.Metadata["retention_id"] {
			return errs.E(errs.Invalid, op, "retention_id must be omitted, or be the one already associated with the project")
		}
		delete(meta, "retention_id")
	}
	var public *bool
	if v, ok := meta["public"]; ok {
		b := v == "true"
		public = &b
		delete(meta, "public")
	}
	var del []string
	for k, v := range meta {
		if v == "" {
			del = append(del, k)
			delete(meta, k)
		}
	}
	err = s.st.UpdateProject(ctx, project.ID, public, meta, del)
	s.record(p, project.ID, "update", "project", project.Name, err)
	return err
}

// Delete removes project for p, who needs project:delete.
func (s *Service) Delete(ctx context.Context, p *auth.Principal, project *store.Project) error {
	if err := s.Require(ctx, p, project, rbac.ResProject, rbac.Delete); err != nil {
		return err
	}
	err := s.st.DeleteProject(ctx, project.ID)
	s.record(p, project.ID, "delete", "project", project.Name, err)
	return err
}

// Deletable reports whether project can be deleted, and why not, to a
// caller who may delete it.
func (s *Service) Deletable(ctx context.Context, p *auth.Principal, project *store.Project) (bool, string, error) {
	if err := s.Require(ctx, p, project, rbac.ResProject, rbac.Delete); err != nil {
		return false, "", err
	}
	n, err := s.st.ProjectRepoCount(ctx, project.ID)
	if err != nil {
		return false, "", err
	}
	if n > 0 {
		return false, "the project contains repositories, can not be deleted", nil
	}
	return true, "", nil
}

// summaryWanted returns what of project's summary p may see (the quota with
// quota:read, the member counts with member:list), or the refusal when p
// may not read the project.
func (s *Service) summaryWanted(ctx context.Context, p *auth.Principal, project *store.Project) (w store.SummaryWanted, refused, err error) {
	set, err := s.auth.ProjectPermissions(ctx, p, project)
	if err != nil {
		return w, nil, err
	}
	if refused := auth.Decide(p, project, set, rbac.ResProject, rbac.Read); refused != nil {
		return w, refused, nil
	}
	return store.SummaryWanted{ProjectID: project.ID, Quota: set.Has(rbac.ResQuota, rbac.Read), Members: set.Has(rbac.ResMember, rbac.List)}, nil, nil
}

// Summary returns project's summary as p may see it.
func (s *Service) Summary(ctx context.Context, p *auth.Principal, project *store.Project) (*store.ProjectSummary, store.SummaryWanted, error) {
	w, refused, err := s.summaryWanted(ctx, p, project)
	if err == nil {
		err = refused
	}
	if err != nil {
		return nil, w, err
	}
	sum, err := s.st.ProjectSummaryOf(ctx, project.ID, w.Quota, w.Members)
	return sum, w, err
}

// Quotas returns the storage quotas of the projects of views (a listing's
// page, as List answers it to p) whose quota p may read (quota:read in the
// view's set, the set enforcement checks), by project ID, read together
// (one round trip on PostgreSQL). A project deleted meanwhile is missing.
func (s *Service) Quotas(ctx context.Context, p *auth.Principal, views []View) (map[int64]store.Quota, error) {
	var wants []store.SummaryWanted
	for _, v := range views {
		if v.Access.Set.Has(rbac.ResQuota, rbac.Read) && auth.Decide(p, &v.Info.Project, v.Access.Set, rbac.ResProject, rbac.Read) == nil {
			wants = append(wants, store.SummaryWanted{ProjectID: v.Info.ID, Quota: true})
		}
	}
	out := make(map[int64]store.Quota, len(wants))
	if len(wants) == 0 {
		return out, nil
	}
	sums, err := s.st.ProjectSummariesOf(ctx, wants)
	if err != nil {
		return nil, err
	}
	for i, w := range wants {
		if sums[i] != nil && sums[i].Quota != nil {
			out[w.ProjectID] = *sums[i].Quota
		}
	}
	return out, nil
}

// Permissions returns what p may do in project, which p must be able to read.
func (s *Service) Permissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error) {
	set, err := s.auth.ProjectPermissions(ctx, p, project)
	if err != nil {
		return nil, err
	}
	return set, auth.Decide(p, project, set, rbac.ResProject, rbac.Read)
}

// isProxyKey reports whether key configures a proxy cache project; Harbor
// drops such keys for other projects.
func isProxyKey(key string) bool {
	return strings.HasPrefix(key, "proxy_") || key == "max_upstream_conn"
}
