package webhook

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/jobs"
	"github.com/berth-dev/berth/internal/store"
)

// Headers of a delivery besides Content-Type, Authorization and the signature.
const (
	EventHeader    = "X-Berth-Event"    // the event type
	DeliveryHeader = "X-Berth-Delivery" // the task ID: the same on every retry of one delivery
	TestHeader     = "X-Berth-Test"     // "true" on test deliveries (see Test), absent otherwise
)

// clients are the HTTP clients of deliveries: one verifying TLS
// certificates, one not (for targets with skip_cert_verify), each in two
// kinds: open, and blocked (used while internal targets are refused: its
// dialer refuses internal addresses and it has no proxy). The two kinds
// never share a connection pool, so a connection made while the block was
// off is never reused once it is on.
type clients struct{ secure, insecure, blockedSecure, blockedInsecure *http.Client }

func newClients(timeout time.Duration) clients {
	mk := func(skip, blocked bool) *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		if blocked {
			d.Control = refuseInternal
			tr.Proxy = nil // a proxy would reach what the dialer refuses
		}
		tr.DialContext = d.DialContext
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: skip}
		tr.MaxIdleConnsPerHost = 4
		return &http.Client{
			Transport: tr,
			Timeout:   timeout,
			// A redirect could point a delivery at another (internal) origin.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return clients{secure: mk(false, false), insecure: mk(true, false), blockedSecure: mk(false, true), blockedInsecure: mk(true, true)}
}

// client is the client for a delivery with skip_cert_verify skip.
func (s *Service) client(skip bool) *http.Client {
	blocked := s.opts.BlockInternal != nil && s.opts.BlockInternal()
	switch {
	case blocked && skip:
		return s.clients.blockedInsecure
	case blocked:
		return s.clients.blockedSecure
	case skip:
		return s.clients.insecure
	}
	return s.clients.secure
}

// Register adds the delivery task kinds (WEBHOOK, SLACK) to the job system.
func (s *Service) Register() {
	for _, kind := range []string{store.WebhookVendor, store.SlackVendor} {
		s.jobs.Register(jobs.Kind{
			Name: kind, Run: s.deliver, MaxAttempts: s.opts.MaxAttempts, Backoff: s.opts.Backoff,
			Timeout: s.opts.Timeout + 30*time.Second,
		})
	}
}

// deliver is one attempt at a delivery task: POST the body; any 2xx is
// success. Each attempt's response code is appended to the task's extra
// attributes (response_codes; 0 when no response came) and logged.
func (s *Service) deliver(ctx context.Context, t *jobs.Task) error {
	var d delivery
	if err := t.ParamsInto(&d); err != nil {
		return err
	}
	where := redact(d.Target.Address)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.Target.Address, strings.NewReader(d.Body))
	if err != nil {
		t.Logf("attempt %d of %d: bad target address: %v", t.Attempts, t.MaxAttempts, err)
		return fmt.Errorf("bad target address: %w", err)
	}
	req.Header.Set("Content-Type", d.ContentType)
	req.Header.Set("User-Agent", s.opts.UserAgent)
	req.Header.Set(SignatureHeader, d.Signature)
	req.Header.Set(EventHeader, d.EventType)
	req.Header.Set(DeliveryHeader, strconv.FormatInt(t.ID, 10))
	if d.Test {
		req.Header.Set(TestHeader, "true")
	}
	if d.Target.AuthHeader != "" && d.Target.Type != NotifySlack {
		req.Header.Set("Authorization", d.Target.AuthHeader)
	}
	client := s.client(d.Target.SkipCertVerify)
	start := time.Now()
	resp, err := client.Do(req)
	code := 0
	if err == nil {
		// Drained (bounded) so the connection is reused; never recorded:
		// the task log is readable by the project and the body may hold
		// whatever the receiver chose to say.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		code = resp.StatusCode
	}
	s.recordCode(ctx, t, code)
	took := time.Since(start).Round(time.Millisecond)
	switch {
	case err != nil:
		// What went wrong stays in the server's log: the task's log and
		// status are readable by the project, and "connection refused",
		// a timeout or a TLS error would make deliveries a port scanner.
		s.log.Warn("webhook delivery failed", "task", t.ID, "target", where, "err", err)
		reason := "no HTTP response from the target"
		var cv *tls.CertificateVerificationError
		switch {
		case errors.Is(err, errInternalTarget):
			reason = "refused: the target is an internal address"
		case errors.As(err, &cv):
			// Kept for the project to fix its target (skip_cert_verify);
			// the test endpoint does not show it.
			reason = "the target's TLS certificate is not trusted"
		}
		t.Logf("attempt %d of %d: POST %s (%s, %d bytes): %s", t.Attempts, t.MaxAttempts, where, d.EventType, len(d.Body), reason)
		return fmt.Errorf("POST %s: %s", where, reason)
	case code < 200 || code > 299:
		t.Logf("attempt %d of %d: POST %s (%s, %d bytes): response code %d after %s", t.Attempts, t.MaxAttempts, where, d.EventType, len(d.Body), code, took)
		return fmt.Errorf("abnormal response code: %d", code)
	}
	t.Logf("attempt %d of %d: POST %s (%s, %d bytes): response code %d after %s", t.Attempts, t.MaxAttempts, where, d.EventType, len(d.Body), code, took)
	return nil
}

// recordCode appends code to the task's response_codes and sets
// response_code, keeping the other extra attributes.
func (s *Service) recordCode(ctx context.Context, t *jobs.Task, code int) {
	x := map[string]any{}
	json.Unmarshal([]byte(t.ExtraAttrs), &x)
	codes, _ := x["response_codes"].([]any)
	x["response_codes"] = append(codes, code)
	x["response_code"] = code
	b, _ := json.Marshal(x)
	t.ExtraAttrs = string(b)
	if err := s.st.SetTaskExtraAttrs(context.WithoutCancel(ctx), t.ID, string(b)); err != nil {
		s.log.Warn("recording webhook response code", "task", t.ID, "err", err)
	}
}
