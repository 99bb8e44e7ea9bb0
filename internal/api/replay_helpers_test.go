package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

// This file reads Harbor's swagger the way go-swagger's generator reads it
// to write goharbor/go-client, and builds requests and checks answers the
// way that client does:
//
//   - Query and header parameters: the generated <Operation>Params.SetDefaults (e.g. ListProjectsParams)
//     (WithDefaults) fills every parameter that has a spec default (page=1,
//     page_size=10, with_tag=true, X-Is-Resource-Name=false,
//     X-Accept-Vulnerabilities=...); WriteToRequest sends every non-nil one.
//     New<Operation>Params leaves them nil (harbor-cli's struct literals send only
//     what they set, e.g. page=0&page_size=0 from zero ListFlags).
//   - Bodies: a model struct per definition, marshalled with encoding/json
//     (pkg/sdk/v2.0/models). Required fields and those marked x-omitempty:
//     false are always sent (zero when unset: Tag's immutable, Robot's
//     disable and editable); the others are omitempty. x-nullable fields,
//     nested models, arrays and maps are pointers, slices and maps, sent
//     only when set. Date-time fields are strfmt.DateTime structs, which
//     omitempty never drops: an unset one goes out as
//     "0001-01-01T00:00:00.000Z" (Tag's push_time and pull_time, Label's
//     creation_time...).
//   - Answers: the response reader decodes the body into the definition's
//     model (a wrong JSON type or an unparsable date-time fails the whole
//     call) and reads declared headers such as X-Total-Count as integers.

// rpSpec is the part of the reference spec the replay reads.
type rpSpec struct {
	Produces    []string                    `json:"produces"`
	Paths       map[string]map[string]*rpOp `json:"paths"`
	Parameters  map[string]*rpParam         `json:"parameters"`
	Definitions map[string]*rpSchema        `json:"definitions"`
	Responses   map[string]*rpResponse      `json:"responses"`
}

type rpOp struct {
	OperationID string                 `json:"operationId"`
	Produces    []string               `json:"produces"`
	Parameters  []*rpParam             `json:"parameters"`
	Responses   map[string]*rpResponse `json:"responses"`
}

type rpParam struct {
	Ref      string          `json:"$ref"`
	Name     string          `json:"name"`
	In       string          `json:"in"`
	Type     string          `json:"type"`
	Required bool            `json:"required"`
	Default  json.RawMessage `json:"default"`
	Schema   *rpSchema       `json:"schema"`
}

type rpResponse struct {
	Ref     string                           `json:"$ref"`
	Schema  *rpSchema                        `json:"schema"`
	Headers map[string]struct{ Type string } `json:"headers"`
}

type rpSchema struct {
	Ref                  string               `json:"$ref"`
	Type                 string               `json:"type"`
	Format               string               `json:"format"`
	Items                *rpSchema            `json:"items"`
	Properties           map[string]*rpSchema `json:"properties"`
	AdditionalProperties json.RawMessage      `json:"additionalProperties"`
	AllOf                []*rpSchema          `json:"allOf"`
	Required             []string             `json:"required"`
	Nullable             bool                 `json:"x-nullable"`
	OmitEmpty            *bool                `json:"x-omitempty"`
}

