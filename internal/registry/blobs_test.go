package registry_test

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testserver"
)

func TestBlobs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		content := randomBytes(1000)
		e.vars["d"] = e.pushBlob("library/app", content)
		e.vars["missing"] = sha256Of([]byte("not pushed"))
		e.addProject("other", true, 1)
		e.run(t, []step{
			{name: "HEAD", method: "HEAD", path: "/v2/library/app/blobs/{d}", status: 200,
				want: map[string]string{"Content-Length": "1000", "Docker-Content-Digest": "{d}"}},
			{name: "GET", method: "GET", path: "/v2/library/app/blobs/{d}", status: 200, wantBody: string(content),
				want: map[string]string{"Content-Length": "1000", "Docker-Content-Digest": "{d}"}},
			{name: "GET anonymously from public", as: "anon", method: "GET", path: "/v2/library/app/blobs/{d}", status: 200, wantBody: string(content)},
			{name: "GET from another repository of the project", method: "GET", path: "/v2/library/other/blobs/{d}", status: 200},
			{name: "GET range", method: "GET", path: "/v2/library/app/blobs/{d}", header: map[string]string{"Range": "bytes=10-19"},
				status: 206, wantBody: string(content[10:20]),
				want: map[string]string{"Content-Range": "bytes 10-19/1000", "Content-Length": "10", "Docker-Content-Digest": "{d}"}},
			{name: "GET open range", method: "GET", path: "/v2/library/app/blobs/{d}", header: map[string]string{"Range": "bytes=990-"},
				status: 206, wantBody: string(content[990:]), want: map[string]string{"Content-Range": "bytes 990-999/1000"}},
			{name: "GET suffix range", method: "GET", path: "/v2/library/app/blobs/{d}", header: map[string]string{"Range": "bytes=-5"},
				status: 206, wantBody: string(content[995:]), want: map[string]string{"Content-Range": "bytes 995-999/1000"}},
			{name: "HEAD range", method: "HEAD", path: "/v2/library/app/blobs/{d}", header: map[string]string{"Range": "bytes=0-9"},
				status: 206, want: map[string]string{"Content-Range": "bytes 0-9/1000", "Content-Length": "10"}},
			{name: "bad digest", method: "GET", path: "/v2/library/app/blobs/sha256:abc", status: 400, code: "DIGEST_INVALID"},
			{name: "bad digest HEAD", method: "HEAD", path: "/v2/library/app/blobs/sha256:abc", status: 400, code: "DIGEST_INVALID"},
			{name: "unknown algorithm", method: "GET", path: "/v2/library/app/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", status: 400, code: "DIGEST_INVALID"},
			{name: "upper-case hex", method: "GET", path: "/v2/library/app/blobs/" + strings.ToUpper(sha256Of(content)), status: 400, code: "DIGEST_INVALID"},
			{name: "missing GET", method: "GET", path: "/v2/library/app/blobs/{missing}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "missing HEAD", method: "HEAD", path: "/v2/library/app/blobs/{missing}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "not in this project", method: "GET", path: "/v2/other/app/blobs/{d}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "DELETE", method: "DELETE", path: "/v2/library/app/blobs/{d}", status: 202},
			{name: "gone after DELETE", method: "HEAD", path: "/v2/library/app/blobs/{d}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "GET gone after DELETE", method: "GET", path: "/v2/library/app/blobs/{d}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "DELETE again", method: "DELETE", path: "/v2/library/app/blobs/{d}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "DELETE bad digest", method: "DELETE", path: "/v2/library/app/blobs/sha256:zz", status: 400, code: "DIGEST_INVALID"},
		})
	})
}

