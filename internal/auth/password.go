package auth

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/berth-dev/berth/internal/errs"
)

// Argon2id parameters (OWASP's minimum profile: 19 MiB, 2 passes).
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
)

// The KDF's work area (argonMemory per computation) is the one thing an
// anonymous caller can make the server allocate at will, one per wrong
// password. At most kdfSlots computations run at once; the rest wait in
// arrival order. Sign-ins wait at most kdfWait (then answer "busy" with a
// Retry-After), so a flood of guesses costs a bounded amount of memory and
// queues instead of piling up.
var (
	kdfSlots = make(chan struct{}, kdfParallel())
	kdfWait  = 5 * time.Second
)

// kdfParallel is one computation per two CPUs (each uses one thread), at
// least 1 and at most 8: guesses can take at most half the machine, and
// 19 to 152 MiB of work areas.
func kdfParallel() int { return min(max(runtime.GOMAXPROCS(0)/2, 1), 8) }

// idKey runs argon2id in a slot. ctx ends the wait (not the computation);
// a nil ctx waits as long as it takes.
func idKey(ctx context.Context, password, salt []byte, t, m uint32, p uint8, n uint32) ([]byte, error) {
	if ctx == nil {
		kdfSlots <- struct{}{}
		return computeKey(password, salt, t, m, p, n), nil
	}
	tm := time.NewTimer(kdfWait)
	defer tm.Stop()
	select {
	case kdfSlots <- struct{}{}:
		return computeKey(password, salt, t, m, p, n), nil
	case <-ctx.Done():
		return nil, errs.Wrap("check password", ctx.Err())
	case <-tm.C:
		e := errs.E(errs.RateLimited, "check password", "too many sign-ins at once; try again shortly")
		e.RetryAfter = time.Second
		return nil, e
	}
}

// computeKey runs argon2id in the slot its caller took, and frees it.
func computeKey(password, salt []byte, t, m uint32, p uint8, n uint32) []byte {
	kdfRuns.Add(1)
	key := argon2.IDKey(password, salt, t, m, p, n)
	<-kdfSlots
	releaseKDFMemory()
	return key
}

var kdfRuns atomic.Int64

// KDFRuns is how many password hashes this process has computed (checks
// and new hashes).
func KDFRuns() int64 { return kdfRuns.Load() }

// HashPassword returns an encoded argon2id hash of password.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", errs.Wrap("hash password", err)
	}
	key, _ := idKey(nil, []byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches encoded, in constant time.
// It waits for a KDF slot as long as it takes: it is for callers already
// signed in (changing a password); sign-ins use VerifyPassword.
func CheckPassword(encoded, password string) bool {
	ok, _ := verifyPassword(nil, encoded, password)
	return ok
}

// VerifyPassword is CheckPassword for a sign-in: the wait for a KDF slot
// ends with ctx or after kdfWait, with an errs.RateLimited error.
func VerifyPassword(ctx context.Context, encoded, password string) (bool, error) {
	return verifyPassword(ctx, encoded, password)
}

func verifyPassword(ctx context.Context, encoded, password string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, nil
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, nil
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, nil
	}
	got, err := idKey(ctx, []byte(password), salt, t, m, p, uint32(len(want)))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// RandomSecret returns n random bytes, base64url-encoded.
func RandomSecret(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var lastRelease atomic.Int64

// releaseKDFMemory hands the KDF's 19 MiB work area back to the OS. Left
// to itself, the garbage collector would size its heap goal by that
// momentary peak and the process would keep twice its steady memory.
// Logins are cached, so this runs rarely; it runs at most once a second.
func releaseKDFMemory() {
	now := time.Now().UnixNano()
	last := lastRelease.Load()
	if now-last < int64(time.Second) || !lastRelease.CompareAndSwap(last, now) {
		return
	}
	debug.FreeOSMemory()
}
