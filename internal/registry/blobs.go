package registry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
)

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func parseDigest(s string) (oci.Digest, error) {
	d, err := oci.ParseDigest(s)
	if err != nil {
		return "", fail(codeDigestInvalid, err)
	}
	return d, nil
}

func (reg *Registry) getBlob(q *request, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	size, err := reg.st.ProjectBlob(ctx, q.project.ID, string(d))
	if err != nil {
		return fail(codeBlobUnknown, err)
	}
	h := q.w.Header()
	h.Set("Docker-Content-Digest", string(d))
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Accept-Ranges", "bytes")
	h.Set("Etag", `"`+string(d)+`"`)
	h.Set("Cache-Control", "max-age=31536000")
	if q.r.Method == http.MethodHead && q.r.Header.Get("Range") == "" {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		q.w.WriteHeader(http.StatusOK)
		return nil
	}
	f, err := reg.blobs.Open(ctx, d)
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return fail(codeBlobUnknown, err)
		}
		return err
	}
	defer f.Close()
	if size >= corkMin {
		uncork := corked(ctx)
		defer func() {
			// The response is flushed before the cork is pulled, so the
			// kernel sends its last partial segment at once.
			http.NewResponseController(q.w).Flush()
			uncork()
		}()
	}
	// ServeContent handles Range and If-None-Match; the body goes through
	// a copy buffer when one is free, else through sendfile (see copyBufs).
	w := http.ResponseWriter(q.w)
	if size >= copyMin {
		select {
		case copySlots <- struct{}{}:
			defer func() { <-copySlots }()
			w = copyWriter{q.w}
		default:
		}
	}
	http.ServeContent(w, q.r, "", timeZero, f)
	return nil
}

// A large blob goes to the socket through a 1 MiB user-space buffer
// instead of net/http handing the *os.File to sendfile(2). Measured on
// loopback on a 2-CPU VM (docs/performance.md): a 256 MiB blob read by a
// Go client in 1 MiB reads came at about 2,950 MiB/s this way against
// 2,450 with sendfile (nginx, with sendfile: 2,400; a 256 KiB buffer:
// 1,950), and `oras pull`, which writes the layer to disk, went from
// 0.80-0.92x of Distribution's rate with sendfile to above 1x.
// Buffers are pooled, and at most cap(copySlots) transfers hold one at a
// time (64 MiB in all); the others are sent with sendfile, which costs no
// memory.
const (
	copyMin     = 1 << 20
	copyBufSize = 1 << 20
)

var (
	copySlots = make(chan struct{}, 64)
	copyBufs  = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}
)

// copyWriter's ReadFrom is what io.Copy, and so ServeContent, calls.
type copyWriter struct{ http.ResponseWriter }

func (w copyWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(writerOnly{w.ResponseWriter}, r, *bp)
}

// writerOnly hides the ResponseWriter's own ReadFrom (sendfile).
type writerOnly struct{ io.Writer }

func (reg *Registry) deleteBlob(q *request, ref string) error {
	d, err := parseDigest(ref)
	if err != nil {
		return err
	}
	if err := reg.st.UnlinkBlob(q.r.Context(), q.project.ID, string(d)); err != nil {
		return fail(codeBlobUnknown, err)
	}
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusAccepted)
	return nil
}

