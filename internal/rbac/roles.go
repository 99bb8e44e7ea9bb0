package rbac

// roleTable is Harbor's project role matrix (rbac_role.go): C R U D L are
// create, read, update, delete, list; other actions are spelled out.
var roleTable = map[Role]Set{
	ProjectAdmin: set(map[Resource]string{
		ResProject: "RUD", ResRepository: "CRUDL,pull,push", ResArtifact: "CRDL", ResTag: "CDL",
		ResAccessory: "L", ResArtifactAddition: "R", ResArtifactLabel: "CD", ResLabel: "CRUDL",
		ResMember: "CRUDL", ResMetadata: "CRUD", ResConfiguration: "RU", ResLog: "L", ResQuota: "R",
		ResRobot: "CRUDL", ResScan: "CR,stop", ResSBOM: "CR,stop", ResScanner: "CR", ResExportCVE: "CRL",
		ResImmutableTag: "CUDL", ResTagRetention: "CRUDL,operate", ResNotification: "CRUDL",
		ResPreheatPolicy: "CRUDL",
	}),
	Maintainer: set(map[Resource]string{
		ResProject: "R", ResRepository: "CRUDL,pull,push", ResArtifact: "CRDL", ResTag: "CDL",
		ResAccessory: "L", ResArtifactAddition: "R", ResArtifactLabel: "CD", ResLabel: "CRUDL",
		ResMember: "RL", ResMetadata: "R", ResConfiguration: "R", ResQuota: "R",
		ResRobot: "RL", ResScan: "CR,stop", ResSBOM: "CR,stop", ResScanner: "R", ResExportCVE: "CRL",
		ResImmutableTag: "CUDL", ResTagRetention: "CRUDL,operate", ResNotification: "RL",
	}),
	Developer: set(map[Resource]string{
		ResProject: "R", ResRepository: "CRUL,pull,push", ResArtifact: "CRL", ResTag: "CL",
		ResAccessory: "L", ResArtifactAddition: "R", ResArtifactLabel: "CD", ResLabel: "RL",
		ResMember: "RL", ResConfiguration: "R", ResQuota: "R", ResRobot: "RL",
		ResScan: "R", ResSBOM: "R", ResScanner: "R", ResExportCVE: "CRL", ResTagRetention: "CRUDL,operate",
	}),
	Guest: set(map[Resource]string{
		ResProject: "R", ResRepository: "RL,pull", ResArtifact: "RL", ResTag: "L",
		ResAccessory: "L", ResArtifactAddition: "R", ResLabel: "RL", ResMember: "RL",
		ResConfiguration: "R", ResQuota: "R", ResRobot: "RL", ResScan: "R", ResSBOM: "R", ResScanner: "R",
	}),
	LimitedGuest: set(map[Resource]string{
		ResProject: "R", ResRepository: "RL,pull", ResArtifact: "RL", ResTag: "L",
		ResAccessory: "L", ResArtifactAddition: "R", ResConfiguration: "R", ResQuota: "R",
		ResScan: "R", ResSBOM: "R", ResScanner: "R",
	}),
}

// publicPolicies is what anyone, signed in or not, may do in a public
// project (rbac_util.go publicProjectPolicies).
var publicPolicies = set(map[Resource]string{
	ResProject: "R", ResLabel: "RL", ResRepository: "L,pull", ResScan: "R", ResScanner: "R",
	ResTag: "L", ResArtifact: "RL", ResArtifactAddition: "R", ResAccessory: "L",
})

// RolePermissions returns what role r may do in its project.
func RolePermissions(r Role) Set {
	out := Set{}
	out.Add(roleTable[r])
	return out
}

// ProjectPermissions returns what a holder of roles may do in a project,
// adding the public policies when the project is public.
func ProjectPermissions(public bool, roles ...Role) Set {
	out := Set{}
	for _, r := range roles {
		out.Add(roleTable[r])
	}
	if public {
		out.Add(publicPolicies)
	}
	return out
}

// BestRole returns the most powerful of roles (admin > maintainer >
// developer > guest > limited guest), as Harbor shows a member's role.
func BestRole(roles ...Role) Role {
	rank := map[Role]int{ProjectAdmin: 5, Maintainer: 4, Developer: 3, Guest: 2, LimitedGuest: 1}
	best := None
	for _, r := range roles {
		if rank[r] > rank[best] {
			best = r
		}
	}
	return best
}

// RobotProjectAssignable lists what a project robot may be given
// (src/common/rbac/const.go PoliciesMap["Project"] plus NolimitProvider).
var RobotProjectAssignable = set(map[Resource]string{
	ResLog: "L", ResProject: "RUD", ResMetadata: "CRUDL", ResRepository: "RUDL,pull,push",
	ResArtifact: "RCLD", ResScan: "CR,stop", ResSBOM: "CR,stop", ResTag: "CLD", ResAccessory: "L",
	ResArtifactAddition: "R", ResArtifactLabel: "CD", ResScanner: "CR", ResPreheatPolicy: "CRUDL",
	ResImmutableTag: "CDLU", ResNotification: "CRUDL", ResTagRetention: "CRUDL", ResLabel: "CRUDL",
	ResQuota: "R", ResRobot: "CRLD", ResExportCVE: "CR", ResMember: "CRULD",
})

// RobotSystemAssignable lists what a system robot may be given at system level.
var RobotSystemAssignable = set(map[Resource]string{
	ResAuditLog: "L", ResPreheatInstance: "CRUDL", ResProject: "LC", ResReplicationPolicy: "CRUDL",
	ResReplication: "RCL", ResReplicationAdapt: "L", ResRegistry: "CRUDL", ResScanAll: "RUC,stop",
	ResSystemVolumes: "R", ResGC: "RCLU,stop", ResPurgeAudit: "RCLU,stop", ResJobMonitor: "L,stop",
	ResScanner: "CRUDL", ResLabel: "RCDU", ResSecurityHub: "RL", ResCatalog: "R", ResQuota: "RLU",
	ResRobot: "CRLD", ResUser: "CRULD", ResLdapUser: "CL", ResUserGroup: "CRULD",
})
