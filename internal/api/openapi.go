package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Operation describes one implemented operation, for documentation and for
// the test that compares Berth with the reference spec.
type Operation struct {
	Method  string
	Path    string // Harbor path template, without Prefix
	ID      string
	RespDef string       // reference definition the response follows ("Project", "[]Project", "")
	Resp    reflect.Type // Go type of the response body (nil: none)
}

// Operations lists what the server implements, in route order.
func (s *Server) Operations() []Operation {
	out := make([]Operation, 0, len(s.routes))
	for _, rt := range s.routes {
		op := Operation{Method: rt.method, Path: rt.path, ID: rt.op, RespDef: rt.respDef}
		if rt.resp != nil {
			op.Resp = reflect.TypeOf(rt.resp)
		}
		out = append(out, op)
	}
	return out
}

var (
	openapiOnce sync.Once
	openapiDoc  []byte
)

func (s *Server) serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	openapiOnce.Do(func() { openapiDoc, _ = json.MarshalIndent(s.OpenAPI(), "", "  ") })
	w.Header().Set("Content-Type", "application/json")
	w.Write(openapiDoc)
}

var pathParamRe = regexp.MustCompile(`\{([^}]+)\}`)

// OpenAPI returns Berth's own Swagger 2.0 document for what it implements,
// built from the route table and the Go response types.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	defs := map[string]any{}
	for _, op := range s.Operations() {
		var params []any
		for _, m := range pathParamRe.FindAllStringSubmatch(op.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "type": "string"})
		}
		resp := map[string]any{"description": "Success"}
		if op.Resp != nil {
			resp["schema"] = schemaOf(op.Resp, defs)
		}
		o := map[string]any{
			"operationId": op.ID,
			"responses": map[string]any{
				"200": resp, "400": errResp("Bad request"), "401": errResp("Unauthorized"),
				"403": errResp("Forbidden"), "404": errResp("Not found"), "500": errResp("Internal error"),
			},
		}
		if params != nil {
			o["parameters"] = params
		}
		if paths[op.Path] == nil {
			paths[op.Path] = map[string]any{}
		}
		paths[op.Path][strings.ToLower(op.Method)] = o
	}
	defs["Errors"] = schemaOf(reflect.TypeOf(harborErrors{}), defs)
	return map[string]any{
		"swagger":  "2.0",
		"info":     map[string]any{"title": "Berth API", "version": s.opts.Version},
		"basePath": Prefix,
		"schemes":  []string{"http", "https"},
		"securityDefinitions": map[string]any{
			"basic": map[string]any{"type": "basic"},
		},
		"security":    []any{map[string]any{"basic": []string{}}},
		"paths":       paths,
		"definitions": defs,
	}
}

func errResp(desc string) map[string]any {
	return map[string]any{"description": desc, "schema": map[string]any{"$ref": "#/definitions/Errors"}}
}

// schemaOf returns a schema for t, adding named struct types to defs.
func schemaOf(t reflect.Type, defs map[string]any) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[json.RawMessage]() {
		return map[string]any{"type": "object"} // raw JSON: extra_attrs, a JSON object as stored
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), defs)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), defs)}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return structSchema(t, defs)
		}
		if _, ok := defs[name]; !ok {
			defs[name] = map[string]any{} // placeholder against recursion
			defs[name] = structSchema(t, defs)
		}
		return map[string]any{"$ref": "#/definitions/" + name}
	}
	return map[string]any{}
}

func structSchema(t reflect.Type, defs map[string]any) map[string]any {
	props := map[string]any{}
	for _, f := range JSONFields(t) {
		props[f.Name] = schemaOf(f.Type, defs)
	}
	return map[string]any{"type": "object", "properties": props}
}

// JSONField is a field as it appears in JSON.
type JSONField struct {
	Name string
	Type reflect.Type
}

// JSONFields lists the JSON fields of struct type t (embedded structs
// flattened, "-" skipped), sorted by name.
func JSONFields(t reflect.Type) []JSONField {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []JSONField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			out = append(out, JSONFields(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, JSONField{Name: name, Type: f.Type})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
