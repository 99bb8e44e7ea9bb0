// Package rbac holds Harbor's permission model as data and pure functions:
// project roles and what each may do, what anyone may do in a public
// project, and what a robot account's permission list grants. Nothing here
// reads a database; callers pass in the facts (roles held, robot
// permissions) and ask Can.
//
// The role table is Harbor's (src/common/rbac/project/rbac_role.go at
// v2.15): five roles, each a set of (resource, action) pairs.
package rbac

import "slices"

// Role is a project role, numbered as Harbor numbers them.
type Role int

// Harbor's role IDs (src/common/const.go).
const (
	None         Role = 0
	ProjectAdmin Role = 1
	Developer    Role = 2
	Guest        Role = 3
	Maintainer   Role = 4
	LimitedGuest Role = 5
)

var roleNames = map[Role]string{
	ProjectAdmin: "projectAdmin", Developer: "developer", Guest: "guest",
	Maintainer: "maintainer", LimitedGuest: "limitedGuest",
}

// Name returns Harbor's name for r ("projectAdmin", ...), or "".
func (r Role) Name() string { return roleNames[r] }

// Valid reports whether r is one of the five roles.
func (r Role) Valid() bool { _, ok := roleNames[r]; return ok }

// Resource is something permissions are about.
type Resource string

// Project-level resources.
const (
	ResProject          Resource = "project"
	ResRepository       Resource = "repository"
	ResArtifact         Resource = "artifact"
	ResTag              Resource = "tag"
	ResAccessory        Resource = "accessory"
	ResArtifactAddition Resource = "artifact-addition"
	ResArtifactLabel    Resource = "artifact-label"
	ResLabel            Resource = "label"
	ResMember           Resource = "member"
	ResMetadata         Resource = "metadata"
	ResConfiguration    Resource = "configuration"
	ResLog              Resource = "log"
	ResQuota            Resource = "quota"
	ResRobot            Resource = "robot"
	ResScan             Resource = "scan"
	ResSBOM             Resource = "sbom"
	ResScanner          Resource = "scanner"
	ResExportCVE        Resource = "export-cve"
	ResImmutableTag     Resource = "immutable-tag"
	ResTagRetention     Resource = "tag-retention"
	ResNotification     Resource = "notification-policy"
	ResPreheatPolicy    Resource = "preheat-policy"
)

// System-level resources.
const (
	ResAuditLog          Resource = "audit-log"
	ResCatalog           Resource = "catalog"
	ResUser              Resource = "user"
	ResUserGroup         Resource = "user-group"
	ResRegistry          Resource = "registry"
	ResReplication       Resource = "replication"
	ResReplicationPolicy Resource = "replication-policy"
	ResReplicationAdapt  Resource = "replication-adapter"
	ResGC                Resource = "garbage-collection"
	ResScanAll           Resource = "scan-all"
	ResSystemVolumes     Resource = "system-volumes"
	ResLdapUser          Resource = "ldap-user"
	ResPurgeAudit        Resource = "purge-audit"
	ResJobMonitor        Resource = "jobservice-monitor"
	ResSecurityHub       Resource = "security-hub"
	ResPreheatInstance   Resource = "preheat-instance"
)

// Action is what is done to a resource.
type Action string

// Harbor's actions.
const (
	Create  Action = "create"
	Read    Action = "read"
	Update  Action = "update"
	Delete  Action = "delete"
	List    Action = "list"
	Pull    Action = "pull"
	Push    Action = "push"
	Operate Action = "operate"
	Stop    Action = "stop"
)

// Permission is one (resource, action) pair.
type Permission struct {
	Resource Resource `json:"resource"`
	Action   Action   `json:"action"`
}

// Set is a set of permissions.
type Set map[Permission]bool

// Has reports whether s grants action on res.
func (s Set) Has(res Resource, act Action) bool { return s[Permission{res, act}] }

// Add adds every permission of o to s.
func (s Set) Add(o Set) {
	for p := range o {
		s[p] = true
	}
}

// List returns the permissions of s in a stable order.
func (s Set) List() []Permission {
	out := make([]Permission, 0, len(s))
	for p := range s {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Permission) int {
		if a.Resource != b.Resource {
			if a.Resource < b.Resource {
				return -1
			}
			return 1
		}
		if a.Action < b.Action {
			return -1
		}
		if a.Action > b.Action {
			return 1
		}
		return 0
	})
	return out
}

func set(spec map[Resource]string) Set {
	codes := map[rune]Action{'C': Create, 'R': Read, 'U': Update, 'D': Delete, 'L': List}
	s := Set{}
	for res, acts := range spec {
		for _, word := range splitActs(acts) {
			if len(word) == 1 {
				s[Permission{res, codes[rune(word[0])]}] = true
			} else {
				s[Permission{res, Action(word)}] = true
			}
		}
	}
	return s
}

// splitActs splits "CRUDL,pull,push" into "C","R","U","D","L","pull","push".
func splitActs(s string) []string {
	var out []string
	word := ""
	flush := func() {
		if word == "" {
			return
		}
		if len(word) > 1 && isLetters(word) {
			for _, c := range word {
				out = append(out, string(c))
			}
		} else {
			out = append(out, word)
		}
		word = ""
	}
	for _, c := range s {
		if c == ',' {
			flush()
			continue
		}
		word += string(c)
	}
	flush()
	return out
}

// isLetters reports whether w is a run of the one-letter codes C R U D L.
func isLetters(w string) bool {
	for _, c := range w {
		if c != 'C' && c != 'R' && c != 'U' && c != 'D' && c != 'L' {
			return false
		}
	}
	return true
}