func TestUploads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		bob := e.addUser("bob")
		e.addProject("other", true, 1)
		e.addProject("bobs", false, bob)
		e.addProject("private", false, 1)

		data := randomBytes(30)
		e.vars["d"] = sha256Of(data)
		mono := randomBytes(100)
		e.vars["mono"] = sha256Of(mono)
		e.vars["mono512"] = sha512Of(mono)
		single := randomBytes(50)
		e.vars["single"] = sha256Of(single)
		wrong := randomBytes(20)
		e.vars["wrong"] = sha256Of(wrong)
		e.vars["notwrong"] = sha256Of([]byte("something else"))
		streamed := randomBytes(64)
		e.vars["streamed"] = sha512Of(streamed)
		priv := e.pushBlob("private/src", randomBytes(40))
		e.vars["priv"] = priv
		e.vars["nowhere"] = sha256Of([]byte("stored nowhere"))
		created := map[string]string{"Location": "/v2/library/app/blobs/{d}", "Docker-Content-Digest": "{d}"}

		e.run(t, []step{
			// Monolithic: POST ?digest= with the body.
			{name: "monolithic POST", method: "POST", path: "/v2/library/app/blobs/uploads/?digest={mono}", body: string(mono),
				header: map[string]string{"Content-Type": "application/octet-stream"}, status: 201,
				want: map[string]string{"Location": "/v2/library/app/blobs/{mono}", "Docker-Content-Digest": "{mono}", "Content-Length": "0"}},
			{name: "monolithic blob readable", method: "GET", path: "/v2/library/app/blobs/{mono}", status: 200, wantBody: string(mono)},
			{name: "monolithic POST sha512", method: "POST", path: "/v2/library/app/blobs/uploads/?digest={mono512}", body: string(mono),
				status: 201, want: map[string]string{"Location": "/v2/library/app/blobs/{mono512}", "Docker-Content-Digest": "{mono512}"}},
			{name: "sha512 blob readable", method: "GET", path: "/v2/library/app/blobs/{mono512}", status: 200, wantBody: string(mono),
				want: map[string]string{"Docker-Content-Digest": "{mono512}", "Content-Length": "100"}},
			{name: "monolithic wrong digest", method: "POST", path: "/v2/library/app/blobs/uploads/?digest={notwrong}", body: string(wrong),
				status: 400, code: "DIGEST_INVALID"},
			{name: "monolithic wrong digest not stored", method: "HEAD", path: "/v2/library/app/blobs/{notwrong}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "monolithic wrong digest content not stored", method: "HEAD", path: "/v2/library/app/blobs/{wrong}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "monolithic bad digest", method: "POST", path: "/v2/library/app/blobs/uploads/?digest=sha256:nothex", body: "x",
				status: 400, code: "DIGEST_INVALID"},

			// POST then a single PUT with the whole body.
			{name: "POST session", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202,
				want: map[string]string{"Location": "~/v2/library/app/blobs/uploads/", "Range": "0-0", "Docker-Upload-UUID": "*", "Content-Length": "0"},
				save: map[string]string{"single-loc": "Location"}},
			{name: "PUT whole body", method: "PUT", path: "{single-loc}?digest={single}", body: string(single), status: 201,
				want: map[string]string{"Location": "/v2/library/app/blobs/{single}", "Docker-Content-Digest": "{single}"}},
			{name: "PUT blob readable", method: "GET", path: "/v2/library/app/blobs/{single}", status: 200, wantBody: string(single)},
			{name: "session gone after PUT", method: "GET", path: "{single-loc}", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},

			// Chunked: POST, PATCH with Content-Range, status, gap, PUT.
			{name: "chunked POST", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202, save: map[string]string{"loc": "Location"}},
			{name: "status empty", method: "GET", path: "{loc}", status: 204, want: map[string]string{"Range": "0-0", "Location": "{loc}"}},
			{name: "PATCH 0-9", method: "PATCH", path: "{loc}", body: string(data[:10]),
				header: map[string]string{"Content-Range": "0-9", "Content-Type": "application/octet-stream"}, status: 202,
				want: map[string]string{"Location": "{loc}", "Range": "0-9", "Docker-Upload-UUID": "*"}},
			{name: "status after first chunk", method: "GET", path: "{loc}", status: 204, want: map[string]string{"Range": "0-9"}},
			{name: "HEAD status", method: "HEAD", path: "{loc}", status: 204, want: map[string]string{"Range": "0-9"}},
			{name: "PATCH with gap", method: "PATCH", path: "{loc}", body: string(data[15:20]),
				header: map[string]string{"Content-Range": "15-19"}, status: 416, code: "BLOB_UPLOAD_INVALID_RANGE",
				want: map[string]string{"Range": "0-9", "Location": "{loc}"}},
			{name: "PATCH overlapping", method: "PATCH", path: "{loc}", body: string(data[5:15]),
				header: map[string]string{"Content-Range": "5-14"}, status: 416, code: "BLOB_UPLOAD_INVALID_RANGE",
				want: map[string]string{"Range": "0-9"}},
			{name: "PATCH malformed range", method: "PATCH", path: "{loc}", body: string(data[10:20]),
				header: map[string]string{"Content-Range": "ten-twenty"}, status: 416, code: "BLOB_UPLOAD_INVALID_RANGE"},
			{name: "PATCH range longer than body", method: "PATCH", path: "{loc}", body: string(data[10:15]),
				header: map[string]string{"Content-Range": "10-19"}, status: 400, code: "SIZE_INVALID"},
			{name: "status unchanged by rejected chunks", method: "GET", path: "{loc}", status: 204, want: map[string]string{"Range": "0-9"}},
			{name: "PATCH 10-19 (bytes prefix)", method: "PATCH", path: "{loc}", body: string(data[10:20]),
				header: map[string]string{"Content-Range": "bytes 10-19/*"}, status: 202, want: map[string]string{"Range": "0-19"}},
			{name: "PATCH streamed without range", method: "PATCH", path: "{loc}", body: string(data[20:25]), chunked: true,
				status: 202, want: map[string]string{"Range": "0-24"}},
			{name: "PUT without digest", method: "PUT", path: "{loc}", status: 400, code: "DIGEST_INVALID"},
			{name: "PUT bad digest", method: "PUT", path: "{loc}?digest=sha256:1234", status: 400, code: "DIGEST_INVALID"},
			{name: "still open after bad PUTs", method: "GET", path: "{loc}", status: 204, want: map[string]string{"Range": "0-24"}},
			{name: "PUT last chunk", method: "PUT", path: "{loc}?digest={d}", body: string(data[25:]),
				header: map[string]string{"Content-Range": "25-29"}, status: 201, want: created},
			{name: "chunked blob readable", method: "GET", path: "/v2/library/app/blobs/{d}", status: 200, wantBody: string(data)},
			{name: "chunked session gone", method: "PATCH", path: "{loc}", body: "x", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},

			// Chunked with sha512.
			{name: "sha512 POST", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202, save: map[string]string{"loc512": "Location"}},
			{name: "sha512 PATCH", method: "PATCH", path: "{loc512}", body: string(streamed[:32]), header: map[string]string{"Content-Range": "0-31"}, status: 202},
			{name: "sha512 PUT", method: "PUT", path: "{loc512}?digest={streamed}", body: string(streamed[32:]), status: 201,
				want: map[string]string{"Docker-Content-Digest": "{streamed}"}},
			{name: "sha512 chunked readable", method: "GET", path: "/v2/library/app/blobs/{streamed}", status: 200, wantBody: string(streamed)},

			// Cancel.
			{name: "cancel POST", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202, save: map[string]string{"cancel": "Location"}},
			{name: "cancel PATCH", method: "PATCH", path: "{cancel}", body: "abc", status: 202},
			{name: "DELETE upload", method: "DELETE", path: "{cancel}", status: 204},
			{name: "status after DELETE", method: "GET", path: "{cancel}", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "PATCH after DELETE", method: "PATCH", path: "{cancel}", body: "x", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "PUT after DELETE", method: "PUT", path: "{cancel}?digest=" + sha256Of([]byte("abc")), status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "DELETE twice", method: "DELETE", path: "{cancel}", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "unknown upload id", method: "GET", path: "/v2/library/app/blobs/uploads/0123456789abcdef", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "POST to an upload URL", method: "POST", path: "/v2/library/app/blobs/uploads/0123456789abcdef", status: 405, code: "UNSUPPORTED"},
			{name: "PATCH without an id", method: "PATCH", path: "/v2/library/app/blobs/uploads/", status: 405, code: "UNSUPPORTED"},

			// Wrong digest on the closing PUT: nothing becomes visible.
			{name: "wrong POST", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202, save: map[string]string{"wrongloc": "Location"}},
			{name: "wrong PATCH", method: "PATCH", path: "{wrongloc}", body: string(wrong), status: 202},
			{name: "PUT wrong digest", method: "PUT", path: "{wrongloc}?digest={notwrong}", status: 400, code: "DIGEST_INVALID"},
			{name: "claimed digest not visible", method: "HEAD", path: "/v2/library/app/blobs/{notwrong}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "real digest not visible", method: "HEAD", path: "/v2/library/app/blobs/{wrong}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "session discarded", method: "GET", path: "{wrongloc}", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},

			// Sessions belong to their repository.
			{name: "foreign POST", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202,
				save: map[string]string{"foreign": "Docker-Upload-UUID"}},
			{name: "foreign status", method: "GET", path: "/v2/library/elsewhere/blobs/uploads/{foreign}", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "foreign PATCH", method: "PATCH", path: "/v2/library/elsewhere/blobs/uploads/{foreign}", body: "x", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "foreign PUT", method: "PUT", path: "/v2/other/app/blobs/uploads/{foreign}?digest=" + sha256Of(nil), status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "foreign DELETE", method: "DELETE", path: "/v2/other/app/blobs/uploads/{foreign}", status: 404, code: "BLOB_UPLOAD_UNKNOWN"},
			{name: "own session intact", method: "GET", path: "/v2/library/app/blobs/uploads/{foreign}", status: 204},
			{name: "anonymous cannot see a session", as: "anon", method: "GET", path: "/v2/library/app/blobs/uploads/{foreign}", status: 401, code: "UNAUTHORIZED"},

			// Empty blob, monolithic and through a session.
			{name: "empty monolithic", method: "POST", path: "/v2/library/app/blobs/uploads/?digest=" + sha256Of(nil), status: 201},
			{name: "empty blob HEAD", method: "HEAD", path: "/v2/library/app/blobs/" + sha256Of(nil), status: 200, want: map[string]string{"Content-Length": "0"}},

			// Mounts.
			{name: "mount with from", method: "POST", path: "/v2/other/app/blobs/uploads/?mount={mono}&from=library/app", status: 201,
				want: map[string]string{"Location": "/v2/other/app/blobs/{mono}", "Docker-Content-Digest": "{mono}"}},
			{name: "mounted blob readable", method: "GET", path: "/v2/other/app/blobs/{mono}", status: 200, wantBody: string(mono)},
			{name: "mount without from, visible", method: "POST", path: "/v2/bobs/app/blobs/uploads/?mount={d}", status: 201,
				want: map[string]string{"Location": "/v2/bobs/app/blobs/{d}"}},
			{name: "mount of an unknown blob", method: "POST", path: "/v2/other/app/blobs/uploads/?mount={nowhere}", status: 202,
				want: map[string]string{"Location": "~/v2/other/app/blobs/uploads/"}},
			{name: "mount from where the blob is not", method: "POST", path: "/v2/other/app/blobs/uploads/?mount={single}&from=bobs/app", status: 202},
			{name: "mount with a bad digest", method: "POST", path: "/v2/other/app/blobs/uploads/?mount=sha256:12", status: 400, code: "DIGEST_INVALID"},
			{name: "mount from an invalid name", method: "POST", path: "/v2/other/app/blobs/uploads/?mount={single}&from=Bad/Name", status: 202},
			{name: "user mount from private", as: "bob", method: "POST", path: "/v2/bobs/app/blobs/uploads/?mount={priv}&from=private/src", status: 202,
				want: map[string]string{"Location": "~/v2/bobs/app/blobs/uploads/"}},
			{name: "user mount private without from", as: "bob", method: "POST", path: "/v2/bobs/app/blobs/uploads/?mount={priv}", status: 202},
			{name: "private blob not leaked", as: "bob", method: "HEAD", path: "/v2/bobs/app/blobs/{priv}", status: 404, code: "BLOB_UNKNOWN"},
			{name: "user mount from public", as: "bob", method: "POST", path: "/v2/bobs/app/blobs/uploads/?mount={single}&from=library/app", status: 201},
			{name: "admin mount from private", method: "POST", path: "/v2/other/app/blobs/uploads/?mount={priv}&from=private/src", status: 201},
		})
	})
}

