package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/store"
	"github.com/berth-dev/berth/internal/testserver"
)

// TestChangeSignal: two handles on one database stand for two processes.
// A write through one that a cache may hold reaches the other's OnChange
// (and moves its WriteGeneration) within a second; a routine write does
// not; a handle's own writes are not news to itself; another installation
// (on PostgreSQL, another schema of the same database, where NOTIFY
// channels are shared) hears nothing.
func TestChangeSignal(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			d := dsn(t, backend)
			a, b := open(t, d), open(t, d)
			elsewhere := open(t, dsn(t, backend)) // another installation
			var aSaw, bSaw, elsewhereSaw atomic.Int64
			a.OnChange(func() { aSaw.Add(1) })
			b.OnChange(func() { bSaw.Add(1) })
			elsewhere.OnChange(func() { elsewhereSaw.Add(1) })
			gen := b.WriteGeneration()
			start := time.Now()
			if err := a.SetProperty(ctx, "signal-test", "1"); err != nil {
				t.Fatal(err)
			}
			for bSaw.Load() == 0 {
				if time.Since(start) > time.Second {
					t.Fatal("the other handle did not see the change within 1s")
				}
				time.Sleep(5 * time.Millisecond)
			}
			t.Logf("%s: change seen by the other handle after %v", backend, time.Since(start).Round(time.Millisecond))
			if b.WriteGeneration() == gen {
				t.Error("the change left the other handle's write generation alone")
			}
			// A routine write (an audit entry) is no news.
			seen := bSaw.Load()
			if err := a.InsertAuditEntries(ctx, []store.AuditEntry{{Operation: "pull", ResourceType: "artifact", Resource: "a/b:c", Username: "x"}}); err != nil {
				t.Fatal(err)
			}
			// Concurrent writes through one handle, whose versions it
			// learns out of order, are still its own.
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := a.SetProperty(ctx, fmt.Sprintf("signal-test-%d", i), "x"); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			time.Sleep(3 * 250 * time.Millisecond)
			if got := bSaw.Load(); got == seen {
				t.Error("the other handle did not see the concurrent writes")
			}
			seen = bSaw.Load()
			if err := a.InsertAuditEntries(ctx, []store.AuditEntry{{Operation: "pull", ResourceType: "artifact", Resource: "a/b:d", Username: "x"}}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * 250 * time.Millisecond)
			if got := bSaw.Load(); got != seen {
				t.Errorf("a routine write was announced (%d changes seen, want %d)", got, seen)
			}
			if got := aSaw.Load(); got != 0 {
				t.Errorf("a handle saw its own write as another's %d times", got)
			}
			if got := elsewhereSaw.Load(); got != 0 {
				t.Errorf("another installation (database or schema) heard the change %d times", got)
			}
			// The other direction.
			start = time.Now()
			if err := b.SetProperty(ctx, "signal-test", "2"); err != nil {
				t.Fatal(err)
			}
			for aSaw.Load() == 0 {
				if time.Since(start) > time.Second {
					t.Fatal("the first handle did not see the change within 1s")
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
}

// TestLoginFailures: failures are counted per key within the window the
// caller names, a lock is visible until it runs out, and clearing forgets.
func TestLoginFailures(t *testing.T) {
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, dsn(t, backend))
			for i, want := range []int{1, 2, 3} {
				n, err := db.AddLoginFailure(ctx, "k1", int64(1000+i), 0)
				if err != nil || n != want {
					t.Fatalf("failure %d: %d, %v; want %d", i, n, err, want)
				}
			}
			if n, _ := db.AddLoginFailure(ctx, "k2", 1000, 0); n != 1 {
				t.Errorf("another key counted %d, want 1", n)
			}
			// Failures at or before since are forgotten.
			if n, _ := db.AddLoginFailure(ctx, "k1", 5000, 1001); n != 2 {
				t.Errorf("after the window moved: %d, want 2", n)
			}
			if err := db.ClearLoginFailures(ctx, "k1"); err != nil {
				t.Fatal(err)
			}
			if n, _ := db.AddLoginFailure(ctx, "k1", 6000, 0); n != 1 {
				t.Errorf("after clearing: %d, want 1", n)
			}
			if err := db.LockLogin(ctx, "k1", 10000, 6000); err != nil {
				t.Fatal(err)
			}
			locks, err := db.LoginLocks(ctx, 9999)
			if err != nil || locks["k1"] != 10000 || len(locks) != 1 {
				t.Fatalf("locks %v, %v; want k1 until 10000", locks, err)
			}
			if locks, _ := db.LoginLocks(ctx, 10000); len(locks) != 0 {
				t.Errorf("a lock past its end: %v", locks)
			}
			if n, _ := db.AddLoginFailure(ctx, "k1", 7000, 0); n != 1 {
				t.Errorf("a lock did not forget the key's failures: %d, want 1", n)
			}
		})
	}
}
