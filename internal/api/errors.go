package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
)

// kindStatus maps error kinds to Harbor's status codes and error codes.
// This table and writeError are the only place the API picks a status.
var kindStatus = map[errs.Kind]struct {
	status int
	code   string
}{
	errs.NotFound:        {http.StatusNotFound, "NOT_FOUND"},
	errs.Exists:          {http.StatusConflict, "CONFLICT"},
	errs.Invalid:         {http.StatusBadRequest, "BAD_REQUEST"},
	errs.Denied:          {http.StatusForbidden, "FORBIDDEN"},
	errs.Unauthenticated: {http.StatusUnauthorized, "UNAUTHORIZED"},
	errs.Conflict:        {http.StatusConflict, "CONFLICT"},
	errs.Unavailable:     {http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE"},
	errs.TooLarge:        {http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE"},
	errs.Unsupported:     {http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	errs.RateLimited:     {http.StatusTooManyRequests, "TOO_MANY_REQUESTS"},
	errs.Precondition:    {http.StatusPreconditionFailed, "PRECONDITION"},
	errs.Internal:        {http.StatusInternalServerError, "UNKNOWN"},
	errs.StorageFull:     {http.StatusInsufficientStorage, "INSUFFICIENT_STORAGE"},
}

// codedError overrides the Harbor error code of an error (e.g. DENIED for
// read-only mode and quota refusals, as Harbor sends them).
type codedError struct {
	code string
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

func withCode(code string, err error) error { return &codedError{code: code, err: err} }

type harborError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type harborErrors struct {
	Errors []harborError `json:"errors"`
}

// Answer is what the API answers err with: the status, Harbor's error
// code, the message (generic for a 5xx: the cause is only logged) and a
// Retry-After in seconds (0 for none). The web console, which calls the
// domain services directly, shows their errors through it too, so both
// surfaces word a refusal the same way.
func Answer(err error) (status int, code, msg string, retryAfter int) {
	k := errs.KindOf(err)
	st, ok := kindStatus[k]
	if !ok {
		st = kindStatus[errs.Internal]
	}
	code = st.code
	var ce *codedError
	if errors.As(err, &ce) {
		code = ce.code
	}
	msg = errs.Message(err)
	if st.status >= 500 {
		msg = "internal server error"
		if k == errs.StorageFull {
			msg = errs.StorageFullMessage
		}
	}
	if msg == "" {
		msg = http.StatusText(st.status)
	}
	if secs, ok := errs.RetryAfter(err); ok {
		retryAfter = secs
	}
	return st.status, code, msg, retryAfter
}

// writeError writes err as Harbor's error body. A 5xx is logged with its
// cause and answered with a generic message.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, code, msg, retry := Answer(err)
	if status >= 500 {
		log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="berth"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(harborErrors{Errors: []harborError{{Code: code, Message: msg}}})
	}
}

// WriteError answers err as the API does, with Harbor's error body: for
// the admission gate in front of the API (internal/httplimit), which
// refuses some requests before any handler sees them.
func (s *Server) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	writeError(w, r, s.log, err)
}