// TestUploadShortBody sends bodies shorter than their Content-Length and
// then closes: SIZE_INVALID, no byte of them counts, and a session stays
// where it was.
func TestUploadShortBody(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		data := randomBytes(20)
		e.vars["d"] = sha256Of(data)
		e.run(t, []step{
			{name: "POST", method: "POST", path: "/v2/library/app/blobs/uploads/", status: 202, save: map[string]string{"loc": "Location"}},
			{name: "PATCH 0-9", method: "PATCH", path: "{loc}", body: string(data[:10]), status: 202, want: map[string]string{"Range": "0-9"}},
		})
		for _, c := range []struct{ name, head, body string }{
			{"short PATCH", "PATCH " + e.vars["loc"] + " HTTP/1.1\r\nContent-Length: 10\r\nContent-Range: 10-19", string(data[10:15])},
			{"short monolithic POST", "POST /v2/library/app/blobs/uploads/?digest=" + sha256Of(data[:10]) + " HTTP/1.1\r\nContent-Length: 10", string(data[:5])},
		} {
			status, body := rawRequest(t, e.srv.Host, c.head+"\r\nHost: x\r\nAuthorization: Basic "+adminBasic()+"\r\n\r\n"+c.body)
			if status != http.StatusBadRequest || !strings.Contains(body, `"SIZE_INVALID"`) {
				t.Errorf("%s: %d %s, want 400 SIZE_INVALID", c.name, status, body)
			}
		}
		e.run(t, []step{
			{name: "range unchanged", method: "GET", path: "{loc}", status: 204, want: map[string]string{"Range": "0-9"}},
			{name: "short monolithic not stored", method: "HEAD", path: "/v2/library/app/blobs/" + sha256Of(data[:10]), status: 404, code: "BLOB_UNKNOWN"},
			{name: "resume", method: "PUT", path: "{loc}?digest={d}", body: string(data[10:]), header: map[string]string{"Content-Range": "10-19"}, status: 201},
			{name: "blob intact", method: "GET", path: "/v2/library/app/blobs/{d}", status: 200, wantBody: string(data)},
		})
	})
}

