package audit_test

import (
	"context"
	"testing"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/query"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestLogRules checks who reads which entries of the audit log: every
// entry for administrators and robots with audit-log:list, the projects a
// user administers for other users, nothing for other robots; a project's
// log for who holds log:list there.
func TestLogRules(t *testing.T) {
	ctx := context.Background()
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			a := testserver.NewAccounts(t, backend)
			db := a.DB
			log := audit.NewLog(db, a.Auth)
			owner, dev, stranger, anon := a.User("owner", false), a.User("dev", false), a.User("stranger", false), &auth.Principal{}
			admin := &auth.Principal{UserID: owner.UserID, Name: "root", Admin: true}
			projects := map[string]*store.Project{"mine": a.Project("mine", owner, false), "other": a.Project("other", dev, false)}
			a.Member(projects["mine"].ID, dev, rbac.Developer)
			var entries []store.AuditEntry
			for i, p := range []int64{projects["mine"].ID, projects["mine"].ID, projects["other"].ID, 0} {
				entries = append(entries, store.AuditEntry{ProjectID: p, Operation: "create", ResourceType: "label", Resource: "l",
					Username: []string{"owner", "dev", "dev", "root"}[i], Success: true, OpTime: int64(1000 + i)})
			}
			if err := db.InsertAuditEntries(ctx, entries); err != nil {
				t.Fatal(err)
			}
			auditor := a.SystemRobot("auditor", `[{"kind":"system","namespace":"/","access":[{"resource":"audit-log","action":"list"}]}]`)
			other := a.SystemRobot("other", `[{"kind":"system","namespace":"/","access":[{"resource":"project","action":"list"}]}]`)

			kind := testserver.Outcome
			byDev, err := query.Parse("username=dev", "")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name    string
				who     *auth.Principal
				project string // "" for the system-wide log
				q       *query.Query
				want    string
				total   int64
			}{
				{"admin", admin, "", nil, "ok", 4},
				{"admin, by user", admin, "", byDev, "ok", 2},
				{"robot with audit-log:list", auditor, "", nil, "ok", 4},
				{"robot without it", other, "", nil, "ok", 0},
				{"project admin of mine", owner, "", nil, "ok", 2},
				{"project admin of other, developer in mine", dev, "", nil, "ok", 1},
				{"member of nothing", stranger, "", nil, "ok", 0},
				{"anonymous", anon, "", nil, "unauthenticated", 0},
				{"mine, its admin", owner, "mine", nil, "ok", 2},
				{"mine, its admin, by user", owner, "mine", byDev, "ok", 1},
				{"mine, a developer", dev, "mine", nil, "denied", 0},
				{"mine, a stranger", stranger, "mine", nil, "hidden", 0},
				{"mine, anonymous", anon, "mine", nil, "unauthenticated", 0},
				{"mine, admin", admin, "mine", nil, "ok", 2},
			} {
				var list []store.AuditEntry
				var total int64
				var err error
				if c.project == "" {
					list, total, err = log.List(ctx, c.who, c.q, 0, 10)
				} else {
					list, total, err = log.ListProject(ctx, c.who, projects[c.project], c.q, 0, 10)
				}
				if got := kind(err); got != c.want || total != c.total || int64(len(list)) != total {
					t.Errorf("%s: %s, %d of %d entries, want %s, %d", c.name, got, len(list), total, c.want, c.total)
				}
			}
			for _, c := range []struct {
				name string
				who  *auth.Principal
				want string
			}{{"admin", admin, "ok"}, {"robot with audit-log:list", auditor, "ok"}, {"user", owner, "denied"}, {"anonymous", anon, "unauthenticated"}} {
				types, err := log.ListEventTypes(c.who)
				if got := kind(err); got != c.want || err == nil && len(types) != len(audit.EventTypes) {
					t.Errorf("event types, %s: %s %v, want %s", c.name, got, types, c.want)
				}
			}
		})
	}
}
