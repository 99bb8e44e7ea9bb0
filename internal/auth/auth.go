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
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errs"
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
	// access is set when the request carried a bearer token: the scopes in it.
	access []Access
	bearer bool
}

// Anonymous reports whether p carried no credentials.
func (p *Principal) Anonymous() bool { return p.UserID == 0 && !p.Admin }

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
}

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
	return &Service{st: st, opts: opts, key: key, kid: hexString(sum[:8]), cacheKey: ck, verified: map[string]verifiedEntry{}}, nil
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
		return s.Login(r.Context(), user, pass)
	case "bearer":
		return s.verifyToken(strings.TrimSpace(cred))
	}
	return nil, errs.E(errs.Unauthenticated, "authenticate", "unsupported authorization scheme %q", scheme)
}

// Login checks a user name and password (cached for a minute once verified).
func (s *Service) Login(ctx context.Context, user, pass string) (*Principal, error) {
	const op = "login"
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
	u, err := s.st.UserByName(ctx, user)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			// Spend the same effort as a real check so timing does not tell
			// which user names exist.
			CheckPassword(dummyHash, pass)
			return nil, errs.E(errs.Unauthenticated, op, "invalid user name or password")
		}
		return nil, err
	}
	if !CheckPassword(u.PasswordHash, pass) {
		return nil, errs.E(errs.Unauthenticated, op, "invalid user name or password")
	}
	p := Principal{UserID: u.ID, Name: u.Username, Admin: u.SysAdmin}
	s.mu.Lock()
	if len(s.verified) > 10000 {
		clear(s.verified)
	}
	s.verified[k] = verifiedEntry{p: p, expires: time.Now().Add(basicCacheTTL)}
	s.mu.Unlock()
	return &p, nil
}

var dummyHash, _ = HashPassword("berth-dummy-password")

// Actions returns what p may do on repositories of project.
func (s *Service) Actions(p *Principal, project *store.Project) []string {
	switch {
	case p.Admin:
		return []string{Pull, Push, Delete}
	case p.UserID != 0 && project.OwnerID == p.UserID:
		return []string{Pull, Push, Delete}
	case project.Public:
		return []string{Pull}
	}
	return nil
}

// Authorize decides whether p may do action on repository repo of project.
// It returns nil, an errs.Unauthenticated error (log in, or fetch a token with
// a wider scope, and try again) or an errs.Denied error.
func (s *Service) Authorize(p *Principal, project *store.Project, repo, action string) error {
	const op = "authorize"
	if !contains(s.Actions(p, project), action) {
		if p.Anonymous() {
			return errs.E(errs.Unauthenticated, op, "authentication required")
		}
		return errs.E(errs.Denied, op, "%s may not %s %s", p.Name, action, repo)
	}
	if p.bearer && !p.tokenAllows("repository", repo, action) {
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
