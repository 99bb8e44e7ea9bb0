package registry

import (
	"sync"
	"sync/atomic"
	"time"
)

// readCache keeps recent answers of the metadata store for the pull hot
// path (project by name, manifest reference → digest), so that a manifest
// HEAD or GET is served from memory.
//
// Freshness: every write this process makes through the registry bumps the
// generation, which drops all entries at once, so a client always reads its
// own writes. Writes made by another replica drop it too when the store's
// change signal reports them (within a second); ttl is the backstop.
// An entry is stored with the generation read before the store was asked,
// so an answer that raced with a write is never kept.
type readCache[V any] struct {
	ttl time.Duration
	max int
	gen atomic.Uint64
	mu  sync.RWMutex
	m   map[string]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v       V
	gen     uint64
	expires int64
}

func newReadCache[V any](ttl time.Duration, max int) *readCache[V] {
	return &readCache[V]{ttl: ttl, max: max, m: make(map[string]cacheEntry[V])}
}

// generation returns the generation to pass to put for an answer about to
// be read from the store.
func (c *readCache[V]) generation() uint64 { return c.gen.Load() }

func (c *readCache[V]) get(k string) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || e.gen != c.gen.Load() || time.Now().UnixNano() > e.expires {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (c *readCache[V]) put(k string, v V, gen uint64) {
	if gen != c.gen.Load() {
		return
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = cacheEntry[V]{v: v, gen: gen, expires: time.Now().Add(c.ttl).UnixNano()}
	c.mu.Unlock()
}

// invalidate drops every entry.
func (c *readCache[V]) invalidate() { c.gen.Add(1) }

// Invalidate drops everything the registry caches about projects and
// manifest references; the API calls it after its writes.
func (reg *Registry) Invalidate() {
	reg.refs.invalidate()
	reg.projects.invalidate()
}
