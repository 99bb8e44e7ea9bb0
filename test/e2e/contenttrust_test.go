package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/notaryproject/notation-go"
	notationregistry "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	orasremote "oras.land/oras-go/v2/registry/remote"
	orasauth "oras.land/oras-go/v2/registry/remote/auth"

	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/testserver"
)

// cosignVersion is the cosign release the content-trust test drives (.ci/run
// installs it).
const cosignVersion = "v2.6.5"

// TestContentTrustSigners is issue 12's content-trust story with real
// signers: a project requiring cosign signatures refuses an unsigned image
// with 412 and Harbor's message, and serves it once the real cosign CLI
// (v2.6.5, a generated key pair, no transparency log) has signed it; with
// notation signatures required, an image signed by notation-go (v1.3.2,
// with a certificate made here) pulls and the others are refused; with the
// policies off, both pull. cosign verify checks the signature through the
// gate. A missing cosign skips the test, and fails it under CI.
func TestContentTrustSigners(t *testing.T) {
	cosign := cosignBinary(t)
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			srv := testserver.Start(t, backend)
			c := &client{t: t, base: srv.URL}
			admin, pw := "admin", testserver.AdminPassword
			c.must(201, "POST", "/projects", admin, pw, map[string]any{"project_name": "trust", "public": false}, nil)
			adminAuth := remote.WithAuth(&authn.Basic{Username: admin, Password: pw})

			push := func(tag string) name.Digest {
				t.Helper()
				ref, _ := name.ParseReference(srv.Addr+"/trust/app:"+tag, name.Insecure)
				img, _ := random.Image(1024, 1)
				if err := remote.Write(ref, img, adminAuth); err != nil {
					t.Fatalf("push %s: %v", tag, err)
				}
				d, _ := img.Digest()
				return ref.Context().Digest(d.String())
			}
			unsigned, cosigned, notated := push("unsigned"), push("cosigned"), push("notated")
			pull := func(ref name.Reference) error {
				_, err := remote.Get(ref, adminAuth)
				return err
			}
			mustPull := func(what string, ref name.Reference) {
				t.Helper()
				if err := pull(ref); err != nil {
					t.Fatalf("%s: pull %s: %v", what, ref, err)
				}
			}
			mustRefuse := func(what string, ref name.Reference, message string) {
				t.Helper()
				err := pull(ref)
				var te *transport.Error
				if !errors.As(err, &te) || te.StatusCode != http.StatusPreconditionFailed || len(te.Errors) != 1 ||
					te.Errors[0].Code != "PROJECTPOLICYVIOLATION" || te.Errors[0].Message != message {
					t.Fatalf("%s: pull %s: %v, want 412 PROJECTPOLICYVIOLATION %q", what, ref, err, message)
				}
			}
			policy := func(meta map[string]string) {
				t.Helper()
				c.must(200, "PUT", "/projects/trust", admin, pw, map[string]any{"metadata": meta}, nil)
			}
			const notCosign, notNotation = "The image is not signed by cosign.", "The image is not signed by notation."

			// Policies off: everything pulls.
			for _, d := range []name.Digest{unsigned, cosigned, notated} {
				mustPull("no policy", d)
			}

			// Cosign required: refused until cosign signs it.
			policy(map[string]string{"enable_content_trust_cosign": "true"})
			mustRefuse("cosign required, unsigned", unsigned, notCosign)
			mustRefuse("cosign required, not yet signed", cosigned, notCosign)
			tagRef, _ := name.ParseReference(srv.Addr+"/trust/app:cosigned", name.Insecure)
			mustRefuse("cosign required, not yet signed, by tag", tagRef, notCosign)

			dir := t.TempDir()
			env := cosignEnv(t, dir, srv.Addr, admin, pw)
			runTool(t, dir, env, cosign, "generate-key-pair")
			runTool(t, dir, env, cosign, "sign", "--key", "cosign.key", "--tlog-upload=false", "--allow-http-registry",
				"--allow-insecure-registry", "--yes", cosigned.String())
			tags, err := remote.List(cosigned.Context(), adminAuth)
			if err != nil || !slices.Contains(tags, oci.CosignSignatureTag(cosigned.DigestStr())) {
				t.Fatalf("tags after cosign sign: %v, %v; want the signature tag of %s", tags, err, cosigned.DigestStr())
			}
			mustPull("cosign required, signed by cosign", cosigned)
			mustPull("cosign required, signed by cosign, by tag", tagRef)
			mustRefuse("cosign required, still unsigned", unsigned, notCosign)
			runTool(t, dir, env, cosign, "verify", "--key", "cosign.pub", "--insecure-ignore-tlog=true",
				"--allow-http-registry", "--allow-insecure-registry", cosigned.String())

			// Notation required: refused until notation signs it.
			policy(map[string]string{"enable_content_trust_cosign": "false", "enable_content_trust": "true"})
			mustRefuse("notation required, unsigned", notated, notNotation)
			mustRefuse("notation required, cosign-signed", cosigned, notNotation)
			notationSign(t, srv.Addr, admin, pw, notated)
			mustPull("notation required, signed by notation", notated)
			mustRefuse("notation required, still unsigned", unsigned, notNotation)

			// Both off: both pull, and the unsigned one too.
			policy(map[string]string{"enable_content_trust": "false"})
			for _, d := range []name.Digest{unsigned, cosigned, notated} {
				mustPull("policies off", d)
			}
		})
	}
}

