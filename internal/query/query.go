// Package query parses Harbor's list query language and turns it into SQL
// for the columns a listing allows.
//
//	q=name=library              exact match
//	q=name=~lib                 fuzzy (substring) match
//	q=creation_time=[a~b]       range (either end may be empty)
//	q=id={1 2 3}                any of a set
//	q=tags=(a b)                all of a list
//	q=name=~lib,public=true     several conditions, all must hold
//	sort=-creation_time,name    order; a leading - sorts descending
//
// Values may be wrapped in double quotes. Keys not allowed by the listing
// are an errs.Invalid error naming the key, never silently ignored.
//
// A q that arrived URL-encoded twice (Harbor's CLI sends
// q=Level%253Dproject%252CProjectID%253D3) is unescaped once more, as
// Harbor's lib/q does before parsing: when it holds a %-escape and
// unescapes cleanly. A q without one is left as it is, so a '+' in a value
// (a project robot's name, team+ci) stays a '+'.
package query

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/errs"
)

// Kind is the kind of a condition.
type Kind int

const (
	Exact Kind = iota
	Fuzzy
	Range
	Set
	All // every value must match (Harbor's "(v1 v2)" intersection)
)

// Cond is one condition of a query.
type Cond struct {
	Key    string
	Kind   Kind
	Value  string   // Exact, Fuzzy
	Min    string   // Range ("" = open)
	Max    string   // Range ("" = open)
	Values []string // Set
}

// SortKey is one ordering term.
type SortKey struct {
	Key  string
	Desc bool
}

// Query is a parsed q and sort.
type Query struct {
	Conds []Cond
	Sort  []SortKey
}

// Get returns the first condition on key.
func (q *Query) Get(key string) (Cond, bool) {
	for _, c := range q.Conds {
		if c.Key == key {
			return c, true
		}
	}
	return Cond{}, false
}

// Parse parses the q and sort parameters.
func Parse(q, sort string) (*Query, error) {
	const op = "parse query"
	out := &Query{}
	if strings.Contains(q, "%") {
		if u, err := url.QueryUnescape(q); err == nil {
			q = u
		}
	}
	for _, part := range splitTop(q) {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, ok := strings.Cut(part, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, errs.E(errs.Invalid, op, "bad query term %q: want key=value", part)
		}
		c := Cond{Key: key}
		switch {
		case strings.HasPrefix(val, "~"):
			c.Kind, c.Value = Fuzzy, unquote(val[1:])
		case strings.HasPrefix(val, "[") && strings.HasSuffix(val, "]"):
			lo, hi, ok := strings.Cut(val[1:len(val)-1], "~")
			if !ok {
				return nil, errs.E(errs.Invalid, op, "bad range %q: want [min~max]", val)
			}
			c.Kind, c.Min, c.Max = Range, unquote(strings.TrimSpace(lo)), unquote(strings.TrimSpace(hi))
		case strings.HasPrefix(val, "{") && strings.HasSuffix(val, "}"):
			c.Kind = Set
			for _, v := range strings.Fields(val[1 : len(val)-1]) {
				c.Values = append(c.Values, unquote(v))
			}
			if len(c.Values) == 0 {
				return nil, errs.E(errs.Invalid, op, "empty set for %q", key)
			}
		case strings.HasPrefix(val, "(") && strings.HasSuffix(val, ")"):
			c.Kind = All
			for _, v := range strings.Fields(val[1 : len(val)-1]) {
				c.Values = append(c.Values, unquote(v))
			}
			if len(c.Values) == 0 {
				return nil, errs.E(errs.Invalid, op, "empty list for %q", key)
			}
		default:
			c.Kind, c.Value = Exact, unquote(val)
		}
		out.Conds = append(out.Conds, c)
	}
	for _, s := range strings.Split(sort, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		k := SortKey{Key: s}
		if strings.HasPrefix(s, "-") {
			k = SortKey{Key: s[1:], Desc: true}
		}
		out.Sort = append(out.Sort, k)
	}
	return out, nil
}

