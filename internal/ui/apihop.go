package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-dev/berth/internal/api"
)

// This file is the console's remaining hop to the REST API: the families
// that have no domain service yet (docs/architecture.md, "The console's
// remaining hop") are reached through it. Everything with a service is
// called directly (services.go).

// client calls the REST API in-process on behalf of the browser request in:
// each call is a new http.Request served by the API handler, carrying the
// browser's session cookie and, on writes, the session's CSRF token in the
// header the API checks. The API authenticates, authorizes, validates and
// audits exactly as for any other client; the console adds no rule of its own.
type client struct {
	c  *Console
	in *http.Request
}

// apiError is an error answer of the API: its status and Harbor's error body.
type apiError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the API's Retry-After header (a throttled sign-in),
	// answered to the browser with the page.
	RetryAfter string
}

func (e *apiError) Error() string { return e.Message }

// response is a successful answer.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// total is the X-Total-Count of a listing.
func (r *response) total() int64 {
	n, _ := strconv.ParseInt(r.Header.Get("X-Total-Count"), 10, 64)
	return n
}

// maxAnswer bounds what the console reads from one in-process answer.
const maxAnswer = 16 << 20

// recorder is the ResponseWriter in-process calls write to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) > maxAnswer {
		return 0, fmt.Errorf("answer larger than %d bytes", maxAnswer)
	}
	return r.body.Write(b)
}

// request builds an in-process request with the browser's identity.
func (cl *client) request(ctx context.Context, method, target string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Message: "malformed request path"}
	}
	req.RemoteAddr = cl.in.RemoteAddr
	req.Host = cl.in.Host
	req.TLS = cl.in.TLS
	for _, h := range []string{"X-Forwarded-For", "X-Real-Ip", "User-Agent"} {
		if v := cl.in.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	// Project paths name projects, never IDs (a project may be named "123").
	req.Header.Set("X-Is-Resource-Name", "true")
	if ck, err := cl.in.Cookie(api.SessionCookie); err == nil && ck.Value != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: ck.Value})
		if method != http.MethodGet && method != http.MethodHead {
			if csrf, err := cl.in.Cookie(api.CSRFCookie); err == nil {
				req.Header.Set(api.CSRFHeader, csrf.Value)
			}
		}
	}
	return req, nil
}

// serve runs req through h and turns an error status into an *apiError.
func serve(h http.Handler, req *http.Request) (*response, error) {
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	resp := &response{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}
	if rec.status < 400 {
		return resp, nil
	}
	e := &apiError{Status: rec.status, RetryAfter: rec.header.Get("Retry-After")}
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if json.Unmarshal(rec.body.Bytes(), &body) == nil && len(body.Errors) > 0 {
		e.Code, e.Message = body.Errors[0].Code, body.Errors[0].Message
	}
	if e.Message == "" {
		e.Message = http.StatusText(rec.status)
	}
	return resp, e
}

// call sends a JSON request (body nil for none) to the API path (relative
// to /api/v2.0, with its query) and decodes a JSON answer into out (nil to
// ignore it).
func (cl *client) call(method, path string, body, out any) (*response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := cl.request(cl.in.Context(), method, api.Prefix+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := serve(cl.c.api, req)
	if err != nil {
		return resp, err
	}
	if out != nil && len(resp.Body) > 0 {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return resp, fmt.Errorf("ui: decoding %s %s: %w", method, path, err)
		}
	}
	return resp, nil
}

func (cl *client) get(path string, out any) (*response, error) {
	return cl.call(http.MethodGet, path, nil, out)
}

// pathEscape escapes one path segment for an API path.
func pathEscape(s string) string { return url.PathEscape(s) }
