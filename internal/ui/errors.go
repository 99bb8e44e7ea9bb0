package ui

import "net/url"

// pageError is an answer the console shows instead of a page: its HTTP
// status, Harbor's error code and the message, as the API would answer the
// same refusal (serviceError makes one from a domain service's error).
type pageError struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is the Retry-After header answered with the page (a
	// throttled sign-in).
	RetryAfter string
}

func (e *pageError) Error() string { return e.Message }

// pathEscape escapes one path segment of a console URL.
func pathEscape(s string) string { return url.PathEscape(s) }