var (
	cosignOnce sync.Once
	cosignPath string
)

// cosignBinary returns the cosign CLI (v2.6.5) from PATH or
// $(go env GOPATH)/bin; a missing one skips the test (fails it under CI).
func cosignBinary(t *testing.T) string {
	t.Helper()
	cosignOnce.Do(func() {
		if p, err := exec.LookPath("cosign"); err == nil {
			cosignPath = p
			return
		}
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			return
		}
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), string(os.PathListSeparator))
		p := filepath.Join(first, "bin", "cosign")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			cosignPath = p
		}
	})
	if cosignPath == "" {
		testserver.SkipOrFail(t, "cosign not found on PATH or in $(go env GOPATH)/bin (go install github.com/sigstore/cosign/v2/cmd/cosign@%s)", cosignVersion)
	}
	out, err := exec.Command(cosignPath, "version", "--json").Output()
	var v struct {
		GitVersion string `json:"gitVersion"`
	}
	if err != nil || json.Unmarshal(out, &v) != nil || v.GitVersion != cosignVersion {
		testserver.SkipOrFail(t, "%s is not cosign %s (%q, %v)", cosignPath, cosignVersion, v.GitVersion, err)
	}
	return cosignPath
}

// cosignEnv is an environment for cosign with a private home whose Docker
// config holds the registry's credentials, an empty key password, and no
// network use beyond the registry.
func cosignEnv(t *testing.T, home, registry, user, password string) []string {
	t.Helper()
	docker := filepath.Join(home, ".docker")
	if err := os.MkdirAll(docker, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		registry: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}}})
	if err := os.WriteFile(filepath.Join(docker, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "DOCKER_CONFIG" || strings.HasPrefix(k, "COSIGN_") || strings.HasPrefix(k, "SIGSTORE_") ||
			strings.HasPrefix(k, "TUF_") || strings.HasSuffix(k, "_PROXY") || strings.HasSuffix(k, "_proxy") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+home, "DOCKER_CONFIG="+docker, "COSIGN_PASSWORD=", "COSIGN_EXPERIMENTAL=0")
}

// runTool runs bin in dir with env and fails the test unless it succeeds.
func runTool(t *testing.T, dir string, env []string, bin string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out.String())
	}
}

// notationSign signs subject with notation-go: a JWS envelope made with a
// self-signed code-signing certificate generated here, pushed as an OCI 1.1
// referrer (artifactType application/vnd.cncf.notary.signature) as the
// notation CLI does, with the notation CLI's User-Agent so that the signing
// client may read the unsigned subject (Harbor's signer bootstrap).
func notationSign(t *testing.T, registry, user, password string, subject name.Digest) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "berth e2e signer", Organization: []string{"Berth"}, Country: []string{"US"}, Province: []string{"WA"}, Locality: []string{"Seattle"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.NewGenericSigner(key, []*x509.Certificate{cert})
	if err != nil {
		t.Fatal(err)
	}
	repo, err := orasremote.NewRepository(subject.Context().Name())
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &orasauth.Client{
		Client:     http.DefaultClient,
		Header:     http.Header{"User-Agent": {"notation-go/v1.3.2 (berth e2e)"}},
		Credential: orasauth.StaticCredential(registry, orasauth.Credential{Username: user, Password: password}),
	}
	desc, err := notation.Sign(t.Context(), s, notationregistry.NewRepository(repo), notation.SignOptions{
		SignerSignOptions: notation.SignerSignOptions{SignatureMediaType: "application/jose+json"},
		ArtifactReference: subject.String(),
	})
	if err != nil {
		t.Fatalf("notation sign %s: %v", subject, err)
	}
	if desc.Digest.String() != subject.DigestStr() {
		t.Fatalf("notation signed %s, want %s", desc.Digest, subject.DigestStr())
	}
}
