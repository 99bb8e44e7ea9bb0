// Package auth decides who is calling and what they may do: local logins
// (argon2id password hashes), HTTP Basic credentials, and the Docker token
// service that turns credentials into short-lived signed JWTs carrying the
// granted scopes.
//
// A request's Principal comes from its Authorization header: none (the
// anonymous principal), Basic (a local user), or Bearer (a token this service
// signed). What a principal may do in a project is decided by Actions, from
// which both the token service (what to grant) and the registry (what to
// allow) read; a bearer token further limits a request to the scopes it
// carries.
package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Actions on a repository.
const (
	Pull   = "pull"
	Push   = "push"
	Delete = "delete"
)

// Principal is an authenticated caller (or the anonymous one).
type Principal struct {
	UserID int64
	Name   string
	Admin  bool
	// Robot is set when the caller is a robot account.
	Robot      *store.Robot
	robotPerms []rbac.RobotPermission
	// Session is set when the caller came with a browser session cookie.
	Session *store.Session
	// access is set when the request carried a bearer token: the scopes in it.
	access []Access
	bearer bool
}

// Anonymous reports whether p carried no credentials.
func (p *Principal) Anonymous() bool { return p.UserID == 0 && p.Robot == nil && !p.Admin }

// IsRobot reports whether p is a robot account.
func (p *Principal) IsRobot() bool { return p.Robot != nil }

// Access is one granted scope of a token, as in the Docker token spec.
type Access struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Store is what auth reads from the metadata store.
type Store interface {
	UserByName(ctx context.Context, name string) (*store.User, error)
	ProjectByName(ctx context.Context, name string) (*store.Project, error)
	SetPropertyIfAbsent(ctx context.Context, name, value string) (string, error)
	MemberRoles(ctx context.Context, projectID, userID int64) ([]int, error)
	RobotByName(ctx context.Context, name string) (*store.Robot, error)
	SessionUser(ctx context.Context, idHash string) (*store.Session, *store.User, error)
}

// RobotPrefix starts the name of every robot account.
const RobotPrefix = "robot$"

// Options configure the service.
type Options struct {
	Service  string        // the "service" named in challenges and tokens
	Realm    string        // absolute URL of the token endpoint
	TokenTTL time.Duration // lifetime of issued tokens
}

// Service authenticates requests and issues tokens.
type Service struct {
	st   Store
	opts Options
	key  *ecdsa.PrivateKey
	kid  string

	cacheKey []byte // HMAC key for the verified-credentials cache
	mu       sync.Mutex
	verified map[string]verifiedEntry
	inflight map[string]*loginCall // verifications running, by cache key
	throttle *throttle
}

// loginCall is one running verification of a credential; concurrent
// requests with the same credential wait for it instead of each paying the
// KDF (hundreds of clients whose cached entry expired at once would
// otherwise run hundreds of argon2 computations together).
type loginCall struct {
	done chan struct{}
	p    *Principal
	err  error
}

type verifiedEntry struct {
	p       Principal
	expires time.Time
}

// basicCacheTTL is how long a verified Basic credential is remembered, so
// that a client sending Basic on every request does not pay the KDF each time.
const basicCacheTTL = time.Minute

// New loads (or creates, on first start) the token signing key from st.
func New(ctx context.Context, st Store, opts Options) (*Service, error) {
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = 30 * time.Minute
	}
	if opts.Service == "" {
		opts.Service = "berth"
	}
	fresh, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, errs.Wrap("generate token key", err)
	}
	der, err := x509.MarshalECPrivateKey(fresh)
	if err != nil {
		return nil, errs.Wrap("generate token key", err)
	}
	stored, err := st.SetPropertyIfAbsent(ctx, "token_signing_key",
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode([]byte(stored))
	if blk == nil {
		return nil, errs.E(errs.Internal, "load token key", "stored token key is not PEM")
	}
	key, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		return nil, errs.Wrap("load token key", err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	sum := sha256.Sum256(pub)
	ck := make([]byte, 32)
	rand.Read(ck)
	return &Service{st: st, opts: opts, key: key, kid: hexString(sum[:8]), cacheKey: ck, verified: map[string]verifiedEntry{},
		throttle: newThrottle(loginFailLimit, loginFailWindow, loginLockout)}, nil
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

var anonymous = Principal{}

// Authenticate returns the principal of r. Bad credentials are an
// errs.Unauthenticated error; no credentials give the anonymous principal.
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		p := anonymous
		return &p, nil
	}
	scheme, cred, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, errs.E(errs.Unauthenticated, "authenticate", "malformed Basic credentials")
		}
		return s.Login(r.Context(), user, pass, ClientAddr(r))
	case "bearer":
		return s.verifyToken(strings.TrimSpace(cred))
	}
	return nil, errs.E(errs.Unauthenticated, "authenticate", "unsupported authorization scheme %q", scheme)
}

