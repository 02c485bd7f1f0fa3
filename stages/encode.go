package stages

import (
	"encoding/json"
	"fmt"

	"github.com/reugn/go-streams/flow"
)

// NewEncode returns the Flow that turns each *Fetched into an *Encoded
// (the result's JSON) and fills in each *Done's Data (the summary's JSON),
// one out for one in, in order (a go-streams Map of parallelism 1). Other
// elements pass through. A result whose JSON would exceed maxBytes (the
// NATS max payload less headroom for headers) is sent without its body and
// with body_truncated set, so every result can be published. The Flow
// closes its output after its input is closed.
func NewEncode(maxBytes int) (*flow.Map[any, any], error) {
	if maxBytes < 1024 {
		return nil, fmt.Errorf("%w: max result size must be at least 1024 bytes, got %d", ErrConfig, maxBytes)
	}
	return flow.NewMap(func(element any) any { return encode(element, maxBytes) }, 1), nil
}

func encode(element any, maxBytes int) any {
	switch e := element.(type) {
	case *Fetched:
		r := &e.Result
		data, err := json.Marshal(r)
		if err != nil || len(data) > maxBytes {
			r.Body, r.BodyEncoding, r.BodyTruncated = nil, "", true
			data, _ = json.Marshal(r) // cannot fail without a body
		}
		return &Encoded{Job: e.Job, Index: r.Index, OK: r.OK(), Kind: r.Error, Data: data}
	case *Done:
		e.Data, _ = json.Marshal(&e.Summary) // a Summary always encodes
		return e
	}
	return element
}
