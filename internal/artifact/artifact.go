// Package artifact is the artifact domain service: the only code that
// puts, copies, tags and deletes artifacts and tags. /v2 (package
// registry), the REST API (package api), tag retention and, later,
// replication and proxy caching call it, so every rule of a write lives
// here once:
//
//   - a manifest is parsed and validated, and turned into its stored
//     record by one function (record): kind, config media type, extra
//     attributes read from a config the project can read, Harbor's total
//     size, subject, children, and the blobs it references;
//   - the blobs must be stored and visible in the project (the store
//     checks it in the transaction that records the manifest, with the
//     project's storage quota);
//   - tag immutability (package immutable): a write never moves, deletes
//     or removes with its artifact a tag an enabled rule of the project
//     covers; creating such a tag is allowed, as in Harbor;
//   - events: PUSH_ARTIFACT per tag pushed, CREATE_TAG, DELETE_TAG,
//     DELETE_ARTIFACT for the artifact a delete names, and QUOTA_EXCEED when
//     the quota refuses a push, so the audit log and webhooks follow every
//     writer alike;
//   - after every write, Options.Changed (read caches drop what they hold).
//
// Callers are authorized before they call: the service takes a Target
// naming the project, repository and operator and asks no permission
// (the HTTP surfaces ask package auth, retention acts for its policy).
// The domain never imports net/http.
package artifact

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/event"
	"github.com/berth-dev/berth/internal/immutable"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/store"
)

// Store is what the service needs of the metadata store.
type Store interface {
	PutManifest(ctx context.Context, m store.ManifestPut) (int64, error)
	ProjectBlob(ctx context.Context, projectID int64, digest string) (int64, error)
	LinkBlob(ctx context.Context, projectID int64, digest string) (int64, error)
	ArtifactByRef(ctx context.Context, repository, ref string, byDigest bool) (*store.Artifact, error)
	ArtifactTags(ctx context.Context, ids []int64) (map[int64][]store.Tag, error)
	ArtifactAccessories(ctx context.Context, ids []int64) (map[int64][]store.Accessory, error)
	CreateArtifactTag(ctx context.Context, repoID, id int64, name string) (int64, error)
	DeleteArtifactTag(ctx context.Context, id int64, name string) error
	DeleteTag(ctx context.Context, repository, tag string) error
	DeleteArtifact(ctx context.Context, id int64) ([]store.Artifact, error)
	DeleteManifest(ctx context.Context, repository, digest string) error
	ImmutableRules(ctx context.Context, projectID int64) ([]immutable.Rule, error)
	ListTags(ctx context.Context, repository, last string, n int) ([]string, error)
}

// Blobs opens stored blobs (a config read for extra attributes).
type Blobs interface {
	Open(ctx context.Context, d oci.Digest) (io.ReadSeekCloser, error)
}

// Publisher takes events.
type Publisher interface{ Publish(event.Event) }

// Options configure a Service.
type Options struct {
	Events  Publisher // nil: none
	Changed func()    // called after each write, for read caches (nil: none)
}

// Service is the artifact domain service.
type Service struct {
	st     Store
	blobs  Blobs
	events Publisher
	change func()
}

// New returns the service over st and blobs (nil blobs: extra attributes
// are not read at push; the API then derives them when shown).
func New(st Store, blobs Blobs, o Options) *Service {
	return &Service{st: st, blobs: blobs, events: o.Events, change: o.Changed}
}

// Target is where a write goes and who makes it: a caller already
// authorized for the write.
type Target struct {
	ProjectID  int64
	Project    string
	Repository string // full name, project/repo
	Operator   string // user or robot name; "" for anonymous
}

func (s *Service) changed() {
	if s.change != nil {
		s.change()
	}
}

func (s *Service) publish(t Target, e event.Event) {
	if s.events == nil {
		return
	}
	e.Operator, e.ProjectID, e.Project, e.Repository = t.Operator, t.ProjectID, t.Project, t.Repository
	s.events.Publish(e)
}

// OpDigest is the Op of the error Put returns when a manifest does not
// have the digest it was sent under (/v2 answers DIGEST_INVALID).
const OpDigest = "check manifest digest"

// Manifest is a manifest to store.
type Manifest struct {
	MediaType string     // as sent (Content-Type); the manifest's own mediaType counts when set
	Body      []byte     // exactly as sent: its digest is the artifact's
	Digest    oci.Digest // the digest it was sent under, "" when none (a push by tag)
	Tags      []string   // tags to point at it
}

// Stored is what Put stored.
type Stored struct {
	ID       int64
	Digest   oci.Digest
	Manifest *oci.Manifest
}

