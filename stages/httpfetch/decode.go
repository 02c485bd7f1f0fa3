package httpfetch

import (
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"net/http"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// The service owns content coding: the transport's own gzip is off, every
// request says wire.AcceptEncoding, and decodeBody undoes whatever coding
// the response names, so that caps, redaction and hashes see the content
// itself, whatever a request or a server would rather.

// maxCodings is how many content codings (besides identity) one response
// may stack; more is an error.
const maxCodings = 3

// errTooManyCodings is decodeBody's error for more than maxCodings.
var errTooManyCodings = errors.New("content codings stacked")

// decodeBody returns body decoded as header's Content-Encoding says (the
// codings in the order applied; "identity" is none): gzip (x-gzip),
// deflate (zlib, or raw deflate as some servers send it), br and zstd,
// stacked up to maxCodings deep, br and zstd at most once between them
// (see maxWindow). Decoders come from pools and are made only when the
// body has a first byte, so an empty body with a coding is empty;
// release gives them back once the body is read. A coding it does not
// know is named by undecodable, with body as it came and a no-op
// release. The decoded reader is read as far as the caller reads it, so
// a bomb costs no more than what the caller reads.
func decodeBody(body io.Reader, header http.Header) (decoded io.Reader, release func(), undecodable string, err error) {
	codings, err := contentCodings(header)
	if err != nil || len(codings) == 0 {
		return body, func() {}, "", err
	}
	windowed := 0
	for _, c := range codings {
		if _, ok := decoders[c]; !ok {
			return body, func() {}, c, nil
		}
		if c == "br" || c == "zstd" {
			windowed++
		}
	}
	if windowed > 1 {
		return body, func() {}, "", fmt.Errorf("%w: more than one of br and zstd in Content-Encoding %q, each of which may hold a %d MiB window",
			errCodingRefused, cutString(strings.Join(header.Values("Content-Encoding"), ", "), 64), maxWindow>>20)
	}
	layers := make([]*lazyDecoder, 0, len(codings))
	decoded = body
	for i := len(codings) - 1; i >= 0; i-- { // the last applied is undone first
		l := &lazyDecoder{src: headReader{src: decoded}, coding: decoders[codings[i]]}
		layers = append(layers, l)
		decoded = l
	}
	return decoded, func() {
		for _, l := range layers {
			l.release()
		}
	}, "", nil
}

// contentCodings lists header's content codings, lower-cased, without
// identity.
func contentCodings(header http.Header) ([]string, error) {
	values := header.Values("Content-Encoding")
	if len(values) == 0 {
		return nil, nil
	}
	var codings []string
	for _, v := range values {
		for c := range strings.SplitSeq(v, ",") {
			c = strings.ToLower(strings.TrimSpace(c))
			if c == "" || c == "identity" {
				continue
			}
			if len(codings) == maxCodings {
				return nil, fmt.Errorf("%w: more than %d in Content-Encoding %q", errTooManyCodings, maxCodings, cutString(strings.Join(values, ", "), 64))
			}
			codings = append(codings, c)
		}
	}
	return codings, nil
}

func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// A coding makes a decoder over src (taken from its pool), given the
// first bytes of src (one to six) to look at, and says whether it may go
// back to the pool once read (see pooledWindow); put puts it back.
// explain, when set, names the coding and the bound in what its decoder
// refuses.
type coding struct {
	open    func(head []byte, src io.Reader) (dec io.Reader, pool bool, err error)
	put     func(io.Reader)
	explain func(error) error
}

var decoders = map[string]coding{
	"gzip":    gzipCoding,
	"x-gzip":  gzipCoding,
	"deflate": {open: openDeflate, put: putDeflate},
	"br":      {open: openBrotli, put: func(r io.Reader) { brotliPool.Put(r) }},
	"zstd":    {open: openZstd, put: putZstd, explain: explainZstd},
}

// lazyDecoder opens its coding's decoder at its first Read, once src has
// shown a first byte; an empty src reads as empty.
type lazyDecoder struct {
	src    headReader // the coded bytes: the head read to look at, then the rest
	coding coding
	dec    io.Reader
	pool   bool // dec may go back to its pool
	err    error
}

// headReader reads head[:n] again, then src.
type headReader struct {
	head   [6]byte // deflate looks at two (a zlib header), zstd at six (a frame's window)
	n, off int
	src    io.Reader
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.off < h.n {
		n := copy(p, h.head[h.off:h.n])
		h.off += n
		return n, nil
	}
	return h.src.Read(p)
}

func (l *lazyDecoder) Read(p []byte) (int, error) {
	if l.dec == nil && l.err == nil {
		h := &l.src
		n, err := io.ReadFull(h.src, h.head[:])
		h.n = n
		switch {
		case n == 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
			l.err = io.EOF
		case n == 0:
			l.err = err
		default:
			l.dec, l.pool, l.err = l.coding.open(h.head[:n], h)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	n, err := l.dec.Read(p)
	if err != nil && err != io.EOF && l.coding.explain != nil {
		err = l.coding.explain(err)
	}
	return n, err
}

func (l *lazyDecoder) release() {
	if l.dec != nil && l.pool {
		l.coding.put(l.dec)
	}
	l.dec = nil
}

var (
	gzipPool    sync.Pool // *gzip.Reader
	zlibPool    sync.Pool // zlib's reader, a zlib.Resetter
	flatePool   sync.Pool // flate's reader, a flate.Resetter
	brotliPool  = sync.Pool{New: func() any { return brotli.NewReader(nil) }}
	zstdPool    sync.Pool // *zstd.Decoder
	errZstdOpen = errors.New("zstd decoder")
)

var gzipCoding = coding{
	open: func(_ []byte, src io.Reader) (io.Reader, bool, error) {
		if z, ok := gzipPool.Get().(*gzip.Reader); ok {
			if err := z.Reset(src); err != nil {
				gzipPool.Put(z)
				return nil, false, err
			}
			return z, true, nil
		}
		z, err := gzip.NewReader(src)
		if err != nil {
			return nil, false, err
		}
		return z, true, nil
	},
	put: func(r io.Reader) { gzipPool.Put(r) },
}

// openDeflate reads "deflate" as RFC 9110 defines it (zlib), or as raw
// deflate when head is no zlib header (compression method 8, and a
// header checksum that is a multiple of 31).
func openDeflate(head []byte, mr io.Reader) (io.Reader, bool, error) {
	if len(head) >= 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		if z, ok := zlibPool.Get().(io.ReadCloser); ok {
			if err := z.(zlib.Resetter).Reset(mr, nil); err != nil {
				zlibPool.Put(z)
				return nil, false, err
			}
			return zlibReader{z}, true, nil
		}
		z, err := zlib.NewReader(mr)
		if err != nil {
			return nil, false, err
		}
		return zlibReader{z}, true, nil
	}
	if f, ok := flatePool.Get().(io.ReadCloser); ok {
		if err := f.(flate.Resetter).Reset(mr, nil); err != nil {
			flatePool.Put(f)
			return nil, false, err
		}
		return f, true, nil
	}
	return flate.NewReader(mr), true, nil
}

// zlibReader tells a zlib reader from a raw flate one when put back.
type zlibReader struct{ io.ReadCloser }

func putDeflate(r io.Reader) {
	if z, ok := r.(zlibReader); ok {
		zlibPool.Put(z.ReadCloser)
		return
	}
	flatePool.Put(r)
}

// openBrotli lowers a window over maxWindow to it (see lowerWindow), and
// refuses the large-window escape (RFC 9841).
func openBrotli(head []byte, src io.Reader) (io.Reader, bool, error) {
	declared := brotliWindow(head[0])
	if declared == 0 {
		return nil, false, fmt.Errorf("%w: br stream with the large-window escape (RFC 9841), which the service does not decode", errCodingRefused)
	}
	if declared > maxWindow {
		head[0] = head[0]&^0x0e | byte(bits.TrailingZeros(maxWindow)-17)<<1 // WBITS of maxWindow, in as many bits
	}
	r := brotliPool.Get().(*brotli.Reader)
	_ = r.Reset(src) // always nil
	if declared > maxWindow {
		return lowerWindow(r, "br", declared, maxWindow-16), false, nil // brotli's window is 16 bytes short of its size
	}
	return r, declared <= pooledWindow, nil
}

// openZstd lowers a first frame's window over maxWindow to it (see
// lowerWindow); its decoders refuse a later frame's window over
// maxWindow, or a single-segment frame's size over it. A decoder whose
// first frame declares at most pooledWindow goes back to the pool (a
// later frame may declare more, up to maxWindow).
func openZstd(head []byte, src io.Reader) (io.Reader, bool, error) {
	declared, known := zstdWindow(head)
	if declared > maxWindow {
		head[5] = byte(bits.TrailingZeros(maxWindow)-10) << 3 // the Window Descriptor of maxWindow
	}
	d, ok := zstdPool.Get().(*zstd.Decoder)
	if ok {
		if err := d.Reset(src); err != nil {
			zstdPool.Put(d)
			return nil, false, err
		}
	} else {
		var err error
		d, err = zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(maxWindow))
		if err != nil {
			return nil, false, fmt.Errorf("%w: %v", errZstdOpen, err)
		}
	}
	if declared > maxWindow {
		return lowerWindow(d, "zstd", declared, maxWindow), false, nil
	}
	return d, known && declared <= pooledWindow, nil
}

// putZstd pools d, first letting go of its source.
func putZstd(r io.Reader) {
	d := r.(*zstd.Decoder)
	if d.Reset(nil) == nil {
		zstdPool.Put(d)
	}
}
