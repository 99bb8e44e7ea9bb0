package api

import (
	"net/http"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/session"
)

// sessionStore is what the session service needs from the metadata store.
type sessionStore interface {
	session.Store
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

// SetSessionCookies sets the cookies of st, a session started for request
// r: the session cookie and the CSRF cookie the page's scripts read. The
// API's /c/login and the console's sign-in both set them here.
func SetSessionCookies(w http.ResponseWriter, r *http.Request, st *session.Started) {
	secure := r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: st.ID, Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode, Expires: st.ExpiresAt})
	http.SetCookie(w, &http.Cookie{Name: CSRFCookie, Value: st.CSRF, Path: "/", Secure: secure, SameSite: http.SameSiteStrictMode, Expires: st.ExpiresAt})
}

// ClearSessionCookies tells the browser to forget its session cookies.
func ClearSessionCookies(w http.ResponseWriter) {
	for _, name := range []string{SessionCookie, CSRFCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1})
	}
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errs.E(errs.Invalid, "login", "malformed form")
	}
	if err := checkValues("login", "form field", r.PostForm); err != nil {
		return err
	}
	st, err := s.sessions.Login(r.Context(), r.PostForm.Get("principal"), r.PostForm.Get("password"), auth.ClientAddr(r))
	if err != nil {
		return err
	}
	SetSessionCookies(w, r, st)
	w.Header().Set(CSRFHeader, st.CSRF)
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	var p *auth.Principal
	if c, err := s.caller(r); err == nil {
		p = c.Principal
	}
	var id string
	if ck, err := r.Cookie(SessionCookie); err == nil {
		id = ck.Value
	}
	if err := s.sessions.Logout(r.Context(), p, id); err != nil {
		return err
	}
	ClearSessionCookies(w)
	w.WriteHeader(http.StatusOK)
	return nil
}
