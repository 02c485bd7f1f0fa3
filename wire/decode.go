package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrBadBatch is wrapped by every error DecodeBatch returns.
var ErrBadBatch = errors.New("invalid batch")

// MaxIDLength bounds a batch id, from the header or the JSON object.
const MaxIDLength = 256

var utf8BOM = []byte("\ufeff")

// DecodeBatch decodes one input message in any of the three batch forms:
//
//   - plain text, one URL per line (blank lines and lines that start
//     with #, comments, ignored: no URL starts with #);
//   - a JSON array of URL strings;
//   - a JSON object {"id": ..., "urls": [...], "timeout_ms": ..., "priority": ...,
//     "concurrency": ..., "correlation_id": ..., "per_host_rate": ..., "robots": ...}
//     and the RequestOptions (all but urls optional), whose urls may hold
//     request objects. A field the object (or a request object in its
//     urls) does not have is an error that names it: see fields.go.
//
// A leading UTF-8 byte order mark is ignored. headerID is the
// Fetch-Batch-Id header, if any; an object's own id wins.
// Every form trims the white space around each URL (a JSON string that is
// blank becomes "", kept in its place so the indexes hold). The URLs and
// requests are not validated here: a bad URL fails alone, as
// invalid_url, and a bad request as invalid_request, when it is fetched;
// but bad batch-level settings (retry_on, response_headers, user_agent,
// per_host_rate outside MinPerHostRate..MaxPerHostRate) and a request of
// more than MaxRequestHeaders headers fail the batch. A message that is empty, not UTF-8, malformed JSON,
// or holds no URL, or whose batch id is over MaxIDLength bytes or not
// UTF-8, is an error wrapping ErrBadBatch. A JSON value of the wrong type
// is named by its path in the batch, with what belongs there: "[0]: want
// a URL string, got a number", "urls[1]: want a URL string or a request
// object, got an array", "timeout_ms: want a whole number, got 1.5" (see
// typeerror.go). DecodeBatch never panics.
func DecodeBatch(data []byte, headerID string) (Batch, error) {
	b := Batch{ID: headerID}
	trimmed := bytes.TrimSpace(bytes.TrimPrefix(data, utf8BOM))
	switch {
	case len(trimmed) == 0:
		return b, fmt.Errorf("%w: empty message", ErrBadBatch)
	case !utf8.Valid(trimmed):
		return b, fmt.Errorf("%w: message is not UTF-8 text", ErrBadBatch)
	case trimmed[0] == '[':
		var urls []string
		if err := json.Unmarshal(trimmed, &urls); err != nil {
			if te := arrayTypeError(trimmed, err); te != nil {
				return b, fmt.Errorf("%w: %w", ErrBadBatch, te)
			}
			return b, fmt.Errorf("%w: JSON array of URL strings expected: %v", ErrBadBatch, err)
		}
		b.URLs = URLs(urls...)
	case trimmed[0] == '{':
		var obj Batch
		if err := decodeStrict(trimmed, &obj, "the batch object", batchFields); err != nil {
			if unknown := (*unknownFieldError)(nil); errors.As(err, &unknown) {
				// Say what is known: the id and URLs, read as if the
				// unknown fields were not there.
				if json.Unmarshal(trimmed, &obj) == nil {
					if obj.ID == "" {
						obj.ID = b.ID
					}
					b = obj
				}
				return b, fmt.Errorf("%w: %v", ErrBadBatch, unknown)
			}
			if te := objectTypeError(trimmed, err); te != nil {
				return b, fmt.Errorf("%w: %w", ErrBadBatch, te)
			}
			return b, fmt.Errorf("%w: JSON object {\"urls\": [...]} expected: %v", ErrBadBatch, err)
		}
		if obj.ID == "" {
			obj.ID = b.ID
		}
		b = obj
		b.normalize()
		if err := obj.validate(); err != nil {
			return b, err
		}
	default:
		b.URLs = splitLines(trimmed)
	}
	for i := range b.URLs {
		b.URLs[i].URL = strings.TrimSpace(b.URLs[i].URL)
	}
	if len(b.ID) > MaxIDLength {
		return b, fmt.Errorf("%w: batch id longer than %d bytes", ErrBadBatch, MaxIDLength)
	}
	if len(b.CorrelationID) > MaxIDLength {
		return b, fmt.Errorf("%w: correlation id longer than %d bytes", ErrBadBatch, MaxIDLength)
	}
	if !utf8.ValidString(b.ID) { // JSON would change it, and the client could not match its results
		return b, fmt.Errorf("%w: batch id is not UTF-8 text", ErrBadBatch)
	}
	if len(b.URLs) == 0 {
		return b, fmt.Errorf("%w: no URLs", ErrBadBatch)
	}
	return b, nil
}

func (b Batch) validate() error {
	switch {
	case b.TimeoutMS < 0:
		return fmt.Errorf("%w: timeout_ms must not be negative", ErrBadBatch)
	case b.Concurrency < 0:
		return fmt.Errorf("%w: concurrency must not be negative", ErrBadBatch)
	case b.PerHostRate != 0 && !(b.PerHostRate >= MinPerHostRate && b.PerHostRate <= MaxPerHostRate):
		return fmt.Errorf("%w: per_host_rate must be from %g to %g requests per second (or absent), got %g",
			ErrBadBatch, MinPerHostRate, MaxPerHostRate, b.PerHostRate)
	case b.Priority != nil && (*b.Priority < MinPriority || *b.Priority > MaxPriority):
		return fmt.Errorf("%w: priority must be from %d to %d", ErrBadBatch, MinPriority, MaxPriority)
	}
	if err := b.checkHeaderCounts(); err != nil {
		return err
	}
	return b.RequestOptions.validate()
}

// normalize makes an empty list or map of the options absent, as they
// encode (omitempty), so a decoded batch survives a round trip.
func (b *Batch) normalize() {
	if len(b.Headers) == 0 {
		b.Headers = nil
	}
	if len(b.ResponseHeaders) == 0 {
		b.ResponseHeaders = nil
	}
	if len(b.RetryOn) == 0 {
		b.RetryOn = nil
	}
}

func splitLines(text []byte) []Request {
	urls := make([]Request, 0, bytes.Count(text, []byte{'\n'})+1)
	for line := range bytes.SplitSeq(text, []byte{'\n'}) {
		if line = bytes.TrimSpace(line); len(line) > 0 && line[0] != '#' {
			urls = append(urls, Request{URL: string(line)})
		}
	}
	return urls
}

// EchoedID is how a summary names a batch whose id (or correlation id) was
// refused: the id as sent, with any bytes that are not UTF-8 replaced by
// U+FFFD, cut to at most MaxIDLength bytes without splitting a character.
// cut reports that it was cut, so the id sent begins with id.
func EchoedID(sent string) (id string, cut bool) {
	id = strings.ToValidUTF8(sent, "\uFFFD")
	if len(id) <= MaxIDLength {
		return id, false
	}
	n := MaxIDLength
	for n > 0 && !utf8.RuneStart(id[n]) {
		n--
	}
	return id[:n], true
}
