package api

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// projectStore is what the project, project metadata and quota handlers
// need from the metadata store.
type projectStore interface {
	AddProject(ctx context.Context, p store.ProjectSpec) (int64, error)
	FirstAdminID(ctx context.Context) (int64, error)
	ListProjects(ctx context.Context, f store.ProjectFilter, q *query.Query, offset, limit int, user int64) (*store.ProjectPage, error)
	ProjectInfo(ctx context.Context, id int64) (*store.ProjectInfo, error)
	UserProjectRoles(ctx context.Context, userID int64, projects []int64) (map[int64][]int, error)
	ProjectSummaryOf(ctx context.Context, id int64, quota, members bool) (*store.ProjectSummary, error)
	ProjectSummariesOf(ctx context.Context, wants []store.SummaryWanted) ([]*store.ProjectSummary, error)
	ProjectInfoAndRoles(ctx context.Context, id, user int64) (*store.ProjectInfo, []int, error)
	ProjectRepoCount(ctx context.Context, projectID int64) (int64, error)
	UpdateProject(ctx context.Context, id int64, public *bool, set map[string]string, del []string) error
	DeleteProject(ctx context.Context, id int64) error

	AddProjectMetadata(ctx context.Context, id int64, m map[string]string) error
	SetProjectMetadata(ctx context.Context, id int64, m map[string]string) error
	DeleteProjectMetadata(ctx context.Context, id int64, key string) error

	ListQuotas(ctx context.Context, q *query.Query, projectID int64, offset, limit int) ([]store.Quota, int64, error)
	GetQuota(ctx context.Context, id int64) (*store.Quota, error)
	SetStorageLimit(ctx context.Context, id, limit int64) error
}

func (s *Server) projectRoutes() []route {
	const byID = "/projects/{project_name_or_id}"
	return []route{
		{method: "GET", path: "/projects", op: "listProjects", handle: s.listProjects, resp: []Project{}, respDef: "[]Project"},
		{method: "HEAD", path: "/projects", op: "headProject", handle: s.headProject},
		{method: "POST", path: "/projects", op: "createProject", handle: s.createProject},
		{method: "GET", path: byID, op: "getProject", handle: s.getProject, resp: Project{}, respDef: "Project"},
		{method: "PUT", path: byID, op: "updateProject", handle: s.updateProject},
		{method: "DELETE", path: byID, op: "deleteProject", handle: s.deleteProject},
		{method: "GET", path: byID + "/_deletable", op: "getProjectDeletable", handle: s.projectDeletable, resp: ProjectDeletable{}, respDef: "ProjectDeletable"},
		// Beyond Harbor: what the caller (anonymous callers too) may do in
		// the project, for the console's controls.
		{method: "GET", path: byID + "/permissions", op: "getProjectPermissions", handle: s.projectPermissionList, resp: []Permission{}, respDef: "[]Permission"},
		{method: "GET", path: byID + "/summary", op: "getProjectSummary", handle: s.projectSummary, resp: ProjectSummary{}, respDef: "ProjectSummary"},
		// Beyond Harbor: the summaries of several projects in one call.
		{method: "GET", path: "/project-summaries", op: "listProjectSummaries", handle: s.listProjectSummaries, resp: []ProjectSummaryOf{}, respDef: "[]ProjectSummaryOf"},

		{method: "GET", path: byID + "/metadatas/", op: "listProjectMetadatas", handle: s.listProjectMetadatas, resp: map[string]string{}, respDef: "object"},
		{method: "POST", path: byID + "/metadatas/", op: "addProjectMetadatas", handle: s.addProjectMetadatas},
		{method: "GET", path: byID + "/metadatas/{meta_name}", op: "getProjectMetadata", handle: s.getProjectMetadata, resp: map[string]string{}, respDef: "object"},
		{method: "PUT", path: byID + "/metadatas/{meta_name}", op: "updateProjectMetadata", handle: s.updateProjectMetadata},
		{method: "DELETE", path: byID + "/metadatas/{meta_name}", op: "deleteProjectMetadata", handle: s.deleteProjectMetadata},

		{method: "GET", path: "/quotas", op: "listQuotas", handle: s.listQuotas, resp: []Quota{}, respDef: "[]Quota"},
		{method: "GET", path: "/quotas/{id}", op: "getQuota", handle: s.getQuota, resp: Quota{}, respDef: "Quota"},
		{method: "PUT", path: "/quotas/{id}", op: "updateQuota", handle: s.updateQuota},
	}
}