// Login checks a user name (or robot name) and password or secret, from
// client address addr. Verified credentials are cached for a minute; after
// repeated failures for one name or from one address, logins are refused
// for a while with an errs.RateLimited error.
func (s *Service) Login(ctx context.Context, user, pass, addr string) (*Principal, error) {
	const op = "login"
	// A locked-out name stays locked out even for a client whose (right)
	// credentials are still in the cache.
	if err := s.throttle.check(user, addr); err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, s.cacheKey)
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	k := string(mac.Sum(nil))
	s.mu.Lock()
	e, ok := s.verified[k]
	s.mu.Unlock()
	if ok && time.Now().Before(e.expires) {
		p := e.p
		return &p, nil
	}
	s.mu.Lock()
	if c := s.inflight[k]; c != nil {
		s.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, errs.Wrap(op, ctx.Err())
		}
		if c.err != nil {
			if ctx.Err() == nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) {
				return s.Login(ctx, user, pass, addr) // the request that verified went away: verify anew
			}
			return nil, c.err
		}
		p := *c.p
		return &p, nil
	}
	if s.inflight == nil {
		s.inflight = map[string]*loginCall{}
	}
	c := &loginCall{done: make(chan struct{})}
	s.inflight[k] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, k)
		s.mu.Unlock()
		close(c.done)
	}()
	if strings.HasPrefix(user, RobotPrefix) {
		c.p, c.err = s.loginRobot(ctx, user, pass)
	} else {
		c.p, c.err = s.loginUser(ctx, user, pass)
	}
	if c.err != nil {
		if errs.Is(c.err, errs.Unauthenticated) {
			s.throttle.fail(user, addr)
		}
		return nil, c.err
	}
	s.throttle.succeed(user)
	s.mu.Lock()
	if len(s.verified) > 10000 {
		clear(s.verified)
	}
	s.verified[k] = verifiedEntry{p: *c.p, expires: time.Now().Add(basicCacheTTL)}
	s.mu.Unlock()
	p := *c.p
	return &p, nil
}

func (s *Service) loginUser(ctx context.Context, user, pass string) (*Principal, error) {
	const op = "login"
	u, err := s.st.UserByName(ctx, user)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			// Spend the same effort as a real check so timing does not tell
			// which user names exist.
			CheckPassword(dummyHash(), pass)
			return nil, errs.E(errs.Unauthenticated, op, "invalid user name or password")
		}
		return nil, err
	}
	if !CheckPassword(u.PasswordHash, pass) {
		return nil, errs.E(errs.Unauthenticated, op, "invalid user name or password")
	}
	return &Principal{UserID: u.ID, Name: u.Username, Admin: u.SysAdmin}, nil
}

func (s *Service) loginRobot(ctx context.Context, name, secret string) (*Principal, error) {
	const op = "login"
	r, err := s.st.RobotByName(ctx, name)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			CheckPassword(dummyHash(), secret)
			return nil, errs.E(errs.Unauthenticated, op, "invalid robot name or secret")
		}
		return nil, err
	}
	if !CheckPassword(r.SecretHash, secret) {
		return nil, errs.E(errs.Unauthenticated, op, "invalid robot name or secret")
	}
	if r.Disabled {
		return nil, errs.E(errs.Unauthenticated, op, "robot %s is disabled", name)
	}
	if r.ExpiresAt > 0 && time.Now().Unix() >= r.ExpiresAt {
		return nil, errs.E(errs.Unauthenticated, op, "robot %s has expired", name)
	}
	perms, err := rbac.ParseRobotPermissions(r.Permissions)
	if err != nil {
		return nil, err
	}
	return &Principal{Name: r.Name, Robot: r, robotPerms: perms}, nil
}

// ForgetCredentials drops every cached verification, so a changed password,
// a disabled robot or a refreshed secret takes effect at once.
func (s *Service) ForgetCredentials() {
	s.mu.Lock()
	clear(s.verified)
	s.mu.Unlock()
}

// dummyHash is a hash to check unknown names against, made on first use.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("berth-dummy-password")
	return h
})

// ProjectPermissions returns what p may do in project: every project
// permission for an administrator; a robot's own list; a user's roles
// from membership (the owner is a member like any other); and the public policies in a public project.
func (s *Service) ProjectPermissions(ctx context.Context, p *Principal, project *store.Project) (rbac.Set, error) {
	var ids []int
	if id := p.MemberUserID(); id != 0 {
		var err error
		if ids, err = s.st.MemberRoles(ctx, project.ID, id); err != nil {
			return nil, err
		}
	}
	return s.ProjectPermissionsWithRoles(p, project, ids), nil
}

