package stages

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/fetchstream/fetchstream/stages/internal/jsontext"
	"github.com/fetchstream/fetchstream/wire"
)

// appendResult appends r's JSON to dst: the bytes encoding/json would
// write for it (with HTML escaping off), field for field, in the same
// order and with the same omissions, but without reflection. r.Body must
// already be compact JSON (EmbedBody makes it so); it is copied as is.
// TestAppendResultMatchesEncodingJSON holds the two encoders together.
func appendResult(dst []byte, r *wire.Result) []byte {
	dst = append(dst, `{"batch_id":`...)
	dst = jsontext.AppendString(dst, r.BatchID)
	if r.CorrelationID != "" {
		dst = jsontext.AppendString(append(dst, `,"correlation_id":`...), r.CorrelationID)
	}
	dst = strconv.AppendInt(append(dst, `,"index":`...), int64(r.Index), 10)
	dst = strconv.AppendInt(append(dst, `,"count":`...), int64(r.Count), 10)
	dst = jsontext.AppendString(append(dst, `,"url":`...), r.URL)
	if r.URLTruncated {
		dst = append(dst, `,"url_truncated":true`...)
	}
	if r.Method != "" {
		dst = jsontext.AppendString(append(dst, `,"method":`...), r.Method)
	}
	if r.FinalURL != "" {
		dst = jsontext.AppendString(append(dst, `,"final_url":`...), r.FinalURL)
	}
	if r.Redirects != 0 {
		dst = strconv.AppendInt(append(dst, `,"redirects":`...), int64(r.Redirects), 10)
	}
	if r.RemoteAddr != "" {
		dst = jsontext.AppendString(append(dst, `,"remote_addr":`...), r.RemoteAddr)
	}
	if r.Status != 0 {
		dst = strconv.AppendInt(append(dst, `,"status":`...), int64(r.Status), 10)
	}
	if r.Error != "" {
		dst = jsontext.AppendString(append(dst, `,"error":`...), string(r.Error))
	}
	if r.Message != "" {
		dst = jsontext.AppendString(append(dst, `,"message":`...), r.Message)
	}
	if r.Attempts != 0 {
		dst = strconv.AppendInt(append(dst, `,"attempts":`...), int64(r.Attempts), 10)
	}
	if r.ContentType != "" {
		dst = jsontext.AppendString(append(dst, `,"content_type":`...), r.ContentType)
	}
	if r.ContentEncoding != "" {
		dst = jsontext.AppendString(append(dst, `,"content_encoding":`...), r.ContentEncoding)
	}
	if r.ContentLength != 0 {
		dst = strconv.AppendInt(append(dst, `,"content_length":`...), r.ContentLength, 10)
	}
	if len(r.Headers) != 0 {
		dst = appendHeaders(append(dst, `,"headers":`...), r.Headers)
	}
	if len(r.Body) != 0 {
		dst = append(append(dst, `,"body":`...), r.Body...)
	}
	if r.BodyEncoding != "" {
		dst = jsontext.AppendString(append(dst, `,"body_encoding":`...), r.BodyEncoding)
	}
	if r.BodyCharset != "" {
		dst = jsontext.AppendString(append(dst, `,"body_charset":`...), r.BodyCharset)
	}
	if r.BodyTruncated {
		dst = append(dst, `,"body_truncated":true`...)
	}
	if r.BodyBytes != 0 {
		dst = strconv.AppendInt(append(dst, `,"body_bytes":`...), r.BodyBytes, 10)
	}
	if r.BodySHA256 != "" {
		dst = jsontext.AppendString(append(dst, `,"body_sha256":`...), r.BodySHA256)
	}
	if r.Redacted {
		dst = append(dst, `,"redacted":true`...)
	}
	if o := r.BodyObject; o != nil {
		dst = jsontext.AppendString(append(dst, `,"body_object":{"bucket":`...), o.Bucket)
		dst = jsontext.AppendString(append(dst, `,"name":`...), o.Name)
		dst = strconv.AppendInt(append(dst, `,"size":`...), o.Size, 10)
		dst = append(jsontext.AppendString(append(dst, `,"sha256":`...), o.SHA256), '}')
	}
	if r.NotModified {
		dst = append(dst, `,"not_modified":true`...)
	}
	if r.Changed != nil {
		dst = strconv.AppendBool(append(dst, `,"changed":`...), *r.Changed)
	}
	if r.HostWaitMS != 0 {
		dst = appendFloat(append(dst, `,"host_wait_ms":`...), r.HostWaitMS)
	}
	if t := r.Timing; t != nil {
		dst = appendTiming(append(dst, `,"timing":`...), t)
	}
	if !r.FetchedAt.IsZero() {
		dst = append(dst, `,"fetched_at":"`...)
		dst = append(r.FetchedAt.AppendFormat(dst, time.RFC3339Nano), '"')
	}
	dst = appendFloat(append(dst, `,"elapsed_ms":`...), r.ElapsedMS)
	return append(dst, '}')
}

// appendHeaders writes headers as encoding/json writes a map: keys sorted.
func appendHeaders(dst []byte, headers map[string]string) []byte {
	dst = append(dst, '{')
	for i, name := range slices.Sorted(maps.Keys(headers)) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsontext.AppendString(dst, name)
		dst = jsontext.AppendString(append(dst, ':'), headers[name])
	}
	return append(dst, '}')
}

func appendTiming(dst []byte, t *wire.Timing) []byte {
	dst = append(dst, '{')
	first := true
	field := func(name string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(append(append(dst, '"'), name...), `":`...)
	}
	for _, f := range [...]struct {
		name  string
		value float64
	}{{"dns_ms", t.DNSMS}, {"connect_ms", t.ConnectMS}, {"tls_ms", t.TLSMS}, {"ttfb_ms", t.TTFBMS}} {
		if f.value != 0 {
			field(f.name)
			dst = appendFloat(dst, f.value)
		}
	}
	if t.Reused {
		field("reused")
		dst = append(dst, "true"...)
	}
	return append(dst, '}')
}

// appendFloat formats f as encoding/json does (ES6 number formatting).
func appendFloat(dst []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(dst, '0') // encoding/json would fail; elapsed times are never so
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(dst)
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' { // clean up e-09 to e-9
		n := len(dst) - start
		if n >= 4 && dst[len(dst)-4] == 'e' && dst[len(dst)-3] == '-' && dst[len(dst)-2] == '0' {
			dst[len(dst)-2] = dst[len(dst)-1]
			dst = dst[:len(dst)-1]
		}
	}
	return dst
}
