package api

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/repository"
)

// maxBody is the largest JSON request body accepted.
const maxBody = 1 << 20

// decode reads r's JSON body into v strictly: one object, no unknown
// fields, no wrong types, at most maxBody bytes. A field of the reference
// definition of the route's body that v does not have is accepted and
// ignored (reqmodel.go); a field no definition has is refused. Errors are errs.Invalid
// (errs.TooLarge for size) with a message naming the problem.
func decode(r *http.Request, v any) error {
	const op = "decode request"
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return errs.E(errs.Invalid, op, "Content-Type must be application/json, not %q", ct)
	}
	raw, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errs.E(errs.TooLarge, op, "request body is larger than %d bytes", maxBody)
		}
		return errs.E(errs.Invalid, op, "reading the request body: %v", err)
	}
	// encoding/json would silently turn invalid UTF-8 into U+FFFD.
	if !utf8.Valid(raw) {
		return invalidText(op, "the request body")
	}
	if op, ok := r.Context().Value(opKey{}).(string); ok {
		raw = pruneDocumented(raw, v, requestModel(op))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return errs.E(errs.TooLarge, op, "request body is larger than %d bytes", maxBody)
		case errors.Is(err, io.EOF):
			return errs.E(errs.Invalid, op, "request body is empty")
		case errors.As(err, &se):
			return errs.E(errs.Invalid, op, "malformed JSON at byte %d", se.Offset)
		case errors.As(err, &te):
			return errs.E(errs.Invalid, op, "field %q must be %s, not %s", te.Field, te.Type, te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field"):
			return errs.E(errs.Invalid, op, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		}
		return errs.E(errs.Invalid, op, "malformed JSON: %v", err)
	}
	if dec.More() {
		return errs.E(errs.Invalid, op, "request body has data after the JSON object")
	}
	return checkDecoded(v)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return errs.Wrap("encode response", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, err = w.Write(b)
	return err
}

// created answers 201 with Location pointing at the new resource.
func created(w http.ResponseWriter, r *http.Request, location string) error {
	w.Header().Set("Location", location)
	w.WriteHeader(http.StatusCreated)
	return nil
}

// ok answers 200 with no body.
func ok(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

// Timestamp formats a stored millisecond time as Harbor does (RFC 3339,
// UTC, milliseconds); zero is the zero time (repository.Timestamp).
func Timestamp(ms int64) string { return repository.Timestamp(ms) }

func parseID(s string) (int64, bool) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n > 0
}

// pathID reads a positive integer path value.
func pathID(r *http.Request, name string) (int64, error) {
	id, ok := parseID(r.PathValue(name))
	if !ok {
		return 0, errs.E(errs.Invalid, "path", "%s must be a positive integer, not %q", name, r.PathValue(name))
	}
	return id, nil
}

func urlUnescape(s string) (string, error) { return url.PathUnescape(s) }

func hashSessionID(id string) string { return auth.HashSessionID(id) }

func constantTimeEqual(a, b string) bool {
	return len(a) == len(b) && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// boolParam reads an optional boolean query parameter.
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errs.E(errs.Invalid, "query", "%s must be true or false, not %q", name, v)
	}
	return b, nil
}
