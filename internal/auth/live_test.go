package auth_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
)

func newUser(t *testing.T, db *store.DB, name string, admin bool) int64 {
	t.Helper()
	h, err := auth.HashPassword(name + "-pw")
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.CreateUser(context.Background(), store.User{Username: name, PasswordHash: h, SysAdmin: admin})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newRobot(t *testing.T, db *store.DB, project *store.Project, secret string) *store.Robot {
	t.Helper()
	h, err := auth.HashPassword(secret)
	if err != nil {
		t.Fatal(err)
	}
	perms := fmt.Sprintf(`[{"kind":"project","namespace":%q,"access":[{"resource":"repository","action":"pull"},{"resource":"repository","action":"push"}]}]`, project.Name)
	name := auth.RobotPrefix + project.Name + "+ci"
	id, err := db.CreateRobot(context.Background(), store.Robot{Name: name, Level: "project", ProjectID: project.ID,
		SecretHash: h, Duration: -1, ExpiresAt: -1, Permissions: perms})
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.RobotByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestLoginChecksLiveAccount: a credential verified once is remembered,
// but every login reads the account again: a changed password, a demotion,
// a deletion, a disabled robot or a refreshed secret take effect on the
// next request, with no cache to forget (ForgetCredentials is not called).
func TestLoginChecksLiveAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newService(t, f.db, auth.Options{})
	dan := newUser(t, f.db, "dan", true)
	login := func(user, pass string) (*auth.Principal, error) { return s.Login(ctx, user, pass, "127.0.0.1") }

	if p, err := login("dan", "dan-pw"); err != nil || !p.Admin {
		t.Fatalf("first login: %+v %v", p, err)
	}
	runs := auth.KDFRuns()
	if p, err := login("dan", "dan-pw"); err != nil || !p.Admin {
		t.Fatalf("second login: %+v %v", p, err)
	}
	if auth.KDFRuns() != runs {
		t.Error("a remembered credential was checked again")
	}
	if err := f.db.SetUserSysAdmin(ctx, dan, false); err != nil {
		t.Fatal(err)
	}
	if p, err := login("dan", "dan-pw"); err != nil || p.Admin {
		t.Errorf("after demotion: %+v %v, want a non-admin principal", p, err)
	}
	h, _ := auth.HashPassword("dan-new-pw")
	if err := f.db.SetUserPassword(ctx, dan, h); err != nil {
		t.Fatal(err)
	}
	if _, err := login("dan", "dan-pw"); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("old password after a change: %v, want unauthenticated", err)
	}
	if _, err := login("dan", "dan-new-pw"); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := f.db.DeleteUser(ctx, dan); err != nil {
		t.Fatal(err)
	}
	if _, err := login("dan", "dan-new-pw"); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("deleted user: %v, want unauthenticated", err)
	}

	r := newRobot(t, f.db, f.bobs, "robot-secret-1")
	if p, err := login(r.Name, "robot-secret-1"); err != nil || !p.IsRobot() {
		t.Fatalf("robot: %+v %v", p, err)
	}
	r.Disabled = true
	if err := f.db.UpdateRobot(ctx, *r); err != nil {
		t.Fatal(err)
	}
	if _, err := login(r.Name, "robot-secret-1"); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("disabled robot: %v, want unauthenticated", err)
	}
	r.Disabled = false
	if err := f.db.UpdateRobot(ctx, *r); err != nil {
		t.Fatal(err)
	}
	h, _ = auth.HashPassword("robot-secret-2")
	if err := f.db.SetRobotSecret(ctx, r.ID, h); err != nil {
		t.Fatal(err)
	}
	if _, err := login(r.Name, "robot-secret-1"); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("refreshed secret, old one: %v, want unauthenticated", err)
	}
	if _, err := login(r.Name, "robot-secret-2"); err != nil {
		t.Errorf("refreshed secret, new one: %v", err)
	}
}

