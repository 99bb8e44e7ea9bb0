package api_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/testserver"
)

// beyondHarbor lists Berth's own operations, absent from the reference on purpose.
var beyondHarbor = map[string]string{
	"listAllArtifacts":           "one paged list of every artifact the caller can see (harbor#21010)",
	"getProjectPermissions":      "what the caller, anonymous callers too, may do in a project (the console's controls)",
	"RetryWebhookExecution":      "re-send a webhook delivery with the same payload and signature",
	"TestWebhookPolicyOfProject": "send a test event to a webhook policy's targets now (Harbor 1.x's policies/test)",
}

// beyondHarborFields lists Berth's own response fields ("where" as the
// check names it), absent from the reference on purpose.
var beyondHarborFields = map[string]string{
	"GET /configurations.webhook_block_internal_targets": "refuse webhook targets at internal addresses (docs/security.md)",
}

type refSpec struct {
	Paths       map[string]map[string]json.RawMessage `json:"paths"`
	Definitions map[string]*refSchema                 `json:"definitions"`
}

type refOperation struct {
	OperationID string                                 `json:"operationId"`
	Responses   map[string]struct{ Schema *refSchema } `json:"responses"`
}

type refSchema struct {
	Ref                  string                `json:"$ref"`
	Type                 string                `json:"type"`
	Items                *refSchema            `json:"items"`
	Properties           map[string]*refSchema `json:"properties"`
	AdditionalProperties json.RawMessage       `json:"additionalProperties"`
	AllOf                []*refSchema          `json:"allOf"`
}

// referenceJSON returns testdata/harbor-reference.json: the facts of
// Harbor's swagger the tests read, in the swagger's own shape (made by
// internal/refgen; testdata/README.md names the source).
func referenceJSON(t *testing.T) []byte {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "testdata", "harbor-reference.json"))
	if err != nil {
		t.Fatalf("reference spec: %v", err)
	}
	return b
}

func loadReference(t *testing.T) *refSpec {
	t.Helper()
	b := referenceJSON(t)
	var spec refSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return &spec
}

func (s *refSpec) resolve(sc *refSchema) *refSchema {
	for sc != nil && sc.Ref != "" {
		sc = s.Definitions[strings.TrimPrefix(sc.Ref, "#/definitions/")]
	}
	return sc
}

// properties returns the properties of an object schema, merging allOf.
func (s *refSpec) properties(sc *refSchema) map[string]*refSchema {
	sc = s.resolve(sc)
	if sc == nil {
		return nil
	}
	out := map[string]*refSchema{}
	for k, v := range sc.Properties {
		out[k] = v
	}
	for _, part := range sc.AllOf {
		for k, v := range s.properties(part) {
			out[k] = v
		}
	}
	return out
}

// checkType reports Go fields of t that the reference schema sc lacks, recursively.
func (s *refSpec) checkType(t *testing.T, where string, goType reflect.Type, sc *refSchema) {
	for goType.Kind() == reflect.Pointer {
		goType = goType.Elem()
	}
	sc = s.resolve(sc)
	if sc == nil {
		t.Errorf("%s: reference has no schema for %s", where, goType)
		return
	}
	if goType == reflect.TypeFor[json.RawMessage]() {
		// Raw JSON: Berth's are JSON objects (extra_attrs), written as stored.
		if sc.Type != "object" && sc.Type != "" {
			t.Errorf("%s: Berth sends an object, reference type is %q", where, sc.Type)
		}
		return
	}
	switch goType.Kind() {
	case reflect.Slice, reflect.Array:
		if sc.Type != "array" {
			t.Errorf("%s: Berth sends an array, reference type is %q", where, sc.Type)
			return
		}
		s.checkType(t, where+"[]", goType.Elem(), sc.Items)
	case reflect.Map:
		if sc.Type != "object" && sc.Type != "" {
			t.Errorf("%s: Berth sends an object, reference type is %q", where, sc.Type)
		}
	case reflect.Struct:
		props := s.properties(sc)
		if len(props) == 0 && sc.Type == "object" {
			return // free-form object
		}
		for _, f := range api.JSONFields(goType) {
			p, ok := props[f.Name]
			if why, own := beyondHarborFields[where+"."+f.Name]; !ok && own {
				t.Logf("%s.%s: Berth's own (%s)", where, f.Name, why)
				continue
			}
			if !ok {
				t.Errorf("%s: field %q is not in the reference schema", where, f.Name)
				continue
			}
			s.checkType(t, where+"."+f.Name, f.Type, p)
		}
	case reflect.String:
		if r := s.resolve(sc); r.Type != "" && r.Type != "string" {
			t.Errorf("%s: Berth sends a string, reference type is %q", where, r.Type)
		}
	case reflect.Bool:
		if r := s.resolve(sc); r.Type != "" && r.Type != "boolean" {
			t.Errorf("%s: Berth sends a boolean, reference type is %q", where, r.Type)
		}
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint64, reflect.Uint32:
		if r := s.resolve(sc); r.Type != "" && r.Type != "integer" && r.Type != "number" {
			t.Errorf("%s: Berth sends an integer, reference type is %q", where, r.Type)
		}
	}
}

