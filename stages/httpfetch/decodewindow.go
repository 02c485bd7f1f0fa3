package httpfetch

import (
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// A br or zstd decoder sizes its ring buffer to the window its stream
// declares (brotli as soon as a meta-block declares that many bytes, zstd
// at the first block), however little of the body is read: 16 MiB for a
// br stream at lgwin 24, 8 MiB for a zstd frame as RFC 9659 allows. So
// openBrotli and openZstd lower a window over maxWindow to maxWindow in
// the stream header before the decoder sees it: the first maxWindow
// bytes (less brotli's 16) decode exactly as declared, since nothing in
// them refers further back than their start, and past them the body is
// refused (lowerWindow). A response's decoders hold at most about
// maxWindow, as br and zstd may not be stacked (decodeBody); gzip and
// deflate hold 32 KiB.

// maxWindow is the largest window a br or zstd decoder is given. 4 MiB
// is brotli's lgwin 22, the default of its reference encoder and of most
// servers, whose streams are not lowered; so are zstd frames from the
// reference encoder's levels 1 to 12 or so at unknown sizes.
const maxWindow = 4 << 20

// pooledWindow is the largest window whose decoder goes back to its pool:
// one that decoded a larger window is left to the collector, so that the
// pools do not keep ring buffers of megabytes for later responses.
const pooledWindow = 1 << 20

// errCodingRefused is a decoder's error for a stream it will not decode,
// or not past maxWindow.
var errCodingRefused = errors.New("content coding refused")

// brotliWindow is the window a brotli stream declares in the WBITS of its
// first byte (RFC 7932 §9.1), or 0 for the large-window escape.
func brotliWindow(b byte) int {
	if b&1 == 0 {
		return 1 << 16
	}
	if n := b >> 1 & 7; n != 0 {
		return 1 << (17 + n)
	}
	switch m := b >> 4 & 7; m {
	case 0:
		return 1 << 17
	case 1:
		return 0
	default:
		return 1 << (8 + m)
	}
}

// zstdWindow is the window a zstd frame header declares in its Window
// Descriptor (RFC 8878 §3.1.1.1.2), if head holds one: not for a
// single-segment frame, whose window is its content size.
func zstdWindow(head []byte) (window int, known bool) {
	if len(head) < 6 || head[0] != 0x28 || head[1] != 0xb5 || head[2] != 0x2f || head[3] != 0xfd || head[4]&0x20 != 0 {
		return 0, false
	}
	base := 1 << (10 + head[5]>>3)
	return base + base/8*int(head[5]&7), true
}

// explainZstd names the coding and the bound in a zstd decoder's refusal
// of a frame's window (or of a single-segment frame's size, its window).
func explainZstd(err error) error {
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return fmt.Errorf("%w: zstd window over the %d MiB the service allows (%w)", errCodingRefused, maxWindow>>20, err)
	}
	return err
}

// lowerWindow reads dec, a decoder whose stream's window was lowered, as
// far as exact bytes: then the body ends, or it is refused.
func lowerWindow(dec io.Reader, coding string, declared, exact int) io.Reader {
	return &loweredWindow{dec: dec, coding: coding, declared: declared, left: exact}
}

type loweredWindow struct {
	dec      io.Reader
	coding   string
	declared int
	left     int
}

func (l *loweredWindow) Read(p []byte) (int, error) {
	if l.left == 0 {
		var one [1]byte
		n, err := io.ReadFull(l.dec, one[:])
		if n == 0 {
			return 0, err // the end, or the decoder's error
		}
		return 0, fmt.Errorf("%w: %s stream declaring a window of %d MiB, decoded as far as the %d MiB the service allows",
			errCodingRefused, l.coding, l.declared>>20, maxWindow>>20)
	}
	if len(p) > l.left {
		p = p[:l.left]
	}
	n, err := l.dec.Read(p)
	l.left -= n
	return n, err
}
