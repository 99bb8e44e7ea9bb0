// Package pullgate decides whether a manifest may be pulled under its
// project's policies, with Harbor's semantics (docs/pullgate.md):
//
//   - content trust: enable_content_trust_cosign requires a cosign
//     signature, enable_content_trust (notation since Harbor 2.9) a notation
//     signature (src/server/middleware/contenttrust/contentrust.go);
//   - prevent_vul with severity: refuse what a scan found vulnerable, or did
//     not scan, when the project has a scanner for the artifact
//     (src/server/middleware/vulnerable/vulnerable.go).
//
// The registry evaluates the gate on manifest GET and HEAD only when
// Policy.On, so a project without policies pays nothing for it. A refusal is
// a *Violation, sent as 412 PROJECTPOLICYVIOLATION with its message.
package pullgate

import (
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/oci"
)

// Project metadata keys of the policies (Harbor's ProjectMetadata).
const (
	KeyContentTrust       = "enable_content_trust" // notation signatures (Notary v1 before Harbor 2.9)
	KeyContentTrustCosign = "enable_content_trust_cosign"
	KeyPreventVul         = "prevent_vul"
	KeySeverity           = "severity"
)

// Policy is what a project's metadata asks of its pulls.
type Policy struct {
	Cosign     bool   // a cosign signature is required
	Notation   bool   // a notation signature is required
	PreventVul bool   // vulnerable or unscanned images are refused (with a scanner)
	Severity   string // the project's severity threshold as stored ("" when unset)
}

// PolicyOf reads the policies from a project's metadata. A value counts as
// on when it parses as true, as Harbor's isTrue reads it.
func PolicyOf(meta map[string]string) Policy {
	on := func(k string) bool {
		b, err := strconv.ParseBool(meta[k])
		return err == nil && b
	}
	return Policy{
		Cosign:     on(KeyContentTrustCosign),
		Notation:   on(KeyContentTrust),
		PreventVul: on(KeyPreventVul),
		Severity:   meta[KeySeverity],
	}
}

// On reports whether any policy applies to pulls.
func (p Policy) On() bool { return p.Cosign || p.Notation || p.PreventVul }

// Artifact is what the gate needs to know of the manifest pulled.
type Artifact struct {
	// Signed holds the kinds of signature the artifact has in its
	// repository: cosign by its signature tag or a cosign referrer,
	// notation by a notation referrer.
	Signed map[oci.Signature]bool
	// IsSignature is set when the artifact is itself a cosign or notation
	// signature (Harbor lets a signature through: clients read the
	// signatures of what they verify).
	IsSignature bool
	// Index is set for an index (manifest list), and Kind is the
	// artifact's type (IMAGE, CNAB, ...).
	Index bool
	Kind  string
}

// Caller is what the gate needs to know of who pulls.
type Caller struct {
	// ScannerPull is set for a caller holding Harbor's scanner-pull action
	// on the project's repositories: the robot a scanner pulls with, which
	// passes every policy (SkipPolicyChecking). Berth has no scanner yet,
	// so nothing grants that action; a scanner's robot will set it.
	ScannerPull bool
	// CanPush reports whether the caller may push to the project; asked
	// only for a signing client's first pull (bootstrap).
	CanPush func() bool
	// UserAgent is the request's User-Agent.
	UserAgent string
}

// Scan is the vulnerability scanning state of the artifact. Berth has no
// scanner yet: the zero value, no scanner for the artifact, is what the
// registry passes, and under it prevent_vul lets every pull through, as
// Harbor does for a project without a scanner.
type Scan struct {
	// Scannable is set when the project has a scanner that can scan the
	// artifact (Harbor's Checker.IsScannable: a registration exists and
	// it has the capability for the artifact or one of its children).
	Scannable bool
	// Report is the artifact's latest vulnerability report, nil when it
	// has none.
	Report *Report
}

// Report is the summary of a vulnerability report that the gate judges.
type Report struct {
	// Status is the scan's status as Harbor names it ("Success", "Error",
	// "Running", ...).
	Status string
	// Severity is the highest severity found once the project's CVE
	// allowlist is taken out ("" when nothing was found), and Count the
	// number of vulnerabilities left.
	Severity string
	Count    int
}

