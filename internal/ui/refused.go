package ui

import (
	"net/http"

	"github.com/berth-dev/berth/internal/errs"
)

// WriteError answers, with the console's error page, a request that the
// admission gate in front of the console (internal/httplimit) refused
// before the console saw it: a form that did not arrive in time, or no
// room to hold it.
func (c *Console) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	var status int
	switch errs.KindOf(err) {
	case errs.Invalid:
		status = http.StatusBadRequest
	case errs.TooLarge:
		status = http.StatusRequestEntityTooLarge
	case errs.Unavailable:
		status = http.StatusServiceUnavailable
	default:
		c.errorPage(w, r, err) // logged, and a generic message
		return
	}
	c.errorPage(w, r, &pageError{Status: status, Message: errs.Message(err)})
}
