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
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/httplimit"
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
	// cred fingerprints the stored password or secret hash the principal
	// signed in with (credFingerprint), carried into the tokens it gets.
	cred string
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
	UserByID(ctx context.Context, id int64) (*store.User, error)
	ProjectByName(ctx context.Context, name string) (*store.Project, error)
	SetPropertyIfAbsent(ctx context.Context, name, value string) (string, error)
	MemberRoles(ctx context.Context, projectID, userID int64) ([]int, error)
	RobotByName(ctx context.Context, name string) (*store.Robot, error)
	WriteGeneration() uint64
	SessionUser(ctx context.Context, idHash string) (*store.Session, *store.User, error)
	sharedFailures // failed logins shared between processes (throttle.go)
}

// RobotPrefix starts the name of every robot account.
const RobotPrefix = "robot$"

// Options configure the service.
type Options struct {
	Service  string        // the "service" named in challenges and tokens
	Realm    string        // absolute URL of the token endpoint
	TokenTTL time.Duration // lifetime of issued tokens, when TokenExpiry is nil
	// TokenExpiry, if set, gives the lifetime of each token as it is
	// issued: the system setting token_expiration (internal/settings).
	TokenExpiry func() time.Duration
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
	tokensMu sync.RWMutex
	tokens   map[string]*tokenEntry // verified registry tokens, by their bytes
	throttle *throttle
	live     liveState // account state read for credentials (live.go)
}

// loginCall is one running verification of a credential; concurrent
// requests with the same credential wait for it instead of each paying the
// KDF (hundreds of clients whose cached entry expired at once would
// otherwise run hundreds of argon2 computations together).
type loginCall struct {
	done chan struct{}
	ok   bool
	err  error
}

type verifiedEntry struct {
	hash    string // the stored hash the credential matched
	expires time.Time
}

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
	t := newThrottle(loginPairLimit, loginAddrLimit, loginFailWindow, loginLockout)
	t.shared = st
	if err := t.loadLocks(ctx); err != nil {
		return nil, err
	}
	return &Service{st: st, opts: opts, key: key, kid: hexString(sum[:8]), cacheKey: ck, verified: map[string]verifiedEntry{}, tokens: map[string]*tokenEntry{},
		throttle: t}, nil
}

// Refresh reads again what other processes share with this one through
// the database: the login locks in force. The composition root calls it
// when the store's change signal reports another process's write; account
// rows need nothing, as they are cached under the store's write generation,
// which the signal moves.
func (s *Service) Refresh(ctx context.Context) error { return s.throttle.loadLocks(ctx) }

// tokenTTL is the lifetime of a token issued now.
func (s *Service) tokenTTL() time.Duration {
	if s.opts.TokenExpiry != nil {
		if d := s.opts.TokenExpiry(); d > 0 {
			return d
		}
	}
	return s.opts.TokenTTL
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

// Authenticate returns the principal of r for the REST API, the console
// and the token service: HTTP Basic (a user's password or a robot's
// secret), or none (the anonymous principal). Registry tokens are refused
// here: they are credentials for /v2 only (AuthenticateRegistry). Bad
// credentials are an errs.Unauthenticated error.
func (s *Service) Authenticate(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		p := anonymous
		return &p, nil
	}
	scheme, _, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "basic":
		return s.basic(r)
	case "bearer":
		return nil, errs.E(errs.Unauthenticated, "authenticate", "registry tokens are accepted on /v2 only: use a user name and password, a robot secret or a session")
	}
	return nil, errs.E(errs.Unauthenticated, "authenticate", "unsupported authorization scheme %q", scheme)
}

// AuthenticateRegistry returns the principal of a /v2 request: Basic as
// Authenticate, or Bearer with a token this service signed, checked
// against the live user or robot it names.
func (s *Service) AuthenticateRegistry(r *http.Request) (*Principal, error) {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return s.verifyToken(r.Context(), strings.TrimSpace(h[7:]))
	}
	return s.Authenticate(r)
}

func (s *Service) basic(r *http.Request) (*Principal, error) {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return nil, errs.E(errs.Unauthenticated, "authenticate", "malformed Basic credentials")
	}
	return s.Login(r.Context(), user, pass, ClientAddr(r))
}

