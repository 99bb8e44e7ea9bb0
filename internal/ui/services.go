package ui

import (
	"net/http"
	"strconv"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/system"
)

// The console calls the domain services directly with the principal of
// the browser's session, as the API's handlers call them with the
// principal of their request: the services own every rule and ask auth
// every permission question, so the console and the API decide the same.
// What the services refuse is shown as the API would answer it
// (serviceError, through api.Answer).

// Services are what the console calls directly: the API's own service
// values. The browser's session is read with Sessions.User.
type Services struct {
	api.Services
}

// serviceError is err of a domain service as the page shows it: the
// status and message the API answers it with. A 5xx stays err itself, so
// errorPage logs its cause and shows a generic message; but a write that
// found no space left (507) and a part of Berth that is not running (503,
// the job system) are shown as the API words them, on the page of the
// form (a sign-in on a full disk, docs/security.md).
func serviceError(err error) error {
	if err == nil {
		return nil
	}
	status, code, msg, retry := api.Answer(err)
	if status >= 500 && !errs.Is(err, errs.StorageFull) && status != http.StatusServiceUnavailable {
		return err
	}
	ae := &pageError{Status: status, Code: code, Message: msg}
	if retry > 0 {
		ae.RetryAfter = strconv.Itoa(retry)
	}
	return ae
}

// anonymous is the principal of a browser without a session.
func anonymous() *auth.Principal { return &auth.Principal{} }

// write runs call, a write of a domain service named op, and returns its
// error as the page shows it. In read-only mode it is refused before call,
// with the API's answer to any write, unless the system service lets op
// through (system.AllowedReadOnly: changing the configuration): the
// console's direct writes pass no API route, so the console refuses them
// itself (v.Info is this request's system info, read when the page
// started).
func (v *view) write(op string, call func() error) error {
	if v.Info.ReadOnly && !system.AllowedReadOnly(op) {
		return serviceError(errs.E(errs.Denied, op, errs.ReadOnlyMessage))
	}
	return serviceError(call())
}
