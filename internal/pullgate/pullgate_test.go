package pullgate_test

import (
	"errors"
	"testing"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/pullgate"
)

func TestPolicyOf(t *testing.T) {
	p := pullgate.PolicyOf(map[string]string{"enable_content_trust_cosign": "true", "enable_content_trust": "false", "prevent_vul": "TRUE", "severity": "high"})
	if !p.Cosign || p.Notation || !p.PreventVul || p.Severity != "high" || !p.On() {
		t.Fatalf("PolicyOf = %+v", p)
	}
	for _, meta := range []map[string]string{nil, {}, {"public": "true", "auto_scan": "true"}, {"enable_content_trust_cosign": "yes"}, {"prevent_vul": "false", "severity": "low"}} {
		if p := pullgate.PolicyOf(meta); p.On() {
			t.Errorf("PolicyOf(%v) = %+v, want no policy on", meta, p)
		}
	}
}

// violation returns the message of a refusal, "" when err is nil.
func violation(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	var v *pullgate.Violation
	if !errors.As(err, &v) {
		t.Fatalf("error %v is not a *Violation", err)
	}
	return v.Message
}

// TestContentTrust runs Harbor's content-trust cases: each required kind
// of signature, the pull of a signature itself, the scanner's robot, and
// the signing client's first pull (push permission and a cosign or
// notation User-Agent, both needed).
func TestContentTrust(t *testing.T) {
	yes := func() bool { return true }
	no := func() bool { return false }
	cosign := pullgate.Policy{Cosign: true}
	notation := pullgate.Policy{Notation: true}
	both := pullgate.Policy{Cosign: true, Notation: true}
	signed := func(kinds ...oci.Signature) pullgate.Artifact {
		a := pullgate.Artifact{Signed: map[oci.Signature]bool{}}
		for _, k := range kinds {
			a.Signed[k] = true
		}
		return a
	}
	puller := pullgate.Caller{UserAgent: "containerd/2.0", CanPush: yes}
	const notCosign, notNotation = "The image is not signed by cosign.", "The image is not signed by notation."
	for _, c := range []struct {
		name   string
		policy pullgate.Policy
		a      pullgate.Artifact
		c      pullgate.Caller
		want   string
	}{
		{"no policy, unsigned", pullgate.Policy{}, signed(), puller, ""},
		{"cosign, unsigned", cosign, signed(), puller, notCosign},
		{"cosign, cosign-signed", cosign, signed(oci.Cosign), puller, ""},
		{"cosign, notation-signed", cosign, signed(oci.Notation), puller, notCosign},
		{"notation, unsigned", notation, signed(), puller, notNotation},
		{"notation, notation-signed", notation, signed(oci.Notation), puller, ""},
		{"notation, cosign-signed", notation, signed(oci.Cosign), puller, notNotation},
		{"both, cosign only", both, signed(oci.Cosign), puller, notNotation},
		{"both, notation only", both, signed(oci.Notation), puller, notCosign},
		{"both, both", both, signed(oci.Cosign, oci.Notation), puller, ""},
		{"a signature itself", both, pullgate.Artifact{IsSignature: true}, puller, ""},
		{"scanner robot", both, signed(), pullgate.Caller{ScannerPull: true}, ""},
		{"cosign signing its subject", cosign, signed(), pullgate.Caller{UserAgent: "cosign/v2.6.5 (linux; amd64)", CanPush: yes}, ""},
		{"notation signing its subject", both, signed(), pullgate.Caller{UserAgent: "notation-go/1.3.2", CanPush: yes}, ""},
		{"cosign user-agent without push", cosign, signed(), pullgate.Caller{UserAgent: "cosign/v2.6.5", CanPush: no}, notCosign},
		{"cosign user-agent, anonymous", cosign, signed(), pullgate.Caller{UserAgent: "cosign/v2.6.5"}, notCosign},
	} {
		if got := violation(t, pullgate.Check(c.policy, c.a, c.c, pullgate.Scan{})); got != c.want {
			t.Errorf("%s: refusal %q, want %q", c.name, got, c.want)
		}
	}
}

// TestPreventVul runs Harbor's prevent_vul cases: no scanner (Berth today)
// lets everything through; with a scanner, no report, a failed scan and a
// severity at or above the threshold refuse with Harbor's messages; an
// image index passes once reported; the bootstrap User-Agent does not
// bypass it, a signature and the scanner's robot do.
func TestPreventVul(t *testing.T) {
	high := pullgate.Policy{PreventVul: true, Severity: "high"}
	image := pullgate.Artifact{Kind: "IMAGE"}
	puller := pullgate.Caller{UserAgent: "cosign/v2.6.5", CanPush: func() bool { return true }}
	ok := &pullgate.Report{Status: "Success"}
	const rule = `due to configured policy in 'Prevent images with vulnerability severity of "High" or higher from running.' `
	for _, c := range []struct {
		name   string
		policy pullgate.Policy
		a      pullgate.Artifact
		c      pullgate.Caller
		scan   pullgate.Scan
		want   string
	}{
		{"no scanner", high, image, puller, pullgate.Scan{}, ""},
		{"no report", high, image, puller, pullgate.Scan{Scannable: true},
			"current image without vulnerability scanning cannot be pulled " + rule + "To continue with pull, please contact your project administrator for help."},
		{"no report, no severity set", pullgate.Policy{PreventVul: true}, image, puller, pullgate.Scan{Scannable: true},
			`current image without vulnerability scanning cannot be pulled due to configured policy in 'Prevent images with vulnerability severity of "Unknown" or higher from running.' To continue with pull, please contact your project administrator for help.`},
		{"scan failed", high, image, puller, pullgate.Scan{Scannable: true, Report: &pullgate.Report{Status: "Error"}},
			`current image with "Error" status of vulnerability scanning cannot be pulled ` + rule + "To continue with pull, please contact your project administrator for help."},
		{"clean", high, image, puller, pullgate.Scan{Scannable: true, Report: ok}, ""},
		{"below threshold", high, image, puller, pullgate.Scan{Scannable: true, Report: &pullgate.Report{Status: "Success", Severity: "Medium", Count: 4}}, ""},
		{"at threshold", high, image, puller, pullgate.Scan{Scannable: true, Report: &pullgate.Report{Status: "Success", Severity: "High", Count: 1}},
			"current image with 1 vulnerability cannot be pulled " + rule + "To continue with pull, please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist."},
		{"above threshold", high, image, puller, pullgate.Scan{Scannable: true, Report: &pullgate.Report{Status: "Success", Severity: "Critical", Count: 3}},
			"current image with 3 vulnerabilities cannot be pulled " + rule + "To continue with pull, please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist."},
		{"image index", high, pullgate.Artifact{Index: true, Kind: "IMAGE"}, puller, pullgate.Scan{Scannable: true, Report: &pullgate.Report{Status: "Error"}}, ""},
		{"a signature itself", high, pullgate.Artifact{IsSignature: true}, puller, pullgate.Scan{Scannable: true}, ""},
		{"scanner robot", high, image, pullgate.Caller{ScannerPull: true}, pullgate.Scan{Scannable: true}, ""},
	} {
		if got := violation(t, pullgate.Check(c.policy, c.a, c.c, c.scan)); got != c.want {
			t.Errorf("%s: refusal %q, want %q", c.name, got, c.want)
		}
	}
}
