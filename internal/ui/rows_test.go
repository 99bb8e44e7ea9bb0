package ui

import (
	"html/template"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
)

// rowTemplate is the artifact table's row as html/template wrote it before
// rowHTML took over; rowHTML must write exactly what it did.
const rowTemplate = `  {{range $i, $a := .}}
  <tr>
    <td>{{range $a.Tags}}<span class="tag">{{.Name}}</span> {{else}}<span class="muted">untagged</span>{{end}}</td>
    <td class="mono"><a href="{{$a.Link}}" title="{{$a.Digest}}">{{$a.Short}}</a>
      <label for="dg-{{$i}}" class="sr-only">Digest of {{$a.Short}}</label><input id="dg-{{$i}}" class="hiddencopy" type="text" readonly value="{{$a.Digest}}" tabindex="-1"><button type="button" class="small linkish" data-copy="dg-{{$i}}" hidden aria-label="Copy digest {{$a.Short}}">Copy</button></td>
    <td>{{$a.Kind}}{{with $a.Platforms}}<div class="muted small">{{join . ", "}}</div>{{end}}</td>
    <td class="num">{{$a.SizeText}}</td>
    <td>{{$a.Pushed}}</td>
    <td>{{$a.Pulled}}</td>
    <td>{{range $a.Labels}}<span class="label" data-color="{{.Color}}">{{.Name}}</span> {{end}}</td>
    <td class="num">{{len $a.Accessories}}</td>
  </tr>
  {{end}}
`

// TestArtifactRowsMatchTemplate renders rows with every kind of content
// (no tags, several tags, platforms, labels, accessories, and values with
// each character html/template escapes) both ways and compares them.
func TestArtifactRowsMatchTemplate(t *testing.T) {
	tmpl := template.Must(template.New("rows").Funcs(funcs).Parse(rowTemplate))
	nasty := `a<b>&"c'+d` + "\x00e é"
	rows := []artifactRow{
		{Artifact: api.Artifact{Digest: "sha256:abc"}, Kind: "image", Link: "/projects/p/repositories/r/-/artifacts/sha256:abc",
			Short: "sha256:abc", Pushed: "2 hours ago", Pulled: "never", SizeText: "1.2 MiB"},
		{Artifact: api.Artifact{Digest: "sha256:def", Tags: []api.Tag{{Name: "v1"}, {Name: "1.0+build"}},
			Labels:      []api.Label{{Name: nasty, Color: "#FF0000"}, {Name: "prod", Color: `"><script>`}},
			Accessories: make([]api.Accessory, 3)},
			Kind: nasty, Platforms: []string{"linux/amd64", "linux/arm64/v8"}, Link: "/projects/p%2Bq/repositories/a%2Fb/-/artifacts/sha256:def?x=1&y=2",
			Short: nasty, Pushed: nasty, Pulled: "", SizeText: "0 B"},
	}
	var want strings.Builder
	if err := tmpl.Execute(&want, rows); err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	got.WriteString("  ")
	for i := range rows {
		got.WriteString(string(rows[i].rowHTML(i)))
	}
	got.WriteString("\n")
	if got.String() != want.String() {
		t.Errorf("rowHTML differs from the template:\n got: %q\nwant: %q", got.String(), want.String())
	}
}