// Project is Harbor's project (definition Project).
type Project struct {
	ProjectID          int64                `json:"project_id"`
	OwnerID            int64                `json:"owner_id"`
	Name               string               `json:"name"`
	CreationTime       string               `json:"creation_time"`
	UpdateTime         string               `json:"update_time"`
	OwnerName          string               `json:"owner_name"`
	Togglable          bool                 `json:"togglable,omitempty"`
	CurrentUserRoleID  int                  `json:"current_user_role_id,omitempty"`
	CurrentUserRoleIDs []int                `json:"current_user_role_ids,omitempty"`
	RepoCount          int64                `json:"repo_count"`
	Metadata           *ProjectMetadata     `json:"metadata,omitempty"`
	CVEAllowlist       *ProjectCVEAllowlist `json:"cve_allowlist,omitempty"`
}

// ProjectMetadata is Harbor's project metadata: every value is a string.
type ProjectMetadata struct {
	Public                    string  `json:"public,omitempty"`
	EnableContentTrust        *string `json:"enable_content_trust,omitempty"`
	EnableContentTrustCosign  *string `json:"enable_content_trust_cosign,omitempty"`
	PreventVul                *string `json:"prevent_vul,omitempty"`
	Severity                  *string `json:"severity,omitempty"`
	AutoScan                  *string `json:"auto_scan,omitempty"`
	AutoSBOMGeneration        *string `json:"auto_sbom_generation,omitempty"`
	ReuseSysCVEAllowlist      *string `json:"reuse_sys_cve_allowlist,omitempty"`
	RetentionID               *string `json:"retention_id,omitempty"`
	ProxySpeedKB              *string `json:"proxy_speed_kb,omitempty"`
	MaxUpstreamConn           *string `json:"max_upstream_conn,omitempty"`
	ProxyCacheLocalOnNotFound *string `json:"proxy_cache_local_on_not_found,omitempty"`
	ProxyReferrerAPI          *string `json:"proxy_referrer_api,omitempty"`
	ProxyCacheFilterPattern   *string `json:"proxy_cache_filter_pattern,omitempty"`
	ProxyCacheFilterKind      *string `json:"proxy_cache_filter_kind,omitempty"`
}

// ProjectCVEAllowlist is Harbor's CVEAllowlist of a project. Berth accepts
// it in requests and shows an empty one; CVE allowlists come with scanning.
type ProjectCVEAllowlist struct {
	ID           int64              `json:"id,omitempty"`
	ProjectID    int64              `json:"project_id,omitempty"`
	ExpiresAt    *int64             `json:"expires_at,omitempty"`
	Items        []CVEAllowlistItem `json:"items"`
	CreationTime string             `json:"creation_time,omitempty"`
	UpdateTime   string             `json:"update_time,omitempty"`
}

// CVEAllowlistItem is one allowed CVE.
type CVEAllowlistItem struct {
	CVEID string `json:"cve_id"`
}

// ProjectReq is Harbor's request body to create or update a project.
type ProjectReq struct {
	ProjectName  string               `json:"project_name"`
	Public       *bool                `json:"public"`
	Metadata     *ProjectMetadata     `json:"metadata"`
	CVEAllowlist *ProjectCVEAllowlist `json:"cve_allowlist"`
	StorageLimit *int64               `json:"storage_limit"`
	RegistryID   *int64               `json:"registry_id"`
}

// ProjectDeletable says whether a project can be deleted.
type ProjectDeletable struct {
	Deletable bool   `json:"deletable"`
	Message   string `json:"message,omitempty"`
}

