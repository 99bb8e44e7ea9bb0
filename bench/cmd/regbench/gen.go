package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strconv"
)

// blockSize is the period of the generator: a layer is a fixed random block
// repeated, with the seed and the block index written over the first 16
// bytes of each block, so every seed and every block differ and producing a
// byte costs no more than a memcpy (the generator must not be what limits a
// loopback push).
const blockSize = 1 << 20

var baseBlock = func() []byte {
	b := make([]byte, blockSize)
	r := rand.NewChaCha8([32]byte{'b', 'e', 'r', 't', 'h'})
	r.Read(b)
	return b
}()

// layer is an io.Reader of size bytes of the content for seed.
type layer struct {
	seed      uint64
	size, off int64
	block     []byte // baseBlock with the header of block index cur
	cur       int64
}

func newLayer(seed uint64, size int64) *layer {
	l := &layer{seed: seed, size: size, block: make([]byte, blockSize), cur: -1}
	copy(l.block, baseBlock)
	return l
}

func (l *layer) Read(p []byte) (int, error) {
	if l.off >= l.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) && l.off < l.size {
		idx, in := l.off/blockSize, l.off%blockSize
		if idx != l.cur {
			binary.LittleEndian.PutUint64(l.block[0:8], l.seed)
			binary.LittleEndian.PutUint64(l.block[8:16], uint64(idx))
			l.cur = idx
		}
		m := min(int64(len(p)-n), blockSize-in, l.size-l.off)
		copy(p[n:], l.block[in:in+m])
		n += int(m)
		l.off += m
	}
	return n, nil
}

// digestOf returns the sha256 digest of the layer for seed.
func digestOf(seed uint64, size int64) string {
	h := sha256.New()
	buf := make([]byte, blockSize)
	if _, err := io.CopyBuffer(h, newLayer(seed, size), buf); err != nil {
		panic(err) // the generator never fails
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func cmdGen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "generator seed")
	size := fs.String("size", "256MiB", "layer size")
	out := fs.String("o", "", "output file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n, err := parseSize(*size)
	if err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("gen: -o is required")
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(struct{ io.Writer }{f}, newLayer(*seed, n), make([]byte, blockSize)); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// parseSize reads 4096, 4KiB, 256MiB, 1GiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if len(s) > len(u.suffix) && s[len(s)-len(u.suffix):] == u.suffix {
			s, mult = s[:len(s)-len(u.suffix)], u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}
