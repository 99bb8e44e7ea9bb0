package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
)

// tokenClaims is what a registry token carries. It names who it was
// issued to (a user's ID, or a robot's ID; neither for an anonymous
// caller) and the fingerprint of the password or secret hash they signed
// in with; their rights are not in it: each request is checked against
// the live account (verifyToken, Authorize).
type tokenClaims struct {
	jwt.RegisteredClaims
	Access  []Access `json:"access"`
	UserID  int64    `json:"berth_uid,omitempty"`
	RobotID int64    `json:"berth_rid,omitempty"`
	Cred    string   `json:"berth_cred,omitempty"`
}

const issuer = "berth-token-service"

// Realm returns the token endpoint URL: the configured one, else derived from r.
func (s *Service) Realm(r *http.Request) string {
	if s.opts.Realm != "" {
		return s.opts.Realm
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + "/service/token"
}

// ChallengeFor returns the WWW-Authenticate value for r asking for scope.
func (s *Service) ChallengeFor(r *http.Request, scope string) string {
	v := `Bearer realm="` + s.Realm(r) + `",service="` + s.opts.Service + `"`
	if scope != "" {
		v += `,scope="` + scope + `"`
	}
	return v
}

// Issue signs a token for p granting the requested scopes that p holds.
// At most MaxScopes scopes are granted in one token (clients ask for one
// to three: a pull, a push, a cross-repository mount); more is an
// errs.Invalid error, as each costs a look-up of its project.
func (s *Service) Issue(r *http.Request, p *Principal, scopes []string) (string, time.Time, error) {
	tok, issued, _, err := s.issue(r, p, scopes)
	return tok, issued, err
}

// issue is Issue that also returns when the token expires.
func (s *Service) issue(r *http.Request, p *Principal, scopes []string) (string, time.Time, time.Time, error) {
	var all []string
	for _, sc := range scopes {
		all = append(all, splitScopes(sc)...)
		if len(all) > MaxScopes {
			return "", time.Time{}, time.Time{}, errs.E(errs.Invalid, "issue token", "at most %d scopes may be asked for at once", MaxScopes)
		}
	}
	var granted []Access
	for _, one := range all {
		if a, ok := s.grant(r, p, one); ok {
			granted = append(granted, a)
		}
	}
	now := time.Now()
	exp := now.Add(s.tokenTTL())
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   p.Name,
			Audience:  jwt.ClaimStrings{s.opts.Service},
			ExpiresAt: jwt.NewNumericDate(exp),
			NotBefore: jwt.NewNumericDate(now.Add(-10 * time.Second)),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        RandomSecret(12),
		},
		Access: granted,
		UserID: p.UserID,
		Cred:   p.cred,
	}
	if p.Robot != nil {
		claims.RobotID = p.Robot.ID
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, time.Time{}, errs.Wrap("issue token", err)
	}
	return signed, now, exp, nil
}

// MaxScopes bounds the scopes of one token request.
const MaxScopes = 32

// splitScopes splits "repository:a:pull repository:b:push" into single scopes.
func splitScopes(s string) []string { return strings.Fields(s) }

// grant returns the part of scope "type:name:actions" that p holds.
func (s *Service) grant(r *http.Request, p *Principal, scope string) (Access, bool) {
	i := strings.Index(scope, ":")
	j := strings.LastIndex(scope, ":")
	if i < 0 || j <= i {
		return Access{}, false
	}
	typ, name, actions := scope[:i], scope[i+1:j], strings.Split(scope[j+1:], ",")
	if k := strings.Index(typ, "("); k >= 0 { // "repository(plugin)"
		typ = typ[:k]
	}
	switch typ {
	case "registry":
		if name == "catalog" && !p.Anonymous() {
			return Access{Type: typ, Name: name, Actions: []string{"*"}}, true
		}
		return Access{}, false
	case "repository":
		if oci.ValidateRepository(name) != nil {
			return Access{}, false
		}
		projectName, _ := oci.SplitRepository(name)
		var allowed []string
		project, err := s.st.ProjectByName(r.Context(), projectName)
		switch {
		case err == nil:
			allowed = s.Actions(r.Context(), p, project)
		case p.Admin && errs.Is(err, errs.NotFound):
			allowed = []string{Pull, Push, Delete} // the push will say the project is missing
		}
		var got []string
		for _, a := range actions {
			if a == "*" {
				got = append(got, allowed...)
			} else if contains(allowed, a) && !contains(got, a) {
				got = append(got, a)
			}
		}
		if len(got) == 0 {
			return Access{}, false
		}
		return Access{Type: typ, Name: name, Actions: got}, true
	}
	return Access{}, false
}

// verifyToken checks a registry token's signature and claims (remembered
// per token until it expires, see tokenCache) and then the live account it
// names: a deleted user or robot, a disabled or expired robot, a changed
// password or refreshed secret ends the token; the administrator flag and
// a robot's permissions are read from the account, not the token.
//
// The principal a token resolved to is kept with the token, under the
// same freshness rule as the account rows it was built from (live.go: the
// store's write generation, at most liveTTL, and never past a robot's
// expiry), so a pull with a token reads no account state at all while
// nothing changed.
func (s *Service) verifyToken(ctx context.Context, raw string) (*Principal, error) {
	e, err := s.tokenClaims(raw)
	if err != nil {
		return nil, err
	}
	gen := s.st.WriteGeneration()
	now := time.Now()
	if m := e.principal.Load(); m != nil && m.gen == gen && now.Before(m.until) {
		return m.p, nil
	}
	p, err := s.tokenPrincipal(ctx, e.claims)
	if err != nil {
		return nil, err
	}
	until := now.Add(liveTTL)
	if p.Robot != nil && p.Robot.ExpiresAt > 0 {
		if exp := time.Unix(p.Robot.ExpiresAt, 0); exp.Before(until) {
			until = exp
		}
	}
	e.principal.Store(&tokenPrincipal{p: p, gen: gen, until: until})
	return p, nil
}