// splitTop splits on commas outside brackets, braces and quotes.
func splitTop(s string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case '[', '{', '(':
			if !quoted {
				depth++
			}
		case ']', '}', ')':
			if !quoted && depth > 0 {
				depth--
			}
		case ',':
			if depth == 0 && !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '"' && s[len(s)-1] == '"' || s[0] == '\'' && s[len(s)-1] == '\'') {
		return s[1 : len(s)-1]
	}
	return s
}

// Column describes how a query key maps to SQL.
type Column struct {
	SQL  string // column expression
	Type Type
}

// Type is a column's value type.
type Type int

const (
	Text Type = iota
	Int
	Bool
	Time // stored as Unix milliseconds, given as RFC 3339 or Unix seconds
)

// SQL renders the conditions allowed by cols as a WHERE fragment (without
// "WHERE", "" if none) with ? placeholders, and the ORDER BY list (without
// "ORDER BY", defaultSort if none).
func (q *Query) SQL(cols map[string]Column, defaultSort string) (where string, args []any, order string, err error) {
	const op = "query"
	var parts []string
	for _, c := range q.Conds {
		col, ok := cols[c.Key]
		if !ok {
			return "", nil, "", errs.E(errs.Invalid, op, "cannot filter by %q", c.Key)
		}
		conv := func(v string) (any, error) { return convert(col.Type, c.Key, v) }
		switch c.Kind {
		case Exact:
			v, err := conv(c.Value)
			if err != nil {
				return "", nil, "", err
			}
			parts = append(parts, col.SQL+" = ?")
			args = append(args, v)
		case Fuzzy:
			if col.Type != Text {
				return "", nil, "", errs.E(errs.Invalid, op, "cannot fuzzy-match %q", c.Key)
			}
			parts = append(parts, "LOWER("+col.SQL+") LIKE ? ESCAPE '\\'")
			args = append(args, "%"+escapeLike(strings.ToLower(c.Value))+"%")
		case Range:
			if c.Min != "" {
				v, err := conv(c.Min)
				if err != nil {
					return "", nil, "", err
				}
				parts = append(parts, col.SQL+" >= ?")
				args = append(args, v)
			}
			if c.Max != "" {
				v, err := conv(c.Max)
				if err != nil {
					return "", nil, "", err
				}
				parts = append(parts, col.SQL+" <= ?")
				args = append(args, v)
			}
		case Set:
			ph := make([]string, len(c.Values))
			for i, s := range c.Values {
				v, err := conv(s)
				if err != nil {
					return "", nil, "", err
				}
				ph[i] = "?"
				args = append(args, v)
			}
			parts = append(parts, col.SQL+" IN ("+strings.Join(ph, ",")+")")
		case All:
			for _, s := range c.Values {
				v, err := conv(s)
				if err != nil {
					return "", nil, "", err
				}
				parts = append(parts, col.SQL+" = ?")
				args = append(args, v)
			}
		}
	}
	var ord []string
	for _, s := range q.Sort {
		col, ok := cols[s.Key]
		if !ok {
			return "", nil, "", errs.E(errs.Invalid, op, "cannot sort by %q", s.Key)
		}
		dir := " ASC"
		if s.Desc {
			dir = " DESC"
		}
		ord = append(ord, col.SQL+dir)
	}
	order = strings.Join(ord, ", ")
	if order == "" {
		order = defaultSort
	}
	return strings.Join(parts, " AND "), args, order, nil
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func convert(t Type, key, v string) (any, error) {
	switch t {
	case Int:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, errs.E(errs.Invalid, "query", "%s must be an integer, not %q", key, v)
		}
		return n, nil
	case Bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, errs.E(errs.Invalid, "query", "%s must be true or false, not %q", key, v)
		}
		return b, nil
	case Time:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return n * 1000, nil
		}
		ts, err := parseTime(v)
		if err != nil {
			return nil, errs.E(errs.Invalid, "query", "%s must be a time (RFC 3339 or Unix seconds), not %q", key, v)
		}
		return ts, nil
	}
	return v, nil
}
