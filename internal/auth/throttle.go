package auth

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errs"
)

// Login throttling. Attempts are counted per (client address, account
// name) and per client address, never per name alone: a name locked for
// every address would let anyone lock anyone out (the administrator, a CI
// robot) with a few wrong passwords.
//
//   - loginPairLimit failures of one name from one address within
//     loginFailWindow lock that pair for loginLockout;
//   - loginAddrLimit failures from one address, whatever the names, lock
//     the address for loginLockout.
//
// A password check counts when it starts, not when it ends: the checks
// running at once count against both limits, so a burst of simultaneous
// guesses is refused at the limit instead of all being checked (a
// credential verified before, whose stored hash has not changed since,
// needs no check and is not counted; concurrent requests with one new
// credential share one check). A refused attempt checks no password (the guesser learns
// nothing and costs no KDF time) and answers errs.RateLimited with the
// wait, which every surface sends as 429 with Retry-After.
//
// A success clears the pair's failures but not the address's, so a client
// holding one valid account cannot reset the address count by mixing in
// good logins. IPv6 clients are counted by their /64, the block one host
// usually holds.
//
// Failures are shared by the processes of one installation (the store's
// login_failures and login_locks): each failure is recorded there too, and
// the count the database returns (every process's failures of the key in
// the last loginFailWindow) is what the limit is held against, so guesses
// spread over replicas lock the pair or the address as guesses at one
// would. A lock is written to the database, whose change signal makes
// every other process read the locks in force (loadLocks) within a second.
// The checks in progress (pending) are counted per process only: a burst
// spread over several processes at one instant may pass the limit by what
// the others are checking at that instant. If the database cannot be
// reached, this process's own counts still apply.
const (
	loginPairLimit  = 10
	loginAddrLimit  = 40
	loginFailWindow = 5 * time.Minute
	loginLockout    = time.Minute
	// throttleMaxEntries bounds the table; past it, entries that hold no
	// lock and no attempt in progress are dropped first.
	throttleMaxEntries = 100000
)

type throttle struct {
	pairLimit, addrLimit int
	window, lock         time.Duration
	now                  func() time.Time
	shared               sharedFailures // nil: this process's counts only
	mu                   sync.Mutex
	byPair, byAddr       map[string]*failures
}

// sharedFailures is where failed logins are shared between processes
// (implemented by the store).
type sharedFailures interface {
	AddLoginFailure(ctx context.Context, key string, at, since int64) (int, error)
	ClearLoginFailures(ctx context.Context, key string) error
	LockLogin(ctx context.Context, key string, until, now int64) error
	LoginLocks(ctx context.Context, now int64) (map[string]int64, error)
}

// sharedPairKey and sharedAddrKey name a pair and an address in the
// shared tables (no NUL byte: PostgreSQL text cannot hold one).
func sharedPairKey(name, addr string) string { return "p|" + addr + "|" + name }
func sharedAddrKey(addr string) string       { return "a|" + addr }

type failures struct {
	n       int // failures in the window
	pending int // attempts being checked now
	first   time.Time
	till    time.Time // locked until
}

func newThrottle(pairLimit, addrLimit int, window, lock time.Duration) *throttle {
	return &throttle{pairLimit: pairLimit, addrLimit: addrLimit, window: window, lock: lock, now: time.Now,
		byPair: map[string]*failures{}, byAddr: map[string]*failures{}}
}

func pairKey(name, addr string) string { return addr + "\x00" + name }

// locked refuses name from addr while the pair or the address is locked.
// It is asked before anything else, even a credential already verified:
// a lock that right guesses could pass would not stop guessing.
func (t *throttle) locked(name, addr string) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range []*failures{t.byPair[pairKey(name, addr)], t.byAddr[addr]} {
		if f != nil && now.Before(f.till) {
			return refused(f.till.Sub(now))
		}
	}
	return nil
}

// begin admits one password check of name from addr, or refuses it with
// an errs.RateLimited error. An admitted check must be finished with end.
func (t *throttle) begin(name, addr string) error {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.byPair)+len(t.byAddr) > throttleMaxEntries {
		t.prune(now)
	}
	pair := t.entry(t.byPair, pairKey(name, addr), now)
	adr := t.entry(t.byAddr, addr, now)
	for _, c := range []struct {
		f     *failures
		limit int
	}{{pair, t.pairLimit}, {adr, t.addrLimit}} {
		if now.Before(c.f.till) {
			return refused(c.f.till.Sub(now))
		}
		if c.f.n+c.f.pending >= c.limit {
			// The checks in progress would reach the limit if they fail:
			// wait for them.
			return refused(time.Second)
		}
	}
	pair.pending++
	adr.pending++
	return nil
}

func refused(wait time.Duration) error {
	e := errs.E(errs.RateLimited, "login", "too many failed logins; try again in %s", wait.Round(time.Second).String())
	e.RetryAfter = wait
	return e
}

