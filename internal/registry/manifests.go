package registry

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/artifact"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/oci"
)

var timeZero time.Time

func (reg *Registry) getManifest(q *request, ref string) error {
	ctx := q.r.Context()
	byDigest := oci.IsDigestRef(ref)
	if byDigest {
		if _, err := parseDigest(ref); err != nil {
			return err
		}
	} else if err := oci.ValidateTag(ref); err != nil {
		return fail(codeManifestUnknown, err)
	}
	head := q.r.Method == http.MethodHead
	key := q.name + "\x00" + ref
	m, ok := reg.refs.get(key)
	if !ok {
		gen := reg.refs.generation()
		var err error
		m, err = reg.st.ResolveManifest(ctx, q.name, ref, byDigest, false)
		if err != nil {
			return fail(codeManifestUnknown, err)
		}
		reg.refs.put(key, m, gen)
	}
	if err := reg.checkPull(q, m); err != nil {
		return err
	}
	var body []byte
	if !head {
		if body = reg.cache.get(m.Digest); body == nil {
			full, err := reg.st.ResolveManifest(ctx, q.name, m.Digest, true, true)
			if err != nil {
				return fail(codeManifestUnknown, err)
			}
			body = full.Body
			reg.cache.put(m.Digest, body)
		}
		if !isView(ctx) {
			reg.pulls.record(m.ArtifactID, m.TagID)
			tag := ""
			if !byDigest {
				tag = ref
			}
			reg.publish(q, event.PullArtifact, m.Digest, tag, m.MediaType, m.Size)
		}
	}
	h := q.w.Header()
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", m.Digest)
	h.Set("Etag", `"`+m.Digest+`"`)
	h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	if match := q.r.Header.Get("If-None-Match"); match != "" && (match == `"`+m.Digest+`"` || match == m.Digest) {
		q.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	q.w.WriteHeader(http.StatusOK)
	if !head {
		q.w.Write(body)
	}
	return nil
}

func (reg *Registry) putManifest(q *request, ref string) error {
	ctx := q.r.Context()
	var tags []string
	var want oci.Digest
	if oci.IsDigestRef(ref) {
		d, err := parseDigest(ref)
		if err != nil {
			return err
		}
		want = d
	} else {
		tags = append(tags, ref)
	}
	// OCI 1.1+: PUT by digest may name tags to set with ?tag=.
	tags = append(tags, q.r.URL.Query()["tag"]...)
	if q.r.ContentLength > oci.MaxManifestSize {
		return failf(codeManifestTooLarge, "manifest is larger than 4 MiB")
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, oci.MaxManifestSize+1))
	if err != nil {
		return fail(codeManifestInvalid, errs.Wrap("read manifest", err))
	}
	stored, err := reg.arts.Put(ctx, reg.target(q), artifact.Manifest{
		MediaType: q.r.Header.Get("Content-Type"), Body: body, Digest: want, Tags: tags,
	})
	if err != nil {
		return putError(err)
	}
	got := string(stored.Digest)
	reg.cache.put(got, body)
	h := q.w.Header()
	h.Set("Location", q.base+"/v2/"+q.name+"/manifests/"+got)
	h.Set("Docker-Content-Digest", got)
	if stored.Manifest.Subject != nil {
		h.Set("OCI-Subject", stored.Manifest.Subject.Digest)
	}
	if want != "" && len(tags) > 0 {
		h.Set("OCI-Tag", strings.Join(tags, ","))
	}
	h.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

// putError is the OCI answer to the artifact service's refusal of a
// manifest PUT.
func putError(err error) error {
	var e *errs.Error
	switch {
	case errors.As(err, &e) && e.Op == artifact.OpDigest:
		return fail(codeDigestInvalid, err)
	case errs.Is(err, errs.Unsupported):
		return fail(codeUnsupported, err)
	case errs.Is(err, errs.Invalid):
		return fail(codeManifestInvalid, err)
	case errs.Is(err, errs.TooLarge):
		return fail(codeManifestTooLarge, err)
	case errs.Is(err, errs.NotFound):
		return fail(codeManifestBlobUnknown, err)
	}
	return err // DENIED for immutability and quota
}

// target is the artifact service's view of q's repository and caller.
func (reg *Registry) target(q *request) artifact.Target {
	return artifact.Target{ProjectID: q.project.ID, Project: q.project.Name, Repository: q.name, Operator: q.p.Name}
}

func (reg *Registry) deleteManifest(q *request, ref string) error {
	ctx := q.r.Context()
	if oci.IsDigestRef(ref) {
		d, err := parseDigest(ref)
		if err != nil {
			return err
		}
		if err := reg.arts.DeleteManifest(ctx, reg.target(q), string(d)); err != nil {
			return deleteError(err)
		}
	} else {
		if err := oci.ValidateTag(ref); err != nil {
			return fail(codeManifestUnknown, err)
		}
		if err := reg.arts.DeleteTag(ctx, reg.target(q), ref, 0); err != nil {
			return deleteError(err)
		}
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

// deleteError is the OCI answer to a refused manifest or tag DELETE.
func deleteError(err error) error {
	if errs.Is(err, errs.NotFound) {
		return fail(codeManifestUnknown, err)
	}
	return err // DENIED for immutability
}

type referrerDesc struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

func (reg *Registry) referrers(q *request, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	at := q.r.URL.Query().Get("artifactType")
	list, err := reg.st.Referrers(q.r.Context(), q.name, string(d), at)
	if err != nil {
		return err
	}
	out := make([]referrerDesc, 0, len(list))
	for _, r := range list {
		rd := referrerDesc{MediaType: r.MediaType, Digest: r.Digest, Size: r.Size, ArtifactType: r.ArtifactType}
		if r.Annotations != "" {
			json.Unmarshal([]byte(r.Annotations), &rd.Annotations)
		}
		out = append(out, rd)
	}
	if at != "" {
		q.w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(q.w, q.r, http.StatusOK, oci.MediaTypeOCIIndex, map[string]any{
		"schemaVersion": 2,
		"mediaType":     oci.MediaTypeOCIIndex,
		"manifests":     out,
	})
}

// pullRecorder gathers pull times in memory and writes them in batches, so
// a pull never waits on a database write.
type pullRecorder struct {
	st interface {
		RecordPulls(context.Context, map[int64]int64, map[int64]int64) error
	}
	interval  time.Duration
	log       *slog.Logger
	mu        sync.Mutex
	artifacts map[int64]int64
	tags      map[int64]int64
}

func newPullRecorder(st Store, interval time.Duration, log *slog.Logger) *pullRecorder {
	return &pullRecorder{st: st, interval: interval, log: log, artifacts: map[int64]int64{}, tags: map[int64]int64{}}
}

func (p *pullRecorder) record(artifactID, tagID int64) {
	t := time.Now().UnixMilli()
	p.mu.Lock()
	p.artifacts[artifactID] = t
	if tagID != 0 {
		p.tags[tagID] = t
	}
	p.mu.Unlock()
}

func (p *pullRecorder) flush(ctx context.Context) error {
	p.mu.Lock()
	a, t := p.artifacts, p.tags
	p.artifacts, p.tags = map[int64]int64{}, map[int64]int64{}
	p.mu.Unlock()
	return p.st.RecordPulls(ctx, a, t)
}

func (p *pullRecorder) run(ctx context.Context) {
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := p.flush(fctx); err != nil {
				p.log.Warn("recording pull times", "err", err)
			}
			cancel()
			return
		case <-tick.C:
			if err := p.flush(ctx); err != nil {
				p.log.Warn("recording pull times", "err", err)
			}
		}
	}
}

// manifestCache keeps manifest bodies by digest. Content under a digest never
// changes, so entries need no invalidation; whether a repository still has
// the manifest is always asked of the store first.
type manifestCache struct {
	mu    sync.RWMutex
	max   int
	bytes int
	m     map[string][]byte
}

func newManifestCache(max int) *manifestCache {
	return &manifestCache{max: max, m: map[string][]byte{}}
}

func (c *manifestCache) get(d string) []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[d]
}

func (c *manifestCache) put(d string, b []byte) {
	if len(b) > c.max/16 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[d]; ok {
		return
	}
	for k, v := range c.m { // evict arbitrary entries until it fits
		if c.bytes+len(b) <= c.max {
			break
		}
		delete(c.m, k)
		c.bytes -= len(v)
	}
	c.m[d] = b
	c.bytes += len(b)
}
