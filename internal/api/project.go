package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/project"
	"github.com/berth-dev/berth/internal/quota"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// projectStore is what the project and quota services and the project
// handlers need from the metadata store.
type projectStore interface {
	project.Store
	UserProjectRoles(ctx context.Context, userID int64, projects []int64) (map[int64][]int, error)
	ProjectSummariesOf(ctx context.Context, wants []store.SummaryWanted) ([]*store.ProjectSummary, error)
	quota.Store
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
const storageResource = quota.Storage

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
	f := project.Filter{Name: qv.Get("name"), Owner: qv.Get("owner")}
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
	list, total, err := s.projects.List(r.Context(), c.Principal, f, p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]Project, 0, len(list))
	for _, v := range list {
		out = append(out, projectView(v.Info, v.Access, detail))
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

// projectSpec is the service's form of a project request.
func projectSpec(req *ProjectReq) project.Spec {
	return project.Spec{Name: req.ProjectName, Public: req.Public, Metadata: metadataMap(req.Metadata),
		StorageLimit: req.StorageLimit, RegistryID: req.RegistryID}
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	var req ProjectReq
	if err := decode(r, &req); err != nil {
		return err
	}
	id, err := s.projects.Create(r.Context(), c.Principal, projectSpec(&req))
	if err != nil {
		return err
	}
	loc := Prefix + "/projects/" + strconv.FormatInt(id, 10)
	if r.Header.Get("X-Resource-Name-In-Location") == "true" {
		loc = Prefix + "/projects/" + req.ProjectName
	}
	return created(w, r, loc)
}

// pathProject loads the project the path names.
func (s *Server) pathProject(r *http.Request) (*store.Project, error) {
	return s.project(r, "project_name_or_id")
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	ctx := r.Context()
	ref := r.PathValue("project_name_or_id")
	_, isID := parseID(ref)
	if byName := !isID || r.Header.Get("X-Is-Resource-Name") == "true"; byName && ref != "" {
		// Not looked up yet: the project, the caller's roles and the view
		// in one read.
		v, err := s.projects.GetByName(ctx, c.Principal, ref)
		if errs.Is(err, errs.NotFound) {
			return projectNotFound(ref)
		}
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, projectView(v.Info, v.Access, true))
	}
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	v, err := s.projects.Get(ctx, c.Principal, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, projectView(v.Info, v.Access, true))
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	var req ProjectReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.projects.Update(r.Context(), c.Principal, p, projectSpec(&req)); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteProject(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	if err := s.projects.Delete(r.Context(), c.Principal, p); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) projectDeletable(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	deletable, msg, err := s.projects.Deletable(r.Context(), c.Principal, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, ProjectDeletable{Deletable: deletable, Message: msg})
}

// projectPermissionList is Berth's own getProjectPermissions: what the
// caller may do in the project, with resources relative to it
// ("repository", as /users/current/permissions?relative=true shows them).
// Unlike that Harbor operation it also answers anonymous callers (the
// public policies of a public project), so that the console shows every
// visitor controls from the set enforcement checks.
func (s *Server) projectPermissionList(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	set, err := s.projects.Permissions(r.Context(), c.Principal, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, permissionList(set))
}

func (s *Server) projectSummary(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	sum, want, err := s.projects.Summary(r.Context(), c.Principal, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, summaryView(sum, want.Quota, want.Members))
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

// --- project metadata ---

// metaName reads and checks the meta_name path value.
func metaName(r *http.Request) (string, error) {
	k := r.PathValue("meta_name")
	if !project.IsMetadataKey(k) {
		return "", errs.E(errs.Invalid, "project metadata", "invalid metadata key %q", k)
	}
	return k, nil
}

func (s *Server) listProjectMetadatas(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	info, err := s.projects.MetadataOf(r.Context(), c.Principal, p, rbac.List)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info.Metadata)
}

func (s *Server) addProjectMetadatas(w http.ResponseWriter, r *http.Request, c *Caller) error {
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	var body map[string]string
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := s.projects.AddMetadata(r.Context(), c.Principal, p, body); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) getProjectMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	k, err := metaName(r)
	if err != nil {
		return err
	}
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	info, err := s.projects.MetadataOf(r.Context(), c.Principal, p, rbac.Read)
	if err != nil {
		return err
	}
	v, found := info.Metadata[k]
	if !found {
		return errs.E(errs.NotFound, "get project metadata", "metadata %q not found in project %s", k, info.Name)
	}
	return writeJSON(w, http.StatusOK, map[string]string{k: v})
}

func (s *Server) updateProjectMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	k, err := metaName(r)
	if err != nil {
		return err
	}
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	var body map[string]string
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := s.projects.SetMetadata(r.Context(), c.Principal, p, k, body); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteProjectMetadata(w http.ResponseWriter, r *http.Request, c *Caller) error {
	k, err := metaName(r)
	if err != nil {
		return err
	}
	p, err := s.pathProject(r)
	if err != nil {
		return err
	}
	if err := s.projects.DeleteMetadata(r.Context(), c.Principal, p, k); err != nil {
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
	p, err := page(r)
	if err != nil {
		return err
	}
	qv := r.URL.Query()
	// Only sort applies here; the listing has no q parameter.
	f := quota.Filter{Reference: qv.Get("reference"), ReferenceID: qv.Get("reference_id")}
	list, total, err := s.quotas.List(r.Context(), c.Principal, f, p.Query.Sort, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]Quota, len(list))
	for i := range list {
		out[i] = quotaView(&list[i])
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) getQuota(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := s.quotas.Get(r.Context(), c.Principal, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, quotaView(q))
}

func (s *Server) updateQuota(w http.ResponseWriter, r *http.Request, c *Caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req QuotaUpdateReq
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.quotas.Update(r.Context(), c.Principal, id, req.Hard); err != nil {
		return err
	}
	return ok(w)
}
