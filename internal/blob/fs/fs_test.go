package fs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/blob"
	"github.com/berth-dev/berth/internal/blob/blobtest"
	"github.com/berth-dev/berth/internal/blob/fs"
	"github.com/berth-dev/berth/internal/oci"
)

func newDriver(t *testing.T) (*fs.Driver, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "not", "yet", "there") // New creates it
	d, err := fs.New(root)
	if err != nil {
		t.Fatal(err)
	}
	return d, root
}

// TestDriver runs the shared driver suite on the filesystem driver.
func TestDriver(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Driver { d, _ := newDriver(t); return d })
}

// TestOpenIsFile: the reader is the *os.File itself, so net/http can hand it
// to sendfile(2).
func TestOpenIsFile(t *testing.T) {
	ctx := context.Background()
	d, _ := newDriver(t)
	if _, err := d.Append(ctx, "f", 0, strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	r, err := d.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, ok := r.(*os.File); !ok {
		t.Fatalf("Open returned %T, want *os.File", r)
	}
}

// TestLayoutOnDisk: a committed blob is the file blobs/<alg>/<xx>/<hex>
// under the root, with its directories synced by Append and Move (which
// report any fsync failure).
func TestLayoutOnDisk(t *testing.T) {
	ctx := context.Background()
	d, root := newDriver(t)
	s := blob.New(d)
	body := "committed"
	dg := oci.FromBytes([]byte(body))
	if _, err := s.Append(ctx, "u1", 0, strings.NewReader(body)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "uploads", "u1")); err != nil {
		t.Fatalf("upload file: %v", err)
	}
	if err := s.Commit(ctx, "u1", dg); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "blobs", "sha256", dg.Hex()[:2], dg.Hex()))
	if err != nil || string(got) != body {
		t.Fatalf("blob file = %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(root, "uploads", "u1")); !os.IsNotExist(err) {
		t.Fatalf("upload file after commit: %v", err)
	}
}

// TestCrashLeftovers: a crash can leave bytes past the acknowledged offset
// (written, never recorded). Resuming at the acknowledged offset discards
// them.
func TestCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	d, root := newDriver(t)
	if _, err := d.Append(ctx, "uploads/u", 0, strings.NewReader("acknowledged")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(root, "uploads", "u"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(" GARBAGE FROM A WRITE CUT SHORT"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	n, err := d.Append(ctx, "uploads/u", int64(len("acknowledged")), strings.NewReader("+new"))
	if err != nil || n != 4 {
		t.Fatalf("resume: %d, %v", n, err)
	}
	got, err := os.ReadFile(filepath.Join(root, "uploads", "u"))
	if err != nil || string(got) != "acknowledged+new" {
		t.Fatalf("after resume the file holds %q, %v", got, err)
	}
}

// TestRootIsAFile: New fails cleanly when the root cannot be a directory.
func TestRootIsAFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.New(f); err == nil {
		t.Fatal("New on a regular file succeeded")
	}
}
