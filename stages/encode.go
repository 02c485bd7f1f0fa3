package stages

import (
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/wire"
)

// NewEncode returns the Flow that turns each *Fetched into an *Encoded
// (the result's JSON) and fills in each *Done's Data (the summary's JSON),
// one out for one in, in order, on one goroutine. Other elements pass
// through. Every result is made to fit in maxBytes (the NATS max payload
// less headroom for headers), so every result can be published: see
// fitResult. The Flow closes its output after its input is closed; its
// channels hold up to HandoffBuffer elements each.
func NewEncode(maxBytes int) (streams.Flow, error) {
	if maxBytes < 1024 {
		return nil, fmt.Errorf("%w: max result size must be at least 1024 bytes, got %d", ErrConfig, maxBytes)
	}
	return newMapFlow(func(element any) any { return encode(element, maxBytes) }), nil
}

func encode(element any, maxBytes int) any {
	switch e := element.(type) {
	case *Fetched:
		r := &e.Result
		data := fitResult(r, maxBytes)
		return &Encoded{Job: e.Job, Index: r.Index, Kind: r.Error, Data: data}
	case *Done:
		e.Data, _ = json.Marshal(&e.Summary) // a Summary always encodes
		return e
	}
	return element
}

// fitResult encodes r in at most maxBytes (for maxBytes >= 1024). When
// its JSON is larger, it first drops the body (body_truncated is set;
// body_bytes and body_sha256 stay), then the response headers, then halves the longest of the strings
// a client or server controls (url, final_url, message, content_type)
// until it fits; a cut url or final_url sets url_truncated.
func fitResult(r *wire.Result, maxBytes int) []byte {
	data := marshal(r)
	if len(data) <= maxBytes {
		return data
	}
	if r.Body != nil {
		r.Body, r.BodyEncoding, r.BodyTruncated = nil, "", true
		if data = marshal(r); len(data) <= maxBytes {
			return data
		}
	}
	if r.Headers != nil {
		r.Headers = nil
		if data = marshal(r); len(data) <= maxBytes {
			return data
		}
	}
	for len(data) > maxBytes {
		longest := &r.URL
		for _, s := range []*string{&r.FinalURL, &r.Message, &r.ContentType} {
			if len(*s) > len(*longest) {
				longest = s
			}
		}
		if *longest == "" {
			break // only bounded fields are left: a batch id of at most 256 bytes, numbers
		}
		*longest = cutString(*longest, len(*longest)/2)
		if longest == &r.URL || longest == &r.FinalURL {
			r.URLTruncated = true
		}
		data = marshal(r)
	}
	return data
}

// marshal encodes r as encoding/json would without HTML escaping (so
// markup in bodies and URLs costs its own bytes, not six for each < > and
// &), through appendResult, which skips reflection on the hot path.
func marshal(r *wire.Result) []byte {
	return appendResult(make([]byte, 0, 384+len(r.Body)+len(r.URL)+len(r.Message)), r)
}

// cutString returns the longest prefix of s of at most n bytes that does
// not split a UTF-8 sequence.
func cutString(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
