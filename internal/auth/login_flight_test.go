package auth_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
)

// TestConcurrentLoginsVerifyOnce checks that many requests arriving at once
// with one credential pay the password KDF once, not once each, whether
// right or wrong.
func TestConcurrentLoginsVerifyOnce(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		name, pass string
		ok         bool
	}{
		{"right password", "bob-pw", true},
		{"wrong password", "not-bob-pw", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := auth.New(context.Background(), f.db, auth.Options{})
			if err != nil {
				t.Fatal(err)
			}
			const n = 40
			var wg sync.WaitGroup
			var okCount atomic.Int64
			start := make(chan struct{})
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					// Distinct addresses: the per-address throttle stays out of it.
					p, err := s.Login(context.Background(), "bob", c.pass, "10.0.0."+string(rune('a'+i%26)))
					if err == nil && p.Name == "bob" {
						okCount.Add(1)
					}
				}()
			}
			before := auth.KDFRuns()
			close(start)
			wg.Wait()
			if c.ok && okCount.Load() != n || !c.ok && okCount.Load() != 0 {
				t.Fatalf("%d of %d logins succeeded", okCount.Load(), n)
			}
			if got := auth.KDFRuns() - before; c.ok && got != 1 || !c.ok && got > n/4 {
				t.Fatalf("%d concurrent logins verified the password %d times", n, got)
			}
		})
	}
}