// TestTokenChecksLiveAccount: a registry token grants no more than its
// scopes and no more than its user or robot holds at the time of each
// request.
func TestTokenChecksLiveAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newService(t, f.db, auth.Options{})
	token := func(p *auth.Principal, scope string) string {
		tok, _, err := s.Issue(request(""), p, []string{scope})
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	may := func(authz string, project *store.Project, action string) error {
		p, err := s.AuthenticateRegistry(request(authz))
		if err != nil {
			return err
		}
		return s.Authorize(ctx, p, project, project.Name+"/app", action)
	}

	// A member removed after the token was issued.
	eve := newUser(t, f.db, "eve", false)
	mid, err := f.db.AddMember(ctx, store.Member{ProjectID: f.private.ID, EntityType: store.EntityUser, EntityID: eve, Role: 2})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Login(ctx, "eve", "eve-pw", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tok := token(p, "repository:private/app:pull,push")
	if err := may(tok, f.private, auth.Push); err != nil {
		t.Fatalf("developer's push token: %v", err)
	}
	if err := f.db.DeleteMember(ctx, f.private.ID, mid); err != nil {
		t.Fatal(err)
	}
	if err := may(tok, f.private, auth.Push); !errs.Is(err, errs.Denied) {
		t.Errorf("push after removal from the project: %v, want denied", err)
	}

	// An administrator demoted, then deleted.
	ann := newUser(t, f.db, "ann", true)
	p, _ = s.Login(ctx, "ann", "ann-pw", "127.0.0.1")
	tok = token(p, "repository:private/app:pull,push,delete")
	if err := may(tok, f.private, auth.Delete); err != nil {
		t.Fatalf("admin's token: %v", err)
	}
	f.db.SetUserSysAdmin(ctx, ann, false)
	if ap, err := s.AuthenticateRegistry(request(tok)); err != nil || ap.Admin {
		t.Errorf("demoted admin's token: %+v %v, want a non-admin principal", ap, err)
	}
	if err := may(tok, f.private, auth.Delete); !errs.Is(err, errs.Denied) {
		t.Errorf("demoted admin's delete: %v, want denied", err)
	}
	f.db.DeleteUser(ctx, ann)
	if err := may(tok, f.private, auth.Pull); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("deleted user's token: %v, want unauthenticated", err)
	}
	// A user of the same name created again is another account.
	newUser(t, f.db, "ann", false)
	if err := may(tok, f.library, auth.Pull); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("deleted user's token after the name was taken again: %v, want unauthenticated", err)
	}

	// A changed password ends the tokens issued before.
	p, _ = s.Login(ctx, "bob", "bob-pw", "127.0.0.1")
	tok = token(p, "repository:bobs/app:pull")
	h, _ := auth.HashPassword("bob-new-pw")
	f.db.SetUserPassword(ctx, f.bob, h)
	if err := may(tok, f.bobs, auth.Pull); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("token after a password change: %v, want unauthenticated", err)
	}

	// Robots: disabled, secret refreshed, deleted.
	r := newRobot(t, f.db, f.bobs, "robot-secret-1")
	rp, err := s.Login(ctx, r.Name, "robot-secret-1", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	tok = token(rp, "repository:bobs/app:pull,push")
	if err := may(tok, f.bobs, auth.Push); err != nil {
		t.Fatalf("robot's token: %v", err)
	}
	r.Disabled = true
	f.db.UpdateRobot(ctx, *r)
	if err := may(tok, f.bobs, auth.Pull); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("disabled robot's token: %v, want unauthenticated", err)
	}
	r.Disabled = false
	f.db.UpdateRobot(ctx, *r)
	if err := may(tok, f.bobs, auth.Pull); err != nil {
		t.Errorf("re-enabled robot's token: %v", err)
	}
	h, _ = auth.HashPassword("robot-secret-2")
	f.db.SetRobotSecret(ctx, r.ID, h)
	if err := may(tok, f.bobs, auth.Pull); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("token after the secret was refreshed: %v, want unauthenticated", err)
	}
	rp, _ = s.Login(ctx, r.Name, "robot-secret-2", "127.0.0.1")
	tok = token(rp, "repository:bobs/app:pull")
	f.db.DeleteRobot(ctx, r.ID)
	if err := may(tok, f.bobs, auth.Pull); !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("deleted robot's token: %v, want unauthenticated", err)
	}
}