// Login checks a user name (or robot name) and password or secret, from
// client address addr, against the live account on every call: a deleted
// or disabled account, a changed password, a refreshed secret or a
// changed administrator flag takes effect on the next request.
//
// The password check (argon2id) is the expensive part, so its outcome is
// remembered: the cache holds that this credential matched this stored
// hash. A request whose account still has that hash needs no check; a
// changed hash needs one. Concurrent requests with the same credential
// share one check. Checks are throttled per client address and name (see
// throttle) and limited in number at once (see password.go); a throttled
// attempt is an errs.RateLimited error.
func (s *Service) Login(ctx context.Context, user, pass, addr string) (*Principal, error) {
	const op = "login"
	if !utf8.ValidString(user) || strings.IndexByte(user, 0) >= 0 {
		return nil, errs.E(errs.Invalid, op, "the user name holds a NUL byte or invalid UTF-8")
	}
	if err := s.throttle.locked(user, addr); err != nil {
		return nil, err
	}
	robot := strings.HasPrefix(user, RobotPrefix)
	var u *store.User
	var rb liveRobot
	var hash string
	var err error
	if robot {
		if rb, err = s.robotByName(ctx, user); err == nil {
			hash = rb.r.SecretHash
		}
	} else if u, err = s.userByName(ctx, user); err == nil {
		hash = u.PasswordHash
	}
	if err != nil && !errs.Is(err, errs.NotFound) {
		return nil, err
	}
	k := s.credentialKey(user, pass)
	if hash == "" || !s.cachedMatch(k, hash) {
		// The check (or the wait for another request's check of the same
		// credential) runs outside the API gate: the KDF queue bounds the
		// checks, and requests waiting their turn there must not keep
		// other API requests out of the gate, nor hold the slots the
		// request they wait for needs to finish.
		var matched bool
		back := httplimit.Outside(ctx, func() { matched, err = s.check(ctx, k, hash, user, pass, addr) })
		if err == nil && !back {
			err = errs.Wrap(op, ctx.Err())
		}
		if err != nil {
			return nil, err
		}
		if !matched {
			if robot {
				return nil, errs.E(errs.Unauthenticated, op, "invalid robot name or secret")
			}
			return nil, errs.E(errs.Unauthenticated, op, "invalid user name or password")
		}
	}
	if robot {
		return robotPrincipal(rb)
	}
	return userPrincipal(u), nil
}

func (s *Service) credentialKey(user, pass string) string {
	mac := hmac.New(sha256.New, s.cacheKey)
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(pass))
	return string(mac.Sum(nil))
}

// cachedMatch reports whether credential k is known to match hash.
func (s *Service) cachedMatch(k, hash string) bool {
	s.mu.Lock()
	e, ok := s.verified[k]
	s.mu.Unlock()
	return ok && e.hash == hash && time.Now().Before(e.expires)
}

// check runs (or waits for the running) password check of credential k
// against hash ("" for an unknown name: the same effort is spent so that
// timing does not tell which names exist).
func (s *Service) check(ctx context.Context, k, hash, user, pass, addr string) (bool, error) {
	fk := k + hash
	s.mu.Lock()
	if c := s.inflight[fk]; c != nil {
		s.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return false, errs.Wrap("login", ctx.Err())
		}
		if c.err != nil && ctx.Err() == nil && (errors.Is(c.err, context.Canceled) || errors.Is(c.err, context.DeadlineExceeded)) {
			return s.check(ctx, k, hash, user, pass, addr) // the request that checked went away: check anew
		}
		return c.ok, c.err
	}
	if s.inflight == nil {
		s.inflight = map[string]*loginCall{}
	}
	c := &loginCall{done: make(chan struct{})}
	s.inflight[fk] = c
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, fk)
		s.mu.Unlock()
		close(c.done)
	}()
	if c.err = s.throttle.begin(user, addr); c.err != nil {
		return false, c.err
	}
	target := hash
	if target == "" {
		target = dummyHash()
	}
	c.ok, c.err = VerifyPassword(ctx, target, pass)
	c.ok = c.ok && hash != ""
	s.throttle.end(ctx, user, addr, c.err == nil && !c.ok, c.ok)
	if c.ok {
		s.mu.Lock()
		if len(s.verified) >= maxVerified {
			clear(s.verified)
		}
		s.verified[k] = verifiedEntry{hash: hash, expires: time.Now().Add(verifiedTTL)}
		s.mu.Unlock()
	}
	return c.ok, c.err
}

const (
	// verifiedTTL is how long a successful check is remembered. The entry
	// only says that a credential matches a stored hash, which stays true
	// until the hash changes; the bound keeps derived secrets from living
	// in memory for ever.
	verifiedTTL = 15 * time.Minute
	maxVerified = 10000
)

func userPrincipal(u *store.User) *Principal {
	return &Principal{UserID: u.ID, Name: u.Username, Admin: u.SysAdmin, cred: credFingerprint(u.PasswordHash)}
}

