package auth_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
)

// TestThrottleSharedAcrossProcesses: two services, each on its own store
// handle of one database, stand for two processes. Ten wrong passwords
// for one name from one address, five through each, lock that pair on
// both (the second at once, the first once it reads the locks, as it does
// on the store's change signal); forty wrong passwords from one address
// over several names, twenty through each, lock the address. Another
// address still signs in.
func TestThrottleSharedAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	other, err := store.Open(ctx, f.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	a, err := auth.New(ctx, f.db, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := auth.New(ctx, other, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wrong := func(s *auth.Service, name, addr string, i int) {
		t.Helper()
		if _, err := s.Login(ctx, name, fmt.Sprintf("wrong-%d", i), addr); !errs.Is(err, errs.Unauthenticated) {
			t.Fatalf("wrong password %d for %s: %v, want unauthenticated", i, name, err)
		}
	}
	for i := 0; i < 5; i++ {
		wrong(a, "bob", "192.0.2.1", i)
	}
	for i := 5; i < 10; i++ {
		wrong(b, "bob", "192.0.2.1", i)
	}
	if _, err := b.Login(ctx, "bob", "bob-pw", "192.0.2.1"); !errs.Is(err, errs.RateLimited) {
		t.Errorf("bob on the second process after ten wrong passwords over both: %v, want rate limited", err)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Login(ctx, "bob", "bob-pw", "192.0.2.1"); !errs.Is(err, errs.RateLimited) {
		t.Errorf("bob on the first process after the second locked him: %v, want rate limited", err)
	}
	if _, err := a.Login(ctx, "bob", "bob-pw", "192.0.2.2"); err != nil {
		t.Errorf("bob from another address: %v", err)
	}

	// The address limit: forty failures over eight names, half on each.
	for i := 0; i < 40; i++ {
		s := a
		if i%2 == 1 {
			s = b
		}
		wrong(s, fmt.Sprintf("nobody-%d", i%8), "192.0.2.9", i)
	}
	if err := a.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]*auth.Service{"first": a, "second": b} {
		if _, err := s.Login(ctx, "carol", "carol-pw", "192.0.2.9"); !errs.Is(err, errs.RateLimited) {
			t.Errorf("carol on the %s process from an address with forty failures over both: %v, want rate limited", name, err)
		}
	}
}
