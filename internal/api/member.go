package api

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// memberStore is what the member handlers need from the metadata store.
type memberStore interface {
	ListMembers(ctx context.Context, projectID int64, entityName string, q *query.Query, offset, limit int) ([]store.Member, int64, error)
	MemberByID(ctx context.Context, projectID, id int64) (*store.Member, error)
	AddUserMember(ctx context.Context, projectID, userID int64, username string, role int) (*store.Member, error)
	UpdateMemberRole(ctx context.Context, projectID, id int64, role int) error
	DeleteMember(ctx context.Context, projectID, id int64) error
}

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

// memberRole checks a requested role ID.
func memberRole(id int64) (int, error) {
	if id < 1 || id > 5 || !rbac.Role(id).Valid() {
		return 0, errs.E(errs.Invalid, "member", "role_id must be 1 (projectAdmin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limitedGuest), not %d", id)
	}
	return int(id), nil
}

// memberProject loads the project of a member request and checks that c
// may do act on its members.
func (s *Server) memberProject(r *http.Request, c *Caller, act rbac.Action) (*store.Project, error) {
	project, err := s.project(r, "project_name_or_id")
	if err != nil {
		return nil, err
	}
	if err := s.require(r.Context(), c, project, rbac.ResMember, act); err != nil {
		return nil, err
	}
	return project, nil
}

func (s *Server) listMembers(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.memberProject(r, c, rbac.List)
	if err != nil {
		return err
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	rows, total, err := s.st.ListMembers(r.Context(), project.ID, r.URL.Query().Get("entityname"), p.Query, p.Offset(), p.Size)
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
	const op = "create member"
	project, err := s.memberProject(r, c, rbac.Create)
	if err != nil {
		return err
	}
	var req memberRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := memberRole(req.RoleID)
	if err != nil {
		return err
	}
	if g := req.MemberGroup; g != nil && (*g != memberGroupEntity{}) {
		return errs.E(errs.Invalid, op, "groups are not supported yet: add users as members")
	}
	u := req.MemberUser
	if u == nil || (u.UserID == 0 && u.Username == "") {
		return errs.E(errs.Invalid, op, "member_user with a user_id or username is required")
	}
	if u.UserID < 0 {
		return errs.E(errs.Invalid, op, "member_user.user_id must be a positive integer, not %d", u.UserID)
	}
	m, err := s.st.AddUserMember(r.Context(), project.ID, u.UserID, u.Username, role)
	name := u.Username
	if m != nil {
		name = m.EntityName
	}
	if err == nil || !errs.Is(err, errs.Invalid) {
		s.audit(c, project.ID, "create", "member", memberResource(name, u.UserID), err)
	}
	if err != nil {
		return err
	}
	return created(w, r, strings.TrimSuffix(r.URL.EscapedPath(), "/")+"/"+strconv.FormatInt(m.ID, 10))
}

// memberResource names a membership in the audit log (which records its
// project apart): the user's name.
func memberResource(user string, userID int64) string {
	if user == "" {
		return "user " + strconv.FormatInt(userID, 10)
	}
	return user
}

func (s *Server) getMember(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.memberProject(r, c, rbac.Read)
	if err != nil {
		return err
	}
	id, err := pathID(r, "mid")
	if err != nil {
		return err
	}
	m, err := s.st.MemberByID(r.Context(), project.ID, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, memberEntity(m))
}

func (s *Server) updateMember(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.memberProject(r, c, rbac.Update)
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
	role, err := memberRole(req.RoleID)
	if err != nil {
		return err
	}
	m, err := s.st.MemberByID(r.Context(), project.ID, id)
	if err != nil {
		return err
	}
	err = s.st.UpdateMemberRole(r.Context(), project.ID, id, role)
	s.audit(c, project.ID, "update", "member", memberResource(m.EntityName, m.EntityID), err)
	if err != nil {
		return err
	}
	return ok(w)
}

func (s *Server) deleteMember(w http.ResponseWriter, r *http.Request, c *Caller) error {
	project, err := s.memberProject(r, c, rbac.Delete)
	if err != nil {
		return err
	}
	id, err := pathID(r, "mid")
	if err != nil {
		return err
	}
	m, err := s.st.MemberByID(r.Context(), project.ID, id)
	if err != nil {
		return err
	}
	err = s.st.DeleteMember(r.Context(), project.ID, id)
	s.audit(c, project.ID, "delete", "member", memberResource(m.EntityName, m.EntityID), err)
	if err != nil {
		return err
	}
	return ok(w)
}