// robotPrincipal is the principal of a live robot row, or an
// errs.Unauthenticated error when the robot may not sign in.
func robotPrincipal(lr liveRobot) (*Principal, error) {
	const op = "login"
	r := lr.r
	if r.Disabled {
		return nil, errs.E(errs.Unauthenticated, op, "robot %s is disabled", r.Name)
	}
	if r.ExpiresAt > 0 && time.Now().Unix() >= r.ExpiresAt {
		return nil, errs.E(errs.Unauthenticated, op, "robot %s has expired", r.Name)
	}
	return &Principal{Name: r.Name, Robot: r, robotPerms: lr.perms, cred: credFingerprint(r.SecretHash)}, nil
}

// credFingerprint names a stored password or secret hash in tokens, so
// that a token issued before the password changed or the secret was
// refreshed stops working. Hashes are few and fingerprinted on every
// request with a token, so the answers are kept.
func credFingerprint(hash string) string {
	if v, ok := fingerprints.Load(hash); ok {
		return v.(string)
	}
	sum := sha256.Sum256([]byte(hash))
	fp := hexString(sum[:8])
	if fingerprintCount.Add(1) > 100000 {
		fingerprints.Clear()
		fingerprintCount.Store(0)
	}
	fingerprints.Store(hash, fp)
	return fp
}

var (
	fingerprints     sync.Map // stored hash → fingerprint
	fingerprintCount atomic.Int64
)

