package registry

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
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
	for _, t := range tags {
		if err := oci.ValidateTag(t); err != nil {
			return fail(codeManifestInvalid, err)
		}
	}
	if q.r.ContentLength > oci.MaxManifestSize {
		return failf(codeManifestTooLarge, "manifest is larger than 4 MiB")
	}
	body, err := io.ReadAll(io.LimitReader(q.r.Body, oci.MaxManifestSize+1))
	if err != nil {
		return fail(codeManifestInvalid, errs.Wrap("read manifest", err))
	}
	if len(body) > oci.MaxManifestSize {
		return failf(codeManifestTooLarge, "manifest is larger than 4 MiB")
	}
	alg := oci.SHA256
	if want != "" {
		alg = want.Algorithm()
	}
	got := oci.FromBytesAlg(alg, body)
	if want != "" && got != want {
		return failf(codeDigestInvalid, "manifest has digest "+string(got)+", not "+string(want))
	}
	m, err := oci.ParseManifest(q.r.Header.Get("Content-Type"), body)
	if err != nil {
		if errs.Is(err, errs.Unsupported) {
			return fail(codeUnsupported, err)
		}
		return fail(codeManifestInvalid, err)
	}
	put := store.ManifestPut{
		ProjectID:    q.project.ID,
		Repository:   q.name,
		Digest:       string(got),
		MediaType:    m.MediaType,
		ArtifactType: m.ArtifactType,
		Size:         int64(len(body)),
		TotalSize:    oci.TotalSize(body, m),
		Body:         body,
		Tags:         tags,
	}
	if m.Config != nil {
		put.ConfigMediaType = m.Config.MediaType
	}
	put.Kind = oci.ArtifactKind(m.MediaType, put.ConfigMediaType, m.ArtifactType)
	put.ExtraAttrs = reg.extraAttrs(ctx, q.project.ID, put.Kind, put.ConfigMediaType, m)
	if len(m.Annotations) > 0 {
		a, _ := json.Marshal(m.Annotations)
		put.Annotations = string(a)
	}
	if m.Subject != nil {
		put.Subject = m.Subject.Digest
	}
	for _, d := range m.BlobDigests() {
		if d.Foreign() {
			continue // non-distributable layer, fetched from its URLs
		}
		put.Blobs = append(put.Blobs, d.Digest)
	}
	for _, c := range m.Children {
		child := store.Child{Digest: c.Digest, MediaType: c.MediaType}
		if c.Platform != nil {
			p, _ := json.Marshal(c.Platform)
			child.Platform = string(p)
		}
		put.Children = append(put.Children, child)
	}
	if err := reg.guardPush(ctx, q, string(got), tags); err != nil {
		return err
	}
	defer reg.refs.invalidate() // after the write, so no racing read caches the old answer
	if _, err := reg.st.PutManifest(ctx, put); err != nil {
		if errs.Is(err, errs.NotFound) {
			return fail(codeManifestBlobUnknown, err)
		}
		return err
	}
	reg.cache.put(string(got), body)
	if len(tags) == 0 {
		reg.publish(q, event.PushArtifact, string(got), "", m.MediaType, int64(len(body)))
	}
	for _, t := range tags {
		reg.publish(q, event.PushArtifact, string(got), t, m.MediaType, int64(len(body)))
	}
	h := q.w.Header()
	h.Set("Location", q.base+"/v2/"+q.name+"/manifests/"+string(got))
	h.Set("Docker-Content-Digest", string(got))
	if m.Subject != nil {
		h.Set("OCI-Subject", m.Subject.Digest)
	}
	if want != "" && len(tags) > 0 {
		h.Set("OCI-Tag", strings.Join(tags, ","))
	}
	h.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (reg *Registry) deleteManifest(q *request, ref string) error {
	ctx := q.r.Context()
	defer reg.refs.invalidate()
	if oci.IsDigestRef(ref) {
		d, err := parseDigest(ref)
		if err != nil {
			return err
		}
		if err := reg.guardDeleteManifest(ctx, q, string(d)); err != nil {
			return err
		}
		if err := reg.st.DeleteManifest(ctx, q.name, string(d)); err != nil {
			return fail(codeManifestUnknown, err)
		}
		reg.publish(q, event.DeleteArtifact, string(d), "", "", 0)
	} else {
		if err := oci.ValidateTag(ref); err != nil {
			return fail(codeManifestUnknown, err)
		}
		if err := reg.guardDeleteTag(ctx, q, ref); err != nil {
			return err
		}
		if err := reg.st.DeleteTag(ctx, q.name, ref); err != nil {
			return fail(codeManifestUnknown, err)
		}
		reg.publish(q, event.DeleteTag, "", ref, "", 0)
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
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

// maxAttrsConfig bounds the config blob read for extra attributes at push.
const maxAttrsConfig = 4 << 20

// extraAttrs computes what the management API shows of m's config
// (oci.ExtraAttrsJSON), to be stored with the artifact. A config that is
// missing, too large or not JSON gives "" and the push goes on: the API
// then derives the attributes when it shows the artifact. Only a config
// visible in the project is read: the blob store holds every project's
// content, and a digest alone must never reveal another project's config
// (the push then fails anyway: PutManifest requires the config there).
func (reg *Registry) extraAttrs(ctx context.Context, projectID int64, kind, configMediaType string, m *oci.Manifest) string {
	if !oci.HasExtraAttrs(kind, configMediaType, m) || m.Config.Size > maxAttrsConfig || len(m.Config.URLs) > 0 {
		return ""
	}
	d, err := oci.ParseDigest(m.Config.Digest)
	if err != nil {
		return ""
	}
	if _, err := reg.st.ProjectBlob(ctx, projectID, string(d)); err != nil {
		return ""
	}
	rc, err := reg.blobs.Open(ctx, d)
	if err != nil {
		return ""
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxAttrsConfig))
	if err != nil {
		return ""
	}
	return oci.ExtraAttrsJSON(kind, configMediaType, m, b)
}
