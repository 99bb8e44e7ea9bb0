package auth_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// TestProjectViewAndDecide checks that a project's creator demoted to
// guest is viewed as a guest and refused what a guest may not do, from
// the same set; and Decide's answers for a non-member of a private project
// (hidden), an anonymous caller and a robot.
func TestProjectViewAndDecide(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := newService(t, f.db, auth.Options{})
	ms, _, err := f.db.ListMembers(ctx, f.bobs.ID, "bob", nil, 0, 10)
	if err != nil || len(ms) != 1 || ms[0].Role != int(rbac.ProjectAdmin) {
		t.Fatalf("bob is the first member of his project as project admin: %+v, %v", ms, err)
	}
	if err := f.db.UpdateMemberRole(ctx, f.bobs.ID, ms[0].ID, int(rbac.Guest)); err != nil {
		t.Fatal(err)
	}
	bob, err := s.Login(ctx, "bob", "bob-pw", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	roles, err := f.db.MemberRoles(ctx, f.bobs.ID, f.bob)
	if err != nil {
		t.Fatal(err)
	}
	v := s.ProjectView(bob, f.bobs, roles)
	if v.Role != rbac.Guest || !slices.Equal(v.RoleIDs, []int{int(rbac.Guest)}) {
		t.Errorf("demoted creator's view: role %d, roles %v", v.Role, v.RoleIDs)
	}
	set, err := s.ProjectPermissions(ctx, bob, f.bobs)
	if err != nil {
		t.Fatal(err)
	}
	if !sameSet(set, v.Set) {
		t.Errorf("the view's set %v is not the enforced set %v", v.Set.List(), set.List())
	}
	if err := auth.Decide(bob, f.bobs, set, rbac.ResProject, rbac.Update); !errs.Is(err, errs.Denied) {
		t.Errorf("demoted creator updating his project: %v, want denied", err)
	}
	if err := auth.Decide(bob, f.bobs, set, rbac.ResProject, rbac.Read); err != nil {
		t.Errorf("demoted creator reading his project: %v", err)
	}

	carol, err := s.Login(ctx, "carol", "carol-pw", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	cset, _ := s.ProjectPermissions(ctx, carol, f.bobs)
	var h *auth.HiddenProject
	if err := auth.Decide(carol, f.bobs, cset, rbac.ResProject, rbac.Read); !errors.As(err, &h) || !errs.Is(err, errs.NotFound) || h.ID != f.bobs.ID {
		t.Errorf("non-member of a private project: %v, want it hidden", err)
	}
	if v := s.ProjectView(carol, f.library, nil); v.Role != rbac.None || v.RoleIDs != nil || !v.Set.Has(rbac.ResRepository, rbac.Pull) {
		t.Errorf("non-member of a public project: %+v", v)
	}
	anon := &auth.Principal{}
	if err := auth.Decide(anon, f.library, s.ProjectView(anon, f.library, nil).Set, rbac.ResProject, rbac.Update); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("anonymous update: %v, want unauthenticated", err)
	}

	// A robot: its list comes from auth, decoded when it signed in.
	hash, _ := auth.HashPassword("Robot-Secret-1")
	if _, err := f.db.CreateRobot(ctx, store.Robot{Name: auth.RobotPrefix + "bobs+ci", Level: "project", ProjectID: f.bobs.ID, SecretHash: hash, ExpiresAt: -1, Duration: -1,
		Permissions: `[{"kind":"project","namespace":"bobs","access":[{"resource":"repository","action":"push"}]}]`}); err != nil {
		t.Fatal(err)
	}
	rb, err := s.Login(ctx, auth.RobotPrefix+"bobs+ci", "Robot-Secret-1", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if names, all := rb.RobotProjects(); all || !slices.Equal(names, []string{"bobs"}) {
		t.Errorf("robot projects: %v %v", names, all)
	}
	if v := s.ProjectView(rb, f.bobs, []int{1}); v.RoleIDs != nil || !v.Set.Has(rbac.ResRepository, rbac.Pull) || v.Set.Has(rbac.ResProject, rbac.Update) {
		t.Errorf("robot's view: %+v", v)
	}
	grant := func(res rbac.Resource, act rbac.Action) []rbac.RobotPermission {
		return []rbac.RobotPermission{{Kind: "project", Namespace: "bobs", Access: []rbac.RobotAccess{{Resource: res, Action: act}}}}
	}
	if err := s.MayGrant(rb, grant(rbac.ResRepository, rbac.Push)); err != nil {
		t.Errorf("a robot hands on what it holds: %v", err)
	}
	if err := s.MayGrant(rb, grant(rbac.ResRepository, rbac.Delete)); !errs.Is(err, errs.Denied) {
		t.Errorf("a robot hands on what it does not hold: %v", err)
	}
}

func sameSet(a, b rbac.Set) bool {
	if len(a) != len(b) {
		return false
	}
	for p := range a {
		if !b[p] {
			return false
		}
	}
	return true
}
