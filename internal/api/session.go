package api

import (
	"context"
	"net/http"
	"time"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/store"
)

// sessionStore is what browser sign-in needs from the metadata store.
type sessionStore interface {
	CreateSession(ctx context.Context, s store.Session) error
	DeleteSession(ctx context.Context, idHash string) error
}

// Browser sessions live outside /api/v2.0, where Harbor has them:
// POST /c/login (form fields principal and password) and GET /c/log_out.
func (s *Server) sessionRoutes() []route { return nil }

// CSRFCookie holds the session's CSRF token for the page's scripts; writes
// authenticated by the session cookie must echo it in CSRFHeader.
const CSRFCookie = "__csrf"

func (s *Server) registerSessionHandlers() {
	s.mux.HandleFunc("POST /c/login", func(w http.ResponseWriter, r *http.Request) {
		if err := s.login(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	})
	s.mux.HandleFunc("GET /c/log_out", func(w http.ResponseWriter, r *http.Request) {
		if err := s.logout(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// StartSession signs a user in: it creates a session and sets its cookies.
// It returns the CSRF token.
func (s *Server) StartSession(w http.ResponseWriter, r *http.Request, p *auth.Principal) (string, error) {
	id, csrf := auth.RandomSecret(32), auth.RandomSecret(24)
	ttl := time.Duration(s.opts.Settings.Get().SessionTimeout) * time.Minute
	if ttl <= 0 {
		ttl = s.opts.SessionTTL
	}
	exp := time.Now().Add(ttl)
	if err := s.st.CreateSession(r.Context(), store.Session{IDHash: hashSessionID(id), UserID: p.UserID, CSRF: csrf, ExpiresAt: exp.UnixMilli()}); err != nil {
		return "", err
	}
	secure := r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode, Expires: exp})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: csrf, Path: "/", Secure: secure, SameSite: http.SameSiteStrictMode, Expires: exp})
	w.Header().Set(CSRFHeader, csrf)
	return csrf, nil
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errs.E(errs.Invalid, "login", "malformed form")
	}
	if err := checkValues("login", "form field", r.PostForm); err != nil {
		return err
	}
	user, pass := r.PostForm.Get("principal"), r.PostForm.Get("password")
	if user == "" || pass == "" {
		return errs.E(errs.Invalid, "login", "principal and password are required")
	}
	p, err := s.auth.Login(r.Context(), user, pass, auth.ClientAddr(r))
	c := &Caller{&auth.Principal{Name: user}}
	if err != nil {
		if errs.Is(err, errs.Unauthenticated) {
			s.audit(c, 0, "login", "user", user, err)
		}
		return err
	}
	if p.IsRobot() {
		return errs.E(errs.Denied, "login", "robot accounts cannot sign in to the console")
	}
	if _, err := s.StartSession(w, r, p); err != nil {
		return err
	}
	s.audit(&Caller{p}, 0, "login", "user", user, nil)
	w.WriteHeader(http.StatusOK)
	return nil
}

// EndSession signs the request's session out and clears its cookies.
func (s *Server) EndSession(w http.ResponseWriter, r *http.Request) error {
	if ck, err := r.Cookie(SessionCookie); err == nil && ck.Value != "" {
		if err := s.st.DeleteSession(r.Context(), hashSessionID(ck.Value)); err != nil {
			return err
		}
	}
	for _, name := range []string{SessionCookie, CSRFCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1})
	}
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := s.caller(r); err == nil && !c.Anonymous() {
		s.audit(c, 0, "logout", "user", c.Name, nil)
	}
	if err := s.EndSession(w, r); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}
