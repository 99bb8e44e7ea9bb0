package api

import (
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

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
	// maxListAll bounds the rows of one answer to page_size=0 (Harbor's
	// "all": its database layer applies LIMIT only to a positive page
	// size). A listing longer than that answers its first maxListAll rows
	// with the true X-Total-Count and a Link to the rest in pages of
	// maxPageSize (maxListAll is a multiple of it, so the pages line up).
	maxListAll = 1000
)

// Page is a requested page of a listing with its parsed q and sort.
type Page struct {
	Number int // from 1
	Size   int
	Query  *query.Query
	// All is set for page_size=0: every row, up to maxListAll (Size).
	All bool
}

// Offset returns the number of rows before the page.
func (p Page) Offset() int { return (p.Number - 1) * p.Size }

// page reads page, page_size, q and sort. As Harbor (lib/orm applies
// OFFSET only to a positive page number, LIMIT only to a positive page
// size): page=0 is the first page, and page_size=0 is every row, whatever
// the page (bounded here by maxListAll).
func page(r *http.Request) (Page, error) {
	q := r.URL.Query()
	p := Page{Number: 1, Size: defaultPageSize}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errs.E(errs.Invalid, "paging", "page must be a non-negative integer, not %q", v)
		}
		p.Number = max(n, 1)
	}
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > maxPageSize {
			return p, errs.E(errs.Invalid, "paging", "page_size must be between 0 (all) and %d, not %q", maxPageSize, v)
		}
		p.Size = n
		if n == 0 {
			p.Number, p.Size, p.All = 1, maxListAll, true
		}
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
// An answer to page_size=0 has no Link when it holds every row (as
// Harbor); when maxListAll cut it short, it links to the rest only: next,
// in pages of maxPageSize (maxListAll is a multiple of it).
func setPageHeaders(w http.ResponseWriter, r *http.Request, p Page, total int64) {
	w.Header().Set("X-Total-Count", strconv.FormatInt(total, 10))
	link := func(n, size int, rel string) string {
		q := url.Values{}
		for k, v := range r.URL.Query() {
			q[k] = v
		}
		q.Set("page", strconv.Itoa(n))
		q.Set("page_size", strconv.Itoa(size))
		return `<` + r.URL.Path + `?` + q.Encode() + `>; rel="` + rel + `"`
	}
	if p.All {
		if total > int64(p.Size) {
			w.Header().Set("Link", link(p.Size/maxPageSize+1, maxPageSize, "next"))
		}
		return
	}
	var links []string
	if p.Number > 1 {
		links = append(links, link(p.Number-1, p.Size, "prev"))
	}
	if int64(p.Offset()+p.Size) < total {
		links = append(links, link(p.Number+1, p.Size, "next"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, " , "))
	}
}
