package ui

import (
	"html/template"
	"strconv"
	"strings"
)

// The artifact table of a repository page is written here rather than by
// html/template: the template engine calls an escaper through reflection
// for each of the twenty-odd values of a row, which made the table a third
// of the page's CPU at 15 rows. The markup is the template's own
// (TestArtifactRowsMatchTemplate renders both and compares them), and every
// value goes through escapeHTML, html/template's escaping of text and
// quoted attributes.

// rowHTML is the <tr> of artifact row i.
func (a *artifactRow) rowHTML(i int) template.HTML {
	var b strings.Builder
	b.Grow(1024)
	b.WriteString("\n  <tr>\n    <td>")
	if len(a.Tags) == 0 {
		b.WriteString(`<span class="muted">untagged</span>`)
	}
	for _, t := range a.Tags {
		b.WriteString(`<span class="tag">`)
		escapeHTML(&b, t.Name)
		b.WriteString(`</span> `)
	}
	n := strconv.Itoa(i)
	b.WriteString("</td>\n    <td class=\"mono\"><a href=\"")
	escapeHTML(&b, a.Link) // built of path-escaped parts, which the URL normalizer leaves alone
	b.WriteString(`" title="`)
	escapeHTML(&b, a.Digest)
	b.WriteString(`">`)
	escapeHTML(&b, a.Short)
	b.WriteString("</a>\n      <label for=\"dg-" + n + "\" class=\"sr-only\">Digest of ")
	escapeHTML(&b, a.Short)
	b.WriteString(`</label><input id="dg-` + n + `" class="hiddencopy" type="text" readonly value="`)
	escapeHTML(&b, a.Digest)
	b.WriteString(`" tabindex="-1"><button type="button" class="small linkish" data-copy="dg-` + n + `" hidden aria-label="Copy digest `)
	escapeHTML(&b, a.Short)
	b.WriteString("\">Copy</button></td>\n    <td>")
	escapeHTML(&b, a.Kind)
	if len(a.Platforms) > 0 {
		b.WriteString(`<div class="muted small">`)
		escapeHTML(&b, strings.Join(a.Platforms, ", "))
		b.WriteString(`</div>`)
	}
	b.WriteString("</td>\n    <td class=\"num\">")
	escapeHTML(&b, a.SizeText)
	b.WriteString("</td>\n    <td>")
	escapeHTML(&b, a.Pushed)
	b.WriteString("</td>\n    <td>")
	escapeHTML(&b, a.Pulled)
	b.WriteString("</td>\n    <td>")
	for _, l := range a.Labels {
		b.WriteString(`<span class="label" data-color="`)
		escapeHTML(&b, l.Color)
		b.WriteString(`">`)
		escapeHTML(&b, l.Name)
		b.WriteString(`</span> `)
	}
	b.WriteString("</td>\n    <td class=\"num\">" + strconv.Itoa(len(a.Accessories)) + "</td>\n  </tr>\n  ")
	return template.HTML(b.String())
}

// escapeHTML writes s as html/template escapes a value in text and in a
// quoted attribute (its htmlReplacementTable: NUL, quotes, &, +, <, >).
func escapeHTML(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var r string
		switch s[i] {
		case 0:
			r = "\uFFFD"
		case '"':
			r = "&#34;"
		case '&':
			r = "&amp;"
		case '\'':
			r = "&#39;"
		case '+':
			r = "&#43;"
		case '<':
			r = "&lt;"
		case '>':
			r = "&gt;"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(r)
		last = i + 1
	}
	b.WriteString(s[last:])
}
