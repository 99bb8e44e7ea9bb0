package api

import (
	"math"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-dev/berth/internal/errs"
	"github.com/berth-dev/berth/internal/query"
)

// Paging defaults and limits (Harbor's).
const (
	defaultPageSize = 10
	maxPageSize     = 100
	// maxOffset bounds the rows before a page, so that offsets and the
	// arithmetic on them (totals, next links) cannot overflow: a page
	// beyond it is refused with 400.
	maxOffset = math.MaxInt32
)

// Page is a requested page of a listing with its parsed q and sort.
type Page struct {
	Number int // from 1
	Size   int
	Query  *query.Query
}

// Offset returns the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// page reads page, page_size, q and sort.
func page(r *http.Request) (Page, error) {
	q := r.URL.Query()
	p := Page{Number: 1, Size: defaultPageSize}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, errs.E(errs.Invalid, "paging", "page must be a positive integer, not %q", v)
		}
		p.Number = n
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPageSize {
			return p, errs.E(errs.Invalid, "paging", "page_size must be between 1 and %d, not %q", maxPageSize, v)
		}
		p.Size = n
	}
	if p.Number-1 > maxOffset/p.Size {
		return p, errs.E(errs.Invalid, "paging", "page must be at most %d with page_size %d, not %q", maxOffset/p.Size+1, p.Size, q.Get("page"))
	}
	parsed, err := query.Parse(q.Get("q"), q.Get("sort"))
	if err != nil {
		return p, err
	}
	p.Query = parsed
	return p, nil
}

// setPageHeaders writes X-Total-Count and Link (prev/next) for a listing.
func setPageHeaders(w http.ResponseWriter, r *http.Request, p Page, total int64) {
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	link := func(n int, rel string) string {
		q := url.Values{}
		for k, v := range r.URL.Query() {
			q[k] = v
		}
		q.Set("page", strconv.Itoa(n))
		q.Set("page_size", strconv.Itoa(p.Size))
		return `<` + r.URL.Path + `?` + q.Encode() + `>; rel="` + rel + `"`
	}
	var links []string
	if p.Number > 1 {
		links = append(links, link(p.Number-1, "prev"))
	}
	if int64(p.Offset()+p.Size) < total {
		links = append(links, link(p.Number+1, "next"))
	}
	if len(links) > 0 {
		v := links[0]
		for _, l := range links[1:] {
			v += " , " + l
		}
		w.Header().Set("Link", v)
	}
}