// ForgetCredentials drops every remembered password check. Logins are
// checked against the live account on every request, so nothing depends
// on it for correctness; it only frees memory.
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
		if ids, err = s.memberRoles(ctx, project.ID, id); err != nil {
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

// ProjectView is what the views of a project show a caller: the roles its
// memberships give it (Harbor's current_user_role_ids and, the most
// powerful of them, current_user_role_id) and the permissions it holds
// there, from which a view's "may change" flags (togglable, the console's
// controls) are read. It is made from the same answer that enforcement
// checks, so a view never claims what a request would be refused.
type ProjectView struct {
	// RoleIDs are the caller's roles through project membership, sorted;
	// none for robots and anonymous callers. As in Harbor, a project's
	// creator is a member like any other: demoted, it shows its new role.
	RoleIDs []int
	// Role is the most powerful of RoleIDs (rbac.None without any).
	Role rbac.Role
	// Set is ProjectPermissionsWithRoles: what the caller may do.
	Set rbac.Set
}

// ProjectView returns p's view of project, given the roles p's user holds
// there directly (read with the project, as for ProjectPermissionsWithRoles).
func (s *Service) ProjectView(p *Principal, project *store.Project, roleIDs []int) ProjectView {
	v := ProjectView{Set: s.ProjectPermissionsWithRoles(p, project, roleIDs)}
	if p.Robot != nil || p.UserID == 0 || len(roleIDs) == 0 {
		return v
	}
	v.RoleIDs = slices.Clone(roleIDs)
	slices.Sort(v.RoleIDs)
	v.RoleIDs = slices.Compact(v.RoleIDs)
	roles := make([]rbac.Role, len(v.RoleIDs))
	for i, id := range v.RoleIDs {
		roles[i] = rbac.Role(id)
	}
	v.Role = rbac.BestRole(roles...)
	return v
}

// RobotPermissions returns the permission list of a robot principal (nil
// for others), decoded once when the robot was read (live.go): callers
// never parse the stored JSON again. The list is shared: do not change it.
func (p *Principal) RobotPermissions() []rbac.RobotPermission { return p.robotPerms }

// RobotProjects returns the projects a robot principal's permissions name
// (with any access), and whether one of them is "*" (every project).
func (p *Principal) RobotProjects() (names []string, all bool) {
	for _, pm := range p.robotPerms {
		if pm.Kind != "project" || len(pm.Access) == 0 {
			continue
		}
		if pm.Namespace == "*" {
			all = true
		}
		names = append(names, pm.Namespace)
	}
	return names, all
}

// MayGrant checks that p may hand the permission list perms to a robot it
// creates or changes: a robot only what it holds itself, so that
// robot:create is not a way to more power. Users are limited by the
// permission the operation itself requires, checked by the caller.
func (s *Service) MayGrant(p *Principal, perms []rbac.RobotPermission) error {
	if p.Robot == nil {
		return nil
	}
	for _, pm := range perms {
		have := rbac.RobotSystemSet(p.robotPerms)
		if pm.Kind == "project" {
			have = rbac.RobotProjectSet(p.robotPerms, pm.Namespace)
		}
		for _, a := range pm.Access {
			if !have.Has(a.Resource, a.Action) {
				return errs.E(errs.Denied, "robot", "%s cannot grant %s:%s in %q, which it does not hold", p.Name, a.Resource, a.Action, pm.Namespace)
			}
		}
	}
	return nil
}

// HiddenProject is Decide's refusal for a project the caller holds nothing
// in: the project is not revealed, so the error is a NotFound naming the
// project by its ID. Surfaces reword it to name the project as the
// request did (never showing the stored name for an ID).
type HiddenProject struct {
	ID   int64
	Name string
	err  error
}

func (h *HiddenProject) Error() string { return h.err.Error() }
func (h *HiddenProject) Unwrap() error { return h.err }

// Decide is the one answer to "may p do act on res in project", given the
// permissions set p holds there (ProjectPermissions): nil, an
// Unauthenticated error for an anonymous caller, a *HiddenProject for a
// caller holding nothing there, or a Denied error.
func Decide(p *Principal, project *store.Project, set rbac.Set, res rbac.Resource, act rbac.Action) error {
	if set.Has(res, act) {
		return nil
	}
	if p.Anonymous() {
		return errs.E(errs.Unauthenticated, "authorize", "authentication required")
	}
	if len(set) == 0 {
		return &HiddenProject{ID: project.ID, Name: project.Name,
			err: errs.E(errs.NotFound, "get project", "project %d not found", project.ID)}
	}
	return errs.E(errs.Denied, "authorize", "%s may not %s %s in project %s", p.Name, act, res, project.Name)
}

// ProjectPermissions answers which permissions a caller holds in a
// project (the set enforcement checks); *Service is one.
type ProjectPermissions interface {
	ProjectPermissions(ctx context.Context, p *Principal, project *store.Project) (rbac.Set, error)
}

// Require checks that p may do act on res in project: it asks perms for
// the set p holds there and answers as Decide does.
func Require(ctx context.Context, perms ProjectPermissions, p *Principal, project *store.Project, res rbac.Resource, act rbac.Action) error {
	set, err := perms.ProjectPermissions(ctx, p, project)
	if err != nil {
		return err
	}
	return Decide(p, project, set, res, act)
}

// DecideSystem is Decide for a system-level permission.
func (s *Service) DecideSystem(p *Principal, res rbac.Resource, act rbac.Action) error {
	if s.CanSystem(p, res, act) {
		return nil
	}
	if p.Anonymous() {
		return errs.E(errs.Unauthenticated, "authorize", "authentication required")
	}
	return errs.E(errs.Denied, "authorize", "%s may not %s %s", p.Name, act, res)
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
// The answer is shared: callers must not change it. It is kept with the
// account state (live.go), by project, visibility and principal, so a pull
// works it out once per write generation.
func (s *Service) Actions(ctx context.Context, p *Principal, project *store.Project) []string {
	if p.Admin {
		return allActions
	}
	var who string
	switch {
	case p.Robot != nil:
		who = "r" + strconv.FormatInt(p.Robot.ID, 10)
	case p.UserID != 0:
		who = "u" + strconv.FormatInt(p.UserID, 10)
	default:
		who = "-"
	}
	key := "a\x00" + strconv.FormatInt(project.ID, 10) + "\x00" + strconv.FormatBool(project.Public) + "\x00" + who
	out, err := cached(s, key, func() ([]string, error) {
		set, err := s.ProjectPermissions(ctx, p, project)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, a := range allActions {
			perm := registryPermission[a]
			if set.Has(perm.Resource, perm.Action) {
				out = append(out, a)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil
	}
	return out
}

var allActions = []string{Pull, Push, Delete}

// Authorize decides whether p may do action on repository repo of project.
// It returns nil, an errs.Unauthenticated error (log in, or fetch a token with
// a wider scope, and try again) or an errs.Denied error. A bearer token
// allows no more than the scopes it carries and no more than its user or
// robot holds now: a member removed since the token was issued loses the
// access at once.
func (s *Service) Authorize(ctx context.Context, p *Principal, project *store.Project, repo, action string) error {
	const op = "authorize"
	live := contains(s.Actions(ctx, p, project), action)
	switch {
	case live && (!p.bearer || p.tokenAllows("repository", repo, action)):
		return nil
	case live:
		return errs.E(errs.Unauthenticated, op, "token does not grant %s on %s", action, repo)
	case p.Anonymous():
		return errs.E(errs.Unauthenticated, op, "authentication required")
	}
	return errs.E(errs.Denied, op, "%s may not %s %s", p.Name, action, repo)
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
