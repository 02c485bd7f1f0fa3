package httpfetch

import (
	"bytes"
	"compress/gzip"
	"errors"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"strings"
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
	zw, _ := zstd.NewWriter(&zs, zstd.WithWindowSize(8<<20), zstd.WithEncoderConcurrency(1))
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

// decodeAlloc decodes body in coding through decodeBody, reading at most
// limit bytes, and returns the bytes allocated by the decode (the median
// of runs; the pools are emptied first, so that each run pays for a fresh
// decoder, as one of --concurrency responses in flight does), what it
// read and its error.
func decodeAlloc(t testing.TB, coding string, body []byte, limit int64, runs int) (allocated uint64, decoded []byte, err error) {
	t.Helper()
	buf := make([]byte, 0, limit+2) // readCapped reads one byte past the cap, then wants room for more
	header := http.Header{"Content-Encoding": {coding}}
	var sizes []uint64
	for range runs {
		runtime.GC()
		runtime.GC() // a sync.Pool lets go of its items after two
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		src, release, _, derr := decodeBody(bytes.NewReader(body), header)
		if derr == nil {
			decoded, _, derr = readCapped(src, limit, buf[:0])
		}
		release()
		runtime.ReadMemStats(&after)
		sizes = append(sizes, after.TotalAlloc-before.TotalAlloc)
		err = derr
	}
	slices.Sort(sizes)
	return sizes[len(sizes)/2], decoded, err
}

// Each coding's decoder allocates about its window at most, and no more
// than maxWindow (and some) whatever window a stream declares: a br or
// zstd stream declaring more is decoded exactly as far as maxWindow, and
// refused past it; the large-window escape, br and zstd stacked, and a
// single-segment zstd frame larger than maxWindow are refused. Run with
// -v for the figures.
func TestDecodeMemoryBounded(t *testing.T) {
	data := randomish(32 << 20)
	bodies := hostileBodies()
	var legitBr, bigSegment bytes.Buffer
	lw := brotli.NewWriter(&legitBr) // lgwin 22, quality 6
	_, _ = lw.Write(data[:8<<20])
	_ = lw.Close()
	enc, _ := zstd.NewWriter(nil)
	bigSegment.Write(enc.EncodeAll(data[:5<<20], nil))
	const bound = 5 << 20 // a 4 MiB ring, its slack, the decoder's tables and buffers
	for _, c := range []struct {
		name, coding string
		body         []byte
		limit        int64
		max          uint64 // bytes allocated at most
		err          string // a refusal, or "" for data[:limit]
	}{
		{"identity", "identity", data, decodeCap, 1 << 10, ""},
		{"gzip", "gzip", bodies["gzip"], decodeCap, 128 << 10, ""},
		{"br lgwin 22 (brotli's default), 8 MiB", "br", legitBr.Bytes(), 8 << 20, bound, ""},
		{"br lgwin 24 from the encoder", "br", bodies["br lgwin 24"], decodeCap, bound, ""},
		{"br lgwin 24, a 16 MiB meta-block", "br", bodies["br lgwin 24 16 MiB"], decodeCap, bound, ""},
		{"br lgwin 24, a 16 MiB meta-block, past 4 MiB", "br", bodies["br lgwin 24 16 MiB"], 8 << 20, bound,
			"br stream declaring a window of 16 MiB, decoded as far as the 4 MiB the service allows"},
		{"br large-window escape", "br", append([]byte{0x11, 0x1e}, data[:1<<10]...), decodeCap, 64 << 10, "large-window escape"},
		{"zstd 8 MiB window", "zstd", bodies["zstd 8 MiB window"], decodeCap, bound, ""},
		{"zstd 8 MiB window, past 4 MiB", "zstd", bodies["zstd 8 MiB window"], 8 << 20, bound,
			"zstd stream declaring a window of 8 MiB, decoded as far as the 4 MiB the service allows"},
		{"zstd single segment of 5 MiB", "zstd", bigSegment.Bytes(), decodeCap, bound, "zstd window over the 4 MiB the service allows"},
		{"br and zstd stacked", "zstd, br", bodies["br lgwin 24 16 MiB"], decodeCap, 64 << 10, "more than one of br and zstd"},
	} {
		allocated, decoded, err := decodeAlloc(t, c.coding, c.body, c.limit, 3)
		t.Logf("%-48s %8d coded bytes: %6d KiB allocated, %d bytes read, error %v", c.name, len(c.body), allocated>>10, len(decoded), err)
		switch {
		case c.err == "" && (err != nil || !bytes.Equal(decoded, data[:c.limit])):
			t.Errorf("%s: %d bytes, error %v; want the first %d bytes", c.name, len(decoded), err, c.limit)
		case c.err != "" && (!errors.Is(err, errCodingRefused) || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
		if allocated > c.max {
			t.Errorf("%s: %d KiB allocated, want at most %d KiB", c.name, allocated>>10, c.max>>10)
		}
	}
}

// A decoder that held a window over pooledWindow is not kept in its pool:
// once the body is read, the heap is back where it was (a pooled item
// survives one collection).
func TestPoolsKeepNoLargeDecoder(t *testing.T) {
	var zstd2MiB bytes.Buffer
	zw, _ := zstd.NewWriter(&zstd2MiB, zstd.WithWindowSize(2<<20), zstd.WithEncoderConcurrency(1))
	_, _ = zw.Write(randomish(4 << 20))
	_ = zw.Close()
	for _, c := range []struct {
		name, coding string
		body         []byte
	}{
		{"br lgwin 21, a 2 MiB meta-block", "br", brotliStored(21, randomish(2<<20))}, // not lowered, over pooledWindow
		{"zstd 2 MiB window", "zstd", zstd2MiB.Bytes()},                               // not lowered, over pooledWindow
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		src, release, _, err := decodeBody(bytes.NewReader(c.body), http.Header{"Content-Encoding": {c.coding}})
		if err == nil {
			_, _, err = readCapped(src, decodeCap, nil)
		}
		release()
		runtime.GC()
		runtime.ReadMemStats(&after)
		kept := int64(after.HeapAlloc) - int64(before.HeapAlloc)
		t.Logf("%s: %d KiB kept after the decode, error %v", c.name, kept>>10, err)
		if err != nil || kept > 512<<10 {
			t.Errorf("%s: %d KiB kept after the decode (error %v), want under 512 KiB", c.name, kept>>10, err)
		}
	}
}

// brotliWindow reads the window the encoder wrote for each lgwin, and the
// escape; zstdWindow reads what klauspost's zstd.Header reads, and
// nothing for a single-segment frame.
func TestDeclaredWindows(t *testing.T) {
	for lgwin := 10; lgwin <= 24; lgwin++ {
		var b bytes.Buffer
		w := brotli.NewWriterOptions(&b, brotli.WriterOptions{Quality: 5, LGWin: lgwin})
		_, _ = w.Write([]byte("hello, window"))
		_ = w.Close()
		if got := brotliWindow(b.Bytes()[0]); got != 1<<lgwin {
			t.Errorf("br lgwin %d: brotliWindow %d, want %d", lgwin, got, 1<<lgwin)
		}
	}
	if got := brotliWindow(0x11); got != 0 {
		t.Errorf("br large-window escape: brotliWindow %d, want 0", got)
	}
	data := randomish(1 << 20)
	for _, window := range []int{1 << 10, 64 << 10, 1 << 20, 4 << 20, 8 << 20} {
		for _, n := range []int{100, len(data)} {
			var b bytes.Buffer
			w, _ := zstd.NewWriter(&b, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1))
			_, _ = w.Write(data[:n])
			_ = w.Close()
			var h zstd.Header
			if err := h.Decode(b.Bytes()); err != nil {
				t.Fatal(err)
			}
			got, known := zstdWindow(b.Bytes()[:6])
			if known == h.SingleSegment || known && uint64(got) != h.WindowSize {
				t.Errorf("zstd window %d, %d bytes: zstdWindow %d %v, header says %d, single segment %v", window, n, got, known, h.WindowSize, h.SingleSegment)
			}
		}
	}
}
