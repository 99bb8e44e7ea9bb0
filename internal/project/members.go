package project

import (
	"context"
	"strconv"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// MemberRole checks a requested role ID.
func MemberRole(id int64) (int, error) {
	if id < 1 || id > 5 || !rbac.Role(id).Valid() {
		return 0, errs.E(errs.Invalid, "member", "role_id must be 1 (projectAdmin), 2 (developer), 3 (guest), 4 (maintainer) or 5 (limitedGuest), not %d", id)
	}
	return int(id), nil
}

// NewMember is a request to add a member: a user by ID or name.
type NewMember struct {
	RoleID   int64
	UserID   int64
	Username string
	// Group is set when the request names a group (not supported yet).
	Group bool
}

// ListMembers returns a page of project's members for p (member:list),
// those whose name contains entityName when it is set.
func (s *Service) ListMembers(ctx context.Context, p *auth.Principal, project *store.Project, entityName string, q *query.Query, offset, limit int) ([]store.Member, int64, error) {
	if err := s.Require(ctx, p, project, rbac.ResMember, rbac.List); err != nil {
		return nil, 0, err
	}
	return s.st.ListMembers(ctx, project.ID, entityName, q, offset, limit)
}

// AddMember adds a user to project for p (member:create).
func (s *Service) AddMember(ctx context.Context, p *auth.Principal, project *store.Project, m NewMember) (*store.Member, error) {
	const op = "create member"
	if err := s.Require(ctx, p, project, rbac.ResMember, rbac.Create); err != nil {
		return nil, err
	}
	role, err := MemberRole(m.RoleID)
	if err != nil {
		return nil, err
	}
	if m.Group {
		return nil, errs.E(errs.Invalid, op, "groups are not supported yet: add users as members")
	}
	if m.UserID == 0 && m.Username == "" {
		return nil, errs.E(errs.Invalid, op, "member_user with a user_id or username is required")
	}
	if m.UserID < 0 {
		return nil, errs.E(errs.Invalid, op, "member_user.user_id must be a positive integer, not %d", m.UserID)
	}
	added, err := s.st.AddUserMember(ctx, project.ID, m.UserID, m.Username, role)
	name := m.Username
	if added != nil {
		name = added.EntityName
	}
	if err == nil || !errs.Is(err, errs.Invalid) {
		s.record(p, project.ID, "create", "member", memberResource(name, m.UserID), err)
	}
	return added, err
}

// memberResource names a membership in the audit log (which records its
// project apart): the user's name.
func memberResource(user string, userID int64) string {
	if user == "" {
		return "user " + strconv.FormatInt(userID, 10)
	}
	return user
}

// Member returns membership id of project for p (member:read).
func (s *Service) Member(ctx context.Context, p *auth.Principal, project *store.Project, id int64) (*store.Member, error) {
	if err := s.Require(ctx, p, project, rbac.ResMember, rbac.Read); err != nil {
		return nil, err
	}
	return s.st.MemberByID(ctx, project.ID, id)
}

// SetMemberRole changes the role of membership id for p (member:update).
// A project's creator is a member like any other: demoted, it holds the
// new role, and every view shows it (auth.ProjectView).
func (s *Service) SetMemberRole(ctx context.Context, p *auth.Principal, project *store.Project, id, roleID int64) error {
	if err := s.Require(ctx, p, project, rbac.ResMember, rbac.Update); err != nil {
		return err
	}
	role, err := MemberRole(roleID)
	if err != nil {
		return err
	}
	m, err := s.st.MemberByID(ctx, project.ID, id)
	if err != nil {
		return err
	}
	err = s.st.UpdateMemberRole(ctx, project.ID, id, role)
	s.record(p, project.ID, "update", "member", memberResource(m.EntityName, m.EntityID), err)
	return err
}

// DeleteMember removes membership id from project for p (member:delete).
func (s *Service) DeleteMember(ctx context.Context, p *auth.Principal, project *store.Project, id int64) error {
	if err := s.Require(ctx, p, project, rbac.ResMember, rbac.Delete); err != nil {
		return err
	}
	m, err := s.st.MemberByID(ctx, project.ID, id)
	if err != nil {
		return err
	}
	err = s.st.DeleteMember(ctx, project.ID, id)
	s.record(p, project.ID, "delete", "member", memberResource(m.EntityName, m.EntityID), err)
	return err
}
