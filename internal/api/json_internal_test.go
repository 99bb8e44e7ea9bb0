package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

type taker struct {
	*httptest.ResponseRecorder
	accept bool
	got    any
}

func (t *taker) TakeValue(status int, v any) bool {
	if t.accept {
		t.got = v
	}
	return t.accept
}

// TestWriteJSONHandsValues checks that writeJSON hands its value to a
// ValueTaker that accepts it, writing no body, and writes JSON otherwise.
func TestWriteJSONHandsValues(t *testing.T) {
	v := map[string]int{"a": 1}
	w := &taker{ResponseRecorder: httptest.NewRecorder(), accept: true}
	if err := writeJSON(w, http.StatusOK, v); err != nil || w.got == nil || w.Body.Len() != 0 {
		t.Fatalf("accepting taker: got %v, body %q, %v", w.got, w.Body, err)
	}
	w = &taker{ResponseRecorder: httptest.NewRecorder()}
	if err := writeJSON(w, http.StatusOK, v); err != nil || w.Body.String() != `{"a":1}` {
		t.Fatalf("declining taker: body %q, %v", w.Body, err)
	}
}
