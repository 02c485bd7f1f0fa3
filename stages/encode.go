package stages

import (
	"sync"

	"github.com/reugn/go-streams"

	"github.com/fetchstream/fetchstream/wire"
)

// EncodeConfig sets up the encode stage.
type EncodeConfig struct {
	// MaxBytes bounds each result's JSON: the NATS max payload less
	// headroom for headers. At least 1024.
	MaxBytes int
	// OnPanic, if set, is told of an encoding that panicked.
	OnPanic OnPanic
}

// NewEncode returns the Flow that turns each *Fetched into an *Encoded
// (see Encoder.Encode), one out for one in, in order, on one goroutine.
// The Flow closes its output after its input is closed; its channels hold
// up to HandoffBuffer elements each. A sink that can call Encoder.Encode
// on its own goroutine (connectors.PublisherConfig.Encode) saves this
// Flow's hand-offs.
func NewEncode(cfg EncodeConfig) (streams.Flow, error) {
	e, err := NewEncoder(cfg)
	if err != nil {
		return nil, err
	}
	return newMapFlow(e.Encode), nil
}

// Encoder is the encode stage's work, without a goroutine of its own: it
// is used from one goroutine at a time (the encode Flow's, or the sink's).
type Encoder struct {
	cfg EncodeConfig
}

// NewEncoder validates cfg and returns an Encoder.
func NewEncoder(cfg EncodeConfig) (*Encoder, error) {
	if cfg.MaxBytes < 1024 {
		return nil, wire.NewConfigError(ErrConfig, "MaxBytes", "must be at least 1024 bytes, got %d", cfg.MaxBytes)
	}
	return &Encoder{cfg: cfg}, nil
}

// Encode turns a *Fetched into an *Encoded: the result's JSON, its Kind
// the result's error kind. Other elements, *Done among them, are returned
// as they are: the sink counts and encodes the summary from the results
// it publishes. Encode takes each *Fetched the fetch stage made and
// reuses it once encoded, so nothing upstream may keep one it passed on.
// Every result is made to fit in MaxBytes, so every result can be
// published: see fitResult. A result whose encoding panics goes out as
// that URL's unexpected_error instead (see Panic), with that Kind, so
// that the sink's summary counts it so.
func (c *Encoder) Encode(element any) any {
	e, ok := element.(*Fetched)
	if !ok {
		return element
	}
	return c.encodeResult(e)
}

// encodeResult encodes e's result; if that panics, the URL's
// unexpected_error instead (see Recover).
func (c *Encoder) encodeResult(e *Fetched) (out *Encoded) {
	defer Recover(c.cfg.OnPanic, func(v any) Panic {
		r := e.Result
		out = EncodePanic(e.Job, &r, "encoding the result", v, c.cfg.MaxBytes)
		return Panic{Stage: "encode", BatchID: r.BatchID, Index: r.Index, URL: r.URL}
	})
	r := &e.Result
	enc := newEncoded()
	enc.Data = fitResultFn(enc.Data[:0], r, c.cfg.MaxBytes)
	enc.Job, enc.Index, enc.Kind, enc.Span = e.Job, r.Index, r.Error, e.Span
	enc.Changed = r.Changed != nil && *r.Changed
	e.release() // encoded: the fetch stage may fill it again
	return enc
}

// EncodePanic is the *Encoded that replaces the result r of job (r gives
// the ids, index, count, URL and timings) whose handling panicked with v
// while doing: that URL's unexpected_error (see PanicResult), made to fit
// in maxBytes (at least 1024) by fitResult.
func EncodePanic(job *Job, r *wire.Result, doing string, v any, maxBytes int) *Encoded {
	p := PanicResult(doing, v, r.URL)
	p.BatchID, p.CorrelationID, p.Index, p.Count, p.FetchedAt, p.ElapsedMS = r.BatchID, r.CorrelationID, r.Index, r.Count, r.FetchedAt, r.ElapsedMS
	return &Encoded{Job: job, Index: p.Index, Kind: p.Error, Data: fitResult(nil, &p, max(maxBytes, 1024))}
}

// fitResultFn is fitResult; tests replace it to make encoding panic.
var fitResultFn = fitResult

// encodedPool keeps released *Encoded, with their Data's capacity, for
// the results encoded after them (see Encoded.Release).
var encodedPool sync.Pool

// maxPooledData bounds the Data capacity a released *Encoded keeps: one
// that carried a large body is left to the garbage collector.
const maxPooledData = 8 << 10

// newEncoded returns a released *Encoded, or a new one.
func newEncoded() *Encoded {
	e, _ := encodedPool.Get().(*Encoded)
	if e == nil {
		e = &Encoded{}
	}
	e.pooled = true
	return e
}

// Release hands e, and the bytes of its Data, back to the encode stage for
// a later result: the result's JSON is then written over them. The sink
// that took e calls it once nothing refers to Data any more (a core NATS
// publish and a gathered reply copy the bytes; a JetStream publish keeps
// them until its ack), and uses e no more. Release is optional (an Encoded
// not released is left to the garbage collector), and does nothing for
// an Encoded the encode stage did not make, or made and saw released.
func (e *Encoded) Release() {
	if !e.pooled {
		return
	}
	e.pooled = false
	if cap(e.Data) > maxPooledData {
		return
	}
	*e = Encoded{Data: e.Data[:0]}
	encodedPool.Put(e)
}

// fitResult encodes r in at most maxBytes (for maxBytes >= 1024), over
// dst's bytes when they have room. When
// its JSON is larger, it first drops the body (body_truncated is set;
// body_bytes and body_sha256 stay), then the response headers, then halves the longest of the strings
// a client or server controls (url, final_url, message, content_type)
// until it fits; a cut url or final_url sets url_truncated.
func fitResult(dst []byte, r *wire.Result, maxBytes int) []byte {
	data := marshal(dst, r)
	if len(data) <= maxBytes {
		return data
	}
	if r.Body != nil {
		r.Body, r.BodyEncoding, r.BodyTruncated = nil, "", true
		if data = marshal(data, r); len(data) <= maxBytes {
			return data
		}
	}
	if r.Headers != nil {
		r.Headers = nil
		if data = marshal(data, r); len(data) <= maxBytes {
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
		data = marshal(data, r)
	}
	return data
}

// marshal encodes r as encoding/json would without HTML escaping (so
// markup in bodies and URLs costs its own bytes, not six for each < > and
// &), through appendResult, which skips reflection on the hot path. It
// writes over dst's bytes when they have room for the likely size.
func marshal(dst []byte, r *wire.Result) []byte {
	if need := 384 + len(r.Body) + len(r.URL) + len(r.Message); cap(dst) < need {
		dst = make([]byte, 0, need)
	}
	return appendResult(dst[:0], r)
}
