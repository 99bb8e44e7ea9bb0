// Package seed loads benchmark data sets straight into the metadata store,
// shaped like goharbor/perf's: Small is its "small" set (100 projects × 100
// repositories × 10 artifacts × 5 tags = 100,000 artifacts and 500,000
// tags) with a few labels attached, member users and the blob rows a push
// would have left (blobs, artifact_blobs, project_blobs, project usage).
//
// Rows are written with multi-row INSERTs in one transaction (store.Load),
// so the small set loads in well under a minute on SQLite and PostgreSQL;
// pushing it through the registry would take hours. The manifests are real
// OCI image manifests (digests are their SHA-256, all distinct) whose
// config blobs can be written to the blob store through Options.WriteBlob;
// layers exist as metadata only, so the set serves the management API and
// manifest reads, not blob pulls.
package seed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/oci"
	"github.com/berth-dev/berth/internal/rbac"
	"github.com/berth-dev/berth/internal/store"
)

// Options shape a data set. Zero counts take the small set's values.
type Options struct {
	Projects     int // projects (100)
	Repositories int // repositories per project (100)
	Artifacts    int // artifacts per repository (10)
	Tags         int // tags per artifact (5)

	Labels     int // global labels (5); artifact i carries label i%Labels when i%LabelEvery == 0
	LabelEvery int // (10)

	Users        int    // non-admin users named <Prefix>-user-NNN (10)
	Memberships  int    // projects each user is a developer of (5)
	PasswordHash string // the users' password hash (auth.HashPassword); "" leaves them unable to log in

	OwnerID     int64 // owner of every project, added as its project admin (0: none)
	PublicEvery int   // every PublicEvery-th project is public (10); -1: none
	Prefix      string

	// WriteBlob, if not nil, stores each artifact's config blob (a small
	// JSON image config) so that artifact views can read it.
	WriteBlob func(digest string, body []byte) error
	// Now is the time of the newest push (time.Now() if zero); earlier
	// artifacts are a millisecond apart.
	Now time.Time
}

func (o *Options) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Projects, 100)
	def(&o.Repositories, 100)
	def(&o.Artifacts, 10)
	def(&o.Tags, 5)
	def(&o.Labels, 5)
	def(&o.LabelEvery, 10)
	def(&o.Users, 10)
	def(&o.Memberships, 5)
	def(&o.PublicEvery, 10)
	if o.Prefix == "" {
		o.Prefix = "perf"
	}
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
}

// Counts are the rows a data set holds.
type Counts struct {
	Projects, Repositories, Artifacts, Tags, Labels, ArtifactLabels int64
	Users, Members, Blobs, ArtifactBlobs, ProjectBlobs              int64
}

// Expected returns the counts Small(opts) adds.
func Expected(opts Options) Counts {
	o := opts
	o.defaults()
	p, r, a := int64(o.Projects), int64(o.Projects*o.Repositories), int64(o.Projects*o.Repositories*o.Artifacts)
	members := int64(o.Users * min(o.Memberships, o.Projects))
	if o.OwnerID > 0 {
		members += p
	}
	return Counts{
		Projects: p, Repositories: r, Artifacts: a, Tags: a * int64(o.Tags),
		Labels: int64(o.Labels), ArtifactLabels: (a + int64(o.LabelEvery) - 1) / int64(o.LabelEvery),
		Users: int64(o.Users), Members: members,
		Blobs: 2*a + p, ArtifactBlobs: 3 * a, ProjectBlobs: 2*a + p,
	}
}

// Layer sizes (bytes) recorded for the fake layers.
const (
	baseLayerSize = 2 << 20 // one shared base layer per project
	layerSize     = 32 << 10
)

// Small inserts a data set shaped by opts (goharbor/perf's "small" one by
// default) in one transaction. Names are <Prefix>-NNN for projects and
// <project>/repo-NNN for repositories; artifact a of a repository is tagged
// v<a>.0 … v<a>.<Tags-1>. A project or user name that exists already fails
// the whole load and nothing is written.
func Small(ctx context.Context, db *store.DB, opts Options) error {
	const op = "seed"
	o := opts
	o.defaults()
	if o.Labels > 0 && o.LabelEvery <= 0 || o.Projects < 0 || o.Repositories < 0 || o.Artifacts < 0 || o.Tags < 0 {
		return errs.E(errs.Invalid, op, "negative counts")
	}
	return db.Load(ctx, func(l *store.Loader) error {
		return load(ctx, l, &o)
	})
}