// Violation is a pull refused by a project policy.
type Violation struct{ Message string }

func (v *Violation) Error() string { return "project policy violation: " + v.Message }

// Harbor's messages (contentrust.go).
const (
	msgNotCosign   = "The image is not signed by cosign."
	msgNotNotation = "The image is not signed by notation."
)

// Check decides whether caller may pull artifact under policy; nil lets it
// through, a *Violation refuses it. Harbor's order: cosign, notation, then
// vulnerabilities.
func Check(policy Policy, a Artifact, c Caller, scan Scan) error {
	if policy.Cosign {
		if err := signatureCheck(a, c, oci.Cosign, msgNotCosign); err != nil {
			return err
		}
	}
	if policy.Notation {
		if err := signatureCheck(a, c, oci.Notation, msgNotNotation); err != nil {
			return err
		}
	}
	if policy.PreventVul {
		return vulnerabilityCheck(policy, a, c, scan)
	}
	return nil
}

// skip is Harbor's SkipPolicyChecking: the scanner's robot, and a pull of
// a signature.
func skip(a Artifact, c Caller) bool { return c.ScannerPull || a.IsSignature }

// signerBootstrap is Harbor's LegacySignerBootstrapPull: a caller that may
// push, with a cosign or notation User-Agent, reads the unsigned manifest
// it is about to sign. It applies to content trust only, never to
// prevent_vul.
func signerBootstrap(c Caller) bool {
	if !strings.Contains(c.UserAgent, "cosign") && !strings.Contains(c.UserAgent, "notation") {
		return false
	}
	return c.CanPush != nil && c.CanPush()
}

func signatureCheck(a Artifact, c Caller, kind oci.Signature, msg string) error {
	if skip(a, c) || signerBootstrap(c) || a.Signed[kind] {
		return nil
	}
	return &Violation{Message: msg}
}

func vulnerabilityCheck(policy Policy, a Artifact, c Caller, scan Scan) error {
	if skip(a, c) || !scan.Scannable {
		return nil
	}
	threshold := severityName(policy.Severity)
	rule := `due to configured policy in 'Prevent images with vulnerability severity of "` + threshold + `" or higher from running.' `
	if scan.Report == nil {
		return &Violation{Message: `current image without vulnerability scanning cannot be pulled ` + rule +
			`To continue with pull, please contact your project administrator for help.`}
	}
	if a.Index && (a.Kind == "IMAGE" || a.Kind == "CNAB") {
		return nil // Harbor judges the children of an image or CNAB index, not the index
	}
	if scan.Report.Status != "Success" {
		return &Violation{Message: `current image with "` + scan.Report.Status + `" status of vulnerability scanning cannot be pulled ` + rule +
			`To continue with pull, please contact your project administrator for help.`}
	}
	if scan.Report.Severity != "" && severityCode(scan.Report.Severity) >= severityCode(threshold) {
		thing := "vulnerability"
		if scan.Report.Count > 1 {
			thing = "vulnerabilities"
		}
		return &Violation{Message: `current image with ` + strconv.Itoa(scan.Report.Count) + ` ` + thing + ` cannot be pulled ` + rule +
			`To continue with pull, please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist.`}
	}
	return nil
}

// severityCode orders severities (in any case) as Harbor's
// vuln.Severity.Code does; an unknown name is Unknown.
func severityCode(name string) int {
	switch strings.ToLower(name) {
	case "none":
		return 0
	case "negligible":
		return 2
	case "low":
		return 3
	case "medium":
		return 4
	case "high":
		return 5
	case "critical":
		return 6
	}
	return 1
}

// severityName is the threshold as Harbor's messages name it
// (vuln.ParseSeverityVersion3): a known severity in title case, else
// "Unknown".
func severityName(s string) string {
	switch v := strings.ToLower(s); v {
	case "none", "unknown", "low", "medium", "high", "critical":
		return strings.ToUpper(v[:1]) + v[1:]
	}
	return "Unknown"
}