// MemberUserID is the user whose project memberships decide p's rights in
// a project, or 0 when memberships do not matter (admins, robots,
// anonymous callers).
func (p *Principal) MemberUserID() int64 {
	if p.Admin || p.Robot != nil {
		return 0
	}
	return p.UserID
}

// ProjectPermissionsWithRoles is ProjectPermissions for a caller whose
// roles in project (those MemberUserID holds directly, read with the
// project) are already known.
func (s *Service) ProjectPermissionsWithRoles(p *Principal, project *store.Project, roleIDs []int) rbac.Set {
	switch {
	case p.Admin:
		return rbac.AdminProjectSet()
	case p.Robot != nil:
		set := rbac.RobotProjectSet(p.robotPerms, project.Name)
		if project.Public {
			set.Add(rbac.ProjectPermissions(true))
		}
		return set
	}
	roles := make([]rbac.Role, 0, len(roleIDs))
	for _, id := range roleIDs {
		roles = append(roles, rbac.Role(id))
	}
	return rbac.ProjectPermissions(project.Public, roles...)
}

// Can reports whether p may do act on res in project.
func (s *Service) Can(ctx context.Context, p *Principal, project *store.Project, res rbac.Resource, act rbac.Action) (bool, error) {
	if p.Admin {
		return true, nil
	}
	set, err := s.ProjectPermissions(ctx, p, project)
	if err != nil {
		return false, err
	}
	return set.Has(res, act), nil
}

// SystemPermissions returns the system-level permissions of p (a system
// robot's list; nothing for users, whose system rights come from Admin).
func (s *Service) SystemPermissions(p *Principal) rbac.Set {
	if p.Robot != nil {
		return rbac.RobotSystemSet(p.robotPerms)
	}
	return rbac.Set{}
}

// CanSystem reports whether p may do act on a system-level resource.
func (s *Service) CanSystem(p *Principal, res rbac.Resource, act rbac.Action) bool {
	return p.Admin || s.SystemPermissions(p).Has(res, act)
}

// registryPermission maps a registry action to Harbor's permission.
var registryPermission = map[string]rbac.Permission{
	Pull:   {Resource: rbac.ResRepository, Action: rbac.Pull},
	Push:   {Resource: rbac.ResRepository, Action: rbac.Push},
	Delete: {Resource: rbac.ResArtifact, Action: rbac.Delete},
}

// Actions returns the registry actions (pull, push, delete) p holds in project.
func (s *Service) Actions(ctx context.Context, p *Principal, project *store.Project) []string {
	set, err := s.ProjectPermissions(ctx, p, project)
	if err != nil {
		return nil
	}
	var out []string
	for _, a := range []string{Pull, Push, Delete} {
		perm := registryPermission[a]
		if set.Has(perm.Resource, perm.Action) {
			out = append(out, a)
		}
	}
	return out
}

// Authorize decides whether p may do action on repository repo of project.
// It returns nil, an errs.Unauthenticated error (log in, or fetch a token with
// a wider scope, and try again) or an errs.Denied error. A bearer token is
// trusted for the scopes it carries (it was signed after the same check);
// the store is only asked when the token falls short.
func (s *Service) Authorize(ctx context.Context, p *Principal, project *store.Project, repo, action string) error {
	const op = "authorize"
	if p.bearer && p.tokenAllows("repository", repo, action) {
		return nil
	}
	if !contains(s.Actions(ctx, p, project), action) {
		if p.Anonymous() {
			return errs.E(errs.Unauthenticated, op, "authentication required")
		}
		return errs.E(errs.Denied, op, "%s may not %s %s", p.Name, action, repo)
	}
	if p.bearer {
		return errs.E(errs.Unauthenticated, op, "token does not grant %s on %s", action, repo)
	}
	return nil
}

// CanListCatalog reports whether p may list repositories at all.
func (s *Service) CanListCatalog(p *Principal) error {
	if p.Anonymous() {
		return errs.E(errs.Unauthenticated, "catalog", "authentication required")
	}
	if p.bearer && !p.tokenAllows("registry", "catalog", "*") {
		return errs.E(errs.Unauthenticated, "catalog", "token does not grant registry:catalog:*")
	}
	return nil
}

func (p *Principal) tokenAllows(typ, name, action string) bool {
	for _, a := range p.access {
		if a.Type == typ && a.Name == name && (contains(a.Actions, action) || contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