// rawRequest writes req on a fresh connection, half-closes it and returns
// the response status and body.
func rawRequest(t *testing.T, host, req string) (int, string) {
	t.Helper()
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	conn.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	return resp.StatusCode, b.String()
}

// TestLargeBlobCorked pulls a blob large enough to be sent corked
// (TCP_CORK, cork.go), checks its bytes, and then requires small answers
// on the same keep-alive connection to come at once: a cork left in place
// would hold each of them for the kernel's 200 ms.
func TestLargeBlobCorked(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		blob := randomBytes(3 << 20)
		d := e.pushBlob("library/corked", blob)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		get := func(method string) (*http.Response, []byte) {
			req, _ := http.NewRequest(method, e.srv.URL+"/v2/library/corked/blobs/"+d, nil)
			req.SetBasicAuth("admin", testserver.AdminPassword)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, b
		}
		if resp, b := get(http.MethodGet); resp.StatusCode != 200 || !bytes.Equal(b, blob) {
			t.Fatalf("GET: %d, %d bytes", resp.StatusCode, len(b))
		}
		var waits []time.Duration
		for range 5 {
			start := time.Now()
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/", nil)
			req.SetBasicAuth("admin", testserver.AdminPassword)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			waits = append(waits, time.Since(start))
		}
		slices.Sort(waits)
		if waits[2] >= 180*time.Millisecond { // a cork left in place: 200 ms or more each
			t.Errorf("small answers after a corked blob took %v (median %v): the cork stayed", waits, waits[2])
		}
		// A range of a large blob is sent corked too, and exact.
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/library/corked/blobs/"+d, nil)
		req.SetBasicAuth("admin", testserver.AdminPassword)
		req.Header.Set("Range", "bytes=1000-1999")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, blob[1000:2000]) {
			t.Errorf("range: %d, %d bytes", resp.StatusCode, len(b))
		}
	})
}