// TestThrottleNeverLocksANameForEveryone: wrong passwords from one address
// lock that address's attempts at that name (429 with a wait), not the
// name: the right password from another address still works, during the
// lockout too. Many names from one address lock the address.
func TestThrottleNeverLocksANameForEveryone(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newService(t, f.db, auth.Options{})
	var locked error
	for i := 0; i < 20 && locked == nil; i++ {
		_, err := s.Login(ctx, "admin", "guess", "192.0.2.1")
		if errs.Is(err, errs.RateLimited) {
			locked = err
		} else if !errs.Is(err, errs.Unauthenticated) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if locked == nil {
		t.Fatal("20 wrong passwords from one address were never throttled")
	}
	if secs, ok := errs.RetryAfter(locked); !ok || secs < 1 {
		t.Errorf("throttled login carries no wait: %v", locked)
	}
	if _, err := s.Login(ctx, "admin", "admin-pw", "192.0.2.1"); !errs.Is(err, errs.RateLimited) {
		t.Errorf("the right password from the throttled address during the lockout: %v, want rate limited", err)
	}
	if p, err := s.Login(ctx, "admin", "admin-pw", "198.51.100.7"); err != nil || !p.Admin {
		t.Errorf("the right password from another address: %+v %v", p, err)
	}
	if _, err := s.Login(ctx, "bob", "bob-pw", "192.0.2.1"); err != nil {
		t.Errorf("another name from the throttled address: %v", err)
	}
	// One address trying many names is locked out as a whole.
	locked = nil
	for i := 0; i < 100 && locked == nil; i++ {
		_, err := s.Login(ctx, fmt.Sprintf("user%d", i), "guess", "203.0.113.9")
		if errs.Is(err, errs.RateLimited) {
			locked = err
		}
	}
	if locked == nil {
		t.Fatal("100 names guessed from one address were never throttled")
	}
	if _, err := s.Login(ctx, "bob", "bob-pw", "203.0.113.9"); !errs.Is(err, errs.RateLimited) {
		t.Errorf("a locked address: %v, want rate limited", err)
	}
}

// TestConcurrentWrongPasswordsBounded sends 200 wrong passwords at once
// from one address and 64 from 64 addresses: attempts are counted when
// they start, so one address gets no more checks than its limit, and the
// memory the checks take at once stays bounded (each argon2id check takes
// 19 MiB; unbounded, 64 at once take 1.2 GiB).
func TestConcurrentWrongPasswordsBounded(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	s := newService(t, f.db, auth.Options{})

	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			if v := sample[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Microsecond):
			}
		}
	}()
	run := func(n int, addr func(i int) string) (checked, limited int64) {
		var wg sync.WaitGroup
		var lim atomic.Int64
		before := auth.KDFRuns()
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := s.Login(ctx, "bob", fmt.Sprintf("wrong-%d", i), addr(i))
				if errs.Is(err, errs.RateLimited) {
					lim.Add(1)
				} else if !errs.Is(err, errs.Unauthenticated) {
					t.Errorf("wrong password %d: %v", i, err)
				}
			}()
		}
		close(start)
		wg.Wait()
		return auth.KDFRuns() - before, lim.Load()
	}
	checked, limited := run(200, func(int) string { return "192.0.2.50" })
	if checked > 10 || limited < 190 {
		t.Errorf("200 simultaneous wrong passwords from one address: %d checked, %d throttled; want at most 10 checked", checked, limited)
	}
	// From 64 addresses no throttle applies: each is checked, or, if it
	// waited too long for a turn on a loaded machine, answered "busy".
	checked, limited = run(64, func(i int) string { return fmt.Sprintf("198.51.100.%d", i+1) })
	close(stop)
	<-sampled
	if checked+limited != 64 || checked < 8 {
		t.Errorf("64 wrong passwords from 64 addresses: %d checked, %d busy; want all answered and most checked", checked, limited)
	}
	const perCheck = 19 << 20
	if limit := uint64(perCheck*(2*min(max(runtime.GOMAXPROCS(0), 2), 16)+4) + 64<<20); peak.Load() > limit {
		t.Errorf("heap peaked at %d MiB during 64 simultaneous checks, over %d MiB", peak.Load()>>20, limit>>20)
	}
	t.Logf("heap peak %d MiB during 64 simultaneous password checks", peak.Load()>>20)
}

// TestLiveStateFreshness: account state read for credentials is cached
// under the store's write generation. A change this process makes (here
// straight through the store handle the service uses) is seen by the very
// next request; a change another process makes on the same database (a
// second handle, as another replica) is seen within two seconds.
func TestLiveStateFreshness(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	other, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	s := newService(t, db, auth.Options{})
	id := newUser(t, db, "fay", true)
	login := func() (*auth.Principal, error) { return s.Login(ctx, "fay", "fay-pw", "127.0.0.1") }
	if p, err := login(); err != nil || !p.Admin {
		t.Fatalf("login: %+v %v", p, err)
	}
	// Another replica demotes fay.
	if err := other.SetUserSysAdmin(ctx, id, false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := login()
		if err != nil {
			t.Fatal(err)
		}
		if !p.Admin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("another replica's demotion was not seen within 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// This process promotes her again: seen at once.
	if err := db.SetUserSysAdmin(ctx, id, true); err != nil {
		t.Fatal(err)
	}
	if p, err := login(); err != nil || !p.Admin {
		t.Errorf("this process's promotion is not seen by the next request: %+v %v", p, err)
	}
}
