package gc_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/berth-dev/berth/internal/testserver"
)

const (
	clients    = 16
	pushPhase  = 12 * time.Second
	gcWindow   = 3  // seconds: longer than any blob commit, shorter than the push phase
	layerPool  = 40 // large enough that some layer falls out of use for a whole window even on a loaded machine
	tagsPerCli = 5
	maxImages  = 3 // per client, so shared layers often fall out of use
)

// pusher is one client: what it pushed that the registry acknowledged and
// that it has not deleted since.
type pusher struct {
	id     int
	repo   string
	opts   []remote.Option
	rng    *rand.Rand
	images map[v1.Hash]v1.Image // pushed, not deleted
	tags   map[string]v1.Hash   // tag → digest it was last set to
	n      int
	stats  struct{ pushes, failed, retags, deletes, untags, pulls int }
	errs   []error
}

func (c *pusher) ref(t testing.TB, s string) name.Reference {
	r, err := name.ParseReference(c.repo+s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (c *pusher) anyImage() (v1.Hash, bool) {
	if len(c.images) == 0 {
		return v1.Hash{}, false
	}
	keys := make([]v1.Hash, 0, len(c.images))
	for h := range c.images {
		keys = append(keys, h)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].Hex < keys[j].Hex })
	return keys[c.rng.IntN(len(keys))], true
}

// step does one random operation: push an image made of shared layers
// (moving a tag), tag an image again, delete an image by digest, delete a
// tag, or pull one of its images back and check every byte.
func (c *pusher) step(t testing.TB, ctx context.Context, layers []v1.Layer) {
	opts := append(c.opts, remote.WithContext(ctx))
	tag := fmt.Sprintf("c%02d-t%d", c.id, c.rng.IntN(tagsPerCli))
	op := c.rng.IntN(100)
	if len(c.images) >= maxImages && op < 50 {
		op = 70 // delete one instead of pushing
	}
	switch {
	case op < 50 || len(c.images) == 0:
		c.n++
		var use []v1.Layer
		for _, i := range c.rng.Perm(len(layers))[:1+c.rng.IntN(2)] {
			use = append(use, layers[i])
		}
		img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), use...)
		if err != nil {
			t.Error(err)
			return
		}
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", "amd64"
		cf.Config.Labels = map[string]string{"client": fmt.Sprint(c.id), "n": fmt.Sprint(c.n)}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Error(err)
			return
		}
		d, _ := img.Digest()
		c.stats.pushes++
		if err := remote.Write(c.ref(t, ":"+tag), img, opts...); err != nil {
			c.fail(err)
			return
		}
		c.images[d] = img
		c.tags[tag] = d
	case op < 62:
		d, _ := c.anyImage()
		c.stats.retags++
		if err := remote.Tag(c.ref(t, ":"+tag).(name.Tag), c.images[d], opts...); err != nil {
			c.fail(err)
			return
		}
		c.tags[tag] = d
	case op < 78:
		d, _ := c.anyImage()
		c.stats.deletes++
		err := remote.Delete(c.ref(t, "@"+d.String()), opts...)
		// Whatever the answer, this image is no longer expected.
		delete(c.images, d)
		for tg, td := range c.tags {
			if td == d {
				delete(c.tags, tg)
			}
		}
		if err != nil {
			c.fail(err)
		}
	case op < 88:
		d, _ := c.anyImage()
		c.stats.pulls++
		img, err := remote.Image(c.ref(t, "@"+d.String()), opts...)
		if err == nil {
			err = validate.Image(img)
		}
		if err != nil {
			t.Errorf("client %d: acknowledged image %s does not pull back intact while collections run: %v", c.id, d, err)
		}
	default:
		if _, ok := c.tags[tag]; !ok {
			return
		}
		c.stats.untags++
		err := remote.Delete(c.ref(t, ":"+tag), opts...)
		delete(c.tags, tag)
		if err != nil {
			c.fail(err)
		}
	}
}

