package query_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

var cols = map[string]query.Column{
	"name":          {SQL: "p.name", Type: query.Text},
	"id":            {SQL: "p.id", Type: query.Int},
	"public":        {SQL: "p.public", Type: query.Bool},
	"creation_time": {SQL: "p.created_at", Type: query.Time},
}

func TestSQL(t *testing.T) {
	for _, c := range []struct {
		q, sort    string
		where      string
		args       []any
		order      string
		wantErrSub string
	}{
		{q: "", where: "", order: "p.name ASC"},
		{q: "name=library", where: "p.name = ?", args: []any{"library"}, order: "p.name ASC"},
		{q: `name="lib,rary"`, where: "p.name = ?", args: []any{"lib,rary"}, order: "p.name ASC"},
		{q: "name='x'", where: "p.name = ?", args: []any{"x"}, order: "p.name ASC"},
		{q: "name=~Li_b%", where: `LOWER(p.name) LIKE ? ESCAPE '\'`, args: []any{`%li\_b\%%`}, order: "p.name ASC"},
		{q: "id=[2~9]", where: "p.id >= ? AND p.id <= ?", args: []any{int64(2), int64(9)}, order: "p.name ASC"},
		{q: "id=[~9]", where: "p.id <= ?", args: []any{int64(9)}, order: "p.name ASC"},
		{q: "id={1 2 3}", where: "p.id IN (?,?,?)", args: []any{int64(1), int64(2), int64(3)}, order: "p.name ASC"},
		{q: "name=(a b)", where: "p.name = ? AND p.name = ?", args: []any{"a", "b"}, order: "p.name ASC"},
		{q: "public=true,name=~x", where: "p.public = ? AND LOWER(p.name) LIKE ? ESCAPE '\\'", args: []any{true, "%x%"}, order: "p.name ASC"},
		{q: "creation_time=[2024-01-01 00:00:00~1704153600]", where: "p.created_at >= ? AND p.created_at <= ?", args: []any{int64(1704067200000), int64(1704153600000)}, order: "p.name ASC"},
		{sort: "-creation_time,name", order: "p.created_at DESC, p.name ASC"},
		{q: "owner=x", wantErrSub: "cannot filter"},
		{sort: "owner", wantErrSub: "cannot sort"},
		{q: "id=abc", wantErrSub: "integer"},
		{q: "public=maybe", wantErrSub: "true or false"},
		{q: "id=~1", wantErrSub: "fuzzy"},
		{q: "creation_time=yesterday", wantErrSub: "time"},
	} {
		q, err := query.Parse(c.q, c.sort)
		if err != nil {
			t.Fatalf("Parse(%q, %q): %v", c.q, c.sort, err)
		}
		where, args, order, err := q.SQL(cols, "p.name ASC")
		if c.wantErrSub != "" {
			if !errs.Is(err, errs.Invalid) || !strings.Contains(err.Error(), c.wantErrSub) {
				t.Errorf("%q %q: err %v, want invalid containing %q", c.q, c.sort, err, c.wantErrSub)
			}
			continue
		}
		if err != nil || where != c.where || !reflect.DeepEqual(args, c.args) || order != c.order {
			t.Errorf("%q %q:\n got %q %#v %q %v\nwant %q %#v %q", c.q, c.sort, where, args, order, err, c.where, c.args, c.order)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, q := range []string{"name", "=x", "id=[1 2]", "id={}", "id=()"} {
		if _, err := query.Parse(q, ""); !errs.Is(err, errs.Invalid) {
			t.Errorf("Parse(%q) = %v, want invalid", q, err)
		}
	}
}

// TestParseTwiceEncoded: a q that arrived URL-encoded twice is unescaped
// once more (Harbor's lib/q does); a '+' in a q with no %-escape stays.
func TestParseTwiceEncoded(t *testing.T) {
	for _, c := range []struct{ q, same string }{
		{"Level%3Dproject%2CProjectID%3D3", "Level=project,ProjectID=3"},
		{"name%3D~lib%2Cpublic%3Dtrue", "name=~lib,public=true"},
		{"name%3Dteam%2Bci", "name=team+ci"},
		{"name=team+ci", `name="team+ci"`},
		{"name=~50%", `name=~"50%"`},
	} {
		got, err := query.Parse(c.q, "")
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.q, err)
		}
		want, err := query.Parse(c.same, "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.q, got.Conds, want.Conds)
		}
	}
}