// Put stores a manifest in t's repository and points m.Tags at it,
// applying every rule of a push: tag and size validation, the digest it
// was sent under, parsing, the stored record (record), the blobs being
// stored and visible in the project and the project's quota (checked by
// the store with the write), tag immutability, and PUSH_ARTIFACT events
// (QUOTA_EXCEED on a refusal for quota).
//
// It is the one call that stores an artifact. /v2's manifest PUT and the
// API's copy (Copy) use it, and so must a replication or proxy-cache
// adapter: once it has stored the artifact's blobs in the project (linked,
// as blob uploads and mounts leave them), one Put per manifest, children
// before their index, stores the whole artifact with its tags under every
// rule a push obeys.
//
// Errors: errs.Invalid (a bad tag, a manifest that does not parse, or,
// with Op OpDigest, the wrong digest), errs.Unsupported (a manifest media
// type Berth does not take), errs.TooLarge, errs.NotFound (a blob or child
// the project does not hold), errs.Denied (an immutable tag, the quota).
func (s *Service) Put(ctx context.Context, t Target, m Manifest) (*Stored, error) {
	st, err := s.put(ctx, t, m, nil)
	if err != nil {
		return nil, err
	}
	size := int64(len(m.Body))
	if len(m.Tags) == 0 {
		s.publish(t, event.Event{Type: event.PushArtifact, Digest: string(st.Digest), MediaType: st.Manifest.MediaType, Size: size})
	}
	for _, tag := range m.Tags {
		s.publish(t, event.Event{Type: event.PushArtifact, Digest: string(st.Digest), Tag: tag, MediaType: st.Manifest.MediaType, Size: size})
	}
	return st, nil
}

// put is Put without the push events (a copy is recorded as one operation
// by its caller). from, when set, is the stored artifact m is a copy of:
// its stored extra attributes are kept.
func (s *Service) put(ctx context.Context, t Target, m Manifest, from *store.Artifact) (*Stored, error) {
	const op = "put manifest"
	for _, tag := range m.Tags {
		if err := oci.ValidateTag(tag); err != nil {
			return nil, errs.E(errs.Invalid, op, "invalid tag %q: up to 128 letters, digits, _ . and -, not starting with . or -", tag)
		}
	}
	if len(m.Body) > oci.MaxManifestSize {
		return nil, errs.E(errs.TooLarge, op, "manifest is larger than 4 MiB")
	}
	alg := oci.SHA256
	if m.Digest != "" {
		alg = m.Digest.Algorithm()
	}
	got := oci.FromBytesAlg(alg, m.Body)
	if m.Digest != "" && got != m.Digest {
		return nil, errs.E(errs.Invalid, OpDigest, "manifest has digest %s, not %s", got, m.Digest)
	}
	parsed, err := oci.ParseManifest(m.MediaType, m.Body)
	if err != nil {
		return nil, err
	}
	rec := s.record(ctx, t, got, m.Body, parsed, m.Tags, from)
	if err := s.guardMove(ctx, t, string(got), m.Tags); err != nil {
		return nil, err
	}
	id, err := s.st.PutManifest(ctx, rec)
	if err != nil {
		s.quotaExceeded(t, m, got, err)
		return nil, err
	}
	s.changed()
	return &Stored{ID: id, Digest: got, Manifest: parsed}, nil
}

// quotaExceeded publishes QUOTA_EXCEED when err is the store's refusal of
// a push over the project's storage quota (an errs.Denied of the store's
// "check quota"), naming the manifest by tag, else by digest.
func (s *Service) quotaExceeded(t Target, m Manifest, d oci.Digest, err error) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		x, ok := e.(*errs.Error)
		if !ok || x.Op != "check quota" || x.Kind != errs.Denied {
			continue
		}
		ev := event.Event{Type: event.QuotaExceed, Digest: string(d), Description: x.Msg}
		if len(m.Tags) > 0 && m.Digest == "" {
			ev.Digest, ev.Tag = "", m.Tags[0]
		}
		s.publish(t, ev)
		return
	}
}

