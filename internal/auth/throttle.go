package auth

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

// Login throttling: after loginFailLimit failures within loginFailWindow for
// one account name, or loginFailLimit*4 from one address, further attempts
// are refused for loginLockout, without checking the password (so a guesser
// learns nothing and spends no KDF time of ours).
const (
	loginFailLimit  = 10
	loginFailWindow = 5 * time.Minute
	loginLockout    = time.Minute
)

type throttle struct {
	limit         int
	window, lock  time.Duration
	mu            sync.Mutex
	byName, byAdr map[string]*failures
}

type failures struct {
	n           int
	first, till time.Time
}

func newThrottle(limit int, window, lock time.Duration) *throttle {
	return &throttle{limit: limit, window: window, lock: lock, byName: map[string]*failures{}, byAdr: map[string]*failures{}}
}

func (t *throttle) check(name, addr string) error {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range []*failures{t.byName[name], t.byAdr[addr]} {
		if f != nil && now.Before(f.till) {
			return errs.E(errs.RateLimited, "login", "too many failed logins; try again in %s", f.till.Sub(now).Round(time.Second))
		}
	}
	return nil
}

func (t *throttle) fail(name, addr string) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byName) > 100000 {
		clear(t.byName)
		clear(t.byAdr)
	}
	bump := func(m map[string]*failures, k string, limit int) {
		f := m[k]
		if f == nil || now.Sub(f.first) > t.window {
			f = &failures{first: now}
			m[k] = f
		}
		f.n++
		if f.n >= limit {
			f.till = now.Add(t.lock)
			f.n, f.first = 0, now
		}
	}
	bump(t.byName, name, t.limit)
	if addr != "" {
		bump(t.byAdr, addr, t.limit*4)
	}
}

func (t *throttle) succeed(name string) {
	t.mu.Lock()
	delete(t.byName, name)
	t.mu.Unlock()
}

// ClientAddr returns the IP address a request came from.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