func load(ctx context.Context, l *store.Loader, o *Options) error {
	next := map[string]int64{}
	for _, t := range []string{"users", "projects", "repositories", "artifacts", "tags", "labels", "project_members"} {
		id, err := l.NextID(t)
		if err != nil {
			return err
		}
		next[t] = id
	}
	nowMS := o.Now.UnixMilli()
	total := int64(o.Projects * o.Repositories * o.Artifacts)
	t0 := nowMS - total // artifact k (in push order) is pushed at t0+k+1

	// Users and labels.
	userIDs := make([]int64, o.Users)
	var rows [][]any
	for i := range o.Users {
		userIDs[i] = next["users"] + int64(i)
		name := fmt.Sprintf("%s-user-%03d", o.Prefix, i)
		rows = append(rows, []any{userIDs[i], name, name + "@example.com", "Perf User " + fmt.Sprint(i), o.PasswordHash, false, t0, t0})
	}
	if err := l.Insert("users", []string{"id", "username", "email", "realname", "password_hash", "sysadmin", "created_at", "updated_at"}, rows); err != nil {
		return err
	}
	labelIDs := make([]int64, o.Labels)
	rows = rows[:0]
	colors := []string{"#0065AB", "#343DAC", "#781DA0", "#9B0D54", "#C92100"}
	for i := range o.Labels {
		labelIDs[i] = next["labels"] + int64(i)
		rows = append(rows, []any{labelIDs[i], fmt.Sprintf("%s-label-%d", o.Prefix, i), "seeded label", colors[i%len(colors)],
			store.LabelGlobal, 0, t0, t0})
	}
	if err := l.Insert("labels", []string{"id", "name", "description", "color", "scope", "project_id", "created_at", "updated_at"}, rows); err != nil {
		return err
	}

	// Memberships: user u is a developer of projects u*Memberships+j (mod Projects).
	memberOf := map[int][]int64{}
	for u := range o.Users {
		seen := map[int]bool{}
		for j := range min(o.Memberships, o.Projects) {
			p := (u*o.Memberships + j) % o.Projects
			if seen[p] {
				continue
			}
			seen[p] = true
			memberOf[p] = append(memberOf[p], userIDs[u])
		}
	}

	var (
		k         int64 // artifacts so far, in push order
		memberID  = next["project_members"]
		repoID    = next["repositories"]
		artID     = next["artifacts"]
		tagID     = next["tags"]
		labelSeq  int64
		blobCols  = []string{"digest", "size", "created_at"}
		pbCols    = []string{"project_id", "blob_digest", "size", "created_at"}
		abCols    = []string{"artifact_id", "blob_digest"}
		artCols   = []string{"id", "project_id", "repository_id", "digest", "kind", "manifest_media_type", "config_media_type", "artifact_type", "size", "manifest", "push_time", "extra_attrs", "total_size"}
		tagCols   = []string{"id", "repository_id", "artifact_id", "name", "push_time"}
		repoCols  = []string{"id", "project_id", "name", "created_at", "updated_at", "artifact_count", "plain"}
		alCols    = []string{"artifact_id", "label_id", "created_at"}
		memCols   = []string{"id", "project_id", "entity_type", "entity_id", "role", "created_at", "updated_at"}
		projCols  = []string{"id", "name", "owner_id", "public", "storage_limit", "quota_updated_at", "created_at", "updated_at"}
		usageCols = []string{"project_id", "shard", "bytes"}
	)
	for pi := range o.Projects {
		if err := ctx.Err(); err != nil {
			return err
		}
		projectID := next["projects"] + int64(pi)
		pname := fmt.Sprintf("%s-%03d", o.Prefix, pi)
		created := t0 + k
		public := o.PublicEvery > 0 && pi%o.PublicEvery == 0
		if err := l.Insert("projects", projCols, [][]any{{projectID, pname, o.OwnerID, public, -1, created, created, created}}); err != nil {
			return err
		}
		var members [][]any
		if o.OwnerID > 0 {
			members = append(members, []any{memberID, projectID, store.EntityUser, o.OwnerID, int(rbac.ProjectAdmin), created, created})
			memberID++
		}
		for _, u := range memberOf[pi] {
			members = append(members, []any{memberID, projectID, store.EntityUser, u, int(rbac.Developer), created, created})
			memberID++
		}
		if err := l.Insert("project_members", memCols, members); err != nil {
			return err
		}

		base := fakeDigest("base-layer", pname)
		blobs := [][]any{{base, baseLayerSize, created}}
		pblobs := [][]any{{projectID, base, baseLayerSize, created}}
		usage := int64(baseLayerSize)
		var repos, arts, tags, ablobs, alabels [][]any
		for ri := range o.Repositories {
			rname := fmt.Sprintf("%s/repo-%03d", pname, ri)
			rcreated := t0 + k + 1
			repos = append(repos, []any{repoID, projectID, rname, rcreated, rcreated + int64(o.Artifacts) - 1, o.Artifacts, true}) // plain images: every artifact shown
			for ai := range o.Artifacts {
				k++
				push := t0 + k
				layer := fakeDigest("layer", rname, fmt.Sprint(ai))
				cfg := imageConfig(push, layer)
				cfgDigest := digestOf(cfg)
				if o.WriteBlob != nil {
					if err := o.WriteBlob(cfgDigest, cfg); err != nil {
						return errs.Wrap("seed config blob", err)
					}
				}
				body := imageManifest(cfgDigest, len(cfg), base, layer)
				// The extra attributes a push stores (registry: oci.ExtraAttrsJSON).
				attrs := oci.ExtraAttrsJSON("IMAGE", oci.MediaTypeOCIConfig,
					&oci.Manifest{Config: &oci.Descriptor{MediaType: oci.MediaTypeOCIConfig, Digest: cfgDigest, Size: int64(len(cfg))}}, cfg)
				arts = append(arts, []any{artID, projectID, repoID, digestOf(body), "IMAGE", oci.MediaTypeOCIManifest,
					oci.MediaTypeOCIConfig, oci.MediaTypeOCIConfig, int64(len(body)), body, push, attrs,
					int64(len(body)) + int64(len(cfg)) + baseLayerSize + layerSize}) // oci.TotalSize, as a push stores it
				for ti := range o.Tags {
					tags = append(tags, []any{tagID, repoID, artID, fmt.Sprintf("v%d.%d", ai, ti), push})
					tagID++
				}
				blobs = append(blobs, []any{cfgDigest, len(cfg), push}, []any{layer, layerSize, push})
				pblobs = append(pblobs, []any{projectID, cfgDigest, len(cfg), push}, []any{projectID, layer, layerSize, push})
				usage += int64(len(cfg)) + layerSize
				ablobs = append(ablobs, []any{artID, cfgDigest}, []any{artID, layer}, []any{artID, base})
				if o.Labels > 0 && labelSeq%int64(o.LabelEvery) == 0 {
					alabels = append(alabels, []any{artID, labelIDs[(labelSeq/int64(o.LabelEvery))%int64(o.Labels)], push})
				}
				labelSeq++
				artID++
			}
			repoID++
		}
		for _, ins := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"repositories", repoCols, repos},
			{"blobs", blobCols, blobs},
			{"project_blobs", pbCols, pblobs},
			{"artifacts", artCols, arts},
			{"artifact_blobs", abCols, ablobs},
			{"tags", tagCols, tags},
			{"artifact_labels", alCols, alabels},
			{"project_usage", usageCols, [][]any{{projectID, 0, usage}}},
		} {
			if err := l.Insert(ins.table, ins.cols, ins.rows); err != nil {
				return err
			}
		}
	}
	return nil
}

