package rbac_test

import (
	"testing"

	"github.com/berth-dev/berth/internal/rbac"
)

// TestRolePolicyCounts checks the role table against the number of
// policies each role has in Harbor's rbac_role.go.
func TestRolePolicyCounts(t *testing.T) {
	for role, want := range map[rbac.Role]int{
		rbac.ProjectAdmin: 75, rbac.Maintainer: 53, rbac.Developer: 36, rbac.Guest: 20, rbac.LimitedGuest: 14,
	} {
		if got := len(rbac.RolePermissions(role)); got != want {
			t.Errorf("%s: %d policies, Harbor has %d", role.Name(), got, want)
		}
	}
}

func TestPublicAndRobotSets(t *testing.T) {
	pub := rbac.ProjectPermissions(true)
	if !pub.Has(rbac.ResRepository, rbac.Pull) || pub.Has(rbac.ResRepository, rbac.Push) || pub.Has(rbac.ResMember, rbac.List) {
		t.Errorf("public policies: %v", pub.List())
	}
	if len(rbac.ProjectPermissions(false)) != 0 {
		t.Error("a private project grants nothing without a role")
	}
	perms := []rbac.RobotPermission{{Kind: "project", Namespace: "team", Access: []rbac.RobotAccess{{Resource: rbac.ResRepository, Action: rbac.Push}}}}
	set := rbac.RobotProjectSet(perms, "team")
	if !set.Has(rbac.ResRepository, rbac.Pull) || !set.Has(rbac.ResRepository, rbac.Push) {
		t.Errorf("push implies pull: %v", set.List())
	}
	if len(rbac.RobotProjectSet(perms, "other")) != 0 {
		t.Error("a robot's permissions leak to another project")
	}
	if err := rbac.ValidateRobotPermissions(perms, true, "team"); err != nil {
		t.Errorf("valid project robot refused: %v", err)
	}
	bad := []rbac.RobotPermission{{Kind: "system", Namespace: "/", Access: []rbac.RobotAccess{{Resource: rbac.ResUser, Action: rbac.Create}}}}
	if err := rbac.ValidateRobotPermissions(bad, true, "team"); err == nil {
		t.Error("a project robot was given system permissions")
	}
	if rbac.BestRole(rbac.Guest, rbac.Maintainer, rbac.Developer) != rbac.Maintainer {
		t.Error("BestRole")
	}
}