// ProjectSummary is Harbor's project summary.
type ProjectSummary struct {
	RepoCount         int64                `json:"repo_count"`
	ProjectAdminCount int64                `json:"project_admin_count,omitempty"`
	MaintainerCount   int64                `json:"maintainer_count,omitempty"`
	DeveloperCount    int64                `json:"developer_count,omitempty"`
	GuestCount        int64                `json:"guest_count,omitempty"`
	LimitedGuestCount int64                `json:"limited_guest_count,omitempty"`
	Quota             *ProjectSummaryQuota `json:"quota,omitempty"`
}

// ProjectSummaryOf is one project's summary in listProjectSummaries.
type ProjectSummaryOf struct {
	ProjectID int64 `json:"project_id"`
	ProjectSummary
}

// ProjectSummaryQuota is a project's quota in its summary.
type ProjectSummaryQuota struct {
	Hard ResourceList `json:"hard,omitempty"`
	Used ResourceList `json:"used,omitempty"`
}

// ResourceList maps a quota resource ("storage") to an amount.
type ResourceList map[string]int64

// Quota is Harbor's quota object; Berth's quotas are per project, with the
// project's ID as the quota's.
type Quota struct {
	ID           int64        `json:"id"`
	Ref          QuotaRef     `json:"ref"`
	Hard         ResourceList `json:"hard"`
	Used         ResourceList `json:"used"`
	CreationTime string       `json:"creation_time"`
	UpdateTime   string       `json:"update_time"`
}

// QuotaRef is the project a quota belongs to.
type QuotaRef struct {
	ID        int64  `json:"id"`
	Name      string `json:"name"`
	OwnerName string `json:"owner_name"`
}

// QuotaUpdateReq is Harbor's body to change a quota's hard limits.
type QuotaUpdateReq struct {
	Hard ResourceList `json:"hard"`
}

// storageResource is the one quota resource Harbor (and Berth) counts.
const storageResource = "storage"

