package wire

import (
	"fmt"
	"net/textproto"
)

// MaxRequestHeaders bounds the headers one request sends: the batch's
// default headers and the item's own, merged (an item's header replaces
// a default of the same name, so it counts once). A batch with a request
// over it is refused whole (ErrBadBatch) before any work. The service
// adds its own (Host, User-Agent, Accept-Encoding, a credential's), so a
// request at the bound sends a few more. 100 is Apache's
// LimitRequestFields, a limit servers commonly hold requests to, and
// merging stays cheap (30,000 default headers over 1,500 URLs cost 46 s
// of CPU).
const MaxRequestHeaders = 100

// checkHeaderCounts refuses a batch with a request of more than
// MaxRequestHeaders headers, once merged. Its cost is bounded by the
// batch's size: each item's names are looked at once, and only when the
// item is under the limit itself.
func (b *Batch) checkHeaderCounts() error {
	if n := len(b.Headers); n > MaxRequestHeaders {
		return fmt.Errorf("%w: headers: %d default headers, more than the %d a request may send", ErrBadBatch, n, MaxRequestHeaders)
	}
	var defaults map[string]bool
	for i := range b.URLs {
		own := b.URLs[i].Headers
		if len(own) == 0 {
			continue
		}
		n := len(b.Headers) + len(own)
		if n > MaxRequestHeaders && len(own) <= MaxRequestHeaders && len(b.Headers) > 0 {
			if defaults == nil {
				defaults = canonicalNames(b.Headers)
			}
			for name := range own {
				if defaults[textproto.CanonicalMIMEHeaderKey(name)] {
					n-- // replaces a default
				}
			}
		}
		if n > MaxRequestHeaders {
			return fmt.Errorf("%w: urls[%d] would send %d headers (its own and the batch's defaults), more than %d",
				ErrBadBatch, i, n, MaxRequestHeaders)
		}
	}
	return nil
}

func canonicalNames(headers map[string]string) map[string]bool {
	names := make(map[string]bool, len(headers))
	for name := range headers {
		names[textproto.CanonicalMIMEHeaderKey(name)] = true
	}
	return names
}

// Expansion is what b's requests hold once its defaults are merged into
// each: the bytes of header names and values (the batch's default
// headers counted once per URL, as each request sends them) and of
// request bodies, over all its URLs. The service refuses a batch whose
// expansion is over its limit before any work. It counts an item's
// header that replaces a default twice, an overestimate of at most the
// message's own size.
func (b *Batch) Expansion() int64 {
	var defaults int64
	for name, value := range b.Headers {
		defaults += int64(len(name) + len(value))
	}
	total := defaults * int64(len(b.URLs))
	for i := range b.URLs {
		r := &b.URLs[i]
		for name, value := range r.Headers {
			total += int64(len(name) + len(value))
		}
		total += int64(len(r.Body) + len(r.BodyBase64)*3/4)
	}
	return total
}