// record turns a parsed manifest into the record the store keeps: the one
// place that does (Put, and through it every writer). from, for a copy,
// is the source artifact, whose extra attributes are kept as stored.
func (s *Service) record(ctx context.Context, t Target, d oci.Digest, body []byte, m *oci.Manifest, tags []string, from *store.Artifact) store.ManifestPut {
	put := store.ManifestPut{
		ProjectID:    t.ProjectID,
		Repository:   t.Repository,
		Digest:       string(d),
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
	if from != nil && from.ExtraAttrs != "" {
		put.ExtraAttrs = from.ExtraAttrs
	} else {
		put.ExtraAttrs = s.extraAttrs(ctx, t.ProjectID, put.Kind, put.ConfigMediaType, m)
	}
	if len(m.Annotations) > 0 {
		a, _ := json.Marshal(m.Annotations)
		put.Annotations = string(a)
	}
	if m.Subject != nil {
		put.Subject = m.Subject.Digest
	}
	for _, b := range m.BlobDigests() {
		if b.Foreign() {
			continue // non-distributable layer, fetched from its URLs
		}
		put.Blobs = append(put.Blobs, b.Digest)
	}
	for _, c := range m.Children {
		child := store.Child{Digest: c.Digest, MediaType: c.MediaType}
		if c.Platform != nil {
			p, _ := json.Marshal(c.Platform)
			child.Platform = string(p)
		}
		put.Children = append(put.Children, child)
	}
	return put
}

// maxAttrsConfig bounds the config blob read for extra attributes.
const maxAttrsConfig = 4 << 20

// extraAttrs computes what the management API shows of m's config
// (oci.ExtraAttrsJSON), to be stored with the artifact. A config that is
// missing, too large or not JSON gives "" and the push goes on: the API
// then derives the attributes when it shows the artifact. Only a config
// visible in the project is read: the blob store holds every project's
// content, and a digest alone must never reveal another project's config
// (the push then fails anyway: PutManifest requires the config there).
func (s *Service) extraAttrs(ctx context.Context, projectID int64, kind, configMediaType string, m *oci.Manifest) string {
	if s.blobs == nil || !oci.HasExtraAttrs(kind, configMediaType, m) || m.Config.Size > maxAttrsConfig || len(m.Config.URLs) > 0 {
		return ""
	}
	d, err := oci.ParseDigest(m.Config.Digest)
	if err != nil {
		return ""
	}
	if _, err := s.st.ProjectBlob(ctx, projectID, string(d)); err != nil {
		return ""
	}
	rc, err := s.blobs.Open(ctx, d)
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

// Tag points a new tag at artifact a of t's repository (the API's
// createTag). A tag of that name in the repository is errs.Exists: the
// tag is created, never moved, so immutability has nothing to refuse.
func (s *Service) Tag(ctx context.Context, t Target, a *store.Artifact, name string) (int64, error) {
	const op = "create tag"
	if err := oci.ValidateTag(name); err != nil {
		return 0, errs.E(errs.Invalid, op, "invalid tag %q: up to 128 letters, digits, _ . and -, not starting with . or -", name)
	}
	id, err := s.st.CreateArtifactTag(ctx, a.RepositoryID, a.ID, name)
	if err != nil {
		return 0, err
	}
	s.changed()
	s.publish(t, event.Event{Type: event.CreateTag, Digest: a.Digest, Tag: name})
	return id, nil
}

// DeleteTag deletes tag from t's repository: from artifact artifactID, or
// (artifactID 0, /v2) wherever it points. An immutable tag is refused; a
// tag that is not there is errs.NotFound. It publishes DELETE_TAG.
func (s *Service) DeleteTag(ctx context.Context, t Target, tag string, artifactID int64) error {
	const op = "delete tag"
	a, err := s.st.ArtifactByRef(ctx, t.Repository, tag, false)
	if errs.Is(err, errs.NotFound) || (err == nil && artifactID != 0 && a.ID != artifactID) {
		return errs.E(errs.NotFound, op, "tag %s not found in %s", tag, t.Repository)
	}
	if err != nil {
		return err
	}
	if err := s.guardTags(ctx, t, op, []string{tag}); err != nil {
		return err
	}
	if artifactID == 0 {
		err = s.st.DeleteTag(ctx, t.Repository, tag)
	} else {
		err = s.st.DeleteArtifactTag(ctx, a.ID, tag)
	}
	if err != nil {
		return err
	}
	s.changed()
	s.publish(t, event.Event{Type: event.DeleteTag, Tag: tag})
	return nil
}

// DeleteArtifact deletes artifact id of t's repository with what goes
// with it (store.DeleteArtifact: its accessories and the index children
// nothing else uses), unless it or one of those accessories carries an
// immutable tag (errs.Denied). A child of an index of the repository is
// errs.Precondition. It returns what it removed, the artifact first, and
// publishes DELETE_ARTIFACT for the artifact alone: Harbor's
// deleteDeeply (src/controller/artifact/controller.go) fires the event
// only for the root it was asked to delete, not for what goes with it.
func (s *Service) DeleteArtifact(ctx context.Context, t Target, id int64) ([]store.Artifact, error) {
	if err := s.guardArtifact(ctx, t, "delete artifact", id, true); err != nil {
		return nil, err
	}
	removed, err := s.st.DeleteArtifact(ctx, id)
	if err != nil {
		return nil, err
	}
	s.changed()
	s.publish(t, event.Event{Type: event.DeleteArtifact, Digest: removed[0].Digest, MediaType: removed[0].MediaType, Size: removed[0].Size})
	return removed, nil
}

// DeleteManifest is /v2's DELETE of a manifest by digest: the manifest
// alone (store.DeleteManifest), unless it carries an immutable tag. It
// publishes DELETE_ARTIFACT.
func (s *Service) DeleteManifest(ctx context.Context, t Target, digest string) error {
	const op = "delete manifest"
	a, err := s.st.ArtifactByRef(ctx, t.Repository, digest, true)
	if err != nil {
		return err
	}
	if err := s.guardArtifact(ctx, t, op, a.ID, false); err != nil {
		return err
	}
	if err := s.st.DeleteManifest(ctx, t.Repository, digest); err != nil {
		return err
	}
	s.changed()
	s.publish(t, event.Event{Type: event.DeleteArtifact, Digest: digest})
	return nil
}
