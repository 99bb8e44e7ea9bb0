package ui

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/system"
)

// Cookies the console itself sets (the session cookies are the API's).
const (
	preCSRFCookie = "berth_csrf"  // CSRF token before sign-in
	themeCookie   = "berth_theme" // "light", "dark" or absent (follow the system)
	flashCookie   = "berth_flash" // one-time message after a redirect
)

// view is what every page template gets: the request's context plus the
// page's own Data.
type view struct {
	c *Console
	r *http.Request
	// p is the caller the services are asked for: the session's principal,
	// or the anonymous one.
	p *auth.Principal

	Title        string
	Nav          string // the main navigation entry to mark current
	Status       int    // HTTP status to answer with (0: 200)
	RetryAfter   string // Retry-After to answer with, if any
	User         *api.UserResp
	Info         system.Info
	Banner       string
	BannerType   string // info, success, warning or danger
	CSRF         string
	Theme        string
	Flash        string
	Error        string     // the API's message after a failed form post
	FormID       string     // which form Error and Form belong to
	Form         url.Values // the failed form's input, shown again
	AssetVersion string
	Version      string
	Data         any
}

// newView reads the request's session (its principal, for the services),
// the system info as the session's caller sees it, theme and flash.
func (c *Console) newView(w http.ResponseWriter, r *http.Request) (*view, error) {
	v := &view{c: c, r: r, p: anonymous(), Theme: themeOf(r), Version: c.opts.Version}
	if ck, err := r.Cookie(api.SessionCookie); err == nil && ck.Value != "" {
		p, u, err := c.svc.Sessions.User(r.Context(), ck.Value)
		switch {
		case err == nil:
			// Forms carry the session's own CSRF token (the __csrf
			// cookie set at sign-in), and a POST is checked against it
			// (checkCSRF), as the API checks its header.
			ur := api.UserRespOf(u)
			v.p, v.User, v.CSRF = p, &ur, p.Session.CSRF
		case errs.Is(err, errs.Unauthenticated):
			// The session ended: forget its cookies and go on anonymously.
			api.ClearSessionCookies(w)
		default:
			return v, err
		}
	}
	// The live configuration: no statement.
	v.Info = c.svc.System.Info(v.p)
	if v.Info.BannerMessage != "" {
		v.Banner, v.BannerType = parseBanner(v.Info.BannerMessage)
	}
	if v.User == nil {
		if ck, err := r.Cookie(preCSRFCookie); err == nil && len(ck.Value) >= 16 {
			v.CSRF = ck.Value
		} else {
			v.CSRF = auth.RandomSecret(24)
			http.SetCookie(w, &http.Cookie{Name: preCSRFCookie, Value: v.CSRF, Path: "/", HttpOnly: true,
				Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
		}
	}
	if ck, err := r.Cookie(flashCookie); err == nil {
		if msg, err := url.QueryUnescape(ck.Value); err == nil {
			v.Flash = msg
		}
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1})
	}
	return v, nil
}

// errBadText answers a request whose path, query or form holds text that
// is not valid UTF-8 or holds NUL characters (as the API refuses it).
var errBadText = &pageError{Status: http.StatusBadRequest, Message: "The request holds characters that are not allowed (invalid UTF-8 or NUL)."}

// checkCSRF refuses a POST whose csrf field is not the browser's token.
func (c *Console) checkCSRF(r *http.Request, v *view) error {
	r.Body = http.MaxBytesReader(nil, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		return &pageError{Status: http.StatusBadRequest, Message: "The form could not be read."}
	}
	if !api.ValidValues(r.Form) {
		return errBadText
	}
	got := r.PostForm.Get("csrf")
	if v.CSRF == "" || subtle.ConstantTimeCompare([]byte(got), []byte(v.CSRF)) != 1 {
		return &pageError{Status: http.StatusForbidden, Code: "CSRF",
			Message: "The form is out of date or came from another site (CSRF token missing or wrong). Reload the page and try again."}
	}
	return nil
}

func themeOf(r *http.Request) string {
	if ck, err := r.Cookie(themeCookie); err == nil && (ck.Value == "light" || ck.Value == "dark") {
		return ck.Value
	}
	return ""
}

// Val returns the kept input of field in form id after a failed post.
func (v *view) Val(id, field string) string {
	if v.FormID != id {
		return ""
	}
	return v.Form.Get(field)
}

// Failed reports whether form id is the one that failed (to reopen it).
func (v *view) Failed(id string) bool { return v.FormID == id && v.Error != "" }

// Host is the registry host shown in docker commands.
func (v *view) Host() string { return v.c.registryHost(v.r) }

// Back is where the theme switch returns to: this page, if it was a GET.
func (v *view) Back() string {
	if v.r.Method == http.MethodGet {
		return v.r.URL.RequestURI()
	}
	return "/projects"
}

// SignedIn reports whether a user is signed in.
func (v *view) SignedIn() bool { return v.User != nil }