func loadReplaySpec(t *testing.T) *rpSpec {
	t.Helper()
	b := referenceJSON(t)
	var s rpSpec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func (s *rpSpec) param(p *rpParam) *rpParam {
	for p != nil && p.Ref != "" {
		p = s.Parameters[strings.TrimPrefix(p.Ref, "#/parameters/")]
	}
	return p
}

func (s *rpSpec) schema(sc *rpSchema) *rpSchema {
	for sc != nil && sc.Ref != "" {
		sc = s.Definitions[strings.TrimPrefix(sc.Ref, "#/definitions/")]
	}
	return sc
}

// props merges an object schema's properties and allOf parts.
func (s *rpSpec) props(sc *rpSchema) (map[string]*rpSchema, []string) {
	sc = s.schema(sc)
	out := map[string]*rpSchema{}
	if sc == nil {
		return out, nil
	}
	req := append([]string(nil), sc.Required...)
	for k, v := range sc.Properties {
		out[k] = v
	}
	for _, part := range sc.AllOf {
		p, r := s.props(part)
		for k, v := range p {
			out[k] = v
		}
		req = append(req, r...)
	}
	return out, req
}

// additional is the schema of an object's additionalProperties (nil: none or "true").
func (sc *rpSchema) additional() *rpSchema {
	if len(sc.AdditionalProperties) == 0 || sc.AdditionalProperties[0] != '{' {
		return nil
	}
	var a rpSchema
	json.Unmarshal(sc.AdditionalProperties, &a)
	return &a
}

// rpZeroTime is how strfmt.DateTime marshals its zero value.
const rpZeroTime = "0001-01-01T00:00:00.000Z"

// model is the JSON a go-swagger model of definition sc marshals to when
// the caller set the fields in set (nested objects and arrays of objects
// filled the same way). Keys of set the definition lacks cannot be sent
// by the client; they are reported in dropped.
func (s *rpSpec) model(sc *rpSchema, set map[string]any, where string, dropped *[]string) map[string]any {
	props, required := s.props(sc)
	if len(props) == 0 { // a map (additionalProperties) or a free-form object: as set
		return set
	}
	out := map[string]any{}
	for k, v := range set {
		p, ok := props[k]
		if !ok {
			*dropped = append(*dropped, where+k)
			continue
		}
		if rpOmitted(p, contains(required, k), v) {
			continue
		}
		out[k] = s.fill(p, v, where+k+".", dropped)
	}
	for name, p := range props {
		if _, ok := out[name]; ok {
			continue
		}
		if _, ok := set[name]; ok {
			continue
		}
		r := s.schema(p)
		switch {
		case contains(required, name) && r != nil && (r.Type == "object" || r.Type == "" || r.Type == "array"):
			out[name] = nil // a required pointer or slice left nil marshals as null
		case p.Nullable || r == nil || p.Ref != "" || r.Type == "object" || r.Type == "array" || r.Type == "":
			// pointers, nested models, arrays and maps left nil: not sent
		case r.Format == "date-time":
			out[name] = rpZeroTime // strfmt.DateTime is a struct: omitempty keeps it
		case !rpOmitEmpty(p, contains(required, name)):
			out[name] = rpZero(r.Type)
		}
	}
	return out
}

// rpOmitEmpty reports whether go-swagger tags the field omitempty: every
// field that is neither required nor marked x-omitempty: false.
func rpOmitEmpty(p *rpSchema, required bool) bool {
	if required {
		return false
	}
	return p.OmitEmpty == nil || *p.OmitEmpty
}

// rpOmitted reports whether a value the caller set is left out: a zero
// scalar in an omitempty field (a non-pointer one).
func rpOmitted(p *rpSchema, required bool, v any) bool {
	if p.Nullable || !rpOmitEmpty(p, required) {
		return false
	}
	switch x := v.(type) {
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case json.Number:
		return x.String() == "0"
	}
	return false
}

func rpZero(typ string) any {
	switch typ {
	case "string":
		return ""
	case "boolean":
		return false
	}
	return 0
}

func (s *rpSpec) fill(p *rpSchema, v any, where string, dropped *[]string) any {
	r := s.schema(p)
	if r == nil {
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		if r.Type == "object" || r.Type == "" {
			return s.model(r, x, where, dropped)
		}
	case []any:
		if r.Type == "array" && r.Items != nil {
			out := make([]any, len(x))
			for i, it := range x {
				out[i] = s.fill(r.Items, it, where, dropped)
			}
			return out
		}
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// check reports where the decoded JSON value v does not decode into the
// go-swagger model of sc: a wrong JSON type, an unparsable date-time or
// integer, a required field missing.
func (s *rpSpec) check(where string, v any, sc *rpSchema, bad *[]string) {
	r := s.schema(sc)
	if r == nil || v == nil { // interface{}, or null (decodes to the zero value)
		return
	}
	props, required := s.props(r)
	typ := r.Type
	if typ == "" && len(props) > 0 {
		typ = "object"
	}
	if typ == "object" && len(props) == 0 && r.additional() == nil {
		return // a bare object schema is interface{} in the client model
	}
	wrong := func(want string) {
		*bad = append(*bad, fmt.Sprintf("%s is %s, the client model wants %s", where, rpJSONType(v), want))
	}
	switch typ {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			wrong("an object")
			return
		}
		for _, name := range required {
			if _, ok := m[name]; !ok {
				*bad = append(*bad, fmt.Sprintf("%s.%s (required) is missing", where, name))
			}
		}
		for name, p := range props {
			if fv, ok := m[name]; ok {
				s.check(where+"."+name, fv, p, bad)
			}
		}
		if a := r.additional(); a != nil && len(props) == 0 {
			for k, fv := range m {
				s.check(where+"["+k+"]", fv, a, bad)
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			wrong("an array")
			return
		}
		for i, it := range a {
			s.check(fmt.Sprintf("%s[%d]", where, i), it, r.Items, bad)
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			wrong("a string")
			return
		}
		if r.Format == "date-time" && str != "" && !rpDateTime(str) {
			*bad = append(*bad, fmt.Sprintf("%s is %q, not a date-time strfmt.DateTime parses", where, str))
		}
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			wrong("an integer")
			return
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			*bad = append(*bad, fmt.Sprintf("%s is %s, not an int64", where, n))
		}
	case "number":
		if _, ok := v.(json.Number); !ok {
			wrong("a number")
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			wrong("a boolean")
		}
	}
}

// rpDateTime reports whether strfmt.ParseDateTime accepts s (its layouts:
// RFC 3339 with or without fractions, and without a zone).
func rpDateTime(s string) bool {
	for _, layout := range []string{time.RFC3339Nano, time.RFC3339, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z0700"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

func rpJSONType(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}

// rpCall is one request as the client sends it.
type rpCall struct {
	method string
	path   string // under /api/v2.0, without query
	query  url.Values
	header http.Header
	body   any // nil: none
}

func (c rpCall) String() string {
	s := c.method + " " + c.path
	if len(c.query) > 0 {
		s += "?" + c.query.Encode()
	}
	return s
}

// send makes the call as the administrator with Basic credentials, as the
// client's BasicAuth writer does.
func (c rpCall) send(t *testing.T, srv *testserver.InProcess) mxResp {
	t.Helper()
	var rd io.Reader
	if c.body != nil {
		b, err := json.Marshal(c.body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	u := srv.URL + "/api/v2.0" + c.path
	if len(c.query) > 0 {
		u += "?" + c.query.Encode()
	}
	req, err := http.NewRequest(c.method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.SetBasicAuth("admin", testserver.AdminPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return mxResp{resp.StatusCode, b, resp.Header}
}

// rpDefault is a parameter default as WriteToRequest formats it
// (swag.FormatBool, FormatInt64, the string itself).
func rpDefault(raw json.RawMessage) string {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	d.Decode(&v)
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case json.Number:
		return x.String()
	}
	return string(raw)
}

// answer checks a response against the operation's success responses:
// status, declared headers, and the body against the response model.
func (s *rpSpec) answer(op *rpOp, r mxResp, want []int) []string {
	var bad []string
	var resp *rpResponse
	ok := false
	for _, code := range want {
		if r.status == code {
			ok = true
		}
	}
	if !ok {
		return []string{fmt.Sprintf("answered %d (want %v): %.200s", r.status, want, bytes.TrimSpace(r.body))}
	}
	if op == nil {
		return nil
	}
	resp = op.Responses[strconv.Itoa(r.status)]
	for resp != nil && resp.Ref != "" {
		resp = s.Responses[strings.TrimPrefix(resp.Ref, "#/responses/")]
	}
	if resp == nil {
		return nil
	}
	for name, h := range resp.Headers {
		v := r.header.Get(name)
		switch {
		case v == "" && (name == "X-Total-Count" || name == "Location"):
			bad = append(bad, "header "+name+" missing")
		case v != "" && h.Type == "integer":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				bad = append(bad, fmt.Sprintf("header %s: %q is not an integer", name, v))
			}
		}
	}
	sc := s.schema(resp.Schema)
	if sc == nil || sc.Type == "string" { // no body, or text (logs, ping, additions) read as a string
		return bad
	}
	mt, _, _ := mime.ParseMediaType(r.header.Get("Content-Type"))
	if mt != "application/json" {
		bad = append(bad, fmt.Sprintf("Content-Type %q: the client has no JSON consumer for it", r.header.Get("Content-Type")))
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return append(bad, fmt.Sprintf("body is not JSON: %v", err))
	}
	s.check("body", v, resp.Schema, &bad)
	return bad
}

// successCodes lists an operation's 2xx responses.
func (op *rpOp) successCodes() []int {
	var out []int
	for code := range op.Responses {
		if n, err := strconv.Atoi(code); err == nil && n >= 200 && n < 300 {
			out = append(out, n)
		}
	}
	sort.Ints(out)
	return out
}

// rpFind reports whether a listing's body has an element whose field equals want.
func rpFind(body []byte, field, want string) bool {
	var items []map[string]any
	if json.Unmarshal(body, &items) != nil {
		return false
	}
	for _, it := range items {
		if fmt.Sprint(it[field]) == want {
			return true
		}
	}
	return false
}

// listing reports whether the operation answers an array (a paged listing,
// which harbor-cli's list-all helpers call with page=0&page_size=0).
func (op *rpOp) listing(s *rpSpec) bool {
	r := op.Responses["200"]
	return r != nil && s.schema(r.Schema) != nil && s.schema(r.Schema).Type == "array"
}

// complete lists the fields of the response model missing from the body.
func (s *rpSpec) complete(op *rpOp, r mxResp) []string {
	resp := op.Responses[strconv.Itoa(r.status)]
	if resp == nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(r.body, &m) != nil {
		return []string{"body is not a JSON object"}
	}
	props, _ := s.props(resp.Schema)
	var missing []string
	for name := range props {
		if _, ok := m[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	sort.Strings(missing)
	return []string{fmt.Sprintf("%d of the model's %d fields missing: %s", len(missing), len(props), strings.Join(missing, ", "))}
}
