package httpfetch

import (
	"bytes"
	"compress/gzip"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// decodeCap is the default --max-body: what the service reads of a body.
const decodeCap = 256 << 10

// hostileBodies are coded bodies whose header declares the largest window
// a coding allows, each much longer than decodeCap, made once.
var hostileBodies = sync.OnceValue(func() map[string][]byte {
	data := randomish(32 << 20)
	var gz, br, zs bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write(data)
	_ = gw.Close()
	bw := brotli.NewWriterOptions(&br, brotli.WriterOptions{Quality: 1, LGWin: 24})
	_, _ = bw.Write(data)
	_ = bw.Close()
	zw, _ := zstd.NewWriter(&zs, zstd.WithWindowSize(zstdMaxWindow), zstd.WithEncoderConcurrency(1))
	_, _ = zw.Write(data)
	_ = zw.Close()
	return map[string][]byte{
		"identity":           data,
		"gzip":               gz.Bytes(),
		"br lgwin 24":        br.Bytes(),
		"br lgwin 24 16 MiB": brotliStored(24, data[:16<<20]),
		"zstd 8 MiB window":  zs.Bytes(),
	}
})

// randomish is n bytes of text-like data that compresses about 2:1: runs
// of random words from a small vocabulary and random bytes.
func randomish(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"fetch", "stream", "window", "ring", "buffer", "hostile", "server", " ", "\n", "{", "}", "\"id\":"}
	b := make([]byte, 0, n+16)
	for len(b) < n {
		if r.IntN(4) == 0 {
			for range 8 {
				b = append(b, byte(r.Uint32()))
			}
			continue
		}
		b = append(b, words[r.IntN(len(words))]...)
	}
	return b[:n]
}

// brotliStored is a brotli stream with window lgwin (18 to 24) whose first
// meta-block declares data (at most 16 MiB) stored as it is, and is not
// the last: what a server writes to make the decoder size its ring
// buffer for the whole window at once.
func brotliStored(lgwin uint, data []byte) []byte {
	var w bitWriter
	w.bits(1, 1)
	w.bits(uint64(lgwin-17), 3) // WBITS
	w.bits(0, 1)                // ISLAST
	w.bits(2, 2)                // MNIBBLES: 6
	w.bits(uint64(len(data)-1), 24)
	w.bits(1, 1) // ISUNCOMPRESSED
	return append(w.flush(), data...)
}

// bitWriter writes bits least significant first, as brotli reads them.
type bitWriter struct {
	out  []byte
	acc  uint64
	nacc uint
}

func (w *bitWriter) bits(v uint64, n uint) {
	w.acc |= v << w.nacc
	w.nacc += n
	for w.nacc >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.nacc -= 8
	}
}

func (w *bitWriter) flush() []byte {
	if w.nacc > 0 {
		w.out = append(w.out, byte(w.acc))
	}
	w.acc, w.nacc = 0, 0
	return w.out
}

// decodeAlloc decodes body as coding through decodeBody, reading at most
// decodeCap bytes, and returns the bytes allocated by the decode (the
// median of runs; the pools are emptied first, so that each run pays for
// a fresh decoder, as one of --concurrency responses in flight does) and
// the error if any.
func decodeAlloc(t testing.TB, coding string, body []byte, runs int) (allocated uint64, err error) {
	t.Helper()
	buf := make([]byte, 0, decodeCap+2) // readCapped reads one byte past the cap, then wants room for more
	header := http.Header{"Content-Encoding": {coding}}
	var sizes []uint64
	for range runs {
		runtime.GC()
		runtime.GC() // a sync.Pool lets go of its items after two
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		src, release, _, derr := decodeBody(bytes.NewReader(body), header)
		if derr == nil {
			_, _, derr = readCapped(src, decodeCap, buf[:0])
		}
		release()
		runtime.ReadMemStats(&after)
		sizes = append(sizes, after.TotalAlloc-before.TotalAlloc)
		err = derr
	}
	for i := range sizes { // a small sort: the median
		for j := i + 1; j < len(sizes); j++ {
			if sizes[j] < sizes[i] {
				sizes[i], sizes[j] = sizes[j], sizes[i]
			}
		}
	}
	return sizes[len(sizes)/2], err
}

// TestDecodeMemory reports the bytes one decode allocates for each
// hostile body; run with -v to see them.
func TestDecodeMemory(t *testing.T) {
	codings := map[string]string{"identity": "identity", "gzip": "gzip", "br lgwin 24": "br", "br lgwin 24 16 MiB": "br", "zstd 8 MiB window": "zstd"}
	for name, body := range hostileBodies() {
		allocated, err := decodeAlloc(t, codings[name], body, 5)
		t.Logf("%-20s %8d coded bytes: %6d KiB allocated per decode of %d KiB, err %v", name, len(body), allocated>>10, decodeCap>>10, err)
	}
	_ = io.EOF
}
