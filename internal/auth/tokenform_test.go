package auth_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/auth"
)

// TestTokenFormBounded posts oversized forms to the token endpoint: they
// are refused with 413 (not parsed up to net/http's 10 MB and answered
// 500), while a normal password grant still gets its token.
func TestTokenFormBounded(t *testing.T) {
	f := newFixture(t)
	svc := newService(t, f.db, auth.Options{})
	srv := httptest.NewServer(http.HandlerFunc(svc.TokenHandler))
	defer srv.Close()

	post := func(body string) (int, string) {
		t.Helper()
		resp, err := http.Post(srv.URL, "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b struct {
			Errors []struct{ Code string } `json:"errors"`
			Token  string                  `json:"token"`
		}
		json.NewDecoder(resp.Body).Decode(&b)
		if len(b.Errors) > 0 {
			return resp.StatusCode, b.Errors[0].Code
		}
		return resp.StatusCode, b.Token
	}
	grant := url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"bob-pw"}, "scope": {"repository:bobs/app:pull"}}.Encode()
	if st, tok := post(grant); st != http.StatusOK || tok == "" {
		t.Fatalf("password grant: status %d, token %q", st, tok)
	}
	for _, size := range []int{10 << 20, 11 << 20, 100 << 10} {
		st, code := post(grant + "&pad=" + strings.Repeat("a", size))
		if st != http.StatusRequestEntityTooLarge {
			t.Errorf("%d-byte form: status %d (%s), want 413", size, st, code)
		}
	}
	if st, _ := post("a=%zz"); st != http.StatusBadRequest {
		t.Errorf("malformed form: status %d, want 400", st)
	}
}