// entry returns m[k], starting a new window when the old one has passed.
func (t *throttle) entry(m map[string]*failures, k string, now time.Time) *failures {
	f := m[k]
	if f == nil {
		f = &failures{first: now}
		m[k] = f
	} else if f.pending == 0 && now.Sub(f.first) > t.window && !now.Before(f.till) {
		f.n, f.first = 0, now
	}
	return f
}

// end finishes an attempt begun with begin: failed reports a wrong
// password (other errors, such as a database failure, do not count).
func (t *throttle) end(ctx context.Context, name, addr string, failed, succeeded bool) {
	now := t.now()
	cleared := t.endLocal(name, addr, failed, succeeded, now)
	if t.shared == nil || (!failed && !cleared) {
		return
	}
	// The request may be gone; its failure still counts.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if cleared {
		t.shared.ClearLoginFailures(ctx, sharedPairKey(name, addr))
		return
	}
	for _, c := range []struct {
		key, local string
		m          map[string]*failures
		limit      int
	}{{sharedPairKey(name, addr), pairKey(name, addr), t.byPair, t.pairLimit}, {sharedAddrKey(addr), addr, t.byAddr, t.addrLimit}} {
		n, err := t.shared.AddLoginFailure(ctx, c.key, now.UnixMilli(), now.Add(-t.window).UnixMilli())
		if err != nil {
			continue // this process's count stands
		}
		t.mu.Lock()
		f := c.m[c.local]
		lockedHere := f != nil && now.Before(f.till)
		if f != nil && !lockedHere && n >= c.limit {
			f.till = now.Add(t.lock)
			f.n, f.first = 0, now
			lockedHere = true
		} else if f != nil && !lockedHere && n > f.n {
			f.n = n
		}
		var till time.Time
		if f != nil {
			till = f.till
		}
		t.mu.Unlock()
		if lockedHere || n >= c.limit {
			if till.IsZero() {
				till = now.Add(t.lock)
			}
			t.shared.LockLogin(ctx, c.key, till.UnixMilli(), now.UnixMilli())
		}
	}
}

// endLocal counts the attempt in this process and reports whether a
// success cleared the pair.
func (t *throttle) endLocal(name, addr string, failed, succeeded bool, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	pair, adr := t.byPair[pairKey(name, addr)], t.byAddr[addr]
	for _, c := range []struct {
		f     *failures
		limit int
	}{{pair, t.pairLimit}, {adr, t.addrLimit}} {
		if c.f == nil {
			continue
		}
		if c.f.pending > 0 {
			c.f.pending--
		}
		if failed {
			c.f.n++
			if c.f.n >= c.limit {
				c.f.till = now.Add(t.lock)
				c.f.n, c.f.first = 0, now
			}
		}
	}
	if succeeded && pair != nil && pair.pending == 0 && !now.Before(pair.till) {
		delete(t.byPair, pairKey(name, addr))
		return true
	}
	return false
}

// loadLocks reads the locks in force in every process.
func (t *throttle) loadLocks(ctx context.Context) error {
	if t.shared == nil {
		return nil
	}
	now := t.now()
	locks, err := t.shared.LoginLocks(ctx, now.UnixMilli())
	if err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, until := range locks {
		var f *failures
		switch {
		case strings.HasPrefix(k, "p|"):
			addr, name, ok := strings.Cut(k[2:], "|")
			if !ok {
				continue
			}
			f = t.entry(t.byPair, pairKey(name, addr), now)
		case strings.HasPrefix(k, "a|"):
			f = t.entry(t.byAddr, k[2:], now)
		default:
			continue
		}
		if u := time.UnixMilli(until); u.After(f.till) {
			f.till = u
			f.n, f.first = 0, now
		}
	}
	return nil
}

// prune drops entries with nothing in progress and no lock in force; if
// that frees too little (a flood of fresh addresses), it drops every idle
// entry's failure count as well.
func (t *throttle) prune(now time.Time) {
	for _, m := range []map[string]*failures{t.byPair, t.byAddr} {
		for k, f := range m {
			if f.pending == 0 && !now.Before(f.till) && (f.n == 0 || now.Sub(f.first) > t.window) {
				delete(m, k)
			}
		}
	}
	if len(t.byPair)+len(t.byAddr) > throttleMaxEntries*3/4 {
		for _, m := range []map[string]*failures{t.byPair, t.byAddr} {
			for k, f := range m {
				if f.pending == 0 && !now.Before(f.till) {
					delete(m, k)
				}
			}
		}
	}
}

// ClientAddr returns the address a request came from, as the throttle
// counts it: the IPv4 address, or the /64 of an IPv6 one.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return host
	}
	if v4 := ip.To4(); v4 != nil {
		return v4.String()
	}
	return ip.Mask(net.CIDRMask(64, 128)).String() + "/" + strconv.Itoa(64)
}
