package httpfetch

import (
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
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

// zstdMaxWindow bounds a zstd frame's window, and so its decoder's
// memory: RFC 8878 asks HTTP decoders to support 8 MiB and no more.
const zstdMaxWindow = 8 << 20

// errTooManyCodings is decodeBody's error for more than maxCodings.
var errTooManyCodings = errors.New("content codings stacked")

// decodeBody returns body decoded as header's Content-Encoding says (the
// codings in the order applied; "identity" is none): gzip (x-gzip),
// deflate (zlib, or raw deflate as some servers send it), br and zstd,
// stacked up to maxCodings deep. Decoders come from pools and are made
// only when the body has a first byte, so an empty body with a coding is
// empty; release gives them back once the body is read. A coding it does
// not know is named by undecodable, with body as it came and a no-op
// release. The decoded reader is read as far as the caller reads it, so
// a bomb costs no more than what the caller reads.
func decodeBody(body io.Reader, header http.Header) (decoded io.Reader, release func(), undecodable string, err error) {
	codings, err := contentCodings(header)
	if err != nil || len(codings) == 0 {
		return body, func() {}, "", err
	}
	for _, c := range codings {
		if _, ok := decoders[c]; !ok {
			return body, func() {}, c, nil
		}
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
// first bytes of src (one or two) to look at, and puts it back.
type coding struct {
	open func(head []byte, src io.Reader) (io.Reader, error)
	put  func(io.Reader)
}

var decoders = map[string]coding{
	"gzip":    gzipCoding,
	"x-gzip":  gzipCoding,
	"deflate": {open: openDeflate, put: putDeflate},
	"br":      {open: openBrotli, put: func(r io.Reader) { brotliPool.Put(r) }},
	"zstd":    {open: openZstd, put: putZstd},
}

// lazyDecoder opens its coding's decoder at its first Read, once src has
// shown a first byte; an empty src reads as empty.
type lazyDecoder struct {
	src    headReader // the coded bytes: the head read to look at, then the rest
	coding coding
	dec    io.Reader
	err    error
}

// headReader reads head[:n] again, then src.
type headReader struct {
	head   [2]byte // two, for deflate's look at a zlib header
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
			l.dec, l.err = l.coding.open(h.head[:n], h)
		}
	}
	if l.err != nil {
		return 0, l.err
	}
	return l.dec.Read(p)
}

func (l *lazyDecoder) release() {
	if l.dec != nil {
		l.coding.put(l.dec)
		l.dec = nil
	}
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
	open: func(_ []byte, src io.Reader) (io.Reader, error) {
		if z, ok := gzipPool.Get().(*gzip.Reader); ok {
			if err := z.Reset(src); err != nil {
				gzipPool.Put(z)
				return nil, err
			}
			return z, nil
		}
		z, err := gzip.NewReader(src)
		if err != nil {
			return nil, err
		}
		return z, nil
	},
	put: func(r io.Reader) { gzipPool.Put(r) },
}

// openDeflate reads "deflate" as RFC 9110 defines it (zlib), or as raw
// deflate when head is no zlib header (compression method 8, and a
// header checksum that is a multiple of 31).
func openDeflate(head []byte, mr io.Reader) (io.Reader, error) {
	if len(head) == 2 && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
		if z, ok := zlibPool.Get().(io.ReadCloser); ok {
			if err := z.(zlib.Resetter).Reset(mr, nil); err != nil {
				zlibPool.Put(z)
				return nil, err
			}
			return zlibReader{z}, nil
		}
		z, err := zlib.NewReader(mr)
		if err != nil {
			return nil, err
		}
		return zlibReader{z}, nil
	}
	if f, ok := flatePool.Get().(io.ReadCloser); ok {
		if err := f.(flate.Resetter).Reset(mr, nil); err != nil {
			flatePool.Put(f)
			return nil, err
		}
		return f, nil
	}
	return flate.NewReader(mr), nil
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

func openBrotli(_ []byte, src io.Reader) (io.Reader, error) {
	r := brotliPool.Get().(*brotli.Reader)
	if err := r.Reset(src); err != nil {
		brotliPool.Put(r)
		return nil, err
	}
	return r, nil
}

func openZstd(_ []byte, src io.Reader) (io.Reader, error) {
	if d, ok := zstdPool.Get().(*zstd.Decoder); ok {
		if err := d.Reset(src); err != nil {
			zstdPool.Put(d)
			return nil, err
		}
		return d, nil
	}
	d, err := zstd.NewReader(src, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow), zstd.WithDecoderMaxMemory(zstdMaxWindow))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errZstdOpen, err)
	}
	return d, nil
}

// putZstd pools d, first letting go of its source.
func putZstd(r io.Reader) {
	d := r.(*zstd.Decoder)
	if d.Reset(nil) == nil {
		zstdPool.Put(d)
	}
}
