// Command refgen derives internal/api/testdata/harbor-reference.json, the
// Harbor REST API facts the API's tests read, from Harbor's swagger
// document (api/v2.0/swagger.yaml in goharbor/harbor, YAML or JSON):
//
//	go run ./internal/api/internal/refgen path/to/harbor-swagger.yaml > internal/api/testdata/harbor-reference.json
//
// It keeps the document's shape (a Swagger 2.0 document the tests decode as
// before) and only the keys the tests read: per operation its ID, media
// types, parameters (name, place, type, required, default, body schema)
// and successful responses (schema, header types); the shared parameters
// and responses they use; and per definition they reach the schema's structure (type, format,
// items, properties, additionalProperties, allOf, required, x-nullable,
// x-omitempty). Descriptions, examples, tags and enums are dropped.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: refgen path/to/harbor-swagger.yaml > internal/api/testdata/harbor-reference.json")
		os.Exit(2)
	}
	src, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "refgen:", err)
		os.Exit(1)
	}
	out, err := Generate(src)
	if err != nil {
		fmt.Fprintf(os.Stderr, "refgen: %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}

// The keys kept, by where they occur.
var (
	topKeys       = []string{"swagger", "info", "basePath", "produces", "paths", "parameters", "responses", "definitions"}
	infoKeys      = set("title", "version")
	operationKeys = set("operationId", "produces", "parameters", "responses")
	parameterKeys = set("$ref", "name", "in", "type", "required", "default", "schema")
	responseKeys  = set("$ref", "schema", "headers")
	headerKeys    = set("type")
	schemaKeys    = set("$ref", "type", "format", "items", "properties", "additionalProperties", "allOf", "required", "x-nullable", "x-omitempty")
	methods       = set("get", "put", "post", "delete", "options", "head", "patch")
)

func set(keys ...string) map[string]bool {
	m := map[string]bool{}
	for _, k := range keys {
		m[k] = true
	}
	return m
}

// Generate turns a swagger document (YAML or JSON) into the fixture: the
// document reduced to the kept keys, one path, shared parameter, shared
// response or definition per line, keys sorted.
func Generate(src []byte) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if v, _ := doc["swagger"].(string); v != "2.0" {
		return nil, fmt.Errorf("not a Swagger 2.0 document (swagger: %v)", doc["swagger"])
	}
	paths, ok := doc["paths"].(map[string]any)
	if !ok || len(paths) == 0 {
		return nil, errors.New("no paths")
	}
	out := map[string]any{}
	for _, k := range topKeys {
		if v, ok := doc[k]; ok {
			out[k] = v
		}
	}
	if info, ok := doc["info"].(map[string]any); ok {
		out["info"] = keep(info, infoKeys)
	}
	reduced := map[string]any{}
	for path, v := range paths {
		ops, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("path %s is not a mapping", path)
		}
		r := map[string]any{}
		for m, op := range ops {
			if !methods[m] {
				// Path-level parameters would change what each operation
				// takes; the tests read an operation's own list only.
				return nil, fmt.Errorf("path %s: %q is not an HTTP method (path-level keys are not supported)", path, m)
			}
			o, err := operation(op)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", m, path, err)
			}
			r[m] = o
		}
		reduced[path] = r
	}
	out["paths"] = reduced
	if ps, ok := doc["parameters"].(map[string]any); ok {
		r := map[string]any{}
		for name, p := range ps {
			r[name] = parameter(p)
		}
		out["parameters"] = r
	}
	if rs, ok := doc["responses"].(map[string]any); ok {
		r := map[string]any{}
		for name, resp := range rs {
			r[name] = response(resp)
		}
		out["responses"] = r
	}
	if ds, ok := doc["definitions"].(map[string]any); ok {
		r := map[string]any{}
		for name, d := range ds {
			r[name] = schema(d)
		}
		out["definitions"] = r
	}
	dropUnreferenced(out)
	return write(out)
}