// projectNameRe is Harbor's project name rule.
var projectNameRe = regexp.MustCompile(`^[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func validateProjectName(name string) error {
	const op = "validate project"
	if name == "" {
		return errs.E(errs.Invalid, op, "project_name is required")
	}
	if len(name) > 255 {
		return errs.E(errs.Invalid, op, "project_name must be at most 255 characters")
	}
	if !projectNameRe.MatchString(name) {
		return errs.E(errs.Invalid, op, "project name %q is invalid: use lowercase letters, digits and single . _ - between them", name)
	}
	return nil
}

// Project metadata keys (Harbor's ProjectMetadata) and the kind of value each takes.
const (
	metaBool = iota
	metaSeverity
	metaID
	metaInt
	metaFilterKind
	metaText
)

var metadataKeys = map[string]int{
	"public":                         metaBool,
	"enable_content_trust":           metaBool,
	"enable_content_trust_cosign":    metaBool,
	"prevent_vul":                    metaBool,
	"severity":                       metaSeverity,
	"auto_scan":                      metaBool,
	"auto_sbom_generation":           metaBool,
	"reuse_sys_cve_allowlist":        metaBool,
	"retention_id":                   metaID,
	"proxy_speed_kb":                 metaInt,
	"max_upstream_conn":              metaInt,
	"proxy_cache_local_on_not_found": metaBool,
	"proxy_referrer_api":             metaBool,
	"proxy_cache_filter_pattern":     metaText,
	"proxy_cache_filter_kind":        metaFilterKind,
}

// validateMetadata checks one metadata value and returns it normalised
// (booleans as "true"/"false", severities in lower case).
func validateMetadata(key, value string) (string, error) {
	const op = "validate project metadata"
	kind, ok := metadataKeys[key]
	if !ok {
		return "", errs.E(errs.Invalid, op, "invalid metadata key %q", key)
	}
	bad := func() (string, error) {
		return "", errs.E(errs.Invalid, op, "invalid value %q for metadata %s", value, key)
	}
	switch kind {
	case metaBool:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return bad()
		}
		return strconv.FormatBool(b), nil
	case metaSeverity:
		v := strings.ToLower(value)
		switch v {
		case "none", "low", "medium", "high", "critical":
			return v, nil
		}
		return bad()
	case metaID:
		if _, ok := parseID(value); !ok {
			return bad()
		}
	case metaInt:
		n, err := strconv.ParseInt(value, 10, 32)
		if err != nil || n < -1 {
			return bad()
		}
	case metaFilterKind:
		if value != "doublestar" && value != "regex" {
			return bad()
		}
	case metaText:
		if len(value) > 1024 {
			return bad()
		}
	}
	return value, nil
}

func metadataMap(m *ProjectMetadata) map[string]string {
	out := map[string]string{}
	if m == nil {
		return out
	}
	b, _ := json.Marshal(m)
	json.Unmarshal(b, &out)
	return out
}

func metadataStruct(m map[string]string) *ProjectMetadata {
	var out ProjectMetadata
	b, _ := json.Marshal(m)
	json.Unmarshal(b, &out)
	return &out
}

// isProxyKey reports whether key configures a proxy cache project; Harbor
// drops such keys for other projects.
func isProxyKey(key string) bool {
	return strings.HasPrefix(key, "proxy_") || key == "max_upstream_conn"
}

// projectMetadataFromReq validates the metadata of a project request and
// returns it normalised, with "public" taken from metadata.public or else
// the deprecated top-level public.
func projectMetadataFromReq(req *ProjectReq) (map[string]string, error) {
	in := metadataMap(req.Metadata)
	out := map[string]string{}
	for k, v := range in {
		if isProxyKey(k) {
			continue // no proxy cache projects (yet): ignored, as Harbor does for other projects
		}
		if v == "" && k != "public" {
			out[k] = ""
			continue
		}
		nv, err := validateMetadata(k, v)
		if err != nil {
			return nil, err
		}
		out[k] = nv
	}
	if _, ok := out["public"]; !ok && req.Public != nil {
		out["public"] = strconv.FormatBool(*req.Public)
	}
	return out, nil
}

// projectView assembles the API form of p for a caller whose view of it
// (roles and permissions) auth gave: current_user_role_id(s) are its
// membership roles and togglable is whether it may update the project,
// both from the answer enforcement checks. (Harbor v2 leaves togglable
// unset; Berth fills it with project:update, its v1 meaning.)
func projectView(p *store.ProjectInfo, v auth.ProjectView, detail bool) Project {
	out := Project{
		ProjectID: p.ID, OwnerID: p.OwnerID, Name: p.Name, OwnerName: p.OwnerName,
		CreationTime: Timestamp(p.CreatedAt), UpdateTime: Timestamp(p.UpdatedAt),
		RepoCount: p.RepoCount, Togglable: v.Set.Has(rbac.ResProject, rbac.Update),
		CurrentUserRoleIDs: v.RoleIDs, CurrentUserRoleID: int(v.Role),
	}
	if detail {
		out.Metadata = metadataStruct(p.Metadata)
		out.CVEAllowlist = &ProjectCVEAllowlist{ProjectID: p.ID, Items: []CVEAllowlistItem{}}
	}
	return out
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	f := store.ProjectFilter{Name: qv.Get("name"), Owner: qv.Get("owner")}
	if qv.Get("public") != "" {
		b, err := boolParam(r, "public", false)
		if err != nil {
			return err
		}
		f.Public = &b
	}
	detail, err := boolParam(r, "with_detail", true)
	if err != nil {
		return err
	}
	withPublic := f.Public == nil || *f.Public
	switch {
	case c.Admin || s.auth.CanSystem(c.Principal, rbac.ResProject, rbac.List):
		f.All = true
	case c.IsRobot():
		f.WithPublic = withPublic
		f.Names, f.All = c.RobotProjects()
	case c.Anonymous():
		f.WithPublic = withPublic
	default:
		f.WithPublic = withPublic
		f.MemberID = c.UserID
	}
	pg, err := s.st.ListProjects(r.Context(), f, p.Query, p.Offset(), p.Size, c.UserID)
	if err != nil {
		return err
	}
	list, total, direct := pg.Projects, pg.Total, pg.Roles
	out := make([]Project, 0, len(list))
	for i := range list {
		v := s.auth.ProjectView(c.Principal, &list[i].Project, direct[list[i].ID])
		out = append(out, projectView(&list[i], v, detail))
		if pageCacheActive(r.Context()) {
			// The console's project list asks next for each member project's
			// summary: it then finds the project and the caller's rights in
			// it here instead of reading them again, one project at a time.
			proj := list[i].Project
			pageCachePut(r.Context(), projectNameKey(proj.Name), &proj)
			pageCachePut(r.Context(), projectIDKey(proj.ID), &proj)
			pageCachePut(r.Context(), permsKey(c, proj.ID), v.Set)
		}
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) headProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	name := r.URL.Query().Get("project_name")
	if name == "" {
		return errs.E(errs.Invalid, "head project", "project_name is required")
	}
	p, err := s.st.ProjectByName(r.Context(), name)
	if err != nil {
		return err
	}
	// Signed-in callers learn that the name is taken even when they cannot
	// see the project (Harbor answers 403 there); anonymous callers only
	// about public projects.
	if c.Anonymous() && !p.Public {
		return errs.E(errs.Unauthenticated, "head project", "authentication required")
	}
	return ok(w)
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "create project"
	cfg := s.opts.Settings.Get()
	sysCreate := s.auth.CanSystem(c.Principal, rbac.ResProject, rbac.Create)
	switch {
	case c.IsRobot() && (c.Robot.Level != "system" || !sysCreate):
		return errs.E(errs.Denied, op, "only system robot accounts with the project create permission can create projects")
	case cfg.ProjectCreationRestriction == "adminonly" && !sysCreate:
		return errs.E(errs.Denied, op, "Only system admin can create project")
	}
	var req ProjectReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := validateProjectName(req.ProjectName); err != nil {
		return err
	}
	if req.RegistryID != nil {
		return errs.E(errs.Invalid, op, "proxy cache projects (registry_id) are not supported")
	}
	limit := cfg.StoragePerProject
	if req.StorageLimit != nil {
		switch v := *req.StorageLimit; {
		case v < -1:
			return errs.E(errs.Invalid, op, "storage_limit must be -1 (unlimited) or a number of bytes, not %d", v)
		case v != 0 && sysCreate:
			limit = v // only administrators choose; others get the default, as in Harbor
		}
	}
	meta, err := projectMetadataFromReq(&req)
	if err != nil {
		return err
	}
	if meta["retention_id"] != "" {
		return errs.E(errs.Invalid, op, "retention_id must be omitted when creating a project")
	}
	public := meta["public"] == "true"
	for k, v := range meta {
		if v == "" || k == "public" {
			delete(meta, k)
		}
	}
	owner := c.UserID
	if c.IsRobot() {
		if owner, err = s.st.FirstAdminID(r.Context()); err != nil {
			return err
		}
	}
	id, err := s.st.AddProject(r.Context(), store.ProjectSpec{
		Name: req.ProjectName, OwnerID: owner, Public: public, StorageLimit: limit, Metadata: meta,
	})
	s.audit(c, id, "create", "project", req.ProjectName, err)
	if err != nil {
		return err
	}
	loc := Prefix + "/projects/" + strconv.FormatInt(id, 10)
	if r.Header.Get("X-Resource-Name-In-Location") == "true" {
		loc = Prefix + "/projects/" + req.ProjectName
	}
	return created(w, r, loc)
}

// projectFor loads the project of the path and checks c may do act on res there.
func (s *Server) projectFor(r *http.Request, c *Caller, res rbac.Resource, act rbac.Action) (*store.Project, error) {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return nil, err
	}
	if err := s.require(r.Context(), c, p, res, act); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.projectFor(r, c, rbac.ResProject, rbac.Read)
	if err != nil {
		return err
	}
	info, direct, err := s.st.ProjectInfoAndRoles(r.Context(), p.ID, c.UserID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectView(info, s.auth.ProjectView(c.Principal, &info.Project, direct), true))
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update project"
	p, err := s.projectFor(r, c, rbac.ResProject, rbac.Update)
	if err != nil {
		return err
	}
	var req ProjectReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.ProjectName != "" && req.ProjectName != p.Name {
		return errs.E(errs.Invalid, op, "a project cannot be renamed (%s to %s)", p.Name, req.ProjectName)
	}
	if req.RegistryID != nil {
		return errs.E(errs.Invalid, op, "registry_id cannot be set: %s is not a proxy cache project", p.Name)
	}
	// storage_limit is accepted and ignored, as by Harbor: quotas change
	// through PUT /quotas/{id}. cve_allowlist too, until scanning comes.
	if req.StorageLimit != nil && *req.StorageLimit < -1 {
		return errs.E(errs.Invalid, op, "storage_limit must be -1 (unlimited) or a number of bytes")
	}
	meta, err := projectMetadataFromReq(&req)
	if err != nil {
		return err
	}
	if rid, ok := meta["retention_id"]; ok {
		info, err := s.st.ProjectInfo(r.Context(), p.ID)
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
	err = s.st.UpdateProject(r.Context(), p.ID, public, meta, del)
	s.audit(c, p.ID, "update", "project", p.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.projectFor(r, c, rbac.ResProject, rbac.Delete)
	if err != nil {
		return err
	}
	err = s.st.DeleteProject(r.Context(), p.ID)
	s.audit(c, p.ID, "delete", "project", p.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) projectDeletable(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.projectFor(r, c, rbac.ResProject, rbac.Delete)
	if err != nil {
		return err
	}
	n, err := s.st.ProjectRepoCount(r.Context(), p.ID)
	if err != nil {
		return err
	}
	out := ProjectDeletable{Deletable: n == 0}
	if n > 0 {
		out.Message = "the project contains repositories, can not be deleted"
	}
	return writeJSON(w, http.StatusOK, out)
}

// projectPermissionList is Berth's own getProjectPermissions: what the
// caller may do in the project, with resources relative to it
// ("repository", as /users/current/permissions?relative=true shows them).
// Unlike that Harbor operation it also answers anonymous callers (the
// public policies of a public project), so that the console shows every
// visitor controls from the set enforcement checks.
func (s *Server) projectPermissionList(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.projectFor(r, c, rbac.ResProject, rbac.Read)
	if err != nil {
		return err
	}
	set, err := s.projectPermissions(r.Context(), c, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, permissionList(set))
}

func (s *Server) projectSummary(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.projectFor(r, c, rbac.ResProject, rbac.Read)
	if err != nil {
		return err
	}
	ctx := r.Context()
	set, err := s.projectPermissions(ctx, c, p)
	if err != nil {
		return err
	}
	withQuota, withMembers := set.Has(rbac.ResQuota, rbac.Read), set.Has(rbac.ResMember, rbac.List)
	sum, err := s.st.ProjectSummaryOf(ctx, p.ID, withQuota, withMembers)
	if err != nil {
		return err
	}
	out := summaryView(sum, withQuota, withMembers)
	return writeJSON(w, http.StatusOK, out)
}

// summaryView is Harbor's view of a project summary, with the quota and
// the member counts when the caller may see them.
func summaryView(sum *store.ProjectSummary, withQuota, withMembers bool) ProjectSummary {
	out := ProjectSummary{RepoCount: sum.RepoCount}
	if withQuota {
		q := sum.Quota
		out.Quota = &ProjectSummaryQuota{Hard: ResourceList{storageResource: q.Hard}, Used: ResourceList{storageResource: q.Used}}
	}
	if withMembers {
		counts := sum.MemberCounts
		out.ProjectAdminCount = counts[int(rbac.ProjectAdmin)]
		out.MaintainerCount = counts[int(rbac.Maintainer)]
		out.DeveloperCount = counts[int(rbac.Developer)]
		out.GuestCount = counts[int(rbac.Guest)]
		out.LimitedGuestCount = counts[int(rbac.LimitedGuest)]
	}
	return out
}

// maxSummaries bounds the projects of one listProjectSummaries call.
const maxSummaries = 100

// listProjectSummaries is Berth's own: the summaries of the projects
// project_ids names (comma-separated IDs, at most 100), each exactly as
// getProjectSummary answers it to the caller; projects the caller may not
// read, or that are not there, are left out. The console's project list
// reads a member's quota bars with it in one call instead of one per
// project.
func (s *Server) listProjectSummaries(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "list project summaries"
	ctx := r.Context()
	raw := r.URL.Query().Get("project_ids")
	var wants []store.SummaryWanted
	seen := map[int64]bool{}
	for _, part := range strings.Split(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		id, ok := parseID(part)
		if !ok {
			return errs.E(errs.Invalid, op, "project_ids takes project IDs separated by commas, not %q", part)
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		if len(seen) > maxSummaries {
			return errs.E(errs.Invalid, op, "project_ids names more than %d projects", maxSummaries)
		}
		p, err := s.cachedProject(ctx, true, strconv.FormatInt(id, 10))
		if errs.Is(err, errs.NotFound) {
			continue
		}
		if err != nil {
			return err
		}
		set, err := s.projectPermissions(ctx, c, p)
		if err != nil {
			return err
		}
		if s.allowed(c, p, set, rbac.ResProject, rbac.Read) != nil {
			continue
		}
		wants = append(wants, store.SummaryWanted{ProjectID: id, Quota: set.Has(rbac.ResQuota, rbac.Read), Members: set.Has(rbac.ResMember, rbac.List)})
	}
	sums, err := s.st.ProjectSummariesOf(ctx, wants)
	if err != nil {
		return err
	}
	out := make([]ProjectSummaryOf, 0, len(wants))
	for i, w := range wants {
		if sums[i] != nil { // nil: deleted meanwhile
			out = append(out, ProjectSummaryOf{ProjectID: w.ProjectID, ProjectSummary: summaryView(sums[i], w.Quota, w.Members)})
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// --- project metadata ---

// metadataProject loads the project of the path for act on its metadata.
// Listing is allowed to whoever may read it (Harbor's role table gives
// project administrators no "list", only "read").
func (s *Server) metadataProject(r *http.Request, c *Caller, act rbac.Action) (*store.ProjectInfo, error) {
	p, err := s.project(r, "project_name_or_id")
	if err != nil {
		return nil, err
	}
	if act == rbac.List {
		set, err := s.projectPermissions(r.Context(), c, p)
		if err != nil {
			return nil, err
		}
		if set.Has(rbac.ResMetadata, rbac.Read) {
			act = rbac.Read
		}
	}
	if err := s.require(r.Context(), c, p, rbac.ResMetadata, act); err != nil {
		return nil, err
	}
	return s.st.ProjectInfo(r.Context(), p.ID)
}

// metaName reads and checks the meta_name path value.
func metaName(r *http.Request) (string, error) {
	k := r.PathValue("meta_name")
	if _, ok := metadataKeys[k]; !ok {
		return "", errs.E(errs.Invalid, "project metadata", "invalid metadata key %q", k)
	}
	return k, nil
}

func (s *Server) listProjectMetadatas(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.metadataProject(r, c, rbac.List)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, p.Metadata)
}

func (s *Server) addProjectMetadatas(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "add project metadata"
	p, err := s.metadataProject(r, c, rbac.Create)
	if err != nil {
		return err
	}
	var body map[string]string
	if err := decode(r, &body); err != nil {
		return err
	}
	if len(body) == 0 {
		return errs.E(errs.Invalid, op, "no metadata given")
	}
	m := make(map[string]string, len(body))
	for k, v := range body {
		if m[k], err = validateMetadata(k, v); err != nil {
			return err
		}
	}
	err = s.st.AddProjectMetadata(r.Context(), p.ID, m)
	s.audit(c, p.ID, "create", "project_metadata", p.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) getProjectMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	k, err := metaName(r)
	if err != nil {
		return err
	}
	p, err := s.metadataProject(r, c, rbac.Read)
	if err != nil {
		return err
	}
	v, found := p.Metadata[k]
	if !found {
		return errs.E(errs.NotFound, "get project metadata", "metadata %q not found in project %s", k, p.Name)
	}
	return writeJSON(w, http.StatusOK, map[string]string{k: v})
}

func (s *Server) updateProjectMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update project metadata"
	k, err := metaName(r)
	if err != nil {
		return err
	}
	p, err := s.metadataProject(r, c, rbac.Update)
	if err != nil {
		return err
	}
	var body map[string]string
	if err := decode(r, &body); err != nil {
		return err
	}
	for bk := range body {
		if bk != k {
			return errs.E(errs.Invalid, op, "the body may only set %q, not %q", k, bk)
		}
	}
	v, found := body[k]
	if !found {
		return errs.E(errs.Invalid, op, "the body must set %q", k)
	}
	if v, err = validateMetadata(k, v); err != nil {
		return err
	}
	err = s.st.SetProjectMetadata(r.Context(), p.ID, map[string]string{k: v})
	s.audit(c, p.ID, "update", "project_metadata", p.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteProjectMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "delete project metadata"
	k, err := metaName(r)
	if err != nil {
		return err
	}
	p, err := s.metadataProject(r, c, rbac.Delete)
	if err != nil {
		return err
	}
	if k == "public" {
		return errs.E(errs.Invalid, op, "public cannot be deleted; set it to \"false\" to make the project private")
	}
	err = s.st.DeleteProjectMetadata(r.Context(), p.ID, k)
	s.audit(c, p.ID, "delete", "project_metadata", p.Name, err)
	if err != nil {
		return err
	}
	return ok(w)
}

// --- quotas ---

func quotaView(q *store.Quota) Quota {
	return Quota{
		ID:           q.ProjectID,
		Ref:          QuotaRef{ID: q.ProjectID, Name: q.ProjectName, OwnerName: q.OwnerName},
		Hard:         ResourceList{storageResource: q.Hard},
		Used:         ResourceList{storageResource: q.Used},
		CreationTime: Timestamp(q.CreatedAt),
		UpdateTime:   Timestamp(q.UpdatedAt),
	}
}

func (s *Server) listQuotas(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResQuota, rbac.List); err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	var projectID int64
	empty := false
	if ref := qv.Get("reference"); ref != "" && ref != "project" {
		empty = true // the only quotas are projects'
	}
	// Only sort applies here; the listing has no q parameter.
	lq := &query.Query{Sort: p.Query.Sort}
	if v := qv.Get("reference_id"); v != "" {
		// Harbor takes one ID. Berth also takes several, comma-separated,
		// so that a page of projects can show its quotas with one call.
		ids := strings.Split(v, ",")
		for _, x := range ids {
			id, ok := parseID(strings.TrimSpace(x))
			if !ok {
				empty = true
			}
			projectID = id
		}
		if len(ids) > 1 {
			if len(ids) > maxPageSize {
				return errs.E(errs.Invalid, "list quotas", "reference_id names at most %d projects, not %d", maxPageSize, len(ids))
			}
			for i := range ids {
				ids[i] = strings.TrimSpace(ids[i])
			}
			projectID = 0
			lq.Conds = []query.Cond{{Key: "id", Kind: query.Set, Values: ids}}
		}
	}
	out := []Quota{}
	var total int64
	if !empty {
		list, n, err := s.st.ListQuotas(r.Context(), lq, projectID, p.Offset(), p.Size)
		if err != nil {
			return err
		}
		for i := range list {
			out = append(out, quotaView(&list[i]))
		}
		total = n
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getQuota(w http.ResponseWriter, r *http.Request, c *Caller) error {
	if err := s.requireSystem(c, rbac.ResQuota, rbac.Read); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := s.st.GetQuota(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, quotaView(q))
}

func (s *Server) updateQuota(w http.ResponseWriter, r *http.Request, c *Caller) error {
	const op = "update quota"
	if err := s.requireSystem(c, rbac.ResQuota, rbac.Update); err != nil {
		return err
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req QuotaUpdateReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Hard) == 0 {
		return errs.E(errs.Invalid, op, "hard must set the storage limit")
	}
	for k := range req.Hard {
		if k != storageResource {
			return errs.E(errs.Invalid, op, "unknown quota resource %q (only storage is counted)", k)
		}
	}
	limit := req.Hard[storageResource]
	if limit < -1 || limit == 0 {
		return errs.E(errs.Invalid, op, "hard.storage must be -1 (unlimited) or a positive number of bytes, not %d", limit)
	}
	q, err := s.st.GetQuota(r.Context(), id)
	if err != nil {
		return err
	}
	err = s.st.SetStorageLimit(r.Context(), id, limit)
	s.audit(c, id, "update", "quota", q.ProjectName, err)
	if err != nil {
		return err
	}
	return ok(w)
}
