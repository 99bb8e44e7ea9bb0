package store

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/berth-dev/berth/internal/query"
	_ "github.com/berth-dev/berth/internal/store/drivers"
)

// TestListingPlans proves, on SQLite, that every statement of the artifact,
// repository and label listings reads through indexes: no step of the plan
// scans a table, so a page costs the same with ten artifacts or a million.
// (Projects may be scanned: a caller's reach is a list of projects. An
// administrator's list of every artifact counts them all, and walks the
// push-time index for its page.)
func TestListingPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "plans.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	scan := regexp.MustCompile(`(?m)^SCAN (\w+)`)
	check := func(name, stmt string, args ...any) {
		t.Helper()
		plan, err := db.ExplainSQLite(ctx, stmt, args...)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, m := range scan.FindAllStringSubmatch(plan, -1) {
			if m[1] != "projects" && !(name == "everything (count)" && m[1] == "a") {
				t.Errorf("%s scans %s:\n%s", name, m[1], plan)
			}
		}
	}
	for _, tc := range []struct {
		name string
		f    ArtifactFilter
		q    string
	}{
		{"repository", ArtifactFilter{RepositoryID: 1}, ""},
		{"repository, tag and label filters", ArtifactFilter{RepositoryID: 1}, "tags=~v,labels=(1 2),type=IMAGE"},
		{"repository, untagged", ArtifactFilter{RepositoryID: 1}, "tags=nil"},
		{"project", ArtifactFilter{ProjectID: 1}, ""},
		{"project, latest of each repository", ArtifactFilter{ProjectID: 1, LatestInRepository: true}, "type=IMAGE"},
		{"a user's reach", ArtifactFilter{Reach: &Reach{UserID: 3, Projects: []string{"a"}}}, "repository_name=~x"},
		{"everything", ArtifactFilter{Reach: &Reach{All: true}}, ""},
	} {
		q, err := query.Parse(tc.q, "")
		if err != nil {
			t.Fatal(err)
		}
		count, page, args, err := artifactListSQL(tc.f, q, db.pageDetails(DetailsWanted{Tags: true, Labels: true}).columns)
		if err != nil {
			t.Fatal(err)
		}
		check(tc.name+" (count)", count, args...)
		if tc.name == "everything" {
			if plan, _ := db.ExplainSQLite(ctx, page, append(args, 10, 0)...); !regexp.MustCompile(`(?m)^SCAN a USING INDEX artifacts_push$`).MatchString(plan) {
				t.Errorf("everything (page) does not walk artifacts_push:\n%s", plan)
			}
			continue
		}
		check(tc.name+" (page, with its tags and labels)", page, append(args, 10, 0)...)
	}
	check("accessories", accessoriesSQL(2), 1, 2, 1, 2)
	check("artifact by tag", artifactByRefSQL(false), "a/b", "v1")
	check("artifact by digest", artifactByRefSQL(true), "a/b", "sha256:00")
	check("references", referencesSQL(2), 1, 2)
	check("tags", `SELECT `+tagFields+` FROM tags WHERE artifact_id IN (?, ?) ORDER BY push_time DESC, id DESC`, 1, 2)
	check("labels", `SELECT al.artifact_id, `+labelFields+` FROM artifact_labels al JOIN labels l ON l.id = al.label_id
		WHERE al.artifact_id IN (?, ?) ORDER BY al.created_at, l.id`, 1, 2)
	check("repositories of a project", repositorySelect+` WHERE r.project_id = ? ORDER BY r.created_at DESC, r.id DESC LIMIT 10`, 1)
	check("repository", repositorySelect+` WHERE r.name = ?`, "a/b")
	check("project labels", `SELECT `+labelFields+` FROM labels l WHERE l.scope = ? AND l.project_id = ? ORDER BY l.id LIMIT 10`, "p", 1)
}
