package api

import (
	"context"
	"sync"

	"github.com/berth-dev/berth/internal/store"
)

// A session cache lets a caller that serves one browser request with many
// in-process API requests (the web console builds a page from several
// calls, each carrying the browser's session cookie) read the session
// once per page instead of once per call. It lives as long as the context
// it is in: one page render. Reads use it; a write reads the session
// afresh (and refreshes the cache), so a change made by the write is seen
// by the calls after it.

type sessionCacheKey struct{}

type sessionCache struct {
	mu      sync.Mutex
	entries map[string]cachedSession
}

type cachedSession struct {
	sess *store.Session
	user *store.User
}

// WithSessionCache returns ctx carrying an empty session cache.
func WithSessionCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionCacheKey{}, &sessionCache{entries: map[string]cachedSession{}})
}

// sessionUser is store.SessionUser through the context's cache, if any.
func (s *Server) sessionUser(ctx context.Context, idHash string, write bool) (*store.Session, *store.User, error) {
	c, _ := ctx.Value(sessionCacheKey{}).(*sessionCache)
	if c == nil {
		return s.st.SessionUser(ctx, idHash)
	}
	if !write {
		c.mu.Lock()
		e, ok := c.entries[idHash]
		c.mu.Unlock()
		if ok {
			return e.sess, e.user, nil
		}
	}
	sess, u, err := s.st.SessionUser(ctx, idHash)
	c.mu.Lock()
	if err == nil {
		c.entries[idHash] = cachedSession{sess, u}
	} else {
		delete(c.entries, idHash)
	}
	c.mu.Unlock()
	return sess, u, err
}