// fail records a refused operation. A push may fail when a run dropped a
// link the client had found by HEAD (documented in package gc); anything
// else is an error of the test's clients or the server.
func (c *pusher) fail(err error) {
	c.stats.failed++
	var te *transport.Error
	if errors.As(err, &te) && te.StatusCode < 500 {
		for _, d := range te.Errors {
			if d.Code == transport.ManifestBlobUnknownErrorCode || d.Code == transport.BlobUnknownErrorCode {
				return
			}
		}
	}
	c.errs = append(c.errs, err)
}

// verify pulls every image the client expects, by digest and by tag, and
// checks every layer and the config against their digests.
func (c *pusher) verify(t testing.TB) int {
	puller, err := remote.NewPuller(append(c.opts, remote.WithContext(t.Context()))...)
	if err != nil {
		t.Fatal(err)
	}
	opts := []remote.Option{remote.Reuse(puller), remote.WithContext(t.Context())}
	n := 0
	for d := range c.images {
		img, err := remote.Image(c.ref(t, "@"+d.String()), opts...)
		if err == nil {
			err = validate.Image(img)
		}
		if err != nil {
			t.Errorf("client %d: acknowledged image %s does not pull back intact: %v", c.id, d, err)
		}
		n++
	}
	for tag, d := range c.tags {
		desc, err := remote.Head(c.ref(t, ":"+tag), opts...)
		if err != nil || desc.Digest != d {
			t.Errorf("client %d: tag %s: %v (digest %v), want %s", c.id, tag, err, desc, d)
		}
	}
	return n
}