// TestLargeBlobCopies reads a blob past copyMin whole, by range, and by
// more clients at once than there are copy buffers (the rest go by
// sendfile): every answer is the blob's bytes.
func TestLargeBlobCopies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		content := randomBytes(3<<20 + 17)
		d := e.pushBlob("library/big", content)
		get := func(rng string) ([]byte, error) {
			req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/v2/library/big/blobs/"+d, nil)
			req.SetBasicAuth("admin", testserver.AdminPassword)
			if rng != "" {
				req.Header.Set("Range", rng)
			}
			resp, err := e.c.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			return io.ReadAll(resp.Body)
		}
		if b, err := get(""); err != nil || !bytes.Equal(b, content) {
			t.Fatalf("whole blob: %d bytes, err %v", len(b), err)
		}
		if b, err := get("bytes=1048570-2097160"); err != nil || !bytes.Equal(b, content[1048570:2097161]) {
			t.Fatalf("range: %d bytes, err %v", len(b), err)
		}
		const clients = 80 // more than the 64 copy slots
		errc := make(chan error, clients)
		for range clients {
			go func() {
				b, err := get("")
				if err == nil && !bytes.Equal(b, content) {
					err = io.ErrUnexpectedEOF
				}
				errc <- err
			}()
		}
		for range clients {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
	})
}