// tokenPrincipal is the principal of verified claims c, built from the
// live account they name.
func (s *Service) tokenPrincipal(ctx context.Context, c *tokenClaims) (*Principal, error) {
	bad := func(msg string) error { return errs.E(errs.Unauthenticated, "verify token", "%s", msg) }
	var p *Principal
	switch {
	case c.RobotID != 0:
		r, err := s.robotByName(ctx, c.Subject)
		if errs.Is(err, errs.NotFound) || (err == nil && r.r.ID != c.RobotID) {
			return nil, bad("the token's robot account no longer exists")
		}
		if err != nil {
			return nil, err
		}
		if p, err = robotPrincipal(r); err != nil {
			return nil, err
		}
	case c.UserID != 0:
		u, err := s.userByID(ctx, c.UserID)
		if errs.Is(err, errs.NotFound) || (err == nil && u.Username != c.Subject) {
			return nil, bad("the token's user no longer exists")
		}
		if err != nil {
			return nil, err
		}
		p = userPrincipal(u)
	default:
		p = &Principal{}
	}
	if c.Cred != "" && c.Cred != p.cred {
		return nil, bad("the password or secret this token was issued for has changed; log in again")
	}
	p.access, p.bearer = c.Access, true
	return p, nil
}

// tokenClaims returns the entry of raw's verified claims. Checking an
// ES256 signature costs far more than the rest of a manifest pull, so
// verified claims are remembered by the token's bytes until the token
// expires.
func (s *Service) tokenClaims(raw string) (*tokenEntry, error) {
	now := time.Now()
	s.tokensMu.RLock()
	e, ok := s.tokens[raw]
	s.tokensMu.RUnlock()
	if ok && now.Before(e.expires) {
		return e, nil
	}
	var c tokenClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		return &s.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(issuer), jwt.WithAudience(s.opts.Service),
		jwt.WithExpirationRequired(), jwt.WithLeeway(10*time.Second))
	if err != nil {
		return nil, &errs.Error{Kind: errs.Unauthenticated, Op: "verify token", Msg: "invalid or expired token", Err: err}
	}
	e = &tokenEntry{claims: &c, expires: c.ExpiresAt.Time}
	s.tokensMu.Lock()
	if len(s.tokens) >= maxTokens {
		clear(s.tokens)
	}
	s.tokens[raw] = e
	s.tokensMu.Unlock()
	return e, nil
}

// maxTokens bounds the verified-token cache; past it the cache starts over.
const maxTokens = 20000

type tokenEntry struct {
	claims    *tokenClaims
	expires   time.Time
	principal atomic.Pointer[tokenPrincipal]
}

// tokenPrincipal is the principal a token resolved to, at write
// generation gen, good until until.
type tokenPrincipal struct {
	p     *Principal
	gen   uint64
	until time.Time
}

// TokenHandler serves the Docker token endpoint (GET, and POST with the
// OAuth2 password grant).
func (s *Service) TokenHandler(w http.ResponseWriter, r *http.Request) {
	var p *Principal
	var err error
	var scopes []string
	switch r.Method {
	case http.MethodGet:
		p, err = s.Authenticate(r)
		scopes = r.URL.Query()["scope"]
	case http.MethodPost:
		// A password grant is a few short fields: a larger form is refused
		// (413) before it is read, not parsed up to net/http's 10 MB.
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
		if err = r.ParseForm(); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeTokenError(w, http.StatusRequestEntityTooLarge, "SIZE_INVALID", "the form is larger than 64 KiB")
			} else {
				writeTokenError(w, http.StatusBadRequest, "UNSUPPORTED", "malformed form")
			}
			return
		}
		scopes = r.PostForm["scope"]
		if r.PostForm.Get("grant_type") == "password" {
			p, err = s.Login(r.Context(), r.PostForm.Get("username"), r.PostForm.Get("password"), ClientAddr(r))
		} else {
			p, err = s.Authenticate(r)
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		writeTokenError(w, http.StatusMethodNotAllowed, "UNSUPPORTED", "use GET or POST")
		return
	}
	if err != nil {
		if errs.Is(err, errs.RateLimited) {
			if secs, ok := errs.RetryAfter(err); ok {
				w.Header().Set("Retry-After", strconv.Itoa(secs))
			}
			writeTokenError(w, http.StatusTooManyRequests, "TOOMANYREQUESTS", errs.Message(err))
			return
		}
		if errs.Is(err, errs.Invalid) {
			writeTokenError(w, http.StatusBadRequest, "UNSUPPORTED", errs.Message(err))
			return
		}
		if errs.Is(err, errs.Unauthenticated) {
			w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
			writeTokenError(w, http.StatusUnauthorized, "UNAUTHORIZED", errs.Message(err))
			return
		}
		writeTokenError(w, http.StatusInternalServerError, "UNKNOWN", "internal error")
		return
	}
	tok, issued, exp, err := s.issue(r, p, scopes)
	if errs.Is(err, errs.Invalid) {
		writeTokenError(w, http.StatusBadRequest, "UNSUPPORTED", errs.Message(err))
		return
	}
	if err != nil {
		writeTokenError(w, http.StatusInternalServerError, "UNKNOWN", "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   int(exp.Sub(issued).Seconds()),
		"issued_at":    issued.UTC().Format(time.RFC3339),
	})
}

// maxTokenForm bounds the body of POST /service/token.
const maxTokenForm = 64 << 10

func writeTokenError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}