// fail records a failed form post to render the page again: the API's
// message and status, and the input.
func (v *view) fail(formID string, err error) error {
	var ae *pageError
	if !errors.As(err, &ae) {
		return err
	}
	v.Error, v.Status, v.FormID, v.Form = ae.Message, ae.Status, formID, v.r.PostForm
	v.RetryAfter = ae.RetryAfter
	return nil
}

// flash sets the message the next page shows.
func flash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// redirect answers a successful post: 303 to target with a flash message.
// The target goes through localTarget like every other redirect.
func redirect(w http.ResponseWriter, r *http.Request, target, msg string) error {
	if msg != "" {
		flash(w, msg)
	}
	http.Redirect(w, r, localTarget(target, "/projects"), http.StatusSeeOther)
	return nil
}

// safeNext is a local path to go to after sign-in (or after a theme
// change), else /projects.
func safeNext(next string) string { return localTarget(next, "/projects") }

// localTarget is the one check of every redirect target of the console:
// target as a browser reads it (WHATWG URL parsing: leading and trailing C0
// controls and spaces stripped, every tab, CR and LF removed, backslash read
// as slash) if that is a path on this origin (a single leading slash, no
// scheme, no host), else def. The normalised form is returned, so the
// Location header says exactly what the browser will follow.
func localTarget(target, def string) string {
	t := strings.TrimFunc(target, func(r rune) bool { return r <= 0x20 })
	t = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, t)
	if len(t) == 0 || t[0] != '/' || (len(t) > 1 && t[1] == '/') {
		return def
	}
	for _, r := range t {
		if r < 0x20 || r == 0x7f {
			return def
		}
	}
	u, err := url.Parse(t)
	if err != nil || u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") {
		return def
	}
	return t
}

// confirmed reports whether a destructive post carries confirm=yes; if
// not, it renders the confirmation page for it and returns false.
func (c *Console) confirmed(w http.ResponseWriter, r *http.Request, v *view, question, action, cancel string) bool {
	if r.PostForm.Get("confirm") == "yes" {
		return true
	}
	v.Title = "Confirm"
	v.Form = r.PostForm
	v.Data = confirmData{Question: question, Action: action, Cancel: cancel, Button: actionWord(r.URL.Path)}
	c.render(w, v, "confirm")
	return false
}

type confirmData struct {
	Question, Action, Cancel, Button string
}

func actionWord(path string) string {
	switch {
	case strings.HasSuffix(path, "/refresh"):
		return "Refresh"
	case strings.HasSuffix(path, "/disable"):
		return "Disable"
	case strings.HasSuffix(path, "/run"):
		return "Run now"
	case strings.HasSuffix(path, "/stop"):
		return "Stop"
	case strings.HasSuffix(path, "/admin"):
		return "Change"
	}
	return "Delete"
}

// pageParams reads the page number and search text of a listing.
type listParams struct {
	Page int
	Size int
	Q    string
}

func readList(r *http.Request, size int) listParams {
	p := listParams{Page: 1, Size: size, Q: strings.TrimSpace(r.URL.Query().Get("q"))}
	if n, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && n > 0 {
		p.Page = n
	}
	return p
}

// maxOffset bounds how far a listing pages (as the API's paging does not
// let an offset overflow).
const maxOffset = 1 << 40

// offset is the listing's offset for a service call; a page too far off
// is refused.
func (p listParams) offset() (int, error) {
	if int64(p.Page-1) > maxOffset/int64(p.Size) {
		return 0, &pageError{Status: http.StatusBadRequest, Code: "BAD_REQUEST", Message: "The page number is too large."}
	}
	return (p.Page - 1) * p.Size, nil
}

// query returns the API parameters for the listing: page, page_size and,
// with search text, q=<key>=~"text".
func (p listParams) query(key string) url.Values {
	q := url.Values{}
	q.Set("page", strconv.Itoa(p.Page))
	q.Set("page_size", strconv.Itoa(p.Size))
	if p.Q != "" && key != "" {
		q.Set("q", key+`=~"`+queryText(p.Q)+`"`)
	}
	return q
}

// queryText strips what Harbor's query language would read as syntax.
func queryText(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(`",{}()[]~`, r) {
			return -1
		}
		return r
	}, s)
}

// pager is what the pager partial shows.
type pager struct {
	Page, Pages int
	Total       int64
	Prev, Next  string
}

// makePager builds the pager of a listing at base (a path with query).
func makePager(r *http.Request, p listParams, total int64) pager {
	pg := pager{Page: p.Page, Total: total, Pages: int((total + int64(p.Size) - 1) / int64(p.Size))}
	link := func(n int) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		return r.URL.Path + "?" + q.Encode()
	}
	if p.Page > 1 {
		pg.Prev = link(p.Page - 1)
	}
	if int64(p.Page*p.Size) < total {
		pg.Next = link(p.Page + 1)
	}
	return pg
}
