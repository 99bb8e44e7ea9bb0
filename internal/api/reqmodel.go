package api

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
)

// Request bodies follow Harbor's reference definitions. Harbor's clients
// send whole models (a Tag with its id, immutable, push_time...), of which
// a handler reads a few fields: decode accepts every property of the
// body's reference definition, ignores those the handler's Go type does
// not have, and refuses only fields no definition has.
//
// reqmodels.json holds, for each operation Berth serves, the property
// names of its body's definition, nested as the definition nests them
// ({"p": properties, "i": array items, "v": map values}). It is derived
// from the reference by TestRequestModelsMatchReference (go test
// ./internal/api -run TestRequestModelsMatchReference -update-request-models
// writes it), which also fails when it is stale.
//
//go:embed reqmodels.json
var reqModelsJSON []byte

// RequestModels returns the embedded request model table, for its test.
func RequestModels() []byte { return reqModelsJSON }

type reqModel struct {
	Props  map[string]*reqModel `json:"p,omitempty"`
	Items  *reqModel            `json:"i,omitempty"`
	Values *reqModel            `json:"v,omitempty"`
}

var (
	reqModelsOnce sync.Once
	reqModels     map[string]*reqModel
)

func requestModel(op string) *reqModel {
	reqModelsOnce.Do(func() {
		if err := json.Unmarshal(reqModelsJSON, &reqModels); err != nil {
			panic("api: reqmodels.json: " + err.Error())
		}
	})
	return reqModels[op]
}

type opKey struct{}

// withOperation records the operation a request is routed to, for decode.
func withOperation(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, opKey{}, op)
}

// pruneDocumented removes from raw (a JSON body) the properties of model
// that v's Go type does not have, at every level. It returns raw unchanged
// when raw is not JSON (decode then reports the error).
func pruneDocumented(raw []byte, v any, model *reqModel) []byte {
	if model == nil {
		return raw
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil || dec.More() {
		return raw
	}
	if !prune(doc, reflect.TypeOf(v), model) {
		return raw
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return raw
	}
	return out
}

// prune removes documented properties t lacks from val; it reports
// whether it removed any.
func prune(val any, t reflect.Type, model *reqModel) bool {
	if model == nil || t == nil {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	changed := false
	switch x := val.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := map[string]reflect.Type{}
			decodedFields(t, fields)
			for k, sub := range x {
				if ft, ok := fields[k]; ok {
					changed = prune(sub, ft, model.Props[k]) || changed
				} else if _, documented := model.Props[k]; documented {
					delete(x, k)
					changed = true
				}
			}
		case reflect.Map:
			for _, sub := range x {
				changed = prune(sub, t.Elem(), model.Values) || changed
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for _, sub := range x {
				changed = prune(sub, t.Elem(), model.Items) || changed
			}
		}
	}
	return changed
}

// decodedFields adds the JSON names encoding/json decodes into struct t,
// with their types: the fields of embedded structs are promoted, exported
// or not (systemjob.go's jobScheduleBody).
func decodedFields(t reflect.Type, out map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			decodedFields(ft, out)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, ok := out[name]; !ok {
			out[name] = f.Type
		}
	}
}
