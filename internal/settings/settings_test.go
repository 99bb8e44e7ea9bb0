package settings_test

import (
	"context"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/settings"
)

// props is an in-memory settings.Store.
type props map[string]string

func (p props) Property(_ context.Context, name string) (string, error) {
	v, ok := p[name]
	if !ok {
		return "", errs.E(errs.NotFound, "get property", "property %q not set", name)
	}
	return v, nil
}

func (p props) SetProperty(_ context.Context, name, value string) error {
	p[name] = value
	return nil
}

// TestPrecedence: a flag's value is the default of its setting while
// nothing is stored; once stored, the stored value wins, in this source
// and in another one over the same store (another process) after Load.
func TestPrecedence(t *testing.T) {
	ctx := context.Background()
	st := props{}
	defaults := settings.Defaults()
	defaults.TokenExpiration = 45 // as --token-ttl 45m
	a := settings.New(st, defaults)
	if err := a.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if got := a.TokenTTL(); got != 45*time.Minute {
		t.Errorf("nothing stored: token TTL %v, want the flag's 45m", got)
	}
	c := a.Get()
	c.TokenExpiration, c.ReadOnly, c.NotificationEnable = 5, true, false
	if err := a.Save(ctx, c); err != nil {
		t.Fatal(err)
	}
	if a.TokenTTL() != 5*time.Minute || !a.ReadOnly() || a.NotificationEnable() {
		t.Errorf("after Save: %+v", a.Get())
	}
	b := settings.New(st, defaults)
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if b.TokenTTL() != 5*time.Minute || !b.ReadOnly() || b.NotificationEnable() {
		t.Errorf("another source over the same store: %+v, want the stored values over the flag's", b.Get())
	}
	// A stored document without a field keeps that field's default.
	st["configurations"] = `{"read_only":true}`
	if err := b.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if b.TokenTTL() != 45*time.Minute || !b.ReadOnly() || !b.NotificationEnable() {
		t.Errorf("partial document: %+v", b.Get())
	}
}

// TestSaveValidates: an invalid configuration is neither stored nor made
// current.
func TestSaveValidates(t *testing.T) {
	ctx := context.Background()
	st := props{}
	s := settings.New(st, settings.Defaults())
	for _, bad := range []func(*settings.Config){
		func(c *settings.Config) { c.TokenExpiration = 0 },
		func(c *settings.Config) { c.TokenExpiration = 24*60 + 1 },
		func(c *settings.Config) { c.AuthMode = "ldap_auth" },
		func(c *settings.Config) { c.RobotNamePrefix = "bot+" },
		func(c *settings.Config) { c.SkipAuditLogDatabase = true },
		func(c *settings.Config) { c.AuditLogForwardEndpoint = "syslog" },
	} {
		c := settings.Defaults()
		bad(&c)
		if err := s.Save(ctx, c); !errs.Is(err, errs.Invalid) {
			t.Errorf("%+v: %v, want invalid", c, err)
		}
	}
	if len(st) != 0 || s.Get() != settings.Defaults() {
		t.Errorf("a refused configuration was stored or made current: %v", st)
	}
}
