// Package errs is Berth's one error vocabulary. Domain code returns an *Error
// with a Kind and the operation that failed; each wire surface (/v2, /api/v2.0)
// translates kinds to its own error body in exactly one place.
package errs

import (
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Kind classifies an error for translation to a wire status.
type Kind int

const (
	Internal        Kind = iota // unexpected failure; details are logged, not sent
	NotFound                    // the thing named does not exist
	Exists                      // the thing being created already exists
	Invalid                     // the input is malformed or breaks a rule
	Denied                      // authenticated, but not allowed
	Unauthenticated             // no or bad credentials
	Conflict                    // the request conflicts with current state
	Unavailable                 // temporarily unable (read-only, overload)
	TooLarge                    // the input is bigger than allowed
	Unsupported                 // the operation is not supported
	RateLimited                 // too many requests; try again later
	Precondition                // the system is not set up for this (e.g. another auth mode)
	StorageFull                 // the disk (blob storage or database) has no space left
)

// StorageFullMessage is the answer to a write that found no space left, on
// /v2 and on the API alike.
const StorageFullMessage = "storage is full"

// ReadOnlyMessage is Harbor's answer to a write while the system is in
// read-only mode, on /v2 and on the API alike.
const ReadOnlyMessage = "The system is in read only mode. Any modification is prohibited."

var kindNames = [...]string{"internal", "not found", "exists", "invalid", "denied",
	"unauthenticated", "conflict", "unavailable", "too large", "unsupported", "rate limited", "precondition failed",
	"storage full"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Error is a domain error: what went wrong (Kind), where (Op), a message safe to
// show to the caller (Msg), and the underlying cause (Err), which is not shown.
type Error struct {
	Kind Kind
	Op   string
	Msg  string
	Err  error
	// RetryAfter, on a RateLimited or Unavailable error, is how long the
	// caller should wait before trying again (each surface sends it as a
	// Retry-After header).
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	s := e.Op
	if e.Msg != "" {
		if s != "" {
			s += ": "
		}
		s += e.Msg
	}
	if e.Err != nil {
		if s != "" {
			s += ": "
		}
		s += e.Err.Error()
	}
	if s == "" {
		s = e.Kind.String()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// E builds an error of kind k for operation op with a caller-safe message.
func E(k Kind, op, format string, args ...any) *Error {
	return &Error{Kind: k, Op: op, Msg: fmt.Sprintf(format, args...)}
}

// Wrap records that op failed because of err. The kind is taken from err when
// it already has one, else it is Internal.
func Wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: KindOf(err), Op: op, Err: err}
}

// KindOf returns the kind of the outermost *Error in err's chain, or
// Internal. A cause without a kind that is a full disk (storageFull) is
// StorageFull: this is the one place where ENOSPC from the blob driver and
// a full database are recognised.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		if e.Kind == Internal && e.Err != nil {
			return KindOf(e.Err)
		}
		return e.Kind
	}
	if storageFull(err) {
		return StorageFull
	}
	return Internal
}

// storageFull reports whether err says that no space is left: ENOSPC or
// EDQUOT from a system call (the blob driver, SQLite's own files), SQLite's
// SQLITE_FULL (its primary result code 13, read through the driver's Code
// method), or PostgreSQL's disk_full (SQLSTATE 53100).
func storageFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return true
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteFull {
		return true
	}
	var state interface{ SQLState() string }
	return errors.As(err, &state) && state.SQLState() == "53100"
}

// sqliteFull is SQLite's SQLITE_FULL result code.
const sqliteFull = 13

// Is reports whether err has kind k.
func Is(err error, k Kind) bool { return err != nil && KindOf(err) == k }

// Message returns the first caller-safe message in err's chain, or "".
func Message(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Msg != "" {
			return e.Msg
		}
		err = e.Err
	}
	return ""
}

// RetryAfter returns the wait the first *Error in err's chain that sets one
// asks for, rounded up to whole seconds (at least 1), and whether any does.
func RetryAfter(err error) (int, bool) {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return 0, false
		}
		if e.RetryAfter > 0 {
			return int((e.RetryAfter + time.Second - 1) / time.Second), true
		}
		err = e.Err
	}
	return 0, false
}
