package api

import (
	"context"
	"strconv"
	"sync"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// A page cache lets a caller that serves one browser request with many
// in-process API requests (the web console builds a page from several
// calls, each carrying the browser's session cookie) read the session, the
// projects named in the paths and the caller's permissions in them once
// per page instead of once per call. It lives as long as the context it is
// in: one page render, with one principal. Reads use it; a write reads the
// session afresh (and refreshes the cache) and empties the rest, so a
// change made by the write is seen by the calls after it.

type sessionCacheKey struct{}

type sessionCache struct {
	mu      sync.Mutex
	entries map[string]cachedSession
	values  map[string]any // projects and permission sets of this page
}

type cachedSession struct {
	sess *store.Session
	user *store.User
}

// WithSessionCache returns ctx carrying an empty page cache.
func WithSessionCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionCacheKey{}, &sessionCache{entries: map[string]cachedSession{}, values: map[string]any{}})
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
	if write {
		clear(c.values) // the write may change what they hold
	}
	if err == nil {
		c.entries[idHash] = cachedSession{sess, u}
		// The session's user is the whole row: /users/current of this
		// page needs no read of its own.
		c.values["user "+strconv.FormatInt(u.ID, 10)] = u
	} else {
		delete(c.entries, idHash)
	}
	c.mu.Unlock()
	return sess, u, err
}

// pageCachedSessions is the API's store as the session service sees it:
// a session is read through the page cache, so a console page that still
// calls the API in-process reads its session once for both.
type pageCachedSessions struct {
	Store
	s *Server
}

func (c pageCachedSessions) SessionUser(ctx context.Context, idHash string) (*store.Session, *store.User, error) {
	return c.s.sessionUser(ctx, idHash, false)
}

// clearPageCache empties the projects and permissions of ctx's page cache.
func clearPageCache(ctx context.Context) {
	if c, _ := ctx.Value(sessionCacheKey{}).(*sessionCache); c != nil {
		c.mu.Lock()
		clear(c.values)
		c.mu.Unlock()
	}
}

// pageCached returns load's result, through the context's page cache under
// key when there is one. Errors are not cached.
func pageCached[T any](ctx context.Context, key string, load func() (T, error)) (T, error) {
	c, _ := ctx.Value(sessionCacheKey{}).(*sessionCache)
	if c == nil {
		return load()
	}
	c.mu.Lock()
	v, ok := c.values[key]
	c.mu.Unlock()
	if ok {
		return v.(T), nil
	}
	v, err := load()
	if err == nil {
		c.mu.Lock()
		c.values[key] = v
		c.mu.Unlock()
	}
	return v.(T), err
}

// cachedProject loads a project by ID or name through the page cache; each
// caller gets its own copy.
func (s *Server) cachedProject(ctx context.Context, byID bool, ref string) (*store.Project, error) {
	key := projectNameKey(ref)
	if byID {
		key = "project id " + ref // projectIDKey
	}
	p, err := pageCached(ctx, key, func() (*store.Project, error) {
		if byID {
			id, _ := strconv.ParseInt(ref, 10, 64)
			return s.st.ProjectByID(ctx, id)
		}
		return s.st.ProjectByName(ctx, ref)
	})
	if err != nil {
		return nil, err
	}
	// Found by name, it is found by ID too, and the other way round: a
	// page often names its project both ways.
	if byID {
		pageCachePut(ctx, projectNameKey(p.Name), p)
	} else {
		pageCachePut(ctx, projectIDKey(p.ID), p)
	}
	cp := *p
	return &cp, nil
}

// projectPermissions is auth's ProjectPermissions of c in project, through
// the page cache. The set is shared: callers only read it.
func (s *Server) projectPermissions(ctx context.Context, c *Caller, project *store.Project) (rbac.Set, error) {
	return pageCached(ctx, permsKey(c, project.ID), func() (rbac.Set, error) {
		return s.auth.ProjectPermissions(ctx, c.Principal, project)
	})
}

// pageCachedAuth is the API's auth as the domain services see it: the
// caller's permissions in a project come through the page cache, so the
// console's calls for one page ask auth once per project.
type pageCachedAuth struct{ s *Server }

func (a pageCachedAuth) ProjectPermissions(ctx context.Context, p *auth.Principal, project *store.Project) (rbac.Set, error) {
	return a.s.projectPermissions(ctx, &Caller{p}, project)
}

func (a pageCachedAuth) ProjectPermissionsWithRoles(p *auth.Principal, project *store.Project, roleIDs []int) rbac.Set {
	return a.s.auth.ProjectPermissionsWithRoles(p, project, roleIDs)
}

func (a pageCachedAuth) ProjectView(p *auth.Principal, project *store.Project, roleIDs []int) auth.ProjectView {
	return a.s.auth.ProjectView(p, project, roleIDs)
}

func (a pageCachedAuth) DecideSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) error {
	return a.s.auth.DecideSystem(p, res, act)
}

func (a pageCachedAuth) MayGrant(p *auth.Principal, perms []rbac.RobotPermission) error {
	return a.s.auth.MayGrant(p, perms)
}

func (a pageCachedAuth) ForgetCredentials() { a.s.auth.ForgetCredentials() }

func (a pageCachedAuth) CanSystem(p *auth.Principal, res rbac.Resource, act rbac.Action) bool {
	return a.s.auth.CanSystem(p, res, act)
}

// pageCachePut stores v under key in ctx's page cache, if there is one.
func pageCachePut(ctx context.Context, key string, v any) {
	if c, _ := ctx.Value(sessionCacheKey{}).(*sessionCache); c != nil {
		c.mu.Lock()
		c.values[key] = v
		c.mu.Unlock()
	}
}

// projectNameKey and permsKey are the page cache's keys of a project by
// name and of c's permissions in a project.
func projectNameKey(name string) string { return "project name " + name }

func projectIDKey(id int64) string { return "project id " + strconv.FormatInt(id, 10) }

func permsKey(c *Caller, projectID int64) string {
	return "perms " + c.Name + " " + strconv.FormatInt(projectID, 10)
}