func newUploadID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (reg *Registry) lockUpload(id string) func() {
	m, _ := reg.uploadLocks.LoadOrStore(id, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return func() { mu.Unlock() }
}

// startUpload serves POST /v2/<name>/blobs/uploads/: a mount, a monolithic
// upload (?digest=), or the start of a session.
func (reg *Registry) startUpload(q *request, _ string) error {
	ctx := q.r.Context()
	query := q.r.URL.Query()
	if m := query.Get("mount"); m != "" {
		d, err := parseDigest(m)
		if err != nil {
			return err
		}
		if ok, err := reg.mount(q, d, query.Get("from")); err != nil {
			return err
		} else if ok {
			return blobCreated(q, d)
		}
		// Not mountable: fall through to an ordinary upload session.
	}
	if ds := query.Get("digest"); ds != "" {
		d, err := parseDigest(ds)
		if err != nil {
			return err
		}
		id := newUploadID()
		h := sha256.New()
		body, err := reg.quotaBody(q, d)
		if err != nil {
			return err
		}
		n, err := reg.blobs.Append(ctx, id, 0, io.TeeReader(body, h))
		if err != nil {
			reg.blobs.Abort(ctx, id)
			return bodyError(err)
		}
		if err := checkLength(q.r, n); err != nil {
			reg.blobs.Abort(ctx, id)
			return err
		}
		return reg.commit(q, id, false, d, n, h)
	}
	id := newUploadID()
	if err := reg.st.CreateUploadAtMost(ctx, store.Upload{ID: id, ProjectID: q.project.ID, Repository: q.name}, reg.uploadSessions); err != nil {
		return err
	}
	if _, err := reg.blobs.Append(ctx, id, 0, strings.NewReader("")); err != nil {
		reg.st.DeleteUpload(ctx, id)
		return err
	}
	return uploadAccepted(q, id, 0, http.StatusAccepted)
}

// mount links an existing blob into the project. from may be empty: then any
// project holding the blob that the caller may pull from will do.
func (reg *Registry) mount(q *request, d oci.Digest, from string) (bool, error) {
	ctx := q.r.Context()
	if _, err := reg.st.ProjectBlob(ctx, q.project.ID, string(d)); err == nil {
		return true, nil
	}
	var candidates []int64
	if from != "" {
		if oci.ValidateRepository(from) != nil {
			return false, nil
		}
		fp, _ := oci.SplitRepository(from)
		src, err := reg.st.ProjectByName(ctx, fp)
		if err != nil || reg.gate.Authorize(ctx, q.p, src, from, auth.Pull) != nil {
			return false, nil
		}
		candidates = []int64{src.ID}
	} else {
		ids, err := reg.st.BlobProjects(ctx, string(d))
		if err != nil {
			return false, err
		}
		candidates = ids
	}
	for _, pid := range candidates {
		src, err := reg.st.ProjectByID(ctx, pid)
		if err != nil || !contains(reg.gate.Actions(ctx, q.p, src), auth.Pull) {
			continue
		}
		if _, err := reg.st.ProjectBlob(ctx, pid, string(d)); err != nil {
			continue
		}
		if _, err := reg.st.LinkBlob(ctx, q.project.ID, string(d)); err != nil {
			if errs.Is(err, errs.NotFound) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	}
	return false, nil
}

func blobCreated(q *request, d oci.Digest) error {
	h := q.w.Header()
	h.Set("Location", q.base+"/v2/"+q.name+"/blobs/"+string(d))
	h.Set("Docker-Content-Digest", string(d))
	h.Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func uploadAccepted(q *request, id string, size int64, status int) error {
	h := q.w.Header()
	h.Set("Location", q.base+"/v2/"+q.name+"/blobs/uploads/"+id)
	h.Set("Docker-Upload-UUID", id)
	h.Set("Range", rangeHeader(size))
	h.Set("Content-Length", "0")
	q.w.WriteHeader(status)
	return nil
}

func rangeHeader(size int64) string {
	end := size
	if end > 0 {
		end--
	}
	return "0-" + strconv.FormatInt(end, 10)
}

// session loads upload id and checks it belongs to this repository.
func (reg *Registry) session(q *request, id string) (*store.Upload, error) {
	u, err := reg.st.GetUpload(q.r.Context(), id)
	if err != nil {
		return nil, fail(codeBlobUploadUnknown, err)
	}
	if u.Repository != q.name {
		return nil, failf(codeBlobUploadUnknown, "upload "+id+" does not belong to "+q.name)
	}
	return u, nil
}

func (reg *Registry) uploadStatus(q *request, id string) error {
	u, err := reg.session(q, id)
	if err != nil {
		return err
	}
	return uploadAccepted(q, id, u.Size, http.StatusNoContent)
}

func (reg *Registry) cancelUpload(q *request, id string) error {
	defer reg.lockUpload(id)()
	if _, err := reg.session(q, id); err != nil {
		return err
	}
	ctx := q.r.Context()
	if err := reg.st.DeleteUpload(ctx, id); err != nil {
		return err
	}
	reg.blobs.Abort(ctx, id)
	reg.uploadLocks.Delete(id)
	q.w.Header().Set("Content-Length", "0")
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// restoreHash returns a sha256 hash positioned after the acknowledged bytes.
func restoreHash(state []byte) (hash.Hash, error) {
	h := sha256.New()
	if len(state) > 0 {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, errs.Wrap("restore upload hash", err)
		}
	}
	return h, nil
}

// appendChunk appends the request body to the session at its acknowledged
// size, honouring Content-Range, and records the new size. d is the digest
// the closing PUT names ("" for a PATCH).
func (reg *Registry) appendChunk(q *request, u *store.Upload, d oci.Digest) (hash.Hash, error) {
	ctx := q.r.Context()
	if cr := q.r.Header.Get("Content-Range"); cr != "" {
		start, end, ok := parseContentRange(cr)
		if !ok || start != u.Size || end < start {
			e := failf(codeRangeInvalid, "Content-Range "+cr+" does not continue the upload at byte "+strconv.FormatInt(u.Size, 10))
			e.header = http.Header{
				"Location":           {q.base + "/v2/" + q.name + "/blobs/uploads/" + u.ID},
				"Range":              {rangeHeader(u.Size)},
				"Docker-Upload-Uuid": {u.ID},
			}
			return nil, e
		}
		if q.r.ContentLength >= 0 && q.r.ContentLength != end-start+1 {
			return nil, failf(codeSizeInvalid, "Content-Length does not match Content-Range")
		}
	}
	h, err := restoreHash(u.HashState)
	if err != nil {
		return nil, err
	}
	body, err := reg.quotaBody(q, d)
	if err != nil {
		reg.discardSession(ctx, u.ID)
		return nil, err
	}
	n, err := reg.blobs.Append(ctx, u.ID, u.Size, io.TeeReader(body, h))
	if err != nil {
		if errs.Is(err, errs.NotFound) {
			return nil, fail(codeBlobUploadUnknown, err)
		}
		if errs.Is(err, errs.Denied) { // over the quota: nothing of it is kept
			reg.discardSession(ctx, u.ID)
			return nil, err
		}
		return nil, bodyError(err)
	}
	if err := checkLength(q.r, n); err != nil {
		return nil, err
	}
	if n == 0 {
		return h, nil
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, errs.Wrap("save upload hash", err)
	}
	if err := reg.st.AdvanceUpload(ctx, u.ID, u.Size, u.Size+n, state); err != nil {
		return nil, fail(codeBlobUploadInvalid, err)
	}
	u.Size += n
	u.HashState = state
	return h, nil
}

// discardSession deletes upload session id and its bytes.
func (reg *Registry) discardSession(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	reg.st.DeleteUpload(ctx, id)
	reg.blobs.Abort(ctx, id)
	reg.uploadLocks.Delete(id)
}

// quotaBody returns the request body bounded by what the project's storage
// quota can still take (the bytes of open sessions count: they are on
// disk): a body whose Content-Length is larger is refused before it is
// read, and one that streams past it stops there with the quota error
// (DENIED, as Harbor answers a push over quota), when its bytes so far are
// discarded by the caller. A blob already in the project costs nothing: when
// the request names one (d), as much as its size is let through.
func (reg *Registry) quotaBody(q *request, d oci.Digest) (io.Reader, error) {
	ctx := q.r.Context()
	room, err := reg.st.ProjectUploadRoom(ctx, q.project.ID)
	if err != nil {
		return nil, err
	}
	if !room.Limited() {
		return q.r.Body, nil
	}
	left := room.Left()
	if d != "" {
		if size, err := reg.st.ProjectBlob(ctx, q.project.ID, string(d)); err == nil {
			left = max(left, size)
		}
	}
	if q.r.ContentLength > left {
		return nil, room.Exceeded(q.r.ContentLength)
	}
	return &quotaReader{r: q.r.Body, left: left, room: room}, nil
}

// quotaReader reads at most left bytes of r and fails with the room's
// quota error once r has more.
type quotaReader struct {
	r    io.Reader
	left int64
	read int64
	room *store.UploadRoom
}

func (r *quotaReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.read += int64(n)
	if int64(n) > r.left {
		n = int(r.left)
		r.left = 0
		return n, r.room.Exceeded(r.read)
	}
	r.left -= int64(n)
	return n, err
}

// bodyError translates a failure to store a request body: a body that ended
// before its Content-Length said it would is SIZE_INVALID; one over the
// project's quota keeps its quota error.
func bodyError(err error) error {
	if errs.Is(err, errs.Denied) {
		return err // over the project's quota (quotaBody)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return failf(codeSizeInvalid, "request body ended before its Content-Length")
	}
	return fail(codeBlobUploadInvalid, err)
}

func checkLength(r *http.Request, n int64) error {
	if r.ContentLength >= 0 && r.ContentLength != n {
		return failf(codeSizeInvalid, "received "+strconv.FormatInt(n, 10)+" bytes, Content-Length said "+strconv.FormatInt(r.ContentLength, 10))
	}
	return nil
}

func parseContentRange(s string) (int64, int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "bytes ")
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, false
	}
	b, _, _ = strings.Cut(b, "/")
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 {
		return 0, 0, false
	}
	return start, end, true
}

func (reg *Registry) patchUpload(q *request, id string) error {
	defer reg.lockUpload(id)()
	u, err := reg.session(q, id)
	if err != nil {
		return err
	}
	if _, err := reg.appendChunk(q, u, ""); err != nil {
		return err
	}
	return uploadAccepted(q, id, u.Size, http.StatusAccepted)
}

func (reg *Registry) putUpload(q *request, id string) error {
	defer reg.lockUpload(id)()
	ds := q.r.URL.Query().Get("digest")
	if ds == "" {
		return failf(codeDigestInvalid, "the closing PUT needs a digest parameter")
	}
	d, err := parseDigest(ds)
	if err != nil {
		return err
	}
	u, err := reg.session(q, id)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	if _, err := reg.blobs.UploadSize(ctx, id); errs.Is(err, errs.NotFound) {
		// A previous PUT moved the bytes but stopped before recording them.
		if size, err := reg.blobs.Stat(ctx, d); err == nil && size == u.Size {
			// Only if they were d: another stored blob of the same size
			// must not become visible here by being named.
			if ok, err := reg.sessionHolds(ctx, u, d); err != nil {
				return err
			} else if !ok {
				return failf(codeDigestInvalid, "upload "+id+" does not hold "+string(d))
			}
			// The row is reserved again, then the file looked for again:
			// garbage collection cannot delete it between that look and
			// the record (package gc).
			if err := reg.st.ReserveBlob(ctx, string(d), size); err != nil {
				return err
			}
			if _, err := reg.blobs.Stat(ctx, d); err != nil {
				return failf(codeBlobUploadUnknown, "upload "+id+" has no data")
			}
			if err := reg.st.FinishUpload(ctx, id, q.project.ID, string(d), size); err != nil {
				return err
			}
			return blobCreated(q, d)
		}
		return failf(codeBlobUploadUnknown, "upload "+id+" has no data")
	}
	h, err := reg.appendChunk(q, u, d)
	if err != nil {
		return err
	}
	return reg.commit(q, id, true, d, u.Size, h)
}

// sessionHolds reports whether the acknowledged bytes of u are the content
// stored as d: their saved sha256 state is compared with d itself, or for
// another algorithm with the sha256 of d's stored content.
func (reg *Registry) sessionHolds(ctx context.Context, u *store.Upload, d oci.Digest) (bool, error) {
	h, err := restoreHash(u.HashState)
	if err != nil {
		return false, err
	}
	sum := oci.FromHash(oci.SHA256, h)
	if d.Algorithm() == oci.SHA256 {
		return sum == d, nil
	}
	f, err := reg.blobs.Open(ctx, d)
	if err != nil {
		return false, nil
	}
	defer f.Close()
	stored := sha256.New()
	if _, err := io.Copy(stored, f); err != nil {
		return false, errs.Wrap("hash stored blob", err)
	}
	return oci.FromHash(oci.SHA256, stored) == sum, nil
}

// commit checks that upload id hashes to d and makes it a blob of the project.
func (reg *Registry) commit(q *request, id string, session bool, d oci.Digest, size int64, h hash.Hash) error {
	ctx := q.r.Context()
	discard := func() {
		if session {
			reg.st.DeleteUpload(ctx, id)
		}
		reg.blobs.Abort(ctx, id)
	}
	var got oci.Digest
	if d.Algorithm() == oci.SHA256 {
		got = oci.FromHash(oci.SHA256, h)
	} else {
		f, err := reg.blobs.OpenUpload(ctx, id)
		if err != nil {
			return err
		}
		hh := oci.NewHash(d.Algorithm())
		_, err = io.Copy(hh, f)
		f.Close()
		if err != nil {
			return errs.Wrap("hash upload", err)
		}
		got = oci.FromHash(d.Algorithm(), hh)
	}
	if got != d {
		discard()
		return failf(codeDigestInvalid, "uploaded content has digest "+string(got)+", not "+string(d))
	}
	// Over the project's quota: refused (DENIED) before the bytes are kept.
	if err := reg.st.CheckQuota(ctx, q.project.ID, string(d), size); err != nil {
		if errs.Is(err, errs.Denied) || errs.Is(err, errs.NotFound) {
			discard() // over quota, or the project is gone
		}
		return err
	}
	uid := ""
	if session {
		uid = id
	}
	// The order of these steps is what keeps a blob whole while garbage
	// collection runs (the safety argument is in package gc).
	if stored, err := reg.blobs.Stat(ctx, d); err == nil && stored == size {
		// Already stored: record it, then look again, keeping this upload's
		// bytes until then: a collection may have deleted the unreferenced
		// copy before the record was made.
		if err := reg.st.FinishUpload(ctx, uid, q.project.ID, string(d), size); err != nil {
			return err
		}
		if stored, err := reg.blobs.Stat(ctx, d); err == nil && stored == size {
			reg.blobs.Abort(ctx, id) // keep one copy
		} else if err := reg.blobs.Commit(ctx, id, d); err != nil {
			return err
		}
	} else {
		// New content: its row is reserved before the file appears, so a
		// collection never takes the file for an orphan, and is fresh, so
		// the collection's time window keeps it until it is linked.
		if err := reg.st.ReserveBlob(ctx, string(d), size); err != nil {
			return err
		}
		if err := reg.blobs.Commit(ctx, id, d); err != nil {
			return err
		}
		if err := reg.st.FinishUpload(ctx, uid, q.project.ID, string(d), size); err != nil {
			return err
		}
	}
	reg.uploadLocks.Delete(id)
	return blobCreated(q, d)
}
