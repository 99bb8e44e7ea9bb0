package auth

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Account state (users, robots, project roles) is read on every request
// that presents a credential, and every request of a registry client does:
// a pull with a token would otherwise pay two database reads on top of a
// manifest served from memory. liveState keeps what was read, under the
// store's write generation at the time of the read:
//
//   - any write this process makes through the store (the API changing a
//     user, a robot, a membership; a test writing to the store directly)
//     moves the generation, and every entry read before it is dropped, so
//     on one server a change takes effect on the very next request;
//   - another replica's writes move the generation too, when the store's
//     change signal reports them (within a second: store/signal.go,
//     docs/settings.md); liveTTL is the backstop for a change that was
//     never announced (a process that died between commit and signal).
//
// Only successful reads are kept; a missing account is asked again.
const (
	liveTTL        = 2 * time.Second
	liveMaxEntries = 20000
)

type liveState struct {
	mu sync.Mutex
	m  map[string]liveEntry
}

type liveEntry struct {
	v       any
	gen     uint64
	expires time.Time
}

// cached returns what read gives for key, from the cache when it was read
// at the store's current generation less than liveTTL ago.
func cached[V any](s *Service, key string, read func() (V, error)) (V, error) {
	gen := s.st.WriteGeneration()
	now := time.Now()
	s.live.mu.Lock()
	e, ok := s.live.m[key]
	s.live.mu.Unlock()
	if ok && e.gen == gen && now.Before(e.expires) {
		return e.v.(V), nil
	}
	v, err := read()
	if err != nil {
		return v, err
	}
	s.live.mu.Lock()
	if s.live.m == nil || len(s.live.m) >= liveMaxEntries {
		s.live.m = map[string]liveEntry{}
	}
	s.live.m[key] = liveEntry{v: v, gen: gen, expires: now.Add(liveTTL)}
	s.live.mu.Unlock()
	return v, nil
}

func (s *Service) userByName(ctx context.Context, name string) (*store.User, error) {
	return cached(s, "u\x00"+name, func() (*store.User, error) { return s.st.UserByName(ctx, name) })
}

func (s *Service) userByID(ctx context.Context, id int64) (*store.User, error) {
	return cached(s, "i\x00"+strconv.FormatInt(id, 10), func() (*store.User, error) { return s.st.UserByID(ctx, id) })
}

// liveRobot is a robot's row with its permissions decoded once.
type liveRobot struct {
	r     *store.Robot
	perms []rbac.RobotPermission
}

func (s *Service) robotByName(ctx context.Context, name string) (liveRobot, error) {
	return cached(s, "r\x00"+name, func() (liveRobot, error) {
		r, err := s.st.RobotByName(ctx, name)
		if err != nil {
			return liveRobot{}, err
		}
		perms, err := rbac.ParseRobotPermissions(r.Permissions)
		return liveRobot{r: r, perms: perms}, err
	})
}

func (s *Service) memberRoles(ctx context.Context, projectID, userID int64) ([]int, error) {
	return cached(s, "m\x00"+strconv.FormatInt(projectID, 10)+"\x00"+strconv.FormatInt(userID, 10),
		func() ([]int, error) { return s.st.MemberRoles(ctx, projectID, userID) })
}
