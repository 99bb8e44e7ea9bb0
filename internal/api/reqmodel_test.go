package api_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/api"
	"github.com/berth-dev/berth/internal/testserver"
)

var updateRequestModels = flag.Bool("update-request-models", false, "rewrite internal/api/reqmodels.json from the reference")

// olderHarborBodies names, by operation, the reference definition that
// clients built on older Harbor models send as the body: goharbor/go-client
// v0.213.1 (harbor-cli, xk6-harbor) posts a whole Tag where the reference
// now documents NewTag.
var olderHarborBodies = map[string]string{
	"createTag": "Tag",
}

// olderHarborProperties lists, by operation, body properties of older
// Harbor models that the reference no longer has (Tag.signed, from the
// Notary days) and that clients built on those models still send.
var olderHarborProperties = map[string][]string{
	"createTag": {"signed"},
}

// reqNode is a request model node as reqmodels.json stores it.
type reqNode struct {
	Props  map[string]*reqNode `json:"p,omitempty"`
	Items  *reqNode            `json:"i,omitempty"`
	Values *reqNode            `json:"v,omitempty"`
}

type refParam struct {
	In     string     `json:"in"`
	Schema *refSchema `json:"schema"`
}

// node turns a reference schema into the property-name tree decode uses.
func (s *refSpec) node(sc *refSchema, depth int) *reqNode {
	sc = s.resolve(sc)
	n := &reqNode{}
	if sc == nil || depth > 8 {
		return n
	}
	switch {
	case sc.Type == "array" && sc.Items != nil:
		n.Items = s.node(sc.Items, depth+1)
	case len(s.properties(sc)) > 0:
		n.Props = map[string]*reqNode{}
		for k, v := range s.properties(sc) {
			n.Props[k] = s.node(v, depth+1)
		}
	case len(sc.AdditionalProperties) > 0 && sc.AdditionalProperties[0] == '{':
		var ap refSchema
		if json.Unmarshal(sc.AdditionalProperties, &ap) == nil {
			n.Values = s.node(&ap, depth+1)
		}
	}
	return n
}

// TestRequestModelsMatchReference checks that the request model table
// decode uses (reqmodels.json) holds, for every operation Berth serves
// with a request body, the property names of the body's reference
// definition; -update-request-models rewrites it.
func TestRequestModelsMatchReference(t *testing.T) {
	spec := loadReference(t)
	srv := testserver.NewInProcess(t, "sqlite")
	want := map[string]*reqNode{}
	for _, op := range srv.App.API.Operations() {
		raw, ok := spec.Paths[op.Path][strings.ToLower(op.Method)]
		if !ok {
			continue
		}
		var ro struct {
			Parameters []refParam `json:"parameters"`
		}
		json.Unmarshal(raw, &ro)
		for _, p := range ro.Parameters {
			if p.In == "body" && p.Schema != nil {
				want[op.ID] = spec.node(p.Schema, 0)
			}
		}
	}
	// Models older Harbor clients send for a body, and properties those
	// models had that the reference no longer has.
	for op, def := range olderHarborBodies {
		if n := want[op]; n != nil && n.Props != nil {
			for k, v := range spec.node(&refSchema{Ref: "#/definitions/" + def}, 0).Props {
				if n.Props[k] == nil {
					n.Props[k] = v
				}
			}
		}
	}
	for op, props := range olderHarborProperties {
		for _, p := range props {
			if want[op] != nil && want[op].Props != nil {
				want[op].Props[p] = &reqNode{}
			}
		}
	}
	b, err := json.MarshalIndent(want, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, '\n')
	if *updateRequestModels {
		_, file, _, _ := runtime.Caller(0)
		if err := os.WriteFile(filepath.Join(filepath.Dir(file), "reqmodels.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d request models", len(want))
		return
	}
	if !bytes.Equal(b, api.RequestModels()) {
		t.Errorf("reqmodels.json is stale: run go test ./internal/api -run TestRequestModelsMatchReference -update-request-models")
	}
	if len(want) < 30 {
		t.Errorf("only %d request models", len(want))
	}
}
