package ui

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/internal/api"
)

// TestInProcessValues checks the in-process answer paths: a caller that
// takes values gets the handler's Go value without JSON (and the headers),
// one that does not gets JSON, an error stays a JSON error body, and a
// value of another type than the caller's goes through JSON.
func TestInProcessValues(t *testing.T) {
	type item struct {
		Name string `json:"name"`
		N    int64  `json:"n"`
	}
	answer := []item{{"a", 1}, {"b", 2}}
	var _ api.ValueTaker = (*recorder)(nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Total-Count", "2")
		if r.URL.Path == "/fail" {
			http.Error(w, `{"errors":[{"code":"NOT_FOUND","message":"gone"}]}`, http.StatusNotFound)
			return
		}
		if vt, ok := w.(api.ValueTaker); ok && vt.TakeValue(http.StatusOK, answer) {
			return
		}
		w.Write([]byte(`[{"name":"a","n":1},{"name":"b","n":2}]`))
	})
	resp, rec, err := serveTaking(h, httptest.NewRequest("GET", "/list", nil), true)
	if err != nil || !rec.taken || resp.total() != 2 || len(resp.Body) != 0 {
		t.Fatalf("taking: %+v %+v %v", resp, rec, err)
	}
	var got []item
	if err := takeValue(rec.value, &got, false); err != nil || len(got) != 2 || &got[0] != &answer[0] {
		t.Fatalf("taken value is not the handler's: %v %v", got, err)
	}
	resp, rec, err = serveTaking(h, httptest.NewRequest("GET", "/list", nil), false)
	if err != nil || rec.taken || string(resp.Body) != `[{"name":"a","n":1},{"name":"b","n":2}]` {
		t.Fatalf("not taking: %s %v", resp.Body, err)
	}
	if _, _, err := serveTaking(h, httptest.NewRequest("GET", "/fail", nil), true); err == nil || err.(*apiError).Message != "gone" {
		t.Fatalf("error answer: %v", err)
	}
	// A type with any-typed values goes through JSON unless the caller
	// reads typed fields only.
	mixed := map[string]any{"n": int64(1)}
	var viaJSON map[string]any
	if err := takeValue(mixed, &viaJSON, false); err != nil || viaJSON["n"] != float64(1) {
		t.Fatalf("any-typed values not through JSON: %#v %v", viaJSON, err)
	}
	var direct map[string]any
	if err := takeValue(mixed, &direct, true); err != nil || direct["n"] != int64(1) {
		t.Fatalf("typed-only caller: %#v %v", direct, err)
	}
	if plainType(reflect.TypeFor[api.ImmutableRule]()) || !plainType(reflect.TypeFor[[]api.Project]()) || !plainType(reflect.TypeFor[[]api.Artifact]()) {
		t.Fatal("plainType: ImmutableRule has any-typed params; Project and Artifact (raw extra_attrs) are plain")
	}
	// Another type than the value's: through JSON.
	var names []struct {
		Name string `json:"name"`
	}
	if err := takeValue(answer, &names, false); err != nil || len(names) != 2 || names[1].Name != "b" {
		t.Fatalf("other type: %v %v", names, err)
	}
}
