package audit_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/audit"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
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
			dsn := testserver.DatabaseDSN(t, backend)
			if dsn == "" {
				dsn = filepath.Join(t.TempDir(), "berth.db")
			}
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			a, err := auth.New(ctx, db, auth.Options{})
			if err != nil {
				t.Fatal(err)
			}
			log := audit.NewLog(db, a)
			user := func(name string) *auth.Principal {
				id, err := db.CreateUser(ctx, store.User{Username: name, Email: name + "@example.com", PasswordHash: "x"})
				if err != nil {
					t.Fatal(err)
				}
				return &auth.Principal{UserID: id, Name: name}
			}
			owner, dev, stranger, anon := user("owner"), user("dev"), user("stranger"), &auth.Principal{}
			admin := &auth.Principal{UserID: owner.UserID, Name: "root", Admin: true}
			projects := map[string]*store.Project{}
			for _, name := range []string{"mine", "other"} {
				ownerID := owner.UserID
				if name == "other" {
					ownerID = dev.UserID
				}
				id, err := db.AddProject(ctx, store.ProjectSpec{Name: name, OwnerID: ownerID, StorageLimit: -1})
				if err != nil {
					t.Fatal(err)
				}
				if projects[name], err = db.ProjectByID(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := db.AddUserMember(ctx, projects["mine"].ID, dev.UserID, "dev", int(rbac.Developer)); err != nil {
				t.Fatal(err)
			}
			var entries []store.AuditEntry
			for i, p := range []int64{projects["mine"].ID, projects["mine"].ID, projects["other"].ID, 0} {
				entries = append(entries, store.AuditEntry{ProjectID: p, Operation: "create", ResourceType: "label", Resource: "l",
					Username: []string{"owner", "dev", "dev", "root"}[i], Success: true, OpTime: int64(1000 + i)})
			}
			if err := db.InsertAuditEntries(ctx, entries); err != nil {
				t.Fatal(err)
			}
			robot := func(name, perms string) *auth.Principal {
				hash, err := auth.HashPassword("Robot-secret-1")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.CreateRobot(ctx, store.Robot{Name: "robot$" + name, Level: "system", SecretHash: hash, Duration: -1, ExpiresAt: -1,
					Permissions: perms, CreatorType: "local"}); err != nil {
					t.Fatal(err)
				}
				p, err := a.Login(ctx, "robot$"+name, "Robot-secret-1", "127.0.0.1")
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			auditor := robot("auditor", `[{"kind":"system","namespace":"/","access":[{"resource":"audit-log","action":"list"}]}]`)
			other := robot("other", `[{"kind":"system","namespace":"/","access":[{"resource":"project","action":"list"}]}]`)

			kind := func(err error) string {
				var h *auth.HiddenProject
				switch {
				case err == nil:
					return "ok"
				case errors.As(err, &h):
					return "hidden"
				}
				return errs.KindOf(err).String()
			}
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