// TestOpenAPIMatchesReference checks every operation Berth serves against
// Harbor's spec: same path and method and operation ID, a success response
// of the documented shape, and every field Berth returns defined there.
func TestOpenAPIMatchesReference(t *testing.T) {
	spec := loadReference(t)
	srv := testserver.NewInProcess(t, "sqlite")
	ops := srv.App.API.Operations()
	if len(ops) == 0 {
		t.Fatal("no operations")
	}
	seen := map[string]bool{}
	for _, op := range ops {
		key := op.Method + " " + op.Path
		if seen[key] {
			t.Errorf("%s registered twice", key)
		}
		seen[key] = true
		if why, ok := beyondHarbor[op.ID]; ok {
			t.Logf("%s %s: Berth's own (%s)", key, op.ID, why)
			continue
		}
		methods, ok := spec.Paths[op.Path]
		if !ok {
			t.Errorf("%s: path not in the reference", key)
			continue
		}
		raw, ok := methods[strings.ToLower(op.Method)]
		if !ok {
			t.Errorf("%s: method not in the reference", key)
			continue
		}
		var ro refOperation
		json.Unmarshal(raw, &ro)
		if ro.OperationID != op.ID {
			t.Errorf("%s: operationId %q, reference %q", key, op.ID, ro.OperationID)
		}
		var success *refSchema
		for code, r := range ro.Responses {
			if strings.HasPrefix(code, "2") && r.Schema != nil {
				success = r.Schema
			}
		}
		if op.Resp == nil {
			if success != nil {
				t.Errorf("%s: reference documents a response body, Berth sends none", key)
			}
			continue
		}
		if success == nil {
			t.Errorf("%s: Berth sends a body, the reference documents none", key)
			continue
		}
		want := op.RespDef
		got := ""
		switch {
		case success.Type == "array" && success.Items != nil && success.Items.Ref != "":
			got = "[]" + strings.TrimPrefix(success.Items.Ref, "#/definitions/")
		case success.Ref != "":
			got = strings.TrimPrefix(success.Ref, "#/definitions/")
		default:
			got = success.Type
		}
		if got != want {
			t.Errorf("%s: response follows %q, reference says %q", key, want, got)
		}
		spec.checkType(t, key, op.Resp, success)
	}
	t.Logf("%d operations checked against the reference", len(ops))

	// The document itself is served and lists every operation.
	resp, err := http.Get(srv.URL + "/api/v2.0/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Swagger string                                `json:"swagger"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Swagger != "2.0" {
		t.Fatalf("openapi.json: %v %q", err, doc.Swagger)
	}
	n := 0
	for _, m := range doc.Paths {
		n += len(m)
	}
	if n != len(ops) {
		t.Errorf("openapi.json lists %d operations, the server has %d", n, len(ops))
	}
}