// fakeDigest is a sha256 digest named by parts, for layers that exist as
// metadata only.
func fakeDigest(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func digestOf(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// imageConfig is a small OCI image config created at push (ms).
func imageConfig(push int64, layer string) []byte {
	created := time.UnixMilli(push).UTC().Format(time.RFC3339Nano)
	return fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","created":%q,"author":"berth seed",`+
		`"config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"Labels":{"org.opencontainers.image.source":"seed"}},`+
		`"rootfs":{"type":"layers","diff_ids":[%q]},"history":[{"created":%q,"created_by":"seed"}]}`, created, layer, created)
}

// imageManifest is an OCI image manifest of config and two layers.
func imageManifest(config string, configSize int, base, layer string) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d},`+
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		oci.MediaTypeOCIManifest, oci.MediaTypeOCIConfig, config, configSize, base, baseLayerSize, layer, layerSize)
}

// Count reads the rows of a store as Counts (every row, seeded or not).
func Count(ctx context.Context, db *store.DB) (Counts, error) {
	var c Counts
	for _, q := range []struct {
		table string
		n     *int64
	}{
		{"projects", &c.Projects}, {"repositories", &c.Repositories}, {"artifacts", &c.Artifacts}, {"tags", &c.Tags},
		{"labels", &c.Labels}, {"artifact_labels", &c.ArtifactLabels}, {"users", &c.Users}, {"project_members", &c.Members},
		{"blobs", &c.Blobs}, {"artifact_blobs", &c.ArtifactBlobs}, {"project_blobs", &c.ProjectBlobs},
	} {
		n, err := db.TableRows(ctx, q.table)
		if err != nil {
			return c, err
		}
		*q.n = n
	}
	return c, nil
}
