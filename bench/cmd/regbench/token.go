package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A registry client with credentials does not send them on every request:
// it meets the 401 challenge, fetches a Bearer token for the repository
// from the token service with Basic credentials, and sends the token. The
// systems with credentials do the same (tokens per repository, fetched
// again after tokenRefresh); a registry without auth never challenges.
const tokenRefresh = 5 * time.Minute

type tokens struct {
	mu    sync.Mutex
	realm string // "" until learnt; "-" when the registry does not challenge
	svc   string
	byRep map[string]heldToken
}

type heldToken struct {
	tok string
	at  time.Time
}

// authorize sets req's Authorization: a Bearer token for the repository
// the path names, fetched from the realm the registry challenges with.
func (s *system) authorize(req *http.Request) error {
	if s.user == "" {
		return nil
	}
	repo := repoOf(req.URL.Path)
	tok, err := s.token(repo)
	if err != nil {
		return err
	}
	if tok == "" {
		req.SetBasicAuth(s.user, s.pass) // no token service: Basic
	} else {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// repoOf is the repository of a /v2/<name>/(blobs|manifests|tags)/... path.
func repoOf(p string) string {
	p = strings.TrimPrefix(p, "/v2/")
	for _, sep := range []string{"/blobs/", "/manifests/", "/tags/"} {
		if i := strings.LastIndex(p, sep); i > 0 {
			return p[:i]
		}
	}
	return ""
}

func (s *system) token(repo string) (string, error) {
	t := &s.tokens
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.realm == "" {
		if err := s.challenge(); err != nil {
			return "", err
		}
	}
	if t.realm == "-" {
		return "", nil
	}
	if h, ok := t.byRep[repo]; ok && time.Since(h.at) < tokenRefresh {
		return h.tok, nil
	}
	scope := "repository:" + repo + ":pull,push"
	if repo == "" {
		scope = "registry:catalog:*"
	}
	tok, err := fetchToken(s.client, t.realm, t.svc, scope, s.user, s.pass)
	if err != nil {
		return "", fmt.Errorf("%s: %w", s.name, err)
	}
	if t.byRep == nil {
		t.byRep = map[string]heldToken{}
	}
	t.byRep[repo] = heldToken{tok, time.Now()}
	return tok, nil
}

// challenge reads the realm and service from the registry's 401 on /v2/.
func (s *system) challenge() error {
	resp, err := s.client.Get(s.url("/v2/"))
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	h := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(strings.ToLower(h), "bearer ") {
		s.tokens.realm = "-"
		return nil
	}
	params := map[string]string{}
	for _, part := range strings.Split(h[len("bearer "):], ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		params[strings.ToLower(k)] = strings.Trim(v, `"`)
	}
	if params["realm"] == "" {
		return fmt.Errorf("%s: challenge without a realm: %q", s.name, h)
	}
	s.tokens.realm, s.tokens.svc = params["realm"], params["service"]
	return nil
}

// fetchToken asks realm for a token for scope with Basic credentials, as
// docker does.
func fetchToken(c *http.Client, realm, svc, scope, user, pass string) (string, error) {
	u, err := url.Parse(realm)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("service", svc)
	q.Set("scope", scope)
	u.RawQuery = q.Encode()
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	req.SetBasicAuth(user, pass)
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token for %s: status %d %v", scope, resp.StatusCode, err)
	}
	if out.Token == "" {
		out.Token = out.AccessToken
	}
	return out.Token, nil
}

// cmdToken prints a token: regbench token URL USER PASS SCOPE, where URL is
// the registry's base; the realm comes from its challenge.
func cmdToken(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("usage: regbench token URL USER PASS SCOPE")
	}
	s, err := parseSystem("reg=" + args[0])
	if err != nil {
		return err
	}
	if err := s.challenge(); err != nil {
		return err
	}
	if s.tokens.realm == "-" {
		return fmt.Errorf("%s does not challenge for a token", args[0])
	}
	tok, err := fetchToken(s.client, s.tokens.realm, s.tokens.svc, args[3], args[1], args[2])
	if err != nil {
		return err
	}
	fmt.Println(tok)
	return nil
}
