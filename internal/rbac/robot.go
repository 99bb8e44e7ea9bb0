package rbac

import (
	"encoding/json"
	"maps"
	"sync"

	"github.com/berth-dev/berth/internal/errs"
)

// RobotPermission is one entry of a robot's permission list, as Harbor's
// API shows it: a kind (system or project), a namespace ("/" for system,
// a project name, or "*" for every project) and the access granted.
type RobotPermission struct {
	Kind      string        `json:"kind"`
	Namespace string        `json:"namespace"`
	Access    []RobotAccess `json:"access"`
}

// RobotAccess is one (resource, action) a robot holds.
type RobotAccess struct {
	Resource Resource `json:"resource"`
	Action   Action   `json:"action"`
	Effect   string   `json:"effect,omitempty"`
}

// ParseRobotPermissions decodes a stored permission list.
func ParseRobotPermissions(s string) ([]RobotPermission, error) {
	var out []RobotPermission
	if s == "" {
		return nil, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, errs.Wrap("parse robot permissions", err)
	}
	return out, nil
}

// ValidateRobotPermissions checks each entry against what a robot may be
// given at its kind; projectLevel robots may only name one project.
func ValidateRobotPermissions(perms []RobotPermission, projectLevel bool, project string) error {
	const op = "validate robot permissions"
	if len(perms) == 0 {
		return errs.E(errs.Invalid, op, "a robot needs at least one permission")
	}
	for _, p := range perms {
		var allowed Set
		switch p.Kind {
		case "project":
			allowed = RobotProjectAssignable
			if p.Namespace == "" {
				return errs.E(errs.Invalid, op, "project permission without a namespace")
			}
			if projectLevel && p.Namespace != project {
				return errs.E(errs.Invalid, op, "a project robot of %s cannot hold permissions in %q", project, p.Namespace)
			}
		case "system":
			if projectLevel {
				return errs.E(errs.Invalid, op, "a project robot cannot hold system permissions")
			}
			allowed = RobotSystemAssignable
			if p.Namespace != "/" {
				return errs.E(errs.Invalid, op, "system permissions take namespace \"/\"")
			}
		default:
			return errs.E(errs.Invalid, op, "permission kind must be system or project, not %q", p.Kind)
		}
		if len(p.Access) == 0 {
			return errs.E(errs.Invalid, op, "permission for %q grants no access", p.Namespace)
		}
		for _, a := range p.Access {
			if a.Effect != "" && a.Effect != "allow" {
				return errs.E(errs.Invalid, op, "only effect \"allow\" is supported")
			}
			if !allowed.Has(a.Resource, a.Action) {
				return errs.E(errs.Invalid, op, "%s permission %s:%s cannot be given to a robot", p.Kind, a.Resource, a.Action)
			}
		}
	}
	return nil
}

// RobotProjectSet returns what a robot holding perms may do in project.
// As in Harbor, repository push implies repository pull (a push needs to
// read what it builds on).
func RobotProjectSet(perms []RobotPermission, project string) Set {
	out := Set{}
	for _, p := range perms {
		if p.Kind == "project" && (p.Namespace == project || p.Namespace == "*") {
			for _, a := range p.Access {
				out[Permission{a.Resource, a.Action}] = true
			}
		}
	}
	if out.Has(ResRepository, Push) {
		out[Permission{ResRepository, Pull}] = true
	}
	return out
}

// RobotSystemSet returns the system-level permissions in perms.
func RobotSystemSet(perms []RobotPermission) Set {
	out := Set{}
	for _, p := range perms {
		if p.Kind == "system" {
			for _, a := range p.Access {
				out[Permission{a.Resource, a.Action}] = true
			}
		}
	}
	return out
}

// AdminProjectSet is what a system administrator may do in any project:
// every project-level permission there is. It is built once; callers get
// a copy they may change.
func AdminProjectSet() Set { return maps.Clone(adminProjectSet()) }

var adminProjectSet = sync.OnceValue(func() Set {
	out := Set{}
	for _, s := range roleTable {
		out.Add(s)
	}
	out.Add(RobotProjectAssignable)
	return out
})
