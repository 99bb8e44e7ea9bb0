package crash_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/berth-dev/berth/internal/testserver"
)

// TestSixteenClientsPushSameLayers has 16 go-containerregistry clients push,
// at the same moment, images made of the same three layers (same bytes)
// and a config of their own. All pushes succeed and pull back valid, the
// blob tree holds exactly one file per distinct digest, and no upload is
// left behind.
func TestSixteenClientsPushSameLayers(t *testing.T) {
	const clients = 16
	var layers []v1.Layer
	for i, size := range []int64{3 * mib, 4 * mib, 5 * mib} {
		gz := gzipTar(t, randomBytes(uint64(7000+i), size))
		l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil },
			tarball.WithMediaType(types.OCILayer))
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, l)
	}
	base, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layers...)
	if err != nil {
		t.Fatal(err)
	}
	imgs := make([]v1.Image, clients)
	for i := range imgs {
		cf, err := base.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", "amd64"
		cf.Config.Labels = map[string]string{"client": fmt.Sprint(i)}
		if imgs[i], err = mutate.ConfigFile(base, cf); err != nil {
			t.Fatal(err)
		}
	}
	auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword})

	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			p := testserver.Start(t, backend)
			tr := &countingTransport{inner: remote.DefaultTransport}
			opts := []remote.Option{auth, remote.WithTransport(tr)}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			refs := make([]name.Reference, clients)
			errs := make([]error, clients)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range clients {
				ref, err := name.ParseReference(fmt.Sprintf("%s/library/same-layers:client-%02d", p.Addr, i), name.Insecure)
				if err != nil {
					t.Fatal(err)
				}
				refs[i] = ref
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = remote.Write(ref, imgs[i], append(opts, remote.WithContext(ctx))...)
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("client %d: %v", i, err)
				}
			}
			if t.Failed() {
				t.FailNow()
			}
			// go-containerregistry retries 5xx answers quietly; there must be none.
			tr.mu.Lock()
			t.Logf("requests by status: %v; upload sessions started: %d", tr.status, tr.sessions)
			for st, n := range tr.status {
				if st >= 500 {
					t.Errorf("%d answers with status %d", n, st)
				}
			}
			// More sessions than distinct blobs: some layers really were
			// uploaded by several clients at once.
			if tr.sessions <= len(layers)+clients {
				t.Errorf("only %d upload sessions for %d blobs: the clients did not race", tr.sessions, len(layers)+clients)
			}
			tr.mu.Unlock()

			want := map[string]int64{}
			for i, ref := range refs {
				got, err := remote.Image(ref, append(opts, remote.WithContext(ctx))...)
				if err != nil {
					t.Fatalf("pull %s: %v", ref, err)
				}
				wd, _ := imgs[i].Digest()
				if gd, err := got.Digest(); err != nil || gd != wd {
					t.Fatalf("pull %s: digest %v (%v), want %v", ref, gd, err, wd)
				}
				if err := validate.Image(got); err != nil {
					t.Fatalf("pull %s: %v", ref, err)
				}
				cn, _ := imgs[i].ConfigName()
				raw, _ := imgs[i].RawConfigFile()
				want[cn.String()] = int64(len(raw))
			}
			for _, l := range layers {
				d, _ := l.Digest()
				size, _ := l.Size()
				want[d.String()] = size
			}
			got := blobFiles(t, p)
			if len(got) != len(want) {
				t.Errorf("blob tree holds %d files, want %d (3 layers + %d configs)", len(got), len(want), clients)
			}
			for d, size := range want {
				if got[d] != size {
					t.Errorf("blob tree: %s has %d bytes, want %d", d, got[d], size)
				}
			}
			for d := range got {
				if _, ok := want[d]; !ok {
					t.Errorf("blob tree: unexpected %s", d)
				}
			}
			if u := uploadFiles(t, p); len(u) != 0 {
				t.Errorf("files left under uploads/: %v", keys(u))
			}
		})
	}
}

// gzipTar returns a gzipped tar holding one file with content b; the same
// b gives the same bytes.
func gzipTar(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Name: "data", Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(b)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// countingTransport counts answers by status and upload sessions started.
type countingTransport struct {
	inner    http.RoundTripper
	mu       sync.Mutex
	status   map[int]int
	sessions int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.inner.RoundTrip(r)
	if err != nil {
		return resp, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == nil {
		c.status = map[int]int{}
	}
	c.status[resp.StatusCode]++
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/blobs/uploads/") && resp.StatusCode == http.StatusAccepted {
		c.sessions++
	}
	return resp, nil
}
