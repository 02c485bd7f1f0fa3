package httpfetch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/fetchstream/fetchstream/wire"
)

// readRedacted is readBody for a request sent with a credential: the
// result shows, counts and hashes only the redacted copy of the body, so
// that it tells a publisher nothing about the credential that the copy
// does not (and the copy shows "[credential]" wherever an echo was).
//
// It reads maxBody decoded bytes and as many again as the credential's
// longest pattern, converts text in another charset to UTF-8 (an echo in
// UTF-16 is then seen too), and redacts it all before the cut, so that a
// value the cut splits is replaced whole: the cut falls at maxBody, or,
// when the body went on past what was read, early enough that any
// pattern starting before it was read whole; and the redacted copy is
// cut at maxBody again (or just after a "[credential]" the cut would
// split), should markers standing for shorter secrets have made it
// longer. body_bytes, body_sha256 and
// content_length then describe the bytes returned; the declared length
// is not given. Such a body never goes to the object store.
func (f *Fetcher) readRedacted(ctx context.Context, res *wire.Result, src io.Reader, timeout time.Duration, st *attemptState, s *spec) {
	margin := int64(s.cred.MaxPatternLen())
	body, more, err := readCapped(src, f.maxBody+margin, st.buf[:0])
	st.keepBuffer(body)
	if err != nil {
		f.fail(ctx, res, err, timeout)
		return
	}
	charset := ""
	if text, cs, ok := toUTF8(body, res.ContentType); ok {
		body, charset = text, cs
	}
	cut := min(int64(len(body)), f.maxBody)
	if more {
		cut = min(cut, int64(len(body))-margin)
	}
	truncated := more || cut < int64(len(body))
	body, changed := s.redactor.redact(body, int(max(cut, 0)))
	res.Redacted = res.Redacted || changed
	if int64(len(body)) > f.maxBody { // "[credential]" standing for shorter secrets grew it
		body, truncated = body[:cutAfterMarker(body, int(f.maxBody))], true
	}
	if truncated {
		body = trimPartialRune(body)
	}
	if len(body) > 0 {
		res.BodyBytes, res.BodySHA256 = int64(len(body)), sha256Hex(body)
	}
	res.ContentLength = int64(len(body))
	if truncated && f.refuseLarge {
		res.Error, res.Message = Classify(fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, f.maxBody))
		return
	}
	res.BodyTruncated = truncated
	if f.bodyMode == BodyNone || len(body) == 0 {
		return
	}
	res.BodyCharset = charset
	res.Body, res.BodyEncoding = EmbedBody(body, res.ContentType, f.bodyMode)
}

// cutAfterMarker is where to cut redacted text at n: n, or the end of a
// "[credential]" that n would split, so the marker shows whole.
func cutAfterMarker(text []byte, n int) int {
	window := text[max(0, n-len(redacted)+1):min(len(text), n+len(redacted)-1)]
	if i := bytes.Index(window, []byte(redacted)); i >= 0 {
		return max(0, n-len(redacted)+1) + i + len(redacted)
	}
	return n
}