// dropUnreferenced removes the shared parameters, responses and
// definitions that no kept operation reaches, directly or through others.
func dropUnreferenced(doc map[string]any) {
	reached := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && !reached[ref] {
				reached[ref] = true
				section, name, _ := strings.Cut(strings.TrimPrefix(ref, "#/"), "/")
				if m, ok := doc[section].(map[string]any); ok {
					walk(m[name])
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc["paths"])
	for _, section := range []string{"parameters", "responses", "definitions"} {
		m, ok := doc[section].(map[string]any)
		if !ok {
			continue
		}
		for name := range m {
			if !reached["#/"+section+"/"+name] {
				delete(m, name)
			}
		}
		if len(m) == 0 {
			delete(doc, section)
		}
	}
}

func operation(v any) (map[string]any, error) {
	op, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("not a mapping")
	}
	if _, ok := op["operationId"].(string); !ok {
		return nil, errors.New("no operationId")
	}
	o := keep(op, operationKeys)
	if ps, ok := o["parameters"].([]any); ok {
		r := make([]any, len(ps))
		for i, p := range ps {
			r[i] = parameter(p)
		}
		o["parameters"] = r
	}
	if rs, ok := o["responses"].(map[string]any); ok {
		r := map[string]any{}
		for code, resp := range rs {
			if strings.HasPrefix(code, "2") { // the tests check successful answers only
				r[code] = response(resp)
			}
		}
		o["responses"] = r
	}
	return o, nil
}

func parameter(v any) any {
	p, ok := v.(map[string]any)
	if !ok {
		return v
	}
	p = keep(p, parameterKeys)
	if sc, ok := p["schema"]; ok {
		p["schema"] = schema(sc)
	}
	return p
}

func response(v any) any {
	r, ok := v.(map[string]any)
	if !ok {
		return v
	}
	r = keep(r, responseKeys)
	if sc, ok := r["schema"]; ok {
		r["schema"] = schema(sc)
	}
	if hs, ok := r["headers"].(map[string]any); ok {
		out := map[string]any{}
		for name, h := range hs {
			if hm, ok := h.(map[string]any); ok {
				out[name] = keep(hm, headerKeys)
			}
		}
		r["headers"] = out
	}
	return r
}

// schema keeps a schema's structure, recursively. additionalProperties
// may be a boolean, kept as it is.
func schema(v any) any {
	sc, ok := v.(map[string]any)
	if !ok {
		return v
	}
	sc = keep(sc, schemaKeys)
	if it, ok := sc["items"]; ok {
		sc["items"] = schema(it)
	}
	if ap, ok := sc["additionalProperties"]; ok {
		sc["additionalProperties"] = schema(ap)
	}
	if ps, ok := sc["properties"].(map[string]any); ok {
		r := map[string]any{}
		for k, p := range ps {
			r[k] = schema(p)
		}
		sc["properties"] = r
	}
	if parts, ok := sc["allOf"].([]any); ok {
		r := make([]any, len(parts))
		for i, p := range parts {
			r[i] = schema(p)
		}
		sc["allOf"] = r
	}
	return sc
}

func keep(m map[string]any, keys map[string]bool) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if keys[k] {
			out[k] = v
		}
	}
	return out
}

// write encodes the fixture: top-level keys in topKeys order, and each
// entry of a mapping section (paths, parameters, responses, definitions)
// on a line of its own, so that a new reference shows as a readable diff.
func write(doc map[string]any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("{\n")
	first := true
	for _, k := range topKeys {
		v, ok := doc[k]
		if !ok {
			continue
		}
		if !first {
			b.WriteString(",\n")
		}
		first = false
		fmt.Fprintf(&b, "%q: ", k)
		section, ok := v.(map[string]any)
		if !ok || k == "info" {
			if err := encode(&b, v); err != nil {
				return nil, err
			}
			continue
		}
		names := make([]string, 0, len(section))
		for name := range section {
			names = append(names, name)
		}
		sort.Strings(names)
		b.WriteString("{")
		for i, name := range names {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n  ")
			if err := encode(&b, name); err != nil {
				return nil, err
			}
			b.WriteString(": ")
			if err := encode(&b, section[name]); err != nil {
				return nil, err
			}
		}
		b.WriteString("\n}")
	}
	b.WriteString("\n}\n")
	return b.Bytes(), nil
}

// encode writes v as compact JSON without HTML escaping.
func encode(w io.Writer, v any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
	return err
}
