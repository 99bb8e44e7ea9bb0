package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/project"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

func (s *Server) memberRoutes() []route {
	const members = "/projects/{project_name_or_id}/members"
	return []route{
		{method: "GET", path: members, op: "listProjectMembers", handle: s.listMembers, resp: []ProjectMemberEntity{}, respDef: "[]ProjectMemberEntity"},
		{method: "POST", path: members, op: "createProjectMember", handle: s.createMember},
		{method: "GET", path: members + "/{mid}", op: "getProjectMember", handle: s.getMember, resp: ProjectMemberEntity{}, respDef: "ProjectMemberEntity"},
		{method: "PUT", path: members + "/{mid}", op: "updateProjectMember", handle: s.updateMember},
		{method: "DELETE", path: members + "/{mid}", op: "deleteProjectMember", handle: s.deleteMember},
	}
}

// ProjectMemberEntity is a member of a project as Harbor shows it.
type ProjectMemberEntity struct {
	ID         int64  `json:"id"`
	ProjectID  int64  `json:"project_id"`
	EntityName string `json:"entity_name"`
	RoleName   string `json:"role_name"`
	RoleID     int64  `json:"role_id"`
	EntityID   int64  `json:"entity_id"`
	EntityType string `json:"entity_type"`
}

func memberEntity(m *store.Member) ProjectMemberEntity {
	return ProjectMemberEntity{
		ID: m.ID, ProjectID: m.ProjectID, EntityName: m.EntityName, RoleName: rbac.Role(m.Role).Name(),
		RoleID: int64(m.Role), EntityID: m.EntityID, EntityType: m.EntityType,
	}
}

// memberRequest is Harbor's ProjectMember: a role for a user (or group).
type memberRequest struct {
	RoleID      int64              `json:"role_id"`
	MemberUser  *memberUserEntity  `json:"member_user"`
	MemberGroup *memberGroupEntity `json:"member_group"`
}

type memberUserEntity struct {
	UserID   int64  `json:"user_id"`
	Username string `json:"username"`
}

type memberGroupEntity struct {
	ID          int64  `json:"id"`
	GroupName   string `json:"group_name"`
	GroupType   int64  `json:"group_type"`
	LdapGroupDN string `json:"ldap_group_dn"`
}

// roleRequest is Harbor's RoleRequest.
type roleRequest struct {
	RoleID int64 `json:"role_id"`
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.pathProject(r)
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	rows, total, err := s.projects.ListMembers(r.Context(), c.Principal, project, r.URL.Query().Get("entityname"), p.Query, p.Offset(), p.Size)
	if err != nil {
		return err
	}
	out := make([]ProjectMemberEntity, len(rows))
	for i := range rows {
		out[i] = memberEntity(&rows[i])
	}
	setPageHeaders(w, r, p, total)
	return writeJSON(w, http.StatusOK, out)
}

func (s *Server) createMember(w http.ResponseWriter, r *http.Request, c *Caller) error {
	proj, err := s.pathProject(r)
	if err != nil {
		return err
	}
	var req memberRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	nm := project.NewMember{RoleID: req.RoleID, Group: req.MemberGroup != nil && *req.MemberGroup != memberGroupEntity{}}
	if u := req.MemberUser; u != nil {
		nm.UserID, nm.Username = u.UserID, u.Username
	}
	m, err := s.projects.AddMember(r.Context(), c.Principal, proj, nm)
	if err != nil {
		return err
	}
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(m.ID, 10))
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.pathProject(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "mid")
	if err != nil {
		return err
	}
	m, err := s.projects.Member(r.Context(), c.Principal, project, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, memberEntity(m))
}

func (s *Server) updateMember(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.pathProject(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "mid")
	if err != nil {
		return err
	}
	var req roleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := s.projects.SetMemberRole(r.Context(), c.Principal, project, id, req.RoleID); err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.pathProject(r)
	if err != nil {
		return err
	}
	id, err := pathID(r, "mid")
	if err != nil {
		return err
	}
	if err := s.projects.DeleteMember(r.Context(), c.Principal, project, id); err != nil {
		return err
	}
	return ok(w)
}
