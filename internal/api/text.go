package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/errs"
)

// Text input: every string the API takes (path, query parameters, form
// fields, every string of a JSON body, nested ones included) must be valid
// UTF-8 without NUL, or the request is refused with 400 before a handler
// sees it. PostgreSQL cannot store either in a text column, and SQLite
// would store what PostgreSQL refuses, so both databases answer alike.

// ValidText reports whether s is valid UTF-8 without NUL: what the API
// (and the console, for its forms) accepts as text.
func ValidText(s string) bool { return validText(s) }

// ValidValues reports whether every name and value of vs is ValidText.
func ValidValues(vs url.Values) bool { return checkValues("", "", vs) == nil }

// validText reports whether s is valid UTF-8 without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

func invalidText(op, what string) error {
	return errs.E(errs.Invalid, op, "%s must be valid UTF-8 without NUL characters", what)
}

// checkRequestText checks r's path and query parameters (names and values).
func checkRequestText(r *http.Request) error {
	const op = "read request"
	if !validText(r.URL.Path) {
		return invalidText(op, "the path")
	}
	// A repository name may arrive encoded twice (a%252Fb): its decoded
	// form is checked too.
	if p, err := url.PathUnescape(r.URL.Path); err == nil && !validText(p) {
		return invalidText(op, "the path")
	}
	// The user name of Basic credentials is looked up in the database too.
	if user, _, ok := r.BasicAuth(); ok && !validText(user) {
		return invalidText(op, "the user name of the credentials")
	}
	// As r.URL.Query: pairs that do not parse are skipped, not refused.
	q, _ := url.ParseQuery(r.URL.RawQuery)
	return checkValues(op, "query parameter", q)
}

// checkValues checks the names and values of a query or form.
func checkValues(op, what string, vs url.Values) error {
	for k, list := range vs {
		if !validText(k) {
			return invalidText(op, what+" names")
		}
		for _, v := range list {
			if !validText(v) {
				return invalidText(op, what+" "+k)
			}
		}
	}
	return nil
}

// checkDecoded walks a decoded JSON value (structs, maps, slices,
// pointers, interfaces, raw JSON) and refuses any string that is not
// valid text, naming the field.
func checkDecoded(v any) error {
	if field, ok := textOK(reflect.ValueOf(v), ""); !ok {
		if field == "" {
			field = "the body"
		}
		return invalidText("decode request", "field "+field)
	}
	return nil
}

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

// textOK reports whether every string under v is valid text; if not, it
// also returns the JSON path of the first bad one.
func textOK(v reflect.Value, path string) (string, bool) {
	switch v.Kind() {
	case reflect.String:
		return path, validText(v.String())
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return "", true
		}
		return textOK(v.Elem(), path)
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < v.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
				name = tag
			}
			sub := name
			if f.Anonymous {
				sub = path
			} else if path != "" {
				sub = path + "." + name
			}
			if p, ok := textOK(v.Field(i), sub); !ok {
				return p, false
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			key := ""
			if k.Kind() == reflect.String {
				key = k.String()
				if !validText(key) {
					return path, false
				}
			}
			sub := key
			if path != "" {
				sub = path + "." + key
			}
			if !validText(sub) {
				sub = path
			}
			if p, ok := textOK(iter.Value(), sub); !ok {
				return p, false
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Type() == rawMessageType {
			if v.Len() == 0 {
				return "", true
			}
			var x any
			if err := json.Unmarshal(v.Bytes(), &x); err != nil {
				return path, false
			}
			return textOK(reflect.ValueOf(x), path)
		}
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return "", true // []byte: base64 in JSON, not text
		}
		for i := 0; i < v.Len(); i++ {
			if p, ok := textOK(v.Index(i), path); !ok {
				return p, false
			}
		}
	}
	return "", true
}
