package registry

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
)

// code is an OCI distribution error code.
type code string

// The OCI error codes, with the status and message each carries. This table
// is the only place /v2 picks a status for an error.
const (
	codeBlobUnknown         code = "BLOB_UNKNOWN"
	codeBlobUploadInvalid   code = "BLOB_UPLOAD_INVALID"
	codeBlobUploadUnknown   code = "BLOB_UPLOAD_UNKNOWN"
	codeDigestInvalid       code = "DIGEST_INVALID"
	codeManifestBlobUnknown code = "MANIFEST_BLOB_UNKNOWN"
	codeManifestInvalid     code = "MANIFEST_INVALID"
	codeManifestUnknown     code = "MANIFEST_UNKNOWN"
	codeNameInvalid         code = "NAME_INVALID"
	codeNameUnknown         code = "NAME_UNKNOWN"
	codeSizeInvalid         code = "SIZE_INVALID"
	codeUnauthorized        code = "UNAUTHORIZED"
	codeDenied              code = "DENIED"
	codeUnsupported         code = "UNSUPPORTED"
	codeTooManyRequests     code = "TOOMANYREQUESTS"
	codeRangeInvalid        code = "BLOB_UPLOAD_INVALID_RANGE"
	codePaginationInvalid   code = "PAGINATION_NUMBER_INVALID"
	codeManifestTooLarge    code = "MANIFEST_TOO_LARGE"
	codeUnknown             code = "UNKNOWN"
	// codePolicyViolation is Harbor's code for a pull a project policy
	// refuses (content trust, prevent_vul), with its status 412.
	codePolicyViolation code = "PROJECTPOLICYVIOLATION"
	// codeStorageFull is sent as UNKNOWN with status 507: no space is left
	// for a write (errs.StorageFull).
	codeStorageFull code = "UNKNOWN/STORAGE_FULL"
)

var codeTable = map[code]struct {
	status  int
	message string
	wire    code // the code sent, when not the key itself
}{
	codeBlobUnknown:         {http.StatusNotFound, "blob unknown to registry", ""},
	codeBlobUploadInvalid:   {http.StatusBadRequest, "blob upload invalid", ""},
	codeBlobUploadUnknown:   {http.StatusNotFound, "blob upload unknown to registry", ""},
	codeDigestInvalid:       {http.StatusBadRequest, "provided digest did not match uploaded content", ""},
	codeManifestBlobUnknown: {http.StatusBadRequest, "manifest references a manifest or blob unknown to registry", ""},
	codeManifestInvalid:     {http.StatusBadRequest, "manifest invalid", ""},
	codeManifestUnknown:     {http.StatusNotFound, "manifest unknown to registry", ""},
	codeNameInvalid:         {http.StatusBadRequest, "invalid repository name", ""},
	codeNameUnknown:         {http.StatusNotFound, "repository name not known to registry", ""},
	codeSizeInvalid:         {http.StatusBadRequest, "provided length did not match content length", ""},
	codeUnauthorized:        {http.StatusUnauthorized, "authentication required", ""},
	codeDenied:              {http.StatusForbidden, "requested access to the resource is denied", ""},
	codeUnsupported:         {http.StatusMethodNotAllowed, "the operation is unsupported", ""},
	codeTooManyRequests:     {http.StatusTooManyRequests, "too many requests", ""},
	codeRangeInvalid:        {http.StatusRequestedRangeNotSatisfiable, "invalid content range", ""},
	codePaginationInvalid:   {http.StatusBadRequest, "invalid number of results requested", ""},
	codeManifestTooLarge:    {http.StatusRequestEntityTooLarge, "manifest is too large", ""},
	codeUnknown:             {http.StatusInternalServerError, "unknown error", ""},
	codePolicyViolation:     {http.StatusPreconditionFailed, "the project's policy refuses this pull", ""},
	codeStorageFull:         {http.StatusInsufficientStorage, errs.StorageFullMessage, codeUnknown},
}

// ociError is an error destined for the wire as an OCI error body.
type ociError struct {
	code   code
	detail string // caller-safe detail; the table's message if empty
	err    error  // cause, logged for 5xx
	header http.Header
}

func (e *ociError) Error() string {
	if e.err != nil {
		return string(e.code) + ": " + e.err.Error()
	}
	return string(e.code) + ": " + e.detail
}

func (e *ociError) Unwrap() error { return e.err }

// fail builds an ociError of code c, with the caller-safe message of cause
// (if any) as detail.
func fail(c code, cause error) *ociError {
	return &ociError{code: c, detail: errs.Message(cause), err: cause}
}

// failf builds an ociError of code c with a detail message.
func failf(c code, detail string) *ociError { return &ociError{code: c, detail: detail} }

// kindCode is the default translation of a domain error kind; handlers that
// know better (a missing blob is BLOB_UNKNOWN, not NAME_UNKNOWN) say so with fail.
var kindCode = map[errs.Kind]code{
	errs.NotFound:        codeNameUnknown,
	errs.Invalid:         codeNameInvalid,
	errs.Denied:          codeDenied,
	errs.Unauthenticated: codeUnauthorized,
	errs.Unavailable:     codeDenied,
	errs.Unsupported:     codeUnsupported,
	errs.TooLarge:        codeSizeInvalid,
	errs.Conflict:        codeBlobUploadInvalid,
	errs.RateLimited:     codeTooManyRequests,
	errs.StorageFull:     codeStorageFull,
}

// writeError writes err as an OCI error body. A write that found no space
// left is answered as such whatever the handler made of it (a failed
// append is BLOB_UPLOAD_INVALID otherwise): the client learns the registry
// is full, not that its upload was wrong.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var oe *ociError
	if !errors.As(err, &oe) || (oe.code != codeStorageFull && errs.Is(err, errs.StorageFull)) {
		c, ok := kindCode[errs.KindOf(err)]
		if !ok {
			c = codeUnknown
		}
		oe = fail(c, err)
	}
	entry := codeTable[oe.code]
	wire := oe.code
	if entry.wire != "" {
		wire = entry.wire
	}
	msg := entry.message
	detail := oe.detail
	if entry.status >= 500 {
		log.Error("registry request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		detail = ""
	}
	for k, v := range oe.header {
		w.Header()[k] = v
	}
	if secs, ok := errs.RetryAfter(err); ok {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	if detail != "" {
		msg = detail
	}
	body := struct {
		Errors []errorBody `json:"errors"`
	}{Errors: []errorBody{{Code: string(wire), Message: msg}}}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(entry.status)
	if r.Method != http.MethodHead {
		json.NewEncoder(w).Encode(body)
	}
}

type errorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}