// TestOnlineGCSafety runs garbage collection over and over, with a short
// time window, while 16 go-containerregistry clients push images that
// share layers into two projects, move and add tags, and delete images
// and tags. Afterwards every acknowledged image that was not deleted pulls
// back intact; a final collection with window 0 and no clients leaves no
// unreferenced blob row, link, file or upload, and quota usage equal to
// what the projects still hold; everything still pulls; and a
// delete_untagged run keeps every tagged image.
func TestOnlineGCSafety(t *testing.T) {
	pool := make([]v1.Layer, layerPool)
	for i := range pool {
		l, err := random.Layer(int64(4096+i*1024), types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		pool[i] = l
	}
	for _, backend := range testserver.Backends(t) {
		t.Run(backend, func(t *testing.T) {
			start := time.Now()
			p := testserver.Start(t, backend)
			if st, _, b := api(t, p, "POST", "/projects", map[string]any{"project_name": "second", "metadata": map[string]string{"public": "false"}}); st != http.StatusCreated {
				t.Fatalf("create project: %d %s", st, b)
			}
			db := openDB(t, p)
			auth := remote.WithAuth(&authn.Basic{Username: "admin", Password: testserver.AdminPassword})

			// The clients stop starting operations after the push phase;
			// each operation runs to its end, so its outcome is known.
			ctx, stop := context.WithTimeout(context.Background(), pushPhase)
			defer stop()
			opCtx, cancelOps := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancelOps()
			pushers := make([]*pusher, clients)
			var wg sync.WaitGroup
			for i := range pushers {
				project := "library"
				if i%2 == 1 {
					project = "second"
				}
				c := &pusher{id: i, repo: fmt.Sprintf("%s/%s/app%d", p.Addr, project, i%4), opts: []remote.Option{auth},
					rng: rand.New(rand.NewPCG(uint64(i), 7)), images: map[v1.Hash]v1.Image{}, tags: map[string]v1.Hash{}}
				pushers[i] = c
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						c.step(t, opCtx, pool)
					}
				}()
			}

			// Collections back to back while the clients work.
			shared := map[string]bool{}
			for _, l := range pool {
				d, _ := l.Digest()
				shared[d.String()] = true
			}
			var runs, deleted, dropped, sharedDeleted atomic.Int64
			gcDone := make(chan struct{})
			go func() {
				defer close(gcDone)
				rng := rand.New(rand.NewPCG(99, 1))
				for ctx.Err() == nil {
					id := startGC(t, p, map[string]any{"time_window_seconds": gcWindow, "workers": 1 + rng.IntN(5)})
					if id == 0 {
						time.Sleep(50 * time.Millisecond)
						continue
					}
					r := waitGC(t, p, id, time.Minute)
					if r.Status != "Success" {
						t.Errorf("gc %d during pushes ended %s:\n%s", id, r.Status, r.Log)
						return
					}
					runs.Add(1)
					deleted.Add(int64(r.count("deleted_blobs")))
					for _, line := range strings.Split(r.Log, "\n") {
						if _, rest, ok := strings.Cut(line, " deleted blob "); ok && shared[strings.Fields(rest)[0]] {
							sharedDeleted.Add(1)
						}
					}
					dropped.Add(int64(r.count("dropped_links")))
				}
			}()
			wg.Wait()
			<-gcDone
			total := map[string]int{}
			for _, c := range pushers {
				total["pushes"] += c.stats.pushes
				total["failed"] += c.stats.failed
				total["retags"] += c.stats.retags
				total["deletes"] += c.stats.deletes
				total["untags"] += c.stats.untags
				total["pulls"] += c.stats.pulls
				for _, err := range c.errs {
					t.Errorf("client %d: %v", c.id, err)
				}
			}
			t.Logf("%d collections during the pushes deleted %d blobs (%d of them shared layers, pushed again later) and dropped %d links; clients: %v",
				runs.Load(), deleted.Load(), sharedDeleted.Load(), dropped.Load(), total)
			if runs.Load() < 3 || deleted.Load() == 0 || dropped.Load() == 0 || sharedDeleted.Load() == 0 {
				t.Errorf("the collections did not race the clients: %d runs, %d blobs deleted, %d links dropped", runs.Load(), deleted.Load(), dropped.Load())
			}
			// Pushes refused because a run dropped a link between the
			// client's HEAD and its manifest (MANIFEST_BLOB_UNKNOWN, a
			// documented limit with windows this short) are not
			// acknowledged; most pushes must still succeed.
			if ok := total["pushes"] - total["failed"]; ok < 100 || total["failed"] > total["pushes"]/4 {
				t.Errorf("%d of %d pushes failed", total["failed"], total["pushes"])
			}
			verifyAll(t, pushers)
			if t.Failed() {
				t.FailNow()
			}

			// A last collection with window 0 and nobody pushing.
			id := startGC(t, p, map[string]any{"time_window_seconds": 0, "stale_upload_hours": 0, "workers": 5})
			if r := waitGC(t, p, id, time.Minute); r.Status != "Success" {
				t.Fatalf("final gc ended %s:\n%s", r.Status, r.Log)
			}
			checkClean(t, p, db)
			verifyAll(t, pushers)

			// delete_untagged: untagged images go, tagged ones stay.
			untagged := 0
			for _, c := range pushers {
				tagged := map[v1.Hash]bool{}
				for _, d := range c.tags {
					tagged[d] = true
				}
				for d := range c.images {
					if !tagged[d] {
						delete(c.images, d)
						untagged++
					}
				}
			}
			id = startGC(t, p, map[string]any{"time_window_seconds": 0, "delete_untagged": true})
			r := waitGC(t, p, id, time.Minute)
			if r.Status != "Success" || r.count("deleted_artifacts") != untagged {
				t.Fatalf("delete_untagged gc: %s, deleted %d artifacts, want %d:\n%s", r.Status, r.count("deleted_artifacts"), untagged, r.Log)
			}
			checkClean(t, p, db)
			verifyAll(t, pushers)
			t.Logf("%s: %v", backend, time.Since(start).Round(time.Millisecond))
		})
	}
}

// verifyAll runs every client's verification, eight at a time.
func verifyAll(t *testing.T, pushers []*pusher) {
	t.Helper()
	var wg sync.WaitGroup
	var n atomic.Int64
	sem := make(chan struct{}, 8)
	for _, c := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			n.Add(int64(c.verify(t)))
		}()
	}
	wg.Wait()
	t.Logf("%d acknowledged images pulled back intact", n.Load())
}
